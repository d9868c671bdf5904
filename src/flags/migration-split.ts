/**
 * Migration bucketing (`metadata.bucketing`): a flag whose `fractional` split is computed by an app's old formula.
 * What the flag set needs to run one, apart from the zod schema (definitions.ts) that checks it, which a worker,
 * compiling an already validated config, never loads.
 */
import type { FlagDefinition } from './definitions.js';

/** The flag-metadata key under which a flag asks for a migration formula (flagd's schema allows string metadata). */
export const BUCKETING_METADATA_KEY = 'bucketing';

export interface MigrationSplit {
  /** [variant, cumulative percent], in the order written. */
  readonly steps: ReadonlyArray<readonly [variant: string, below: number]>;
}

/** The percent split of a flag with migration bucketing, or why its targeting is not one. */
export function migrationSplit(flag: FlagDefinition): MigrationSplit | string {
  const targeting = flag.targeting;
  const keys = targeting === undefined ? [] : Object.keys(targeting);
  if (keys.length !== 1 || keys[0] !== 'fractional' || !Array.isArray(targeting!.fractional)) {
    return 'needs targeting that is exactly {"fractional": [["variant", percent], ...]} (percents adding up to 100)';
  }
  const steps: Array<readonly [string, number]> = [];
  let total = 0;
  for (const entry of targeting!.fractional as unknown[]) {
    if (!Array.isArray(entry) || entry.length !== 2 || typeof entry[0] !== 'string' || !Number.isInteger(entry[1]) || (entry[1] as number) < 0) {
      return 'fractional entries must be ["variant", whole percent] (no bucket-by expression: the targeting key is the key)';
    }
    if (!Object.hasOwn(flag.variants, entry[0])) return `fractional names variant "${entry[0]}", which the flag does not have`;
    total += entry[1] as number;
    steps.push([entry[0], total]);
  }
  if (total !== 100) return `fractional percents must add up to 100 (got ${total})`;
  return { steps };
}
