/**
 * Operator overrides laid over the flag file (`PUT /flags/{key}`), as runtime state: persisted in the state file
 * with the routes' weights and kill switches, shared with `fleet:` as one versioned document (FLAGS_DOCUMENT),
 * carried to the workers in the table's RuntimeOverrides, and applied where the flag set is compiled, so an
 * evaluation still reads one frozen FlagSet and costs nothing more.
 *
 * An override rewrites the flag's definition before flagd-core compiles it, so the result is what flagd itself
 * would answer for that definition:
 * - `{state: "DISABLED"}` (kill): the flag as DISABLED, i.e. absent from the flags header, FLAG_NOT_FOUND over OFREP.
 * - `{defaultVariant: "v"}` (pin): ENABLED, default `v`, targeting (and migration bucketing) removed: every
 *   evaluation returns `v` with reason STATIC, as flagd does for a flag without targeting.
 * - `{state: "ENABLED"}`: the file's definition, enabled (turns on a flag the file disables).
 * The file's definition stays the reference: clearing the override returns to it, and a reload that removes the
 * flag or the pinned variant drops the override (staleFlagOverrides). With `fleet:` such an override is only left
 * out where compiled: the fleet's document is kept whole, since replicas may run different flag files (a rolling
 * deploy) and another one's file may support it; only an explicit clear takes it out of the fleet.
 */
import { SplitgateError } from '../errors.js';
import type { RouteRuntimeState } from '../control/state-file.js';
import type { FlagDefinition, FlagDefinitions } from './definitions.js';
import { BUCKETING_METADATA_KEY } from './migration-split.js';

export interface FlagOverride {
  readonly state?: 'ENABLED' | 'DISABLED';
  /** Pins the flag to this variant (implies ENABLED). */
  readonly defaultVariant?: string;
}

export type FlagOverrides = Readonly<Record<string, FlagOverride>>;

/**
 * With `fleet:`, the name of the one shared document that holds every flag override (`sg:{fleet}:state:~flags`),
 * versioned and written by compare-and-set like a route's. No route can have this name (route names start with a
 * letter or digit), so the two never meet.
 */
export const FLAGS_DOCUMENT = '~flags';

/**
 * The shared document's content: `{"flags": {key: override}}`. The fleet's documents are typed as a route's state;
 * this one rides in the same versioned hash, its content opaque to the fleet code.
 */
export function flagsDocument(flags: FlagOverrides): RouteRuntimeState {
  return { flags } as RouteRuntimeState;
}

export class UnknownFlagError extends SplitgateError {
  constructor(key: string) {
    super('SG_UNKNOWN_FLAG', `no flag with key "${key}"`, 404);
  }
}

export class UnknownVariantError extends SplitgateError {
  constructor(key: string, variant: string, known: readonly string[]) {
    super('SG_UNKNOWN_VARIANT', `flag "${key}" has no variant "${variant}" (variants: ${known.join(', ')})`, 400);
  }
}

export class InvalidFlagOverrideError extends SplitgateError {
  constructor(message: string) {
    super('SG_INVALID', message, 400);
  }
}

/** A PUT body → an override: `{"state": "DISABLED"}`, `{"state": "ENABLED"}` or `{"defaultVariant": "v"}`. */
export function parseFlagOverride(body: unknown): FlagOverride {
  const usage = 'body must be JSON like {"state": "DISABLED"}, {"state": "ENABLED"} or {"defaultVariant": "on"}';
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new InvalidFlagOverrideError(usage);
  const { state, defaultVariant, ...rest } = body as Record<string, unknown>;
  const extra = Object.keys(rest);
  if (extra.length > 0) throw new InvalidFlagOverrideError(`unknown field ${JSON.stringify(extra[0])}; ${usage}`);
  if (state === undefined && defaultVariant === undefined) throw new InvalidFlagOverrideError(usage);
  if (state !== undefined && state !== 'ENABLED' && state !== 'DISABLED') throw new InvalidFlagOverrideError('state must be "ENABLED" or "DISABLED"');
  if (defaultVariant !== undefined && (typeof defaultVariant !== 'string' || defaultVariant === '')) throw new InvalidFlagOverrideError('defaultVariant must be a variant name');
  if (state === 'DISABLED' && defaultVariant !== undefined) throw new InvalidFlagOverrideError('a disabled flag has no variant: send {"state": "DISABLED"} alone');
  return defaultVariant !== undefined ? { defaultVariant: defaultVariant as string } : { state: state as 'ENABLED' | 'DISABLED' };
}

/** Throws UnknownFlagError / UnknownVariantError unless `override` fits the file's definitions. */
export function checkFlagOverride(definitions: FlagDefinitions | undefined, key: string, override: FlagOverride | null): void {
  const flag = definitions !== undefined && Object.hasOwn(definitions.flags, key) ? definitions.flags[key] : undefined;
  if (flag === undefined) throw new UnknownFlagError(key);
  if (override?.defaultVariant !== undefined && !Object.hasOwn(flag.variants, override.defaultVariant)) {
    throw new UnknownVariantError(key, override.defaultVariant, Object.keys(flag.variants));
  }
}

/** Overrides the file no longer supports (flag or pinned variant gone), with why; they are dropped on reload. */
export function staleFlagOverrides(definitions: FlagDefinitions | undefined, overrides: FlagOverrides): Array<{ key: string; reason: string }> {
  const stale: Array<{ key: string; reason: string }> = [];
  for (const [key, override] of Object.entries(overrides)) {
    try {
      checkFlagOverride(definitions, key, override);
    } catch (error) {
      stale.push({ key, reason: (error as Error).message });
    }
  }
  return stale;
}

/** The definition in force for one flag. */
export function overriddenDefinition(flag: FlagDefinition, override: FlagOverride | undefined): FlagDefinition {
  if (override === undefined) return flag;
  if (override.defaultVariant !== undefined) {
    const { targeting: _targeting, metadata, ...rest } = flag;
    const kept = metadata === undefined ? undefined : Object.fromEntries(Object.entries(metadata).filter(([name]) => name !== BUCKETING_METADATA_KEY));
    return { ...rest, state: 'ENABLED', defaultVariant: override.defaultVariant, ...(kept === undefined ? {} : { metadata: kept }) };
  }
  return { ...flag, state: override.state ?? flag.state };
}

const effectiveCache = new WeakMap<FlagDefinitions, { readonly key: string; readonly effective: FlagDefinitions }>();

/**
 * The definitions in force: the file's with the overrides applied. The same file and overrides give the same object,
 * so a table rebuilt for a weight change reuses the compiled flag set (compileFlagSet caches per object).
 */
export function applyFlagOverrides(definitions: FlagDefinitions, overrides: FlagOverrides | undefined): FlagDefinitions {
  // One that the file does not support is left out (another replica's file may: the fleet's copy keeps it).
  const relevant = Object.entries(overrides ?? {}).filter(([key, override]) => staleFlagOverrides(definitions, { [key]: override }).length === 0);
  if (relevant.length === 0) return definitions;
  const key = JSON.stringify(relevant.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  const cached = effectiveCache.get(definitions);
  if (cached !== undefined && cached.key === key) return cached.effective;
  const flags: Record<string, FlagDefinition> = {};
  const byKey = new Map(relevant);
  for (const [name, flag] of Object.entries(definitions.flags)) flags[name] = overriddenDefinition(flag, byKey.get(name));
  const effective: FlagDefinitions = { ...definitions, flags };
  effectiveCache.set(definitions, { key, effective });
  return effective;
}

/** The state file's `flags` object → overrides; a bad entry costs only itself (collected as warnings). */
export function parseStoredFlagOverrides(raw: unknown, warnings: string[]): Record<string, FlagOverride> {
  const out: Record<string, FlagOverride> = {};
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    warnings.push('flags is not an object; ignored');
    return out;
  }
  for (const [key, value] of Object.entries(raw)) {
    try {
      out[key] = parseFlagOverride(value);
    } catch (error) {
      // A kill that cannot be read whole is still a kill: the safe reading, as with routes' kill switches.
      if ((value as { state?: unknown } | null)?.state === 'DISABLED') out[key] = { state: 'DISABLED' };
      warnings.push(`flags.${key}: ${(error as Error).message}; ${out[key] ? 'kept as DISABLED' : 'ignored'}`);
    }
  }
  return out;
}
