/**
 * Guardrails of an experiment: the treatment arm's error rate and p99 against the control's, judged by the rollout's
 * own checks (rollout/checks.ts: a one-sided test for "significantly worse" on the error rate, a ratio with a slack
 * on the latency) over the route's per-version window. Pure: the two windows come in, a report comes out.
 *
 * Route-split arms are versions, so the route's per-version counters are the arms' counters (all of the version's
 * traffic on the route, exposed users or not). Flag arms share versions, and no per-variant request counters exist:
 * their report says so instead of comparing the wrong things.
 */
import type { RolloutCheckConfig } from '../config/schema.js';
import type { ExperimentConfig } from '../config/experiment-schema.js';
import { quantileOf, type WindowSnapshot } from '../metrics/rolling-window.js';
import { evaluateCheck } from '../rollout/checks.js';

/** The route's window the guardrails read: all of it (rolling-window.ts keeps 600 one-second slots). */
export const GUARDRAIL_WINDOW_SECONDS = 600;

export interface GuardrailCheck {
  readonly check: 'error-rate' | 'latency-p99';
  readonly result: 'pass' | 'fail' | 'inconclusive';
  readonly unit: '%' | 'ms';
  /** Arm A (control) and arm B (treatment); null without traffic. */
  readonly control: number | null;
  readonly treatment: number | null;
  readonly threshold: string;
  readonly sample: { readonly control: number; readonly treatment: number };
  readonly detail: string;
}

export interface GuardrailReport {
  readonly windowSeconds: number;
  /** Some check failed: no winner is declared while this holds. */
  readonly breached: boolean;
  readonly checks: readonly GuardrailCheck[];
  /** Why there are no checks (flag arms). */
  readonly note?: string;
}

export type GuardrailSettings = ExperimentConfig['guardrails'];

export const NO_PER_ARM_METRICS: GuardrailReport = Object.freeze({
  windowSeconds: 0,
  breached: false,
  checks: Object.freeze([]) as readonly GuardrailCheck[],
  note: 'flag arms share versions and splitgate keeps no request counters per flag variant: guardrails cover route-split (stable/canary) arms only',
});

export function evaluateGuardrails(settings: GuardrailSettings, control: WindowSnapshot, treatment: WindowSnapshot): GuardrailReport {
  const inputs = { canary: treatment, stable: control, mirror: null, queries: {} };
  const errorCheck = { name: 'error-rate', metric: 'success-rate', vsStable: { maxDegradation: settings.maxErrorRateIncrease, confidence: settings.confidence } } as RolloutCheckConfig;
  const latencyCheck = { name: 'latency-p99', metric: 'latency-p99', vsStable: { maxRatio: settings.maxP99Ratio, minIncrease: settings.minP99Increase, confidence: settings.confidence } } as RolloutCheckConfig;
  const errors = evaluateCheck(errorCheck, inputs, settings.minRequests);
  const latency = evaluateCheck(latencyCheck, inputs, settings.minRequests);
  const sample = { control: control.requests, treatment: treatment.requests };
  const checks: GuardrailCheck[] = [
    { check: 'error-rate', result: errors.result, unit: '%', control: errorRate(control), treatment: errorRate(treatment), threshold: `B ≤ A + ${settings.maxErrorRateIncrease} pp`, sample, detail: errors.detail },
    { check: 'latency-p99', result: latency.result, unit: 'ms', control: p99Ms(control), treatment: p99Ms(treatment), threshold: `B ≤ max(${settings.maxP99Ratio} × A, A + ${settings.minP99Increase} ms)`, sample, detail: latency.detail },
  ];
  return { windowSeconds: control.seconds, breached: checks.some((c) => c.result === 'fail'), checks };
}

/** The verdict's words for a breach: `guardrail: error rate 3.1 % vs 0.2 %` (B's value first). */
export function describeBreach(report: GuardrailReport): string | null {
  const failed = report.checks.filter((c) => c.result === 'fail');
  if (failed.length === 0) return null;
  return `guardrail: ${failed.map((c) => `${c.check === 'error-rate' ? 'error rate' : 'p99'} ${show(c.treatment, c.unit)} vs ${show(c.control, c.unit)}`).join(', ')} (B vs A)`;
}

function show(value: number | null, unit: string): string {
  return value === null ? '–' : `${Math.round(value * 10) / 10} ${unit}`;
}

function errorRate(window: WindowSnapshot): number | null {
  return window.requests === 0 ? null : Number(((window.errors / window.requests) * 100).toFixed(3));
}

function p99Ms(window: WindowSnapshot): number | null {
  const seconds = quantileOf(window.buckets, 0.99);
  return seconds === null ? null : Number((seconds * 1000).toFixed(3));
}

/** With `fleet:`, while the fleet's counts cannot be read: nothing judged, nothing breached (as too few requests). */
export const UNREAD_FLEET_GUARDRAILS: GuardrailReport = Object.freeze({
  windowSeconds: 0,
  breached: false,
  checks: Object.freeze([]) as readonly GuardrailCheck[],
  note: "the fleet's guardrail counts could not be read from Redis: not judged",
});
