import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { DEFAULT_FLAGS_HEADER } from '../config/schema.js';
import { flagDefinitionsSchema } from './definitions.js';
const RESERVED_HEADERS = new Set([
    'host', 'cookie', 'content-length', 'transfer-encoding', 'connection', 'keep-alive', 'proxy-connection', 'te', 'trailer',
    'upgrade', 'expect', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'via', 'x-request-id',
    'x-splitgate-version', 'x-splitgate-shadow', 'authorization', 'set-cookie',
]);
export function flagsIssues(config, toIssues) {
    const issues = [];
    const flags = config.flags;
    if (flags?.file !== undefined)
        issues.push(...readFlagsFile(flags, toIssues));
    const known = flags?.definitions?.flags;
    const readByRouting = routingHeaderNames(config);
    if (flags !== undefined)
        issues.push(...headerIssues('flags.header', flags.header, readByRouting));
    config.routes.forEach((route, index) => {
        const at = `routes[${index}].flags`;
        if (route.flags === undefined || route.flags === false)
            return;
        if (flags === undefined) {
            issues.push({ path: at, message: 'needs the top-level flags block (file or definitions)' });
            return;
        }
        if (route.flags.header !== undefined)
            issues.push(...headerIssues(`${at}.header`, route.flags.header, readByRouting));
        if (known !== undefined && Array.isArray(route.flags.select)) {
            route.flags.select.forEach((key, keyIndex) => {
                if (!Object.hasOwn(known, key))
                    issues.push({ path: `${at}.select[${keyIndex}]`, message: `unknown flag "${key}" (known: ${Object.keys(known).join(', ') || 'none'})` });
            });
        }
        for (const [name, source] of Object.entries(route.flags.context ?? {})) {
            if (source.kind === 'region' && route.region === undefined)
                issues.push({ path: `${at}.context.${name}`, message: 'reads the region, which needs the route to set region.header' });
        }
    });
    return issues;
}
function readFlagsFile(flags, toIssues) {
    const file = flags.file;
    let text;
    try {
        text = readFileSync(file, 'utf8');
    }
    catch (error) {
        return [{ path: 'flags.file', message: `cannot read ${file}: ${error.code ?? error.message}` }];
    }
    let raw;
    try {
        raw = /\.ya?ml$/i.test(file) ? parseYaml(text, { maxAliasCount: 100 }) : JSON.parse(text);
    }
    catch (error) {
        return [{ path: 'flags.file', message: `${file} is not valid ${/\.ya?ml$/i.test(file) ? 'YAML' : 'JSON'}: ${error.message.split('\n')[0]}` }];
    }
    const result = flagDefinitionsSchema.safeParse(raw);
    if (!result.success) {
        return result.error.issues.flatMap(toIssues).map((issue) => ({ path: `${file}#${issue.path}`, message: issue.message }));
    }
    flags.definitions = result.data;
    return [];
}
function routingHeaderNames(config) {
    const names = new Map();
    const flagContexts = [config.flags?.context ?? {}, ...config.routes.map((route) => (route.flags ? (route.flags.context ?? {}) : {}))];
    for (const context of flagContexts)
        for (const source of Object.values(context))
            if (source.kind === 'header')
                names.set(source.name, 'a flags context attribute');
    for (const route of config.routes) {
        for (const source of route.sticky?.key ?? [])
            if (source.kind === 'header')
                names.set(source.name, `route "${route.name}" sticky key`);
        if (route.region)
            names.set(route.region.header, `route "${route.name}" region`);
        if (route.overrides && route.overrides.header)
            names.set(route.overrides.header, `route "${route.name}" override header`);
        for (const rule of route.rules ?? [])
            for (const name of Object.keys(rule.match.headers ?? {}))
                names.set(name, `route "${route.name}" rules`);
    }
    if (config.routes.some((route) => route.overrides === undefined || (route.overrides !== false && route.overrides.header === undefined))) {
        names.set('x-canary', 'the default override header');
    }
    return names;
}
function headerIssues(path, header, readByRouting) {
    if (RESERVED_HEADERS.has(header))
        return [{ path, message: `"${header}" is a header splitgate handles itself; choose another (default ${DEFAULT_FLAGS_HEADER})` }];
    const reader = readByRouting.get(header);
    if (reader !== undefined)
        return [{ path, message: `"${header}" is read by ${reader}; client copies of the flags header are dropped, so choose another` }];
    return [];
}
//# sourceMappingURL=flags-config.js.map