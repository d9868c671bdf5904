/**
 * What one analysis window of a rollout judges: how many seconds of which traffic, and which checks. The runner
 * judges its windows by it and the dashboard's verdict (verdict.ts, through admin/route-insight.ts) shows the same
 * window, so the two cannot drift apart: one place to change either.
 */
import type { RolloutCheckConfig, RolloutConfig } from '../config/schema.js';
import type { WindowTraffic } from '../metrics/rolling-window.js';

export interface AnalysisWindow {
  readonly seconds: number;
  readonly traffic: WindowTraffic;
  /** The rollout's checks, then those of the plan stage at `step` (a stage adds its own while it is in force). */
  readonly checks: readonly RolloutCheckConfig[];
}

export function analysisWindow(spec: RolloutConfig, step: number): AnalysisWindow {
  return {
    // The window's slots are whole seconds and the newest one is still filling, so `interval` slots miss up to a
    // second of the interval (with `interval: 1s`, all but the few ms of the current second gone by). One slot
    // more covers at least [now - interval, now]; the window then overlaps the previous one by under a second.
    seconds: Math.ceil(spec.interval / 1000) + 1,
    // By default only weight-placed requests: an override or a pinned rule lets a client choose its version, and
    // its traffic (failing requests sent only to the canary, or cheap 200s) would steer the comparison.
    traffic: spec.analysis.traffic,
    checks: [...spec.checks, ...(spec.stages?.[step]?.checks ?? [])],
  };
}
