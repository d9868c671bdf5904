/**
 * What /status adds to a route for the dashboard: its verdict (rollout/verdict.ts) over the window its rollout
 * judges (rollout/analysis-window.ts: the runner's length, traffic and checks; the last 60 s of all traffic without
 * a rollout), and its error budget left at the rollout's last window. Reads in-memory state only.
 */
import type { SeriesBook } from '../metrics/metrics.js';
import { SLOTS } from '../metrics/rolling-window.js';
import type { MirrorBook } from '../mirror/mirror-records.js';
import { analysisWindow, type AnalysisWindow } from '../rollout/analysis-window.js';
import { ejectionCheck, type EjectionState } from '../rollout/checks.js';
import type { RolloutRunner } from '../rollout/rollout-runner.js';
import { DEFAULT_CHECKS, DEFAULT_MIN_REQUESTS, routeVerdict, type RouteVerdict } from '../rollout/verdict.js';

export interface RouteInsight {
  readonly verdict: RouteVerdict & { readonly windowSeconds: number };
  /** Null for a route without `slo:` (or without a rollout to pace). */
  readonly budget: { readonly objective: number; readonly remaining: number | null } | null;
}

const WINDOW_WITHOUT_ROLLOUT: AnalysisWindow = { seconds: 60, traffic: 'all', checks: DEFAULT_CHECKS };

export function routeInsight(
  route: { readonly name: string; readonly killed: boolean; readonly upstreams: { readonly canary: string | null } },
  guard: EjectionState | null,
  runner: RolloutRunner | undefined,
  series: SeriesBook,
  mirrors: MirrorBook,
  nowMs: number,
): RouteInsight {
  const spec = runner?.spec;
  const status = runner?.status;
  const { seconds, traffic, checks } = spec === undefined || status === undefined ? WINDOW_WITHOUT_ROLLOUT : analysisWindow(spec, status.step);
  const hasCanary = route.upstreams.canary !== null;
  const window = (version: 'stable' | 'canary') => series.get(route.name, version).window.snapshot(nowMs, seconds, traffic);
  const judged = Math.min(SLOTS, seconds);
  const empty = { seconds: judged, requests: 0, errors: 0, buckets: [] };
  const verdict = routeVerdict({
    hasCanary,
    killed: route.killed,
    stable: window('stable'),
    canary: hasCanary ? window('canary') : empty,
    // Over the window, as the runner's delta since its last one: an earlier revision's match rate is long gone.
    mirror: mirrors.get(route.name)?.window.snapshot(nowMs, seconds) ?? null,
    // Without a rollout only an ejection in force; with one, also those its next window will count.
    ejection: guard === null ? null : ejectionCheck(guard, runner?.ejectionsSinceWindow ?? 0),
    checks,
    minRequests: spec?.minRequests ?? DEFAULT_MIN_REQUESTS,
    rollout: status === undefined ? null : { status, threshold: spec!.threshold },
  });
  const slo = runner?.slo ?? null;
  return {
    verdict: { ...verdict, windowSeconds: judged },
    budget: slo === null ? null : { objective: slo.objective, remaining: runner!.budgetRemaining },
  };
}
