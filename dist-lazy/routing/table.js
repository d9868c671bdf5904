import { BlockList } from 'node:net';
import { parseSourceNetwork } from '../config/source-network.js';
import { compileRetryPolicy, GuardBook, outlierSettings } from '../proxy/canary-guard.js';
import { saltState, weightToBuckets } from './hash.js';
import { interned } from './interned.js';
import { compileClaimMatchers } from './claim-match.js';
import { compileRulePattern } from './pattern.js';
import { compileFlagSet } from '../flags/flag-set.js';
import { FlagCountBook } from '../flags/flag-counts.js';
import { flagsHeaderNames, routeFlagsSpec } from '../flags/route-flags-spec.js';
import { compileRouteFlags } from '../flags/route-flags.js';
import { readStickyKey } from './context.js';
import { applyFlagOverrides } from '../flags/flag-overrides.js';
export function placedByWeight(reason) {
    return reason === 'weight' || reason === 'rule_weight' || reason === 'audience';
}
const decisionCache = new Map();
export function decisionOf(version, reason, rule = -1) {
    const key = `${version}|${reason}|${rule}`;
    let decision = decisionCache.get(key);
    if (!decision) {
        decision = Object.freeze({ version, reason, rule });
        decisionCache.set(key, decision);
    }
    return decision;
}
export function compileTable(config, generation, runtime = {}, guards = new GuardBook(), flagCounts = new FlagCountBook()) {
    const definitions = config.flags?.definitions;
    const flagSet = definitions === undefined ? null : compileFlagSet(applyFlagOverrides(definitions, runtime.flags), flagCounts);
    const routes = config.routes.map((route, index) => compileRoute(route, index, runtime, guards, config.jwt, flagSet === null ? null : flagsOf(config, route, flagSet)));
    return Object.freeze({
        generation,
        routes: Object.freeze(routes),
        headerNames: headerNamesRead(routes),
        matchesHost: routes.some((route) => route.host !== null || route.hostSuffix !== null),
        flagSet,
        flagsHeaders: Object.freeze(flagSet === null ? [] : flagsHeaderNames(config)),
        ofrep: flagSet === null || !config.flags?.ofrep ? null : ofrepSettings(config.flags.ofrep, routes),
    });
}
function ofrepSettings(ofrep, routes) {
    const keyRoute = ofrep.targetingKeyFrom === undefined ? undefined : routes.find((route) => route.name === ofrep.targetingKeyFrom);
    return Object.freeze({
        path: ofrep.path,
        apiKey: ofrep.apiKey ?? null,
        bearerToken: ofrep.bearerToken ?? null,
        targetingKeyOf: keyRoute === undefined ? null : (headers, clientIp) => readStickyKey(keyRoute, headers, clientIp),
    });
}
function flagsOf(config, route, flagSet) {
    const spec = routeFlagsSpec(config, route);
    if (spec === null)
        return null;
    const context = route.region === undefined ? Object.fromEntries(Object.entries(spec.context).filter(([, source]) => source.kind !== 'region')) : spec.context;
    return compileRouteFlags(flagSet, { ...spec, context });
}
function headerNamesRead(routes) {
    const names = new Set(['cookie']);
    for (const route of routes) {
        for (const source of route.stickySources)
            if (source.kind === 'header')
                names.add(source.name);
        if (route.overrideHeader !== null)
            names.add(route.overrideHeader);
        if (route.regionHeader !== null)
            names.add(route.regionHeader);
        for (const rule of route.rules)
            for (const [name] of rule.headers)
                names.add(name);
        if (route.jwt !== null && route.jwt.from.kind === 'header')
            names.add(route.jwt.from.name);
        for (const name of route.flags?.headerNames ?? [])
            names.add(name);
        for (const audience of route.audiences)
            for (const [name] of audience.headers)
                names.add(name);
    }
    return names;
}
function compileRoute(route, index, runtime, guards, globalJwt, flags) {
    const host = route.match?.host?.toLowerCase() ?? null;
    const wildcard = host?.startsWith('*.') ?? false;
    const set = runtime.weights?.[route.name];
    const weight = route.canary === undefined ? 0 : (set?.weight ?? route.weight);
    const stickyCookie = compileStickyCookie(route);
    const stickySources = (route.sticky?.key ?? []).map((s) => (s.kind === 'header' ? { ...s, name: interned(s.name) } : s));
    if (stickyCookie && !stickySources.some((s) => s.kind === 'cookie' && s.name === stickyCookie.name)) {
        stickySources.push({ kind: 'cookie', name: stickyCookie.name });
    }
    const overrides = route.overrides === false ? { header: false, cookie: false } : (route.overrides ?? {});
    const overrideHeader = overrides.header === false ? null : interned(overrides.header ?? 'x-canary');
    const overrideCookie = overrides.cookie === false ? null : (overrides.cookie ?? 'canary');
    const restricted = route.overrides === false ? undefined : route.overrides;
    const overrideSecret = restricted?.secret ?? null;
    const overrideNetworks = restricted?.sourceNetworks === undefined ? null : compileNetworks(restricted.sourceNetworks);
    const rules = (route.rules ?? []).map(compileRule);
    const readsClaims = rules.some((r) => r.claims.length > 0) ||
        (flags?.attributes.some((a) => a.kind === 'claim') ?? false) ||
        (route.rollout?.stages?.some((stage) => stage.audience?.claim !== undefined) ?? false);
    const jwt = readsClaims ? (route.jwt ?? globalJwt ?? null) : null;
    const readsCookies = overrideCookie !== null ||
        stickySources.some((s) => s.kind === 'cookie') ||
        rules.some((r) => r.cookies.length > 0) ||
        jwt?.from.kind === 'cookie' ||
        (flags?.readsCookies ?? false);
    return Object.freeze({
        index,
        name: route.name,
        host: wildcard ? null : host,
        hostSuffix: wildcard ? host.slice(1) : null,
        pathPrefix: route.match?.pathPrefix ?? '/',
        upstreams: Object.freeze({ stable: route.stable, canary: route.canary ?? null }),
        weight,
        weightSource: set?.source ?? 'config',
        buckets: weightToBuckets(weight),
        killed: runtime.killed?.has(route.name) ?? false,
        salt: saltState(route.salt ?? route.name),
        stickySources: Object.freeze(stickySources),
        stickyCookie,
        overrideHeader,
        overrideCookie,
        overrideSecret,
        overrideNetworks,
        regionHeader: route.region?.header === undefined ? null : interned(route.region.header),
        rules: Object.freeze(rules),
        audiences: compileAudiences(route, runtime.stages?.[route.name] ?? -1),
        readsCookies,
        readsClaims: jwt !== null,
        jwt,
        guard: route.canary === undefined ? null : guards.guardFor(route.name, route.canary, outlierSettings(route.outlier)),
        retry: route.canary === undefined ? null : compileRetryPolicy(route.retry),
        flags,
    });
}
function compileNetworks(networks) {
    const list = new BlockList();
    for (const text of networks) {
        const network = parseSourceNetwork(text);
        list.addSubnet(network.address, network.prefix, network.family);
    }
    return list;
}
function compileRule(rule, index) {
    return Object.freeze({
        index,
        headers: Object.freeze(Object.entries(rule.match.headers ?? {}).map(([name, value]) => [interned(name), compileMatcher(value)])),
        cookies: Object.freeze(Object.entries(rule.match.cookies ?? {}).map(([name, value]) => [name, compileMatcher(value)])),
        claims: compileClaimMatchers(rule.match.claims),
        regions: rule.match.region ? new Set(rule.match.region.map((r) => r.toLowerCase())) : null,
        pinned: rule.version ? decisionOf(rule.version, 'rule', index) : null,
        buckets: weightToBuckets(rule.weight ?? 0),
        toCanary: decisionOf('canary', 'rule_weight', index),
        toStable: decisionOf('stable', 'rule_weight', index),
    });
}
export function compileAudiences(route, stageInForce) {
    const stages = route.rollout?.stages;
    if (!stages || route.canary === undefined || stageInForce < 0)
        return EMPTY_AUDIENCES;
    const audiences = [];
    for (const stage of stages.slice(0, stageInForce + 1)) {
        if (stage.audience === null)
            continue;
        audiences.push(Object.freeze({
            stage: stage.name,
            headers: Object.freeze(Object.entries(stage.audience.header ?? {}).map(([name, value]) => [interned(name), compileMatcher(value)])),
            regions: stage.audience.region ? new Set(stage.audience.region.map((r) => r.toLowerCase())) : null,
            claims: compileClaimMatchers(stage.audience.claim),
        }));
    }
    return Object.freeze(audiences);
}
const EMPTY_AUDIENCES = Object.freeze([]);
function compileMatcher(value) {
    return value.startsWith('~') ? { exact: null, pattern: compileRulePattern(value.slice(1)) } : { exact: value, pattern: null };
}
function compileStickyCookie(route) {
    const cookie = route.sticky?.cookie;
    if (!route.sticky || cookie === false)
        return null;
    const options = cookie ?? { name: 'sg_uid' };
    const maxAgeSeconds = Math.floor((options.maxAge ?? 30 * 86_400_000) / 1000);
    let attributes = `; Max-Age=${maxAgeSeconds}; Path=${options.path ?? '/'}`;
    if (options.domain)
        attributes += `; Domain=${options.domain}`;
    if (options.secure)
        attributes += '; Secure';
    if (options.httpOnly ?? true)
        attributes += '; HttpOnly';
    attributes += `; SameSite=${capitalize(options.sameSite ?? 'lax')}`;
    return Object.freeze({ name: options.name, attributes });
}
function capitalize(word) {
    return word[0].toUpperCase() + word.slice(1);
}
//# sourceMappingURL=table.js.map