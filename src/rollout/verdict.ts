/**
 * A route's one-line verdict for people (the dashboard, `/status`): "healthy", "warning: p99 +12 % vs stable",
 * "rolled back: …". Pure: the rollout's status and a window's numbers in, a level and a sentence out. The live part
 * judges the runner's window with the runner's own checks (analysis-window.ts: the window's length and the checks in
 * force; checks.ts: their evaluation and the outlier-ejection result), so the dashboard warns about exactly what the
 * runner's next window would count against the canary. Prometheus checks need I/O and are left to the runner (its
 * last window shows them). A route without a rollout is judged by DEFAULT_CHECKS.
 */
import type { RolloutCheckConfig } from '../config/schema.js';
import { quantileOf, type WindowSnapshot } from '../metrics/rolling-window.js';
import { evaluateCheck, type CheckResult } from './checks.js';
import { IN_PROGRESS, type RolloutStatus } from './machine.js';

export type VerdictLevel = 'none' | 'healthy' | 'collecting' | 'warning' | 'failing' | 'rolling-back' | 'rolled-back' | 'paused' | 'killed' | 'promoted';

export interface RouteVerdict {
  readonly level: VerdictLevel;
  readonly text: string;
  /** The live window's check results behind the verdict (empty when the rollout's phase decided it). */
  readonly checks: readonly CheckResult[];
}

export interface VerdictInputs {
  readonly hasCanary: boolean;
  readonly killed: boolean;
  readonly canary: WindowSnapshot;
  readonly stable: WindowSnapshot;
  /** Mirror comparisons over the same window (null when the route does not mirror). */
  readonly mirror: { readonly compared: number; readonly matched: number } | null;
  /** The canary's outlier ejection in the window (checks.ts ejectionCheck), null when there was none. */
  readonly ejection: CheckResult | null;
  /** The rollout's checks (with its current stage's); DEFAULT_CHECKS for a route without a rollout. */
  readonly checks: readonly RolloutCheckConfig[];
  readonly minRequests: number;
  readonly rollout: { readonly status: RolloutStatus; readonly threshold: number } | null;
}

/** For routes without a rollout: the canary's error rate and p99 against stable's, as a rollout would usually check. */
export const DEFAULT_CHECKS: readonly RolloutCheckConfig[] = Object.freeze([
  { name: 'success-rate', metric: 'success-rate', vsStable: { maxDegradation: 1, confidence: 0.95 } },
  { name: 'latency-p99', metric: 'latency-p99', vsStable: { maxRatio: 1.1, confidence: 0.95 } },
] as RolloutCheckConfig[]);
/** Requests per version before DEFAULT_CHECKS say anything: a rollout's default minRequests (a p99 of fewer is noise). */
export const DEFAULT_MIN_REQUESTS = 100;

export function routeVerdict(inputs: VerdictInputs): RouteVerdict {
  const decided = (level: VerdictLevel, text: string): RouteVerdict => ({ level, text, checks: [] });
  if (!inputs.hasCanary) return decided('none', 'no canary');
  const status = inputs.rollout?.status ?? null;
  if (status?.phase === 'RolledBack') return decided('rolled-back', `rolled back: ${status.message}`);
  if (inputs.killed) return decided('killed', 'killed: all traffic goes to stable');
  if (status?.phase === 'Succeeded') return decided('promoted', `promoted: ${status.message}`);
  if (status?.phase === 'Paused') return decided('paused', `paused: ${status.message}`);
  const last = status?.lastWindow ?? null;
  if (status !== null && IN_PROGRESS.has(status.phase) && last !== null) {
    // The runner's own last word comes first: its pacing rolls back on this tick, its failed windows add up to one.
    if (last.pacing?.action === 'rollback') return decided('rolling-back', `rolling back: ${last.pacing.reason}`);
    if (last.verdict === 'fail') {
      const failed = last.results.filter((r) => r.result === 'fail').map((r) => r.detail);
      const left = Math.max(1, inputs.rollout!.threshold - status.failedChecks);
      const next = left === 1 ? 'the next one rolls back' : `${left} more roll back`;
      return decided('failing', `failing: ${failed.join('; ')} (${status.failedChecks} of ${inputs.rollout!.threshold} failed windows; ${next})`);
    }
  }
  const live = inputs.checks.filter((check) => !check.prometheus);
  const results = live.map((check) => evaluateCheck(check, { canary: inputs.canary, stable: inputs.stable, mirror: inputs.mirror, queries: {} }, inputs.minRequests));
  if (inputs.ejection !== null) results.push(inputs.ejection);
  const failed = results.filter((r) => r.result === 'fail');
  if (failed.length > 0) {
    const texts = failed.map((result) => describeFailure(result, inputs.checks.find((c) => c.name === result.check), inputs));
    return { level: 'warning', text: `warning: ${texts.join('; ')}`, checks: results };
  }
  const waiting = results.find((r) => r.result === 'inconclusive');
  if (waiting !== undefined) return { level: 'collecting', text: `collecting: ${waiting.detail}`, checks: results };
  return { level: 'healthy', text: 'healthy', checks: results };
}

/** "p99 +12 % vs stable", "error rate +4.2 pp vs stable", "success rate 95 % below 99 %": the number that failed. */
function describeFailure(result: CheckResult, check: RolloutCheckConfig | undefined, { canary, stable }: VerdictInputs): string {
  if (check === undefined) return result.detail;
  if (check.metric === 'latency-p99' || check.metric === 'latency-p50') {
    const q = check.metric === 'latency-p99' ? 0.99 : 0.5;
    const label = check.metric === 'latency-p99' ? 'p99' : 'p50';
    const canaryMs = (quantileOf(canary.buckets, q) ?? 0) * 1000;
    const stableSeconds = quantileOf(stable.buckets, q);
    if (check.max !== undefined && canaryMs > check.max) return `${label} ${formatNumber(canaryMs)} ms above ${check.max} ms`;
    if (stableSeconds !== null && stableSeconds > 0) return `${label} ${signed(canaryMs / (stableSeconds * 1000) - 1, 100)} % vs stable`;
    return result.detail;
  }
  if (check.metric === 'success-rate') {
    const canaryRate = canary.errors / Math.max(1, canary.requests);
    const stableRate = stable.errors / Math.max(1, stable.requests);
    if (check.min !== undefined && (1 - canaryRate) * 100 < check.min) return `success rate ${formatNumber((1 - canaryRate) * 100)} % below ${check.min} %`;
    return `error rate ${signed(canaryRate - stableRate, 100)} pp vs stable (${formatNumber(canaryRate * 100)} % vs ${formatNumber(stableRate * 100)} %)`;
  }
  return result.detail;
}

/** "+12", "−3.4": whole numbers from 10 up, where a tenth says nothing. */
function signed(ratio: number, scale: number): string {
  const value = ratio * scale;
  const size = Math.abs(value);
  return `${value >= 0 ? '+' : '−'}${size >= 10 ? Math.round(size) : formatNumber(size)}`;
}

function formatNumber(value: number): string {
  return (Math.round(value * 10) / 10).toString();
}
