import { SLOTS } from '../metrics/rolling-window.js';
import { analysisWindow } from '../rollout/analysis-window.js';
import { ejectionCheck } from '../rollout/checks.js';
import { DEFAULT_CHECKS, DEFAULT_MIN_REQUESTS, routeVerdict } from '../rollout/verdict.js';
const WINDOW_WITHOUT_ROLLOUT = { seconds: 60, traffic: 'all', checks: DEFAULT_CHECKS };
export function routeInsight(route, guard, runner, series, mirrors, nowMs) {
    const spec = runner?.spec;
    const status = runner?.status;
    const { seconds, traffic, checks } = spec === undefined || status === undefined ? WINDOW_WITHOUT_ROLLOUT : analysisWindow(spec, status.step);
    const hasCanary = route.upstreams.canary !== null;
    const window = (version) => series.get(route.name, version).window.snapshot(nowMs, seconds, traffic);
    const judged = Math.min(SLOTS, seconds);
    const empty = { seconds: judged, requests: 0, errors: 0, buckets: [] };
    const verdict = routeVerdict({
        hasCanary,
        killed: route.killed,
        stable: window('stable'),
        canary: hasCanary ? window('canary') : empty,
        mirror: mirrors.get(route.name)?.window.snapshot(nowMs, seconds) ?? null,
        ejection: guard === null ? null : ejectionCheck(guard, runner?.ejectionsSinceWindow ?? 0),
        checks,
        minRequests: spec?.minRequests ?? DEFAULT_MIN_REQUESTS,
        rollout: status === undefined ? null : { status, threshold: spec.threshold },
    });
    const slo = runner?.slo ?? null;
    return {
        verdict: { ...verdict, windowSeconds: judged },
        budget: slo === null ? null : { objective: slo.objective, remaining: runner.budgetRemaining },
    };
}
//# sourceMappingURL=route-insight.js.map