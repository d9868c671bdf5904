/**
 * What /status adds to a route for the dashboard: its verdict (rollout/verdict.ts) over the window its rollout
 * judges (the rollout's interval and traffic; the last 60 s of all traffic without a rollout), and its error budget
 * left at the rollout's last window. Reads in-memory state only.
 */
import type { SeriesBook } from '../metrics/metrics.js';
import { SLOTS } from '../metrics/rolling-window.js';
import type { MirrorBook } from '../mirror/mirror-records.js';
import type { RolloutRunner } from '../rollout/rollout-runner.js';
import { DEFAULT_CHECKS, DEFAULT_MIN_REQUESTS, routeVerdict, type RouteVerdict } from '../rollout/verdict.js';

export interface RouteInsight {
  readonly verdict: RouteVerdict & { readonly windowSeconds: number };
  /** Null for a route without `slo:` (or without a rollout to pace). */
  readonly budget: { readonly objective: number; readonly remaining: number | null } | null;
}

const WINDOW_WITHOUT_ROLLOUT_SECONDS = 60;

export function routeInsight(
  route: { readonly name: string; readonly killed: boolean; readonly upstreams: { readonly canary: string | null } },
  runner: RolloutRunner | undefined,
  series: SeriesBook,
  mirrors: MirrorBook,
  nowMs: number,
): RouteInsight {
  const spec = runner?.spec;
  const status = runner?.status;
  const seconds = spec === undefined ? WINDOW_WITHOUT_ROLLOUT_SECONDS : Math.min(SLOTS, Math.max(1, Math.round(spec.interval / 1000)));
  const traffic = spec?.analysis.traffic ?? 'all';
  const hasCanary = route.upstreams.canary !== null;
  const window = (version: 'stable' | 'canary') => series.get(route.name, version).window.snapshot(nowMs, seconds, traffic);
  const empty = { seconds, requests: 0, errors: 0, buckets: [] };
  const mirror = mirrors.get(route.name)?.summary();
  const verdict = routeVerdict({
    hasCanary,
    killed: route.killed,
    stable: window('stable'),
    canary: hasCanary ? window('canary') : empty,
    mirror: mirror === undefined ? null : { compared: mirror.compared, matched: mirror.matched },
    checks: spec === undefined ? DEFAULT_CHECKS : [...spec.checks, ...(spec.stages?.[status!.step]?.checks ?? [])],
    minRequests: spec?.minRequests ?? DEFAULT_MIN_REQUESTS,
    rollout: status === undefined ? null : { status, threshold: spec!.threshold },
  });
  const slo = runner?.slo ?? null;
  return {
    verdict: { ...verdict, windowSeconds: seconds },
    budget: slo === null ? null : { objective: slo.objective, remaining: runner!.budgetRemaining },
  };
}
