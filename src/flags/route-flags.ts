/**
 * Per route: which flags go upstream, under which header, and which request attributes join the evaluation context.
 * Compiled with the routing table; per request, `buildFlagContext` reads the attributes from the routing context
 * the decision already built (no second header or cookie parse) and `flagsHeaderValue` evaluates the selected flags
 * and joins their pre-serialized members into one RFC 8941 Dictionary (§3.2), e.g. `new-checkout=?1, auth-v2="v2"`.
 *
 * `targetingKey` is the route's sticky key, the same identity that picks stable or canary, so a user's flag buckets
 * and version bucket come from one id. A request without one (no sticky key configured, none sent, no cookie issued)
 * has no targeting key: flagd's `fractional` then falls back to the default variant.
 *
 * A route whose header depends on the context keeps a memo of finished headers by context (flags-memo.ts), unless
 * some flag it evaluates may read the clock; a repeat counts every flag's outcome again, as an evaluation would.
 */
import type { RequestContext } from '../routing/context.js';
import type { TargetingData } from './flagd-core.js';
import { asTargetingData, evaluateFlag, resolveFlag, targetingData, type CompiledFlag, type FlagContext, type FlagOutcome, type FlagSet } from './flag-set.js';
import { DEFAULT_FLAGS_MEMO_SIZE, FlagsMemo, MAX_FLAGS_MEMO_CONTEXT_LENGTH, MemoizedFlags } from './flags-memo.js';

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
  /**
   * Headers by context, this table's own (flags-memo.ts); null when the header needs no context (one constant
   * path already), some flag may read the clock, or the memo is off (`flags.memo.size: 0`).
   */
  readonly memo: FlagsMemo | null;
  /**
   * The header of a route that needs no context (every flag static or disabled), worked out at load with its
   * outcomes, which each request counts: the 10 bench flags without targeting cost ~220 ns a request to join
   * again (a socket-free loop, loadtest/README.md), and a constant is already flat for undici's header check.
   */
  readonly constant: MemoizedFlags | null;
}

export interface RouteFlagsSpec {
  readonly header: string;
  /** 'all', or flag keys (validated to exist). */
  readonly select: 'all' | readonly string[];
  readonly context: Readonly<Record<string, FlagAttributeSource>>;
  /** Entries of the route's memo (`flags.memo.size`); 0 turns it off. DEFAULT_FLAGS_MEMO_SIZE when absent. */
  readonly memoSize?: number;
}

const NO_CONTEXT: FlagContext = Object.freeze({});

export function compileRouteFlags(set: FlagSet, spec: RouteFlagsSpec): RouteFlags {
  const selected = spec.select === 'all' ? set.list : set.list.filter((flag) => spec.select.includes(flag.key));
  const sent = selected.filter((flag) => flag.sendable);
  const attributes = Object.entries(spec.context).map(([attribute, source]) => Object.freeze({ attribute, kind: source.kind, name: source.name }));
  // A disabled flag resolves without looking at the request, whatever its targeting.
  const needsContext = sent.some((flag) => flag.enabled && flag.staticOutcome === null);
  const memoSize = spec.memoSize ?? DEFAULT_FLAGS_MEMO_SIZE;
  const memoized = needsContext && memoSize > 0 && !sent.some((flag) => flag.enabled && flag.readsClock);
  let constant: MemoizedFlags | null = null;
  if (!needsContext) {
    const outcomes = sent.map((flag) => resolveFlag(flag, NO_CONTEXT));
    constant = new MemoizedFlags(null, [], outcomes.flatMap((outcome) => (outcome.member === null ? [] : [outcome.member])).join(', '), outcomes);
  }
  return Object.freeze({
    header: spec.header,
    // A flag that can never put anything in the header is not evaluated for it.
    flags: Object.freeze(sent),
    attributes: Object.freeze(attributes),
    headerNames: Object.freeze(attributes.filter((a) => a.kind === 'header').map((a) => a.name)),
    readsCookies: attributes.some((a) => a.kind === 'cookie'),
    needsContext,
    runsTargeting: sent.some((flag) => flag.enabled && flag.migration === null && flag.fractional === null && flag.targeting !== null),
    memo: memoized ? new FlagsMemo(memoSize) : null,
    constant,
  });
}

/**
 * `flagsHeaderValue` of this request's context (`buildFlagContext`), which, built here and read by nothing else,
 * serves as the targeting's data itself instead of being copied; the route's constant, or its memo's entry for
 * this context, when it has one.
 */
export function requestFlagsHeader(flags: RouteFlags, request: RequestContext, claims: VerifiedClaims | undefined): string {
  const constant = flags.constant;
  if (constant !== null) return countedAgain(constant);
  const memo = flags.memo;
  if (memo !== null) {
    const header = memoizedFlagsHeader(flags, memo, request, claims);
    if (header !== null) return header;
  }
  const context = buildFlagContext(flags, request, claims);
  return flagsHeaderValue(flags, context, flags.runsTargeting ? asTargetingData(context) : undefined);
}

/**
 * The memo's entry for this context (flags-memo.ts), its outcomes counted as the evaluations they stand for
 * (`evaluateFlag`: splitgate_flag_evaluations_total sees no memo); or the header evaluated and stored; or null
 * when this context is not memoized. A hit reads the attributes and allocates nothing.
 */
function memoizedFlagsHeader(flags: RouteFlags, memo: FlagsMemo, request: RequestContext, claims: VerifiedClaims | undefined): string | null {
  const targetingKey = request.stickyKey;
  const lookup = targetingKey ?? keylessLookup(flags, request, claims);
  const known = memo.get(lookup);
  if (known !== undefined && known.targetingKey === targetingKey && sameValues(known.values, flags.attributes, request, claims)) return countedAgain(known);
  // A lookup key holding another context's entry is stored over at once; a new one waits for its second sight.
  if (known === undefined && !memo.admits(lookup)) return null;
  const values = memoValues(flags, request, claims);
  if (values === null) return null;
  const context = buildFlagContext(flags, request, claims);
  const outcomes = new Array<FlagOutcome>(flags.flags.length);
  const header = joinFlags(flags, context, flags.runsTargeting ? asTargetingData(context) : undefined, outcomes);
  memo.set(lookup, new MemoizedFlags(targetingKey, values, header, outcomes));
  return header;
}

/** The header of an earlier evaluation, its outcomes counted as `evaluateFlag` counts each evaluation. */
function countedAgain(known: MemoizedFlags): string {
  const outcomes = known.outcomes;
  for (let i = 0; i < outcomes.length; i++) outcomes[i].count.value++;
  return known.header;
}

function sameValues(values: readonly unknown[], attributes: readonly FlagAttribute[], request: RequestContext, claims: VerifiedClaims | undefined): boolean {
  for (let i = 0; i < attributes.length; i++) if (!Object.is(values[i], attributeValue(attributes[i], request, claims))) return false;
  return true;
}

/** The attributes' values to store with an entry; null when one is not a primitive or they are too long. */
function memoValues(flags: RouteFlags, request: RequestContext, claims: VerifiedClaims | undefined): unknown[] | null {
  const attributes = flags.attributes;
  const values = new Array<unknown>(attributes.length);
  let length = request.stickyKey?.length ?? 0;
  for (let i = 0; i < attributes.length; i++) {
    const value = attributeValue(attributes[i], request, claims);
    if (typeof value === 'string') length += value.length;
    else if (value !== undefined && value !== null && typeof value !== 'number' && typeof value !== 'boolean') return null;
    values[i] = value;
  }
  return length > MAX_FLAGS_MEMO_CONTEXT_LENGTH ? null : values;
}

/** Where a request without a targeting key is looked up: its attribute values joined (an entry still compares them). */
function keylessLookup(flags: RouteFlags, request: RequestContext, claims: VerifiedClaims | undefined): string {
  let lookup = '';
  const attributes = flags.attributes;
  for (let i = 0; i < attributes.length; i++) {
    const value = attributeValue(attributes[i], request, claims);
    lookup += `\0${typeof value === 'object' ? '' : String(value)}`;
  }
  return lookup;
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
    const value = attributeValue(attributes[i], request, claims);
    if (value !== undefined) context[attributes[i].attribute] = value as FlagContext[string];
  }
  return context;
}

/** One attribute's value in this request; undefined when absent. A header sent more than once is joined. */
function attributeValue(attribute: FlagAttribute, request: RequestContext, claims: VerifiedClaims | undefined): unknown {
  switch (attribute.kind) {
    case 'header': {
      const header = request.headers[attribute.name];
      return typeof header === 'string' ? header : header?.join(', ');
    }
    case 'cookie':
      return request.cookies[attribute.name];
    case 'region':
      return request.region;
    case 'claim':
      return claims?.[attribute.name];
  }
}

/** The flags header's value for one request, '' when no flag has anything to send. Counts every evaluation. */
export function flagsHeaderValue(flags: RouteFlags, context: FlagContext, data: TargetingData | undefined = flags.runsTargeting ? targetingData(context) : undefined): string {
  return joinFlags(flags, context, data, null);
}

/** Evaluates (and counts) every flag of the route, joining their members; each outcome into `outcomes` if given. */
function joinFlags(flags: RouteFlags, context: FlagContext, data: TargetingData | undefined, outcomes: FlagOutcome[] | null): string {
  let value = '';
  const list = flags.flags;
  for (let i = 0; i < list.length; i++) {
    const outcome = evaluateFlag(list[i], context, data);
    if (outcomes !== null) outcomes[i] = outcome;
    const member = outcome.member;
    if (member === null) continue;
    value = value === '' ? member : `${value}, ${member}`;
  }
  return value;
}
