/**
 * YAML text → validated, typed Config. Collects every problem with its path (`routes[1].weight: ...`) and throws
 * one ConfigError listing them all; never returns a partly valid config.
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { parseDocument } from 'yaml';
import type { ZodIssue } from 'zod';
import { ConfigError, type ConfigIssue } from '../errors.js';
import { isLoopback } from './listen.js';
import { experimentIssues } from './experiment-schema.js';
import { configSchema, type Config, type FleetConfig, type JwtConfig, type UpstreamConfig } from './schema.js';
import { flagsIssues } from '../flags/flags-config.js';
import { isPlainPrefix } from '../routing/path.js';

export type Env = Readonly<Record<string, string | undefined>>;

export async function loadConfigFile(file: string, env: Env = process.env): Promise<Config> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new ConfigError([{ path: '', message: `cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}` }], file);
  }
  return parseConfigText(text, env, file);
}

export function parseConfigText(text: string, env: Env = process.env, source?: string): Config {
  // `${VAR}` is not valid inside a YAML flow mapping (`{ token: ${TOKEN} }`), yet that is how people write it.
  // Each reference is swapped for a plain-scalar placeholder before parsing and put back after, then resolved on
  // string values only, so an environment value can never change the document's structure.
  const references: string[] = [];
  const protectedText = text.replace(ENV_REFERENCE, (whole) => `${PLACEHOLDER_PREFIX}${references.push(whole) - 1}_`);
  const document = parseDocument(protectedText, { prettyErrors: true, uniqueKeys: true });
  if (document.errors.length > 0) {
    throw new ConfigError(
      document.errors.map((error) => ({ path: '', message: `YAML: ${error.message.split('\n')[0]}` })),
      source,
    );
  }
  let parsed: unknown;
  try {
    // Errors the parser leaves to conversion: an alias whose anchor comes later or is cut away, an alias bomb
    // past maxAliasCount.
    parsed = document.toJS({ maxAliasCount: 100 });
  } catch (error) {
    throw new ConfigError([{ path: '', message: `YAML: ${(error as Error).message.split('\n')[0]}` }], source);
  }
  const raw = restoreReferences(parsed, references);
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new ConfigError([{ path: '', message: 'config must be a YAML mapping' }], source);
  }
  return validateConfig(raw, env, source);
}

export function validateConfig(raw: unknown, env: Env = process.env, source?: string): Config {
  const issues: ConfigIssue[] = [];
  const interpolated = interpolateEnv(raw, env, '', issues);
  const result = configSchema.safeParse(interpolated);
  if (!result.success) {
    issues.push(...result.error.issues.flatMap(toConfigIssues));
    issues.push(...rawUnknownUpstreams(interpolated));
    throw new ConfigError(issues, source);
  }
  issues.push(...validateReferences(result.data));
  if (issues.length > 0) throw new ConfigError(issues, source);
  return result.data;
}

const ENV_REFERENCE = /\$?\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;
const PLACEHOLDER_PREFIX = 'SPLITGATE_ENV_REF_';
const PLACEHOLDER = new RegExp(`${PLACEHOLDER_PREFIX}(\\d+)_`, 'g');

function restoreReferences(value: unknown, references: readonly string[]): unknown {
  if (references.length === 0) return value;
  if (typeof value === 'string') return value.replace(PLACEHOLDER, (_whole, index: string) => references[Number(index)]);
  if (Array.isArray(value)) return value.map((item) => restoreReferences(item, references));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) out[restoreReferences(key, references) as string] = restoreReferences(item, references);
    return out;
  }
  return value;
}

/** `${NAME}` and `${NAME:-fallback}` inside string values; `$${` stays a literal `${`. */
function interpolateEnv(value: unknown, env: Env, path: string, issues: ConfigIssue[]): unknown {
  if (typeof value === 'string') {
    if (!value.includes('${')) return value;
    return value.replace(ENV_REFERENCE, (whole, name: string, fallback?: string) => {
      if (whole.startsWith('$$')) return whole.slice(1);
      const found = env[name];
      if (found !== undefined && found !== '') return found;
      if (fallback !== undefined) return fallback;
      issues.push({ path, message: `environment variable ${name} is not set` });
      return '';
    });
  }
  if (Array.isArray(value)) return value.map((item, index) => interpolateEnv(item, env, `${path}[${index}]`, issues));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) out[key] = interpolateEnv(item, env, joinPath(path, key), issues);
    return out;
  }
  return value;
}

/** A route's stable/canary names that are not among the upstreams. */
function unknownUpstreams(route: { stable?: unknown; canary?: unknown }, at: string, upstreams: object): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  for (const role of ['stable', 'canary'] as const) {
    const name = route[role];
    if (typeof name === 'string' && name !== '' && !Object.hasOwn(upstreams, name)) {
      issues.push({ path: `${at}.${role}`, message: `unknown upstream "${name}" (known: ${Object.keys(upstreams).join(', ') || 'none'})` });
    }
  }
  return issues;
}

/**
 * The same check on input the schema rejected, so that a schema error elsewhere does not hide a misspelt upstream
 * until the next run: `validate` lists every problem at once.
 */
function rawUnknownUpstreams(raw: unknown): ConfigIssue[] {
  const { upstreams, routes } = raw as { upstreams?: unknown; routes?: unknown };
  if (!Array.isArray(routes) || upstreams === null || typeof upstreams !== 'object' || Array.isArray(upstreams)) return [];
  return routes.flatMap((route: unknown, index) =>
    route !== null && typeof route === 'object' ? unknownUpstreams(route, `routes[${index}]`, upstreams) : [],
  );
}

function validateReferences(config: Config): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const seen = new Map<string, number>();
  config.routes.forEach((route, index) => {
    const at = `routes[${index}]`;
    const first = seen.get(route.name);
    if (first !== undefined) issues.push({ path: `${at}.name`, message: `duplicate route name "${route.name}" (also routes[${first}])` });
    else seen.set(route.name, index);

    issues.push(...unknownUpstreams(route, at, config.upstreams));
    const prefix = route.match?.pathPrefix;
    if (prefix !== undefined && config.pathMatching === 'normalized' && !isPlainPrefix(prefix)) {
      issues.push({
        path: `${at}.match.pathPrefix`,
        message: `"${prefix}" is not plain: with pathMatching: normalized a prefix holds only letters, digits, "/" and -._~!$&'()*+,=:@ (no %, \\, ;, //, . or .. segments), which every server reads the same way; use pathMatching: raw to match bytes`,
      });
    }
    if (route.canary === undefined) {
      if (route.weight > 0) issues.push({ path: `${at}.weight`, message: 'must be 0 when the route has no canary' });
      route.rules?.forEach((rule, ruleIndex) => {
        if (rule.version === 'canary' || (rule.weight ?? 0) > 0) {
          issues.push({ path: `${at}.rules[${ruleIndex}]`, message: 'sends traffic to a canary but the route has none' });
        }
      });
    }
    if (route.mirror && !(route.mirror.to in config.upstreams)) {
      issues.push({ path: `${at}.mirror.to`, message: `unknown upstream "${route.mirror.to}" (known: ${Object.keys(config.upstreams).join(', ')})` });
    }
    if (route.mirror?.sampleBy === 'sticky' && !route.sticky) {
      issues.push({ path: `${at}.mirror.sampleBy`, message: 'sticky sampling needs the route to set sticky.key' });
    }
    if (route.rollout) {
      if (route.canary === undefined) issues.push({ path: `${at}.rollout`, message: 'needs the route to have a canary' });
      const firstStage = route.rollout.stages?.[0];
      if (firstStage !== undefined) {
        // A plan's first ring may be an audience alone (the developers), at the starting weight.
        if (firstStage.weight < route.weight || (firstStage.weight === route.weight && firstStage.audience === null)) {
          issues.push({ path: `${at}.rollout.stages[0]`, message: `must add an audience or a weight above the route's starting weight (${route.weight})` });
        }
        route.rollout.stages!.forEach((stage, stageIndex) => {
          if (stage.audience?.region !== undefined && !route.region) {
            issues.push({ path: `${at}.rollout.stages[${stageIndex}].audience.region`, message: 'needs the route to set region.header' });
          }
        });
      } else if (route.rollout.steps[0] <= route.weight) {
        issues.push({ path: `${at}.rollout`, message: `the first step (${route.rollout.steps[0]}) must be above the route's starting weight (${route.weight})` });
      }
      if (route.rollout.pacing && !route.slo) issues.push({ path: `${at}.rollout.pacing`, message: 'needs the route to set slo (objective and window)' });
      route.rollout.checks.forEach((check, checkIndex) => {
        if (check.metric === 'mirror-match-rate' && !route.mirror) {
          issues.push({ path: `${at}.rollout.checks[${checkIndex}].metric`, message: 'mirror-match-rate needs the route to mirror' });
        }
      });
    }
    route.rules?.forEach((rule, ruleIndex) => {
      if (rule.match.region && !route.region) {
        issues.push({ path: `${at}.rules[${ruleIndex}].match.region`, message: 'needs the route to set region.header' });
      }
      if (rule.match.claims && !route.jwt && !config.jwt) {
        issues.push({ path: `${at}.rules[${ruleIndex}].match.claims`, message: 'needs jwt (top-level or on the route) to verify the token claims come from' });
      }
    });
    const verifies = route.jwt !== undefined || config.jwt !== undefined;
    route.rollout?.stages?.forEach((stage, stageIndex) => {
      if (stage.audience?.claim && !verifies) {
        issues.push({ path: `${at}.rollout.stages[${stageIndex}].audience.claim`, message: 'needs jwt (top-level or on the route) to verify the token claims come from' });
      }
    });
    if (!verifies && route.flags !== false && config.flags !== undefined) {
      for (const [name, source] of Object.entries(route.flags?.context ?? {})) {
        if (source.kind === 'claim') issues.push({ path: `${at}.flags.context.${name}`, message: `claim:${source.name} needs jwt (top-level or on the route) to verify the token claims come from` });
      }
    }
    if (route.jwt) issues.push(...readJwksFile(`${at}.jwt`, route.jwt));
  });
  if (config.jwt) issues.push(...readJwksFile('jwt', config.jwt));
  // Every route with flags inherits the top-level context: each of those needs a jwt block to verify claims with.
  const unverified = config.jwt === undefined ? config.routes.find((route) => route.flags !== false && route.jwt === undefined) : undefined;
  if (config.flags !== undefined && unverified !== undefined) {
    for (const [name, source] of Object.entries(config.flags.context)) {
      if (source.kind === 'claim') issues.push({ path: `flags.context.${name}`, message: `claim:${source.name} needs jwt (top-level, or on route ${unverified.name} and every other route with flags) to verify the token claims come from` });
    }
  }

  const keyRoute = config.flags?.ofrep ? config.flags.ofrep.targetingKeyFrom : undefined;
  if (keyRoute !== undefined) {
    const route = config.routes.find((r) => r.name === keyRoute);
    if (route === undefined) issues.push({ path: 'flags.ofrep.targetingKeyFrom', message: `unknown route "${keyRoute}" (known: ${config.routes.map((r) => r.name).join(', ') || 'none'})` });
    else if (route.sticky === undefined) issues.push({ path: 'flags.ofrep.targetingKeyFrom', message: `route "${keyRoute}" has no sticky key to take the targetingKey from` });
  }

  for (const [name, spec] of Object.entries(config.upstreams)) issues.push(...readUpstreamTls(joinPath('upstreams', name), spec));

  if (config.admin.tokenFile !== undefined) {
    if (config.admin.token !== undefined) issues.push({ path: 'admin.tokenFile', message: 'set token or tokenFile, not both' });
    else {
      try {
        const token = readFileSync(config.admin.tokenFile, 'utf8').trim();
        if (token === '') issues.push({ path: 'admin.tokenFile', message: `${config.admin.tokenFile} is empty` });
        else config.admin.token = token;
      } catch (error) {
        issues.push({ path: 'admin.tokenFile', message: `cannot read ${config.admin.tokenFile}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}` });
      }
    }
  }
  if (config.fleet) issues.push(...readFleetSecrets(config.fleet));
  issues.push(...flagsIssues(config, toConfigIssues));
  // After flagsIssues, which reads flags.file into flags.definitions.
  issues.push(...experimentIssues(config.experiments, config.experimentSettings, config.routes, config.flags === undefined ? undefined : (config.flags.definitions ?? null)));
  if (config.admin.listen.port !== 0 && config.admin.listen.port === config.listen.port) {
    issues.push({ path: 'admin.listen', message: `must differ from listen (both use port ${config.listen.port})` });
  }
  if (!isLoopback(config.admin.listen.host) && !config.admin.token) {
    issues.push({ path: 'admin.token', message: `is required when admin.listen is not a loopback address (${config.admin.listen.host})` });
  }
  return issues;
}

/**
 * An upstream's TLS options make sense only for https://, and `ca` is read here (the path as given, relative to
 * the working directory, like admin.tokenFile): every certificate in it must parse, so a truncated or wrong file
 * is a config error now rather than a 502 on the first request.
 */
function readUpstreamTls(at: string, spec: UpstreamConfig): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  if (!spec.url.startsWith('https:')) {
    for (const field of ['servername', 'ca'] as const) {
      if (spec[field] !== undefined) issues.push({ path: `${at}.${field}`, message: 'applies to https:// upstreams only' });
    }
    return issues;
  }
  if (spec.ca === undefined) return issues;
  if (spec.insecureSkipVerify === true) {
    issues.push({ path: `${at}.ca`, message: 'set ca or insecureSkipVerify, not both (insecureSkipVerify checks no certificate)' });
    return issues;
  }
  let pem: string;
  try {
    pem = readFileSync(spec.ca, 'utf8');
  } catch (error) {
    issues.push({ path: `${at}.ca`, message: `cannot read ${spec.ca}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}` });
    return issues;
  }
  const blocks = pem.match(PEM_CERTIFICATE) ?? [];
  if (blocks.length === 0) {
    issues.push({ path: `${at}.ca`, message: `${spec.ca} holds no PEM certificate (-----BEGIN CERTIFICATE-----)` });
    return issues;
  }
  for (let index = 0; index < blocks.length; index++) {
    try {
      new X509Certificate(blocks[index]);
    } catch (error) {
      issues.push({ path: `${at}.ca`, message: `certificate ${index + 1} in ${spec.ca} is invalid: ${(error as Error).message}` });
      return issues;
    }
  }
  spec.caPem = blocks.join('\n');
  return issues;
}

/**
 * A `jwks.file` is read here (the path as given, like admin.tokenFile) and must hold a JSON Web Key Set (RFC 7517
 * §5) with at least one key; the keys themselves are imported when the verifier is built.
 */
function readJwksFile(at: string, spec: JwtConfig): ConfigIssue[] {
  const file = spec.jwks.file;
  if (file === undefined) return [];
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    return [{ path: `${at}.jwks.file`, message: `cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}` }];
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    return [{ path: `${at}.jwks.file`, message: `${file} is not JSON: ${(error as Error).message}` }];
  }
  const keys = (parsed as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(keys) || keys.length === 0 || !keys.every((key) => key !== null && typeof key === 'object' && !Array.isArray(key))) {
    return [{ path: `${at}.jwks.file`, message: `${file} must be a JSON Web Key Set: {"keys": [ ... ]} with at least one key` }];
  }
  spec.jwks.keys = keys;
  return [];
}

/** The Redis password file and CA file are read here (paths as given, like admin.tokenFile). */
function readFleetSecrets(fleet: FleetConfig): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const redis = fleet.redis;
  if (redis.passwordFile !== undefined) {
    if (redis.password !== undefined) issues.push({ path: 'fleet.redis.passwordFile', message: 'set password or passwordFile, not both' });
    else {
      try {
        const password = readFileSync(redis.passwordFile, 'utf8').trim();
        if (password === '') issues.push({ path: 'fleet.redis.passwordFile', message: `${redis.passwordFile} is empty` });
        else redis.password = password;
      } catch (error) {
        issues.push({ path: 'fleet.redis.passwordFile', message: `cannot read ${redis.passwordFile}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}` });
      }
    }
  }
  const tls = redis.tls;
  if (tls === undefined) return issues;
  if (!redis.url.startsWith('rediss:')) {
    issues.push({ path: 'fleet.redis.tls', message: 'applies to rediss:// URLs only (redis:// is plain TCP)' });
    return issues;
  }
  if (tls.ca === undefined) return issues;
  if (tls.insecureSkipVerify === true) {
    issues.push({ path: 'fleet.redis.tls.ca', message: 'set ca or insecureSkipVerify, not both (insecureSkipVerify checks no certificate)' });
    return issues;
  }
  let pem: string;
  try {
    pem = readFileSync(tls.ca, 'utf8');
  } catch (error) {
    issues.push({ path: 'fleet.redis.tls.ca', message: `cannot read ${tls.ca}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}` });
    return issues;
  }
  const blocks = pem.match(PEM_CERTIFICATE) ?? [];
  if (blocks.length === 0) issues.push({ path: 'fleet.redis.tls.ca', message: `${tls.ca} holds no PEM certificate (-----BEGIN CERTIFICATE-----)` });
  else tls.caPem = blocks.join('\n');
  return issues;
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g;

/** A union (`url` or `{url, ...}`) reports the branch the user evidently meant, not "Invalid input". */
export function toConfigIssues(issue: ZodIssue): ConfigIssue[] {
  if (issue.code !== 'invalid_union') return [toConfigIssue(issue)];
  const meant = issue.unionErrors.find((branch) => !branch.issues.every((i) => i.code === 'invalid_type' && i.path.length === issue.path.length));
  if (meant) return meant.issues.flatMap(toConfigIssues);
  return [{ ...toConfigIssue(issue), message: 'has the wrong type' }];
}

function toConfigIssue(issue: ZodIssue): ConfigIssue {
  let path = '';
  for (const segment of issue.path) path = typeof segment === 'number' ? `${path}[${segment}]` : joinPath(path, segment);
  let message = issue.message;
  if (issue.code === 'invalid_type' && issue.received === 'undefined') message = 'is required';
  else if (issue.code === 'unrecognized_keys') message = `unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}`;
  else if (issue.code === 'invalid_type') message = `must be ${issue.expected} (got ${issue.received})`;
  return { path, message };
}

function joinPath(path: string, key: string): string {
  const safe = /^[A-Za-z_][A-Za-z0-9_]*$/.test(key) ? key : JSON.stringify(key);
  if (safe.startsWith('"')) return `${path}[${safe}]`;
  return path ? `${path}.${safe}` : safe;
}
