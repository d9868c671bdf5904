/**
 * `@openfeature/flagd-core`, loaded on first use. Loading it (its JsonLogic engine, semver, the bundled schema
 * validators) costs ~90 ms through its CommonJS build (~400 ms through its ESM wrapper, measured here on Node 20),
 * which a splitgate without `flags:` (its workers, its supervisor, the CLI) should not pay at start.
 */
import { createRequire } from 'node:module';
import type { Logger } from '@openfeature/core';
import type * as FlagdCoreModule from '@openfeature/flagd-core';

const require = createRequire(import.meta.url);
let loaded: typeof FlagdCoreModule | null = null;

export function flagdCore(): typeof FlagdCoreModule {
  return (loaded ??= require('@openfeature/flagd-core') as typeof FlagdCoreModule);
}

/** imurmurhash's hasher: its state is public, so hashing can resume after a prefix. */
interface MurmurHasher {
  h1: number;
  k1: number;
  rem: number;
  len: number;
  hash(key: string): MurmurHasher;
  result(): number;
}
type MurmurHash3 = (key?: string) => MurmurHasher;
let murmur: MurmurHash3 | null = null;

function murmurModule(): MurmurHash3 {
  return (murmur ??= createRequire(require.resolve('@openfeature/flagd-core'))('imurmurhash') as MurmurHash3);
}

/**
 * MurmurHash3 x86_32 (seed 0) of a string, exactly as flagd-core's `fractional` computes it: the same module it
 * requires (imurmurhash, resolved from flagd-core's own location), so code points beyond ASCII hash alike too.
 * Called without `new`, it reuses one hasher object instead of allocating one per call.
 */
export function murmurHash3(key: string): number {
  return murmurModule()(key).result();
}

/** imurmurhash's state after hashing a prefix, e.g. a flag key that every key it buckets starts with. */
export interface MurmurPrefix {
  readonly h1: number;
  readonly k1: number;
  readonly rem: number;
  readonly len: number;
}

export function murmurPrefix(prefix: string): MurmurPrefix {
  const hasher = murmurModule()(prefix);
  return Object.freeze({ h1: hasher.h1, k1: hasher.k1, rem: hasher.rem, len: hasher.len });
}

/**
 * `murmurHash3(prefix + key)` by imurmurhash's incremental hashing resumed after the prefix's state: `fractional`
 * hashes flag key + targeting key, and the flag key's part is the same for every request.
 */
export function murmurHash3After(prefix: MurmurPrefix, key: string): number {
  const hasher = murmurModule()();
  hasher.h1 = prefix.h1;
  hasher.k1 = prefix.k1;
  hasher.rem = prefix.rem;
  hasher.len = prefix.len;
  return hasher.hash(key).result();
}

/** What flagd-core's compiled targeting reads: the context, `$flagd` and (for its operators) a logger. */
export interface TargetingData {
  [attribute: string]: unknown;
  $flagd: { flagKey: string; timestamp: number };
  [FLAGD_LOGGER]: Logger;
}

/** flagd-core's operators (fractional, sem_ver, ...) find the logger under this registered symbol. */
export const FLAGD_LOGGER: unique symbol = Symbol.for('flagd.logger');

export type CompiledTargeting = (data: TargetingData) => unknown;

/** A flag's targeting as splitgate runs it: compiled here, or flagd-core would not compile it (PARSE_ERROR). */
export type TargetingCompilation = { readonly run: CompiledTargeting } | { readonly parseError: true };

/** A JsonLogic operation as json-logic-engine calls it: evaluated arguments, and the data (or iterated element). */
export type LogicOperator = (data: unknown, context: unknown) => unknown;

interface LogicEngine {
  addMethod(name: string, method: LogicOperator): void;
  build(logic: unknown): CompiledTargeting;
}

/**
 * A flag's targeting compiled by the json-logic-engine flagd-core set up for it (flagd's `starts_with` and
 * `ends_with` registered, `$ref`s resolved), with `replacements` registered over flagd's (flag-set.ts: sem-ver.ts's
 * and fractional-operator.ts's, the same operators without their per-evaluation parsing and allocation); null when the flag has no targeting, flagd-core could not parse it,
 * or flagd-core keeps its parts elsewhere (then `FeatureFlag.evaluate`).
 *
 * flagd-core keeps engine and logic private and, in its compiled mode, only the compiled function, which
 * `FeatureFlag.evaluate` calls through `Targeting.evaluate`: a copy of the context with `$flagd` and the logger
 * for every flag, then a result object; a request evaluating ten flags paid that ten times (~1.3 µs,
 * loadtest/README.md "Feature flags at the edge"). So the flag set loads flagd-core in its interpreter mode
 * (`disableDynamicCodeGeneration`, which keeps both parts) and compiles here as flagd-core's compiled mode does
 * (`engine.build(logic)`, a throw being PARSE_ERROR), once per flag; a request then builds one TargetingData for
 * all its flags. test/flags-targeting-equivalence.test.ts holds this path to flagd-core's compiled mode.
 */
export function compileTargeting(feature: FlagdCoreModule.FeatureFlag, replacements: Readonly<Record<string, LogicOperator>>): TargetingCompilation | null {
  const targeting = (feature as unknown as { _targeting?: { _engine?: LogicEngine; _logic?: unknown } })._targeting;
  const engine = targeting?._engine;
  if (engine === undefined || typeof engine.build !== 'function' || targeting!._logic === undefined) return null;
  for (const [name, operator] of Object.entries(replacements)) engine.addMethod(name, operator);
  try {
    return { run: engine.build(targeting!._logic) };
  } catch {
    return { parseError: true };
  }
}
