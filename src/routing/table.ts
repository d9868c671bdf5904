/**
 * Config → RoutingTable: everything a request needs is worked out here once (patterns compiled, weights turned into
 * bucket thresholds, decisions preallocated), then frozen. A table is never changed after it is built; runtime
 * changes (operator weights, kill switches) build a new one and swap it in whole.
 */
import { BlockList } from 'node:net';
import type { Config, JwtConfig, RouteConfig, StickySource } from '../config/schema.js';
import { parseSourceNetwork } from '../config/source-network.js';
import { compileRetryPolicy, GuardBook, outlierSettings, type CanaryGuard, type RetryPolicy } from '../proxy/canary-guard.js';
import { saltState, weightToBuckets, type SaltState } from './hash.js';
import { interned } from './interned.js';
import { compileClaimMatchers, type ClaimMatchers } from './claim-match.js';
import { compileRulePattern, type RulePattern } from './pattern.js';
import { compileFlagSet, type FlagSet } from '../flags/flag-set.js';
import { FlagCountBook } from '../flags/flag-counts.js';
import { flagsHeaderNames, routeFlagsSpec } from '../flags/route-flags-spec.js';
import { compileRouteFlags, type RouteFlags } from '../flags/route-flags.js';
import type { OfrepSettings } from '../flags/ofrep.js';
import { readStickyKey, type RequestHeaders } from './context.js';
import { applyFlagOverrides, type FlagOverrides } from '../flags/flag-overrides.js';

export type Version = 'stable' | 'canary';

/** Why a request went where it went, in precedence order. Bounded: used as a metric label. */
export type DecisionReason =
  | 'no_canary'
  | 'kill_switch'
  | 'override_header'
  | 'override_cookie'
  | 'rule'
  | 'rule_weight'
  | 'weight'
  /** In a ring of the release plan in force (a stage's audience: header, region or verified claim). */
  | 'audience'
  /** The canary was chosen but is ejected (outlier detection) or failing its health checks: stable instead. */
  | 'canary_ejected'
  /** The canary failed before answering and the request was sent to stable a second time (never by decideRoute). */
  | 'retry_stable';

/**
 * Placed by the weight (route or rule weight): both versions drawn from the same sticky buckets, so these are the
 * requests a rollout can compare fairly. A release plan's audience counts too: it is the plan's choice, and a ring
 * of developers or beta users is the only canary traffic an audience-only stage has to judge. Every other reason
 * was chosen by the client or the operator.
 */
export function placedByWeight(reason: DecisionReason): boolean {
  return reason === 'weight' || reason === 'rule_weight' || reason === 'audience';
}

export interface RouteDecision {
  readonly version: Version;
  readonly reason: DecisionReason;
  /** Index of the rule that decided, or -1. */
  readonly rule: number;
}

/** Where the weight in force came from; `/status` and events show it. */
export type WeightSource = 'config' | 'operator' | 'rollout';

export interface ValueMatcher {
  readonly exact: string | null;
  /** RE2 (linear time): see pattern.ts. */
  readonly pattern: RulePattern | null;
}

export interface CompiledRule {
  readonly index: number;
  readonly headers: ReadonlyArray<readonly [name: string, matcher: ValueMatcher]>;
  readonly cookies: ReadonlyArray<readonly [name: string, matcher: ValueMatcher]>;
  /** Verified JWT claims the rule requires (empty when it reads none); see claim-match.ts. */
  readonly claims: ClaimMatchers;
  /** Lower-cased region names, or null when the rule does not look at the region. */
  readonly regions: ReadonlySet<string> | null;
  /** Set when the rule pins a version. */
  readonly pinned: RouteDecision | null;
  /** Canary buckets when the rule carries its own weight. */
  readonly buckets: number;
  readonly toCanary: RouteDecision;
  readonly toStable: RouteDecision;
}

/** One ring of a release plan: every listed part must match (see StageAudience in the schema). */
export interface CompiledAudience {
  readonly stage: string;
  readonly headers: ReadonlyArray<readonly [name: string, matcher: ValueMatcher]>;
  /** Lower-cased region names, or null when the audience does not look at the region. */
  readonly regions: ReadonlySet<string> | null;
  readonly claims: ClaimMatchers;
}

export interface StickyCookie {
  readonly name: string;
  /** Everything after `name=value`, serialized once. */
  readonly attributes: string;
}

export interface CompiledRoute {
  readonly index: number;
  readonly name: string;
  /** Lower-case exact host, or null for any host. */
  readonly host: string | null;
  /** For `*.example.com`: `.example.com`; null otherwise. */
  readonly hostSuffix: string | null;
  readonly pathPrefix: string;
  readonly upstreams: Readonly<Record<Version, string | null>>;
  readonly weight: number;
  readonly weightSource: WeightSource;
  readonly buckets: number;
  readonly killed: boolean;
  /** The sticky hash's salt (the route name unless configured), pre-hashed. */
  readonly salt: SaltState;
  readonly stickySources: readonly StickySource[];
  readonly stickyCookie: StickyCookie | null;
  readonly overrideHeader: string | null;
  readonly overrideCookie: string | null;
  /** When set, an override value counts only as `always:<secret>` / `never:<secret>`. */
  readonly overrideSecret: string | null;
  /**
   * When set, overrides count only from client addresses in these networks (checked in buildContext, so the
   * decision stays pure). A verified claim (a signed token naming the tester) would sit beside these two.
   */
  readonly overrideNetworks: BlockList | null;
  readonly regionHeader: string | null;
  readonly rules: readonly CompiledRule[];
  /**
   * The audiences of the release plan's stages up to the one in force (rings only grow): a request in any of them
   * gets the canary, after the rules and before the weight. Empty without a plan or before its first stage.
   */
  readonly audiences: readonly CompiledAudience[];
  /** True when anything on this route reads cookies, so the Cookie header is parsed only when needed. */
  readonly readsCookies: boolean;
  /**
   * True when anything on this route reads verified JWT claims (a `claims` rule): only then is a token looked at
   * and verified (see proxy/service.ts); otherwise `context.claims` is null and no request waits on verification.
   */
  readonly readsClaims: boolean;
  /** The `jwt` settings in force for this route (its own, else the global one) when it reads claims; else null. */
  readonly jwt: JwtConfig | null;
  /** The canary's ejection state and the retry budget (mutable, outlasts the table; see canary-guard.ts); null without canary. */
  readonly guard: CanaryGuard | null;
  /** Retry of failed canary exchanges on stable; null when off or without canary. */
  readonly retry: RetryPolicy | null;
  /** The flags this route evaluates and sends upstream; null when it sends none. */
  readonly flags: RouteFlags | null;
}

export interface RoutingTable {
  readonly generation: number;
  readonly routes: readonly CompiledRoute[];
  /**
   * Lower-case names of the request headers routing reads on any route: Cookie, sticky key, override, region and
   * rule headers. The data path collects exactly these while it copies the request's headers.
   */
  readonly headerNames: ReadonlySet<string>;
  /** Some route matches on the host, so requests' Host headers must be normalized to route. */
  readonly matchesHost: boolean;
  /** A path servers may read differently must pick the same route every way (`pathMatching: normalized`, routing/path.ts). */
  readonly normalizesPaths: boolean;
  /** The compiled flag definitions (config `flags`), or null. */
  readonly flagSet: FlagSet | null;
  /** Lower-case names of the flags headers: a client's copies are never forwarded, on any route. */
  readonly flagsHeaders: readonly string[];
  /** OFREP on the proxy listener, or null when off (or without flags). */
  readonly ofrep: OfrepSettings | null;
}

/** Runtime state laid over the config: operator-set weights and kill switches, by route name. */
export interface RuntimeOverrides {
  readonly weights?: Readonly<Record<string, { weight: number; source: WeightSource }>>;
  readonly killed?: ReadonlySet<string>;
  /** The release plan's stage in force (index into `rollout.stages`), by route; absent or -1: no audience. */
  readonly stages?: Readonly<Record<string, number>>;
  /** Operator overrides of flags (kill, pinned variant), by flag key: laid over the definitions before compiling. */
  readonly flags?: FlagOverrides;
}

const decisionCache = new Map<string, RouteDecision>();

/** Decisions are shared frozen values, so deciding allocates nothing. */
export function decisionOf(version: Version, reason: DecisionReason, rule = -1): RouteDecision {
  const key = `${version}|${reason}|${rule}`;
  let decision = decisionCache.get(key);
  if (!decision) {
    decision = Object.freeze({ version, reason, rule });
    decisionCache.set(key, decision);
  }
  return decision;
}

/**
 * `guards`: where the canaries' guards live across tables (the running instance's); a fresh book otherwise.
 * `flagCounts`: where flag evaluations are counted (the running instance's metrics); a fresh book otherwise.
 */
export function compileTable(
  config: Config,
  generation: number,
  runtime: RuntimeOverrides = {},
  guards: GuardBook = new GuardBook(),
  flagCounts: FlagCountBook = new FlagCountBook(),
): RoutingTable {
  const definitions = config.flags?.definitions;
  const flagSet = definitions === undefined ? null : compileFlagSet(applyFlagOverrides(definitions, runtime.flags), flagCounts);
  const routes = config.routes.map((route, index) => compileRoute(route, index, runtime, guards, config.jwt, flagSet === null ? null : flagsOf(config, route, flagSet)));
  return Object.freeze({
    generation,
    routes: Object.freeze(routes),
    headerNames: headerNamesRead(routes),
    matchesHost: routes.some((route) => route.host !== null || route.hostSuffix !== null),
    // Only a prefix longer than "/" can tell two spellings of a path apart: without one, the scan is skipped.
    normalizesPaths: config.pathMatching === 'normalized' && routes.some((route) => route.pathPrefix !== '/'),
    flagSet,
    flagsHeaders: Object.freeze(flagSet === null ? [] : flagsHeaderNames(config)),
    ofrep: flagSet === null || !config.flags?.ofrep ? null : ofrepSettings(config.flags.ofrep, routes),
  });
}

function ofrepSettings(ofrep: Exclude<NonNullable<Config['flags']>['ofrep'], false>, routes: readonly CompiledRoute[]): OfrepSettings {
  const keyRoute = ofrep.targetingKeyFrom === undefined ? undefined : routes.find((route) => route.name === ofrep.targetingKeyFrom);
  return Object.freeze({
    path: ofrep.path,
    apiKey: ofrep.apiKey ?? null,
    bearerToken: ofrep.bearerToken ?? null,
    targetingKeyOf: keyRoute === undefined ? null : (headers: RequestHeaders, clientIp: string) => readStickyKey(keyRoute, headers, clientIp),
  });
}

function flagsOf(config: Config, route: RouteConfig, flagSet: FlagSet): RouteFlags | null {
  const spec = routeFlagsSpec(config, route);
  if (spec === null) return null;
  // Region attributes read the route's region header; a route without one leaves them out of the context.
  const context = route.region === undefined ? Object.fromEntries(Object.entries(spec.context).filter(([, source]) => source.kind !== 'region')) : spec.context;
  return compileRouteFlags(flagSet, { ...spec, context });
}

function headerNamesRead(routes: readonly CompiledRoute[]): ReadonlySet<string> {
  const names = new Set(['cookie']);
  for (const route of routes) {
    for (const source of route.stickySources) if (source.kind === 'header') names.add(source.name);
    if (route.overrideHeader !== null) names.add(route.overrideHeader);
    if (route.regionHeader !== null) names.add(route.regionHeader);
    for (const rule of route.rules) for (const [name] of rule.headers) names.add(name);
    if (route.jwt !== null && route.jwt.from.kind === 'header') names.add(route.jwt.from.name);
    for (const name of route.flags?.headerNames ?? []) names.add(name);
    for (const audience of route.audiences) for (const [name] of audience.headers) names.add(name);
  }
  return names;
}

function compileRoute(route: RouteConfig, index: number, runtime: RuntimeOverrides, guards: GuardBook, globalJwt: JwtConfig | undefined, flags: RouteFlags | null): CompiledRoute {
  const host = route.match?.host?.toLowerCase() ?? null;
  const wildcard = host?.startsWith('*.') ?? false;
  const set = runtime.weights?.[route.name];
  const weight = route.canary === undefined ? 0 : (set?.weight ?? route.weight);
  const stickyCookie = compileStickyCookie(route);
  const stickySources = (route.sticky?.key ?? []).map((s) => (s.kind === 'header' ? { ...s, name: interned(s.name) } : s));
  // The issued cookie is always a key source, after the configured ones, so a client that got one keeps its version.
  if (stickyCookie && !stickySources.some((s) => s.kind === 'cookie' && s.name === stickyCookie.name)) {
    stickySources.push({ kind: 'cookie', name: stickyCookie.name });
  }
  const overrides = route.overrides === false ? { header: false as const, cookie: false as const } : (route.overrides ?? {});
  const overrideHeader = overrides.header === false ? null : interned(overrides.header ?? 'x-canary');
  const overrideCookie = overrides.cookie === false ? null : (overrides.cookie ?? 'canary');
  const restricted = route.overrides === false ? undefined : route.overrides;
  const overrideSecret = restricted?.secret ?? null;
  const overrideNetworks = restricted?.sourceNetworks === undefined ? null : compileNetworks(restricted.sourceNetworks);
  const rules = (route.rules ?? []).map(compileRule);
  // Whatever reads claims makes the route verify tokens: a rule, a flag's context attribute, or any stage's audience
  // of its release plan (the whole plan, so a stage that starts reading claims needs no new verifier).
  const readsClaims =
    rules.some((r) => r.claims.length > 0) ||
    (flags?.attributes.some((a) => a.kind === 'claim') ?? false) ||
    (route.rollout?.stages?.some((stage) => stage.audience?.claim !== undefined) ?? false);
  const jwt = readsClaims ? (route.jwt ?? globalJwt ?? null) : null;
  const readsCookies =
    overrideCookie !== null ||
    stickySources.some((s) => s.kind === 'cookie') ||
    rules.some((r) => r.cookies.length > 0) ||
    jwt?.from.kind === 'cookie' ||
    (flags?.readsCookies ?? false);

  return Object.freeze({
    index,
    name: route.name,
    host: wildcard ? null : host,
    hostSuffix: wildcard ? host!.slice(1) : null,
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

/** One BlockList per route and table: matching a client address is then a native lookup. */
function compileNetworks(networks: readonly string[]): BlockList {
  const list = new BlockList();
  for (const text of networks) {
    const network = parseSourceNetwork(text)!; // validated by the schema
    list.addSubnet(network.address, network.prefix, network.family);
  }
  return list;
}

function compileRule(rule: NonNullable<RouteConfig['rules']>[number], index: number): CompiledRule {
  return Object.freeze({
    index,
    headers: Object.freeze(Object.entries(rule.match.headers ?? {}).map(([name, value]) => [interned(name), compileMatcher(value)] as const)),
    cookies: Object.freeze(Object.entries(rule.match.cookies ?? {}).map(([name, value]) => [name, compileMatcher(value)] as const)),
    claims: compileClaimMatchers(rule.match.claims),
    regions: rule.match.region ? new Set(rule.match.region.map((r) => r.toLowerCase())) : null,
    pinned: rule.version ? decisionOf(rule.version, 'rule', index) : null,
    buckets: weightToBuckets(rule.weight ?? 0),
    toCanary: decisionOf('canary', 'rule_weight', index),
    toStable: decisionOf('stable', 'rule_weight', index),
  });
}

/** The audiences of stages 0..stageInForce: a later ring keeps every earlier one. */
export function compileAudiences(route: RouteConfig, stageInForce: number): readonly CompiledAudience[] {
  const stages = route.rollout?.stages;
  if (!stages || route.canary === undefined || stageInForce < 0) return EMPTY_AUDIENCES;
  const audiences: CompiledAudience[] = [];
  for (const stage of stages.slice(0, stageInForce + 1)) {
    if (stage.audience === null) continue;
    audiences.push(
      Object.freeze({
        stage: stage.name,
        headers: Object.freeze(Object.entries(stage.audience.header ?? {}).map(([name, value]) => [interned(name), compileMatcher(value)] as const)),
        regions: stage.audience.region ? new Set(stage.audience.region.map((r) => r.toLowerCase())) : null,
        claims: compileClaimMatchers(stage.audience.claim),
      }),
    );
  }
  return Object.freeze(audiences);
}

const EMPTY_AUDIENCES: readonly CompiledAudience[] = Object.freeze([]);

function compileMatcher(value: string): ValueMatcher {
  return value.startsWith('~') ? { exact: null, pattern: compileRulePattern(value.slice(1)) } : { exact: value, pattern: null };
}

function compileStickyCookie(route: RouteConfig): StickyCookie | null {
  const cookie = route.sticky?.cookie;
  if (!route.sticky || cookie === false) return null;
  const options = cookie ?? { name: 'sg_uid' };
  const maxAgeSeconds = Math.floor((options.maxAge ?? 30 * 86_400_000) / 1000);
  let attributes = `; Max-Age=${maxAgeSeconds}; Path=${options.path ?? '/'}`;
  if (options.domain) attributes += `; Domain=${options.domain}`;
  if (options.secure) attributes += '; Secure';
  if (options.httpOnly ?? true) attributes += '; HttpOnly';
  attributes += `; SameSite=${capitalize(options.sameSite ?? 'lax')}`;
  return Object.freeze({ name: options.name, attributes });
}

function capitalize(word: string): string {
  return word[0].toUpperCase() + word.slice(1);
}
