/**
 * A stopped experiment: its totals frozen at the stop, as the state file keeps them. Only the state authority (the
 * single process, or the supervisor with `workers: N`) counts totals, so it alone freezes them: workers keep
 * reporting events, which the authority drops for a stopped record. No message to the workers, no table change.
 *
 * What is stored is what a report needs (additive totals, running minimum p-values, the guardrails and the expected
 * split at the stop), never the users: a restart serves the same report, and counts nothing more for that key.
 */
import type { GuardrailReport } from './guardrails.js';

export interface StoppedMark {
  /** ISO time of the stop. */
  readonly at: string;
  readonly actor: string;
}

export interface FrozenConversion {
  readonly converters: number;
  readonly valueSum: number;
  readonly valueSquares: number;
}

/** The additive totals of an experiment, stopped or running (experiment-file.ts), as saved. */
export interface RunningTotals {
  readonly arms: ReadonlyArray<{ readonly users: number; readonly conversions: Readonly<Record<string, FrozenConversion>> }>;
  readonly minimumPValues: Readonly<Record<string, number>>;
  readonly evictions: number;
}

export interface FrozenExperiment extends RunningTotals {
  readonly stopped: StoppedMark;
  readonly trackedUsers: number;
  /** The guardrails as they stood at the stop (later traffic says nothing about this experiment). */
  readonly guardrails: GuardrailReport | null;
  /**
   * The split users were expected in at the stop: a route's weight moves on (the winner shipped) and the frozen
   * totals must not then read as a sample-ratio mismatch.
   */
  readonly treatmentPercent: number | null;
}

/**
 * The stopped experiments in a state file's `experiments` object; an entry that cannot be read costs only itself
 * (a warning), never the others.
 */
export function parseFrozenExperiments(raw: Readonly<Record<string, unknown>> | undefined, warnings: string[]): Map<string, FrozenExperiment> {
  const out = new Map<string, FrozenExperiment>();
  for (const [key, value] of Object.entries(raw ?? {})) {
    const frozen = readFrozenExperiment(value);
    if (frozen === null) warnings.push(`experiments.${key} is not a stopped experiment's record; ignored`);
    else out.set(key, frozen);
  }
  return out;
}

/** A stopped experiment's record as saved (in a state file, or in the fleet's Redis), or null when it is not one. */
export function readFrozenExperiment(value: unknown): FrozenExperiment | null {
  const totals = readTotals(value);
  if (totals === null) return null;
  const v = value as Record<string, unknown>;
  const stopped = v.stopped as Record<string, unknown> | undefined;
  if (stopped === undefined || stopped === null || typeof stopped.at !== 'string' || Number.isNaN(Date.parse(stopped.at))) return null;
  return {
    ...totals,
    stopped: { at: stopped.at, actor: typeof stopped.actor === 'string' ? stopped.actor : 'unknown' },
    trackedUsers: isCount(v.trackedUsers) ? (v.trackedUsers as number) : 0,
    guardrails: v.guardrails !== null && typeof v.guardrails === 'object' ? (v.guardrails as GuardrailReport) : null,
    treatmentPercent: typeof v.treatmentPercent === 'number' && v.treatmentPercent >= 0 && v.treatmentPercent <= 100 ? v.treatmentPercent : null,
  };
}

/** An experiment's totals as saved (two arms of counts, finite sums), or null when they are not that. */
export function readTotals(value: unknown): RunningTotals | null {
  if (value === null || typeof value !== 'object') return null;
  const v = value as Record<string, unknown>;
  if (!Array.isArray(v.arms) || v.arms.length !== 2) return null;
  const arms: Array<{ users: number; conversions: Record<string, FrozenConversion> }> = [];
  for (const arm of v.arms as unknown[]) {
    const a = arm as { users?: unknown; conversions?: unknown } | null;
    if (a === null || typeof a !== 'object' || !isCount(a.users) || a.conversions === null || typeof a.conversions !== 'object') return null;
    const conversions: Record<string, FrozenConversion> = {};
    for (const [name, totals] of Object.entries(a.conversions as Record<string, unknown>)) {
      const t = totals as Record<string, unknown> | null;
      if (t === null || typeof t !== 'object' || !isCount(t.converters) || !Number.isFinite(t.valueSum) || !Number.isFinite(t.valueSquares)) return null;
      conversions[name] = { converters: t.converters as number, valueSum: t.valueSum as number, valueSquares: t.valueSquares as number };
    }
    arms.push({ users: a.users as number, conversions });
  }
  const minimumPValues: Record<string, number> = {};
  for (const [name, p] of Object.entries((v.minimumPValues as Record<string, unknown> | null) ?? {})) if (typeof p === 'number' && p >= 0 && p <= 1) minimumPValues[name] = p;
  return { arms, minimumPValues, evictions: isCount(v.evictions) ? (v.evictions as number) : 0 };
}

function isCount(value: unknown): boolean {
  return Number.isSafeInteger(value) && (value as number) >= 0;
}
