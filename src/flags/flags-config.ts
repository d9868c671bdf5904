/**
 * The flags part of loading a config: the definitions file is read here (the path as given, like admin.tokenFile)
 * and checked with the same schema as inline definitions, so its content becomes part of the config (the config
 * hash changes when the file does, and a reload that finds it broken keeps the running table); then the
 * cross-field rules: routes select flags that exist, name headers that routing does not read, and read the region
 * only where they have one.
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import type { ZodIssue } from 'zod';
import type { ConfigIssue } from '../errors.js';
import { DEFAULT_FLAGS_HEADER, type Config } from '../config/schema.js';
import { flagDefinitionsSchema } from './definitions.js';

/** Header names splitgate writes itself or treats specially: a flags header may not be one of them. */
const RESERVED_HEADERS = new Set([
  'host', 'cookie', 'content-length', 'transfer-encoding', 'connection', 'keep-alive', 'proxy-connection', 'te', 'trailer',
  'upgrade', 'expect', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'via', 'x-request-id',
  'x-splitgate-version', 'x-splitgate-shadow', 'authorization', 'set-cookie',
]);

export function flagsIssues(config: Config, toIssues: (issue: ZodIssue) => ConfigIssue[]): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const flags = config.flags;
  if (flags?.file !== undefined) issues.push(...readFlagsFile(flags, toIssues));
  const known = flags?.definitions?.flags;
  const readByRouting = routingHeaderNames(config);
  if (flags !== undefined) issues.push(...headerIssues('flags.header', flags.header, readByRouting));
  config.routes.forEach((route, index) => {
    const at = `routes[${index}].flags`;
    if (route.flags === undefined || route.flags === false) return;
    if (flags === undefined) {
      issues.push({ path: at, message: 'needs the top-level flags block (file or definitions)' });
      return;
    }
    if (route.flags.header !== undefined) issues.push(...headerIssues(`${at}.header`, route.flags.header, readByRouting));
    if (known !== undefined && Array.isArray(route.flags.select)) {
      route.flags.select.forEach((key, keyIndex) => {
        if (!Object.hasOwn(known, key)) issues.push({ path: `${at}.select[${keyIndex}]`, message: `unknown flag "${key}" (known: ${Object.keys(known).join(', ') || 'none'})` });
      });
    }
    for (const [name, source] of Object.entries(route.flags.context ?? {})) {
      if (source.kind === 'region' && route.region === undefined) issues.push({ path: `${at}.context.${name}`, message: 'reads the region, which needs the route to set region.header' });
    }
  });
  return issues;
}

function readFlagsFile(flags: NonNullable<Config['flags']>, toIssues: (issue: ZodIssue) => ConfigIssue[]): ConfigIssue[] {
  const file = flags.file!;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    return [{ path: 'flags.file', message: `cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}` }];
  }
  let raw: unknown;
  try {
    raw = /\.ya?ml$/i.test(file) ? parseYaml(text, { maxAliasCount: 100 }) : JSON.parse(text);
  } catch (error) {
    return [{ path: 'flags.file', message: `${file} is not valid ${/\.ya?ml$/i.test(file) ? 'YAML' : 'JSON'}: ${(error as Error).message.split('\n')[0]}` }];
  }
  const result = flagDefinitionsSchema.safeParse(raw);
  if (!result.success) {
    // Paths inside the file, rooted at its name: `flags.flagd.json#flags["new-checkout"].defaultVariant`.
    return result.error.issues.flatMap(toIssues).map((issue) => ({ path: `${file}#${issue.path}`, message: issue.message }));
  }
  flags.definitions = result.data;
  return [];
}

/** Request headers routing reads on some route: a flags header of that name would strip them from clients. */
function routingHeaderNames(config: Config): Map<string, string> {
  const names = new Map<string, string>();
  const flagContexts = [config.flags?.context ?? {}, ...config.routes.map((route) => (route.flags ? (route.flags.context ?? {}) : {}))];
  for (const context of flagContexts) for (const source of Object.values(context)) if (source.kind === 'header') names.set(source.name, 'a flags context attribute');
  for (const route of config.routes) {
    for (const source of route.sticky?.key ?? []) if (source.kind === 'header') names.set(source.name, `route "${route.name}" sticky key`);
    if (route.region) names.set(route.region.header, `route "${route.name}" region`);
    if (route.overrides && route.overrides.header) names.set(route.overrides.header, `route "${route.name}" override header`);
    for (const rule of route.rules ?? []) for (const name of Object.keys(rule.match.headers ?? {})) names.set(name, `route "${route.name}" rules`);
  }
  if (config.routes.some((route) => route.overrides === undefined || (route.overrides !== false && route.overrides.header === undefined))) {
    names.set('x-canary', 'the default override header');
  }
  return names;
}

/** Client copies of a flags header are always dropped, so it must not be a header anything else reads or owns. */
function headerIssues(path: string, header: string, readByRouting: ReadonlyMap<string, string>): ConfigIssue[] {
  if (RESERVED_HEADERS.has(header)) return [{ path, message: `"${header}" is a header splitgate handles itself; choose another (default ${DEFAULT_FLAGS_HEADER})` }];
  const reader = readByRouting.get(header);
  if (reader !== undefined) return [{ path, message: `"${header}" is read by ${reader}; client copies of the flags header are dropped, so choose another` }];
  return [];
}
