/**
 * Arms from a flag's variants: which flags can carry an experiment, and how their split is read. The flag's
 * targeting must be one plain `fractional` over exactly two variants, bucketed by the targeting key (the route's
 * sticky key): then each keyed user is in one variant for good, at the flag's weights, which the sample-ratio check
 * needs as its expected split. Anything else (rules, a bucket-by expression, more variants) picks users by who they
 * are or splits them more ways, and is refused at load.
 *
 * Control (arm A) is the flag's default variant when it is one of the two, else the first one listed.
 */
import type { FlagDefinition } from '../flags/definitions.js';

export interface FlagArms {
  /** [control, treatment] variant names. */
  readonly variants: readonly [string, string];
  /** The treatment's share of users, in percent (the expected split). */
  readonly treatmentPercent: number;
}

/** The arms of `flag`, or why it cannot carry an experiment. */
export function flagArmsOf(flag: FlagDefinition): FlagArms | string {
  if (flag.state !== 'ENABLED') return 'is DISABLED: its users all get no variant';
  const targeting = flag.targeting as Record<string, unknown> | undefined;
  const keys = targeting === undefined ? [] : Object.keys(targeting);
  const shape = 'needs targeting that is exactly {"fractional": [["A", weight], ["B", weight]]} (two variants, split by the targeting key)';
  if (keys.length !== 1 || keys[0] !== 'fractional' || !Array.isArray(targeting!.fractional)) return shape;
  const entries = targeting!.fractional as unknown[];
  if (entries.length !== 2) return `${shape}; got ${entries.length} entries`;
  const split: Array<[string, number]> = [];
  for (const entry of entries) {
    if (!Array.isArray(entry) || entry.length !== 2 || typeof entry[0] !== 'string' || typeof entry[1] !== 'number' || !(entry[1] > 0)) return `${shape}; an entry is not ["variant", weight above 0]`;
    split.push([entry[0], entry[1]]);
  }
  if (split[0][0] === split[1][0]) return `${shape}; both entries name variant "${split[0][0]}"`;
  const controlFirst = flag.defaultVariant !== split[1][0];
  const [control, treatment] = controlFirst ? split : [split[1], split[0]];
  return { variants: [control[0], treatment[0]], treatmentPercent: (treatment[1] / (control[1] + treatment[1])) * 100 };
}
