/**
 * Validated flag definitions → a FlagSet: every flag compiled once by `@openfeature/flagd-core` (the OpenFeature
 * project's flagd evaluator, so JsonLogic, `$ref`, `fractional`, `starts_with`, `ends_with` and `sem_ver` behave
 * exactly as in flagd), and everything a request needs about each variant worked out in advance: its header member
 * (`key=value`, RFC 8941), its count cell and its outcome object. Evaluating a flag for a request is then the
 * flag's compiled targeting run on the request's one TargetingData, plus a lookup; nothing here is async.
 *
 * Why flagd-core rather than a JsonLogic engine of our own: agreement with flagd is the point (apps' SDKs, flagd
 * tooling). Its engine (json-logic-engine with flagd's operators) turns each targeting rule into a JS function once,
 * at load (flagd-core.ts `compileTargeting`).
 */
import type { EvaluationContext } from '@openfeature/core';
import type { FeatureFlag } from '@openfeature/flagd-core';
import { compileTargeting, FLAGD_LOGGER, flagdCore, murmurHash3After, murmurPrefix, type CompiledTargeting, type MurmurPrefix, type TargetingData } from './flagd-core.js';
import type { CountEntry } from '../metrics/metrics.js';
import { fractional } from './fractional-operator.js';
import { semVer } from './sem-ver.js';
import { migrationBucket, type BucketingMethod } from './bucketing.js';
import type { FlagDefinitions } from './definitions.js';
import { BUCKETING_METADATA_KEY, migrationSplit, type MigrationSplit } from './migration-split.js';
import { flagdSchemaProblem, SILENT_LOGGER } from './flagd-diagnostics.js';
import { FlagCountBook, type FlagLabels } from './flag-counts.js';
import { serializeBareItem, toSfKey } from './structured-field.js';
import { targetingReadsClock } from './clock-reads.js';

/**
 * OpenFeature resolution reasons splitgate reports. flagd says TARGETING_MATCH for a `fractional` split; splitgate
 * says SPLIT when the whole targeting is one `fractional` (or a migration formula), so dashboards can tell a
 * percentage from a rule. The variant is flagd's either way.
 */
export type FlagReason = 'STATIC' | 'TARGETING_MATCH' | 'SPLIT' | 'DEFAULT' | 'DISABLED' | 'ERROR';

/** One possible result of evaluating a flag; shared and frozen, so an evaluation allocates no result. */
export interface FlagOutcome {
  readonly flag: string;
  /** null for DISABLED, ERROR, and a DEFAULT without a default variant. */
  readonly variant: string | null;
  readonly value: unknown;
  readonly reason: FlagReason;
  /** `key=value` for the flags header, or null when this outcome sends nothing. */
  readonly member: string | null;
  readonly errorCode: string | null;
  readonly count: CountEntry<FlagLabels>;
}

export interface CompiledFlag {
  readonly key: string;
  readonly enabled: boolean;
  /** The key in the flags header (RFC 8941 sf-key), or null when the flag cannot be sent there. */
  readonly headerKey: string | null;
  /** Some variant has a header member: evaluating the flag for the header can put something in it. */
  readonly sendable: boolean;
  readonly variants: ReadonlyMap<string, unknown>;
  readonly defaultVariant: string | null;
  readonly metadata: Readonly<Record<string, string | number | boolean>>;
  /** flagd-core's flag, loaded in its interpreter mode: `targeting` is compiled from its engine and logic. */
  readonly feature: FeatureFlag;
  /**
   * The targeting compiled by flagd-core's engine for this flag, run on a request's shared TargetingData (see
   * `resolveFlag`); null without targeting, for a targeting flagd-core could not parse, or when flagd-core keeps
   * its parts out of reach (then `feature.evaluate`).
   */
  readonly targeting: CompiledTargeting | null;
  /** Building the targeting threw, as flagd-core's compiled mode would have: every evaluation is PARSE_ERROR. */
  readonly targetingParseError: boolean;
  /** When the targeting resolves to null: flagd-core's default variant with reason DEFAULT, or no variant. */
  readonly targetingDefault: FlagOutcome;
  readonly migration: { readonly method: BucketingMethod; readonly split: MigrationSplit } | null;
  /**
   * Set when the whole targeting is fractional's shorthand with constant variants and weights
   * (`{"fractional": [["on", 20], ["off", 80]]}`, the usual percentage rollout): bucketed here, as flagd-core does it,
   * without its per-evaluation context copy, bucket list and BigInt arithmetic.
   */
  readonly fractional: FractionalSplit | null;
  /** The whole targeting is one `fractional` (or a migration formula): its matches are reported as SPLIT. */
  readonly splits: boolean;
  /** The split is by targetingKey (fractional's shorthand, or a migration formula): no key, no split. */
  readonly needsTargetingKey: boolean;
  /** Set for an enabled flag without targeting: its one outcome, worked out at load (flagd: STATIC). */
  readonly staticOutcome: FlagOutcome | null;
  /**
   * The targeting may read `$flagd.timestamp` (clock-reads.ts), so its result is not a function of the context
   * alone: a route evaluating it is not memoized (route-flags.ts).
   */
  readonly readsClock: boolean;
  /** Outcomes by variant for the targeting's reason, and the fixed ones. */
  readonly byVariant: ReadonlyMap<string, { readonly matched: FlagOutcome; readonly fallback: FlagOutcome; readonly statically: FlagOutcome }>;
  readonly disabled: FlagOutcome;
  readonly noDefault: FlagOutcome;
  readonly parseError: FlagOutcome;
  readonly evaluationError: FlagOutcome;
}

export interface FractionalSplit {
  /** MurmurHash3's state after the flag key, the part of `flagKey + targetingKey` every request shares. */
  readonly hashPrefix: MurmurPrefix;
  /** Sum of the weights (negative ones count as 0, as in flagd). */
  readonly totalWeight: number;
  readonly weights: readonly number[];
  readonly outcomes: readonly FlagOutcome[];
}

export interface FlagSet {
  readonly flags: ReadonlyMap<string, CompiledFlag>;
  /** Flags in definition order. */
  readonly list: readonly CompiledFlag[];
  /** Things an operator should know that are not errors (a key sent under another name, a value not sent). */
  readonly notes: readonly string[];
}

/** The evaluation context handed to flagd-core: `targetingKey` plus the attributes the config declares. */
export type FlagContext = EvaluationContext;

const compiledSets = new WeakMap<FlagDefinitions, WeakMap<FlagCountBook, FlagSet>>();

/**
 * Compiled once per definitions object and count book: a table rebuilt for a weight change or a kill switch
 * reuses the flag set of the config it was built from.
 */
export function compileFlagSet(definitions: FlagDefinitions, counts: FlagCountBook = new FlagCountBook()): FlagSet {
  let byBook = compiledSets.get(definitions);
  if (byBook === undefined) {
    byBook = new WeakMap();
    compiledSets.set(definitions, byBook);
  }
  let set = byBook.get(counts);
  if (set === undefined) {
    set = buildFlagSet(definitions, counts);
    byBook.set(counts, set);
  }
  return set;
}

function buildFlagSet(definitions: FlagDefinitions, counts: FlagCountBook): FlagSet {
  // Interpreter mode keeps each flag's engine and logic, which compileTargeting compiles (flagd-core.ts).
  const storage = new (flagdCore().MemoryStorage)(SILENT_LOGGER, { disableDynamicCodeGeneration: true });
  // Validated (definitions.ts) before it gets here; flagd-core resolves `$ref` the way flagd does.
  storage.setConfigurations(JSON.stringify(definitions));
  const notes: string[] = [];
  const schemaProblem = flagdSchemaProblem(definitions);
  if (schemaProblem !== null) notes.push(`flagd's JSON schema (as bundled with flagd-core) says ${schemaProblem.path}: ${schemaProblem.message}; flagd evaluates it anyway`);
  const list: CompiledFlag[] = [];
  const headerKeys = new Map<string, string>();
  for (const [key, definition] of Object.entries(definitions.flags)) {
    const feature = storage.getFlag(key)!;
    let headerKey = toSfKey(key);
    if (headerKey === null) notes.push(`flag "${key}" is not sent in the flags header: its key cannot be an RFC 8941 key (lower-case letter or "*" first)`);
    else if (headerKeys.has(headerKey)) {
      notes.push(`flag "${key}" is not sent in the flags header: it would be sent as "${headerKey}", like flag "${headerKeys.get(headerKey)}"`);
      headerKey = null;
    } else {
      headerKeys.set(headerKey, key);
      if (headerKey !== key) notes.push(`flag "${key}" is sent in the flags header as "${headerKey}" (RFC 8941 keys are lower-case)`);
    }
    const method = definition.metadata?.[BUCKETING_METADATA_KEY] as BucketingMethod | undefined;
    const split = method === undefined ? null : (migrationSplit(definition) as MigrationSplit);
    const targeting = definition.targeting;
    const splits = split !== null || (targeting !== undefined && Object.keys(targeting).length === 1 && Object.hasOwn(targeting, 'fractional'));
    const fixed = (variant: string | null, reason: FlagReason, errorCode: string | null = null): FlagOutcome =>
      Object.freeze({ flag: key, variant, value: undefined, reason, member: null, errorCode, count: counts.cell(key, variant ?? '', reason) });
    const byVariant = new Map<string, { matched: FlagOutcome; fallback: FlagOutcome; statically: FlagOutcome }>();
    for (const [variant, value] of Object.entries(definition.variants)) {
      const item = serializeBareItem(value);
      if (item === null && headerKey !== null) notes.push(`flag "${key}" variant "${variant}" is not sent in the flags header: RFC 8941 has no item for ${describeValue(value)}`);
      const member = headerKey === null || item === null ? null : `${headerKey}=${item}`;
      const outcome = (reason: FlagReason): FlagOutcome => Object.freeze({ flag: key, variant, value, reason, member, errorCode: null, count: counts.cell(key, variant, reason) });
      byVariant.set(variant, { matched: outcome(splits ? 'SPLIT' : 'TARGETING_MATCH'), fallback: outcome('DEFAULT'), statically: outcome('STATIC') });
    }
    const noDefault = fixed(null, 'DEFAULT');
    const untargeted = targeting === undefined || Object.keys(targeting).length === 0;
    const compilation = untargeted ? null : compileTargeting(feature, FASTER_OPERATORS);
    // flagd-core's default variant (`defaultVariant || undefined`), as FeatureFlag.evaluate falls back to it.
    const featureDefault = feature.defaultVariant;
    const targetingDefault = featureDefault === undefined ? noDefault : (byVariant.get(featureDefault)?.fallback ?? fixed(null, 'ERROR', 'GENERAL'));
    // flagd-core without targeting: the default variant with reason STATIC, or no variant (DEFAULT) without one.
    const staticOutcome =
      definition.state !== 'ENABLED' || !untargeted || split !== null
        ? null
        : definition.defaultVariant == null
          ? noDefault
          : byVariant.get(definition.defaultVariant)!.statically;
    list.push(
      Object.freeze({
        key,
        staticOutcome,
        readsClock: !untargeted && split === null && targetingReadsClock(targeting, definitions.$evaluators ?? {}),
        enabled: definition.state === 'ENABLED',
        headerKey,
        sendable: [...byVariant.values()].some((outcomes) => outcomes.matched.member !== null),
        variants: new Map(Object.entries(definition.variants)),
        defaultVariant: definition.defaultVariant ?? null,
        metadata: Object.freeze({ ...(definitions.metadata ?? {}), ...(definition.metadata ?? {}) }),
        feature,
        targeting: compilation !== null && 'run' in compilation ? compilation.run : null,
        targetingParseError: compilation !== null && 'parseError' in compilation,
        targetingDefault,
        migration: method === undefined ? null : Object.freeze({ method, split: split! }),
        fractional: split === null && splits ? constantFractional(key, targeting!.fractional, byVariant) : null,
        splits,
        needsTargetingKey: split !== null || (splits && bucketsByTargetingKey(targeting!.fractional)),
        byVariant,
        disabled: fixed(null, 'DISABLED'),
        noDefault,
        parseError: fixed(null, 'ERROR', 'PARSE_ERROR'),
        evaluationError: fixed(null, 'ERROR', 'GENERAL'),
      }),
    );
  }
  return Object.freeze({ flags: new Map(list.map((flag) => [flag.key, flag])), list: Object.freeze(list), notes: Object.freeze(notes) });
}

/** flagd's operators as flagd-core defines them, minus their per-evaluation parsing and allocation. */
const FASTER_OPERATORS = Object.freeze({ sem_ver: semVer, fractional });

/** fractional's shorthand (`[["a", 50], ...]`, no bucket-by expression first) buckets by targetingKey. */
function bucketsByTargetingKey(args: unknown): boolean {
  return Array.isArray(args) && Array.isArray(args[0]);
}

/** fractional's weights as flagd-core reads them: at most 2^31 - 1 in all, or the rule resolves to nothing. */
const MAX_FRACTIONAL_WEIGHT = 2147483647;

/**
 * fractional's shorthand whose every entry is `[variant]` or `[variant, integer weight]` naming a variant of the
 * flag, so its result depends on the targeting key alone; null for anything else (bucket-by expressions, computed
 * variants or weights, unknown variants, a total above flagd's limit), which flagd-core then evaluates.
 */
function constantFractional(key: string, args: unknown, byVariant: ReadonlyMap<string, { readonly matched: FlagOutcome }>): FractionalSplit | null {
  if (!bucketsByTargetingKey(args) || (args as unknown[]).length === 0) return null;
  const weights: number[] = [];
  const outcomes: FlagOutcome[] = [];
  let totalWeight = 0;
  for (const entry of args as unknown[]) {
    if (!Array.isArray(entry) || entry.length === 0 || entry.length > 2 || typeof entry[0] !== 'string') return null;
    const outcome = byVariant.get(entry[0])?.matched;
    if (outcome === undefined) return null;
    const weight = entry.length === 2 ? entry[1] : 1;
    if (typeof weight !== 'number' || !Number.isInteger(weight)) return null;
    weights.push(Math.max(0, weight));
    outcomes.push(outcome);
    totalWeight += Math.max(0, weight);
  }
  if (totalWeight > MAX_FRACTIONAL_WEIGHT) return null;
  return Object.freeze({ hashPrefix: murmurPrefix(key), totalWeight, weights: Object.freeze(weights), outcomes: Object.freeze(outcomes) });
}

function describeValue(value: unknown): string {
  if (typeof value === 'string') return 'a string with characters outside printable ASCII';
  if (typeof value === 'number') return `the number ${value} (out of range)`;
  return 'an object (read it over OFREP)';
}

/**
 * What flagd-core's targeting reads for one context: a copy of it with `$flagd` (`flagKey` set per flag by
 * `resolveFlag`, `timestamp` the evaluation time in seconds) and the logger flagd's operators ask for, built as
 * `Targeting.evaluate` builds it, but once for all the flags of a request.
 */
export function targetingData(context: FlagContext, nowMs: number = Date.now()): TargetingData {
  return asTargetingData(Object.assign({}, context), nowMs);
}

/** `targetingData` in place, for a context built for one request that nothing else reads. */
export function asTargetingData(context: FlagContext, nowMs: number = Date.now()): TargetingData {
  const data = context as TargetingData;
  data.$flagd = { flagKey: '', timestamp: Math.floor(nowMs / 1000) };
  data[FLAGD_LOGGER] = SILENT_LOGGER;
  return data;
}

/**
 * Evaluates one flag for one context, exactly as flagd would (flagd-core's FeatureFlag.evaluate), unless the flag
 * asks for a migration formula. Counts the outcome. Never throws: a targeting failure is an ERROR outcome.
 * `data` (targetingData of the same context) is shared by the flags of one request.
 */
export function evaluateFlag(flag: CompiledFlag, context: FlagContext, data?: TargetingData): FlagOutcome {
  const outcome = resolveFlag(flag, context, data);
  outcome.count.value++;
  return outcome;
}

/** The outcome without counting it (OFREP answers are not flags sent upstream). */
export function resolveFlag(flag: CompiledFlag, context: FlagContext, data?: TargetingData): FlagOutcome {
  if (flag.staticOutcome !== null) return flag.staticOutcome;
  if (!flag.enabled) return flag.disabled;
  if (flag.migration !== null) return resolveMigration(flag, context.targetingKey);
  if (flag.fractional !== null) return resolveFractional(flag, flag.fractional, context.targetingKey);
  if (flag.targetingParseError) return flag.parseError;
  if (flag.targeting !== null) return resolveTargeting(flag, flag.targeting, data ?? targetingData(context));
  let resolution;
  try {
    resolution = flag.feature.evaluate(context, SILENT_LOGGER);
  } catch {
    return flag.evaluationError;
  }
  if (resolution.reason === 'ERROR') return resolution.errorCode === 'PARSE_ERROR' ? flag.parseError : flag.evaluationError;
  const variant = resolution.variant;
  if (variant === undefined || variant === null) return flag.noDefault;
  const outcomes = flag.byVariant.get(variant);
  if (outcomes === undefined) return flag.evaluationError;
  return resolution.reason === 'STATIC' ? outcomes.statically : resolution.reason === 'DEFAULT' ? outcomes.fallback : outcomes.matched;
}

/**
 * FeatureFlag.evaluate after its context copy: the compiled rule on `data` with this flag's key in `$flagd`;
 * null or undefined is the default variant (DEFAULT), anything else names a variant by its `toString()`
 * (TARGETING_MATCH, or SPLIT), an unknown one or a throw is a GENERAL error.
 */
function resolveTargeting(flag: CompiledFlag, targeting: CompiledTargeting, data: TargetingData): FlagOutcome {
  data.$flagd.flagKey = flag.key;
  let variant: string;
  try {
    const result = targeting(data);
    if (result === null || result === undefined) return flag.targetingDefault;
    variant = (result as { toString(): string }).toString();
  } catch {
    return flag.evaluationError;
  }
  return flag.byVariant.get(variant)?.matched ?? flag.evaluationError;
}

/**
 * flagd-core's `fractional` for constant shorthand: bucket = (MurmurHash3(flagKey + targetingKey) × total) >> 32,
 * the first variant whose cumulative weight exceeds it; no targeting key (or none matched): the default variant.
 * The product can exceed 2^53, so it is split at 16 bits to stay exact in doubles.
 */
function resolveFractional(flag: CompiledFlag, split: FractionalSplit, targetingKey: unknown): FlagOutcome {
  if (targetingKey) {
    const hash = murmurHash3After(split.hashPrefix, typeof targetingKey === 'string' ? targetingKey : `${targetingKey as string}`) >>> 0;
    const total = split.totalWeight;
    const bucket = Math.floor(((hash >>> 16) * total + Math.floor(((hash & 0xffff) * total) / 65536)) / 65536);
    const weights = split.weights;
    let sum = 0;
    for (let i = 0; i < weights.length; i++) {
      sum += weights[i];
      if (sum > bucket) return split.outcomes[i];
    }
  }
  return flag.defaultVariant === null ? flag.noDefault : flag.byVariant.get(flag.defaultVariant)!.fallback;
}

/** `hash(targetingKey) % 100` walked over the cumulative percents; no targeting key: the default variant. */
function resolveMigration(flag: CompiledFlag, targetingKey: unknown): FlagOutcome {
  if (typeof targetingKey !== 'string' || targetingKey === '') {
    return flag.defaultVariant === null ? flag.noDefault : flag.byVariant.get(flag.defaultVariant)!.fallback;
  }
  const migration = flag.migration!;
  const bucket = migrationBucket(migration.method, targetingKey);
  const steps = migration.split.steps;
  for (let i = 0; i < steps.length; i++) if (bucket < steps[i][1]) return flag.byVariant.get(steps[i][0])!.matched;
  return flag.evaluationError;
}
