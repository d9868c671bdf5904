/**
 * Error-budget pacing: burn rates over the SRE Workbook's multiwindow, multi-burn-rate pairs (chapter 5, "Alerting
 * on SLOs", table 5-8) and the budget left, from request and error counts; then what a rollout should do about
 * them. Pure: counts come in through a function, so every case is checked by hand in the tests.
 *
 * Burn rate = error ratio over a window ÷ the error budget (1 − objective). A pair fires when both its long and its
 * short window burn at or above its threshold (the short one makes it stop soon after the burning stops). The
 * Workbook's pairs are for a 30-day SLO; for another window their lengths scale with it and the thresholds stay
 * (a threshold is a share of the budget spent in a share of the window).
 */
import { formatDuration } from './machine.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** The window the Workbook's pairs were written for. */
export const REFERENCE_WINDOW_MS = 30 * DAY;

export interface BurnPair {
  readonly long: number;
  readonly short: number;
  readonly threshold: number;
  /** fast: the Workbook's paging pairs (2 % and 5 % of the budget in 1 h and 6 h); slow: its ticket pairs. */
  readonly speed: 'fast' | 'slow';
}

export const WORKBOOK_PAIRS: readonly BurnPair[] = Object.freeze([
  { long: HOUR, short: 5 * MINUTE, threshold: 14.4, speed: 'fast' },
  { long: 6 * HOUR, short: 30 * MINUTE, threshold: 6, speed: 'fast' },
  { long: DAY, short: 2 * HOUR, threshold: 3, speed: 'slow' },
  { long: 3 * DAY, short: 6 * HOUR, threshold: 1, speed: 'slow' },
]);

/** The Workbook's pairs for an SLO window of `windowMs`: lengths scaled, thresholds kept; at least one second. */
export function pairsFor(windowMs: number): BurnPair[] {
  const scale = windowMs / REFERENCE_WINDOW_MS;
  return WORKBOOK_PAIRS.map((pair) => ({ ...pair, long: Math.max(1000, Math.round(pair.long * scale)), short: Math.max(1000, Math.round(pair.short * scale)) }));
}

export interface Counts {
  readonly requests: number;
  readonly errors: number;
}

/** Requests and errors over the last `spanMs`. */
export type CountsOver = (spanMs: number) => Counts;

export interface SloSpec {
  /** Percent of requests that must succeed, e.g. 99.9. */
  readonly objective: number;
  readonly window: number;
  /** Where the error ratio comes from: splitgate's own counters (bad as `errors` selects) without `prometheus`. */
  readonly sli?: { readonly errors?: string; readonly prometheus?: PrometheusSli };
}

/** `errorRatio` is PromQL answering the error ratio (0..1) over `$window`, which is replaced by each window's length. */
export interface PrometheusSli {
  readonly address: string;
  readonly errorRatio: string;
  readonly timeout: number;
}

/**
 * Error ratio ÷ budget; null without requests (no data is not a burn). Rounded to 1e-9: 1 − 0.999 is not 0.001 in
 * binary, and a burn of exactly 3 must meet a threshold of 3.
 */
export function burnRate(counts: Counts, objective: number): number | null {
  if (counts.requests <= 0) return null;
  return Math.round((counts.errors / counts.requests / (1 - objective / 100)) * 1e9) / 1e9;
}

export interface PairReading {
  /** `1h/5m`: the pair's windows, as scaled. */
  readonly windows: string;
  readonly threshold: number;
  readonly speed: 'fast' | 'slow';
  readonly longRate: number | null;
  readonly shortRate: number | null;
  readonly firing: boolean;
}

export interface BudgetReading {
  readonly pairs: readonly PairReading[];
  /** Share of the window's budget not spent, 1 = untouched, below 0 = overspent; null without requests. */
  readonly remaining: number | null;
}

/** An error ratio (0..1) as a burn rate, rounded like burnRate. */
export function ratioBurnRate(ratio: number, objective: number): number {
  return Math.round((ratio / (1 - objective / 100)) * 1e9) / 1e9;
}

/** The window lengths a reading needs: each pair's long and short window, and the SLO window (the budget). */
export function budgetSpans(windowMs: number): number[] {
  return [...new Set([...pairsFor(windowMs).flatMap((pair) => [pair.long, pair.short]), windowMs])];
}

/** A PromQL range duration for `ms`: the largest unit that divides it (`30d`, `1h`, `72s`), else milliseconds. */
export function promqlDuration(ms: number): string {
  for (const [unit, size] of [['d', DAY], ['h', HOUR], ['m', MINUTE], ['s', 1000]] as const) if (ms % size === 0) return `${ms / size}${unit}`;
  return `${ms}ms`;
}

export function readBudget(countsOver: CountsOver, slo: SloSpec): BudgetReading {
  return readBurn((spanMs) => burnRate(countsOver(spanMs), slo.objective), slo);
}

/** The reading from burn rates over a span (null: no data), whatever they were computed from. */
export function readBurn(burnOver: (spanMs: number) => number | null, slo: SloSpec): BudgetReading {
  const pairs = pairsFor(slo.window).map((pair): PairReading => {
    const longRate = burnOver(pair.long);
    const shortRate = burnOver(pair.short);
    const firing = longRate !== null && shortRate !== null && longRate >= pair.threshold && shortRate >= pair.threshold;
    return { windows: `${formatDuration(pair.long)}/${formatDuration(pair.short)}`.replaceAll(' ', ''), threshold: pair.threshold, speed: pair.speed, longRate, shortRate, firing };
  });
  const spent = burnOver(slo.window);
  return { pairs, remaining: spent === null ? null : 1 - spent };
}

export interface PacingRules {
  readonly fastBurn: 'rollback' | 'pause' | 'hold';
  readonly slowBurn: 'pause' | 'hold';
  /** Percent of the budget; below it no stage advances. 0: off. */
  readonly budgetFloor: number;
}

export interface PacingVerdict {
  /** go: nothing to say; freeze: no advance (budget floor), the rest as a check's onFail. */
  readonly action: 'go' | 'rollback' | 'pause' | 'hold' | 'freeze';
  readonly reason: string;
  /** The window (pair) or `budget` that decided, and its value. */
  readonly window: string | null;
  readonly value: number | null;
}

/** Fast burn first, then slow burn, then the floor; each verdict names the window and the value behind it. */
export function paceRollout(reading: BudgetReading, rules: PacingRules): PacingVerdict {
  for (const speed of ['fast', 'slow'] as const) {
    const pair = reading.pairs.find((p) => p.speed === speed && p.firing);
    if (pair === undefined) continue;
    const action = speed === 'fast' ? rules.fastBurn : rules.slowBurn;
    const value = Math.min(pair.longRate!, pair.shortRate!);
    return {
      action,
      window: pair.windows,
      value: round(value),
      reason: `${speed} burn: error budget burning at ${round(pair.longRate!)}× over ${pair.windows.split('/')[0]} and ${round(pair.shortRate!)}× over ${pair.windows.split('/')[1]} (threshold ${pair.threshold}×)`,
    };
  }
  if (rules.budgetFloor > 0 && reading.remaining !== null && reading.remaining * 100 < rules.budgetFloor) {
    const left = round(reading.remaining * 100);
    return { action: 'freeze', window: 'budget', value: left, reason: `error budget ${left} % left, below the floor of ${rules.budgetFloor} %: no stage advances` };
  }
  const left = reading.remaining === null ? 'no traffic yet' : `${round(reading.remaining * 100)} % of the error budget left`;
  return { action: 'go', window: null, value: null, reason: left };
}

function round(value: number): number {
  return Math.round(value * 100) / 100;
}
