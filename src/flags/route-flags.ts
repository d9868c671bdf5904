/**
 * Per route: which flags go upstream, under which header, and which request attributes join the evaluation context.
 * Compiled with the routing table; per request, `buildFlagContext` reads the attributes from the routing context
 * the decision already built (no second header or cookie parse) and `flagsHeaderValue` evaluates the selected flags
 * and joins their pre-serialized members into one RFC 8941 Dictionary (§3.2), e.g. `new-checkout=?1, auth-v2="v2"`.
 *
 * `targetingKey` is the route's sticky key, the same identity that picks stable or canary, so a user's flag buckets
 * and version bucket come from one id. A request without one (no sticky key configured, none sent, no cookie issued)
 * has no targeting key: flagd's `fractional` then falls back to the default variant.
 */
import type { RequestContext } from '../routing/context.js';
import type { TargetingData } from './flagd-core.js';
import { asTargetingData, evaluateFlag, targetingData, type CompiledFlag, type FlagContext, type FlagSet } from './flag-set.js';

/** Where one context attribute comes from. `claim` is for verified JWT claims (see VerifiedClaims). */
export interface FlagAttributeSource {
  readonly kind: 'header' | 'cookie' | 'region' | 'claim';
  /** Header name (lower-case), cookie name or claim name; '' for region. */
  readonly name: string;
}

export interface FlagAttribute extends FlagAttributeSource {
  /** The attribute's name in the evaluation context (what targeting reads with `{"var": ...}`). */
  readonly attribute: string;
}

/**
 * Claims of a JWT that auth/jwt-verifier.ts verified, when the request carried one (the route reads claims only
 * with a `jwt` block in force: config/load.ts). Unverified claims must never be passed here.
 */
export type VerifiedClaims = Readonly<Record<string, unknown>>;

export interface RouteFlags {
  /** Lower-case header name the flags go upstream in. */
  readonly header: string;
  /** The flags this route evaluates and sends, in definition order. */
  readonly flags: readonly CompiledFlag[];
  readonly attributes: readonly FlagAttribute[];
  /** Request header names the attributes read (routing must collect them). */
  readonly headerNames: readonly string[];
  readonly readsCookies: boolean;
  /** Some selected flag has targeting: without one, no context is built for a request. */
  readonly needsContext: boolean;
  /** Some selected flag runs flagd-core's compiled targeting: one TargetingData per request serves them all. */
  readonly runsTargeting: boolean;
}

export interface RouteFlagsSpec {
  readonly header: string;
  /** 'all', or flag keys (validated to exist). */
  readonly select: 'all' | readonly string[];
  readonly context: Readonly<Record<string, FlagAttributeSource>>;
}

export function compileRouteFlags(set: FlagSet, spec: RouteFlagsSpec): RouteFlags {
  const selected = spec.select === 'all' ? set.list : set.list.filter((flag) => spec.select.includes(flag.key));
  const sent = selected.filter((flag) => flag.sendable);
  const attributes = Object.entries(spec.context).map(([attribute, source]) => Object.freeze({ attribute, kind: source.kind, name: source.name }));
  return Object.freeze({
    header: spec.header,
    // A flag that can never put anything in the header is not evaluated for it.
    flags: Object.freeze(sent),
    attributes: Object.freeze(attributes),
    headerNames: Object.freeze(attributes.filter((a) => a.kind === 'header').map((a) => a.name)),
    readsCookies: attributes.some((a) => a.kind === 'cookie'),
    // A disabled flag resolves without looking at the request, whatever its targeting.
    needsContext: sent.some((flag) => flag.enabled && flag.staticOutcome === null),
    runsTargeting: sent.some((flag) => flag.enabled && flag.migration === null && flag.fractional === null && flag.targeting !== null),
  });
}

const NO_CONTEXT: FlagContext = Object.freeze({});

/**
 * `flagsHeaderValue` of this request's context (`buildFlagContext`), which, built here and read by nothing else,
 * serves as the targeting's data itself instead of being copied.
 */
export function requestFlagsHeader(flags: RouteFlags, request: RequestContext, claims: VerifiedClaims | undefined): string {
  const context = buildFlagContext(flags, request, claims);
  return flagsHeaderValue(flags, context, flags.runsTargeting ? asTargetingData(context) : undefined);
}

/**
 * `targetingKey` plus the declared attributes that are present in this request; absent ones are left out. A route
 * whose flags have no targeting gets one shared empty context.
 */
export function buildFlagContext(flags: RouteFlags, request: RequestContext, claims: VerifiedClaims | undefined): FlagContext {
  if (!flags.needsContext) return NO_CONTEXT;
  const context: FlagContext = {};
  if (request.stickyKey !== null) context.targetingKey = request.stickyKey;
  const attributes = flags.attributes;
  for (let i = 0; i < attributes.length; i++) {
    const attribute = attributes[i];
    let value: unknown;
    switch (attribute.kind) {
      case 'header': {
        const header = request.headers[attribute.name];
        value = typeof header === 'string' ? header : header?.join(', ');
        break;
      }
      case 'cookie':
        value = request.cookies[attribute.name];
        break;
      case 'region':
        value = request.region;
        break;
      case 'claim':
        value = claims?.[attribute.name];
        break;
    }
    if (value !== undefined) context[attribute.attribute] = value as FlagContext[string];
  }
  return context;
}

/** The flags header's value for one request, '' when no flag has anything to send. Counts every evaluation. */
export function flagsHeaderValue(flags: RouteFlags, context: FlagContext, data: TargetingData | undefined = flags.runsTargeting ? targetingData(context) : undefined): string {
  let value = '';
  const list = flags.flags;
  for (let i = 0; i < list.length; i++) {
    const member = evaluateFlag(list[i], context, data).member;
    if (member === null) continue;
    value = value === '' ? member : `${value}, ${member}`;
  }
  return value;
}
