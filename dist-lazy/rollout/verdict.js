import { quantileOf } from '../metrics/rolling-window.js';
import { evaluateCheck } from './checks.js';
import { IN_PROGRESS } from './machine.js';
export const DEFAULT_CHECKS = Object.freeze([
    { name: 'success-rate', metric: 'success-rate', vsStable: { maxDegradation: 1, confidence: 0.95 } },
    { name: 'latency-p99', metric: 'latency-p99', vsStable: { maxRatio: 1.1, confidence: 0.95 } },
]);
export const DEFAULT_MIN_REQUESTS = 100;
export function routeVerdict(inputs) {
    const decided = (level, text) => ({ level, text, checks: [] });
    if (!inputs.hasCanary)
        return decided('none', 'no canary');
    const status = inputs.rollout?.status ?? null;
    if (status?.phase === 'RolledBack')
        return decided('rolled-back', `rolled back: ${status.message}`);
    if (inputs.killed)
        return decided('killed', 'killed: all traffic goes to stable');
    if (status?.phase === 'Succeeded')
        return decided('promoted', `promoted: ${status.message}`);
    if (status?.phase === 'Paused')
        return decided('paused', `paused: ${status.message}`);
    const last = status?.lastWindow ?? null;
    if (status !== null && IN_PROGRESS.has(status.phase) && last !== null) {
        if (last.pacing?.action === 'rollback')
            return decided('rolling-back', `rolling back: ${last.pacing.reason}`);
        if (last.verdict === 'fail') {
            const failed = last.results.filter((r) => r.result === 'fail').map((r) => r.detail);
            const left = Math.max(1, inputs.rollout.threshold - status.failedChecks);
            const next = left === 1 ? 'the next one rolls back' : `${left} more roll back`;
            return decided('failing', `failing: ${failed.join('; ')} (${status.failedChecks} of ${inputs.rollout.threshold} failed windows; ${next})`);
        }
    }
    const live = inputs.checks.filter((check) => !check.prometheus);
    const results = live.map((check) => evaluateCheck(check, { canary: inputs.canary, stable: inputs.stable, mirror: inputs.mirror, queries: {} }, inputs.minRequests));
    if (inputs.ejection !== null)
        results.push(inputs.ejection);
    const failed = results.filter((r) => r.result === 'fail');
    if (failed.length > 0) {
        const texts = failed.map((result) => describeFailure(result, inputs.checks.find((c) => c.name === result.check), inputs));
        return { level: 'warning', text: `warning: ${texts.join('; ')}`, checks: results };
    }
    const waiting = results.find((r) => r.result === 'inconclusive');
    if (waiting !== undefined)
        return { level: 'collecting', text: `collecting: ${waiting.detail}`, checks: results };
    return { level: 'healthy', text: 'healthy', checks: results };
}
function describeFailure(result, check, { canary, stable }) {
    if (check === undefined)
        return result.detail;
    if (check.metric === 'latency-p99' || check.metric === 'latency-p50') {
        const q = check.metric === 'latency-p99' ? 0.99 : 0.5;
        const label = check.metric === 'latency-p99' ? 'p99' : 'p50';
        const canaryMs = (quantileOf(canary.buckets, q) ?? 0) * 1000;
        const stableSeconds = quantileOf(stable.buckets, q);
        if (check.max !== undefined && canaryMs > check.max)
            return `${label} ${formatNumber(canaryMs)} ms above ${check.max} ms`;
        if (stableSeconds !== null && stableSeconds > 0)
            return `${label} ${signed(canaryMs / (stableSeconds * 1000) - 1, 100)} % vs stable`;
        return result.detail;
    }
    if (check.metric === 'success-rate') {
        const canaryRate = canary.errors / Math.max(1, canary.requests);
        const stableRate = stable.errors / Math.max(1, stable.requests);
        if (check.min !== undefined && (1 - canaryRate) * 100 < check.min)
            return `success rate ${formatNumber((1 - canaryRate) * 100)} % below ${check.min} %`;
        return `error rate ${signed(canaryRate - stableRate, 100)} pp vs stable (${formatNumber(canaryRate * 100)} % vs ${formatNumber(stableRate * 100)} %)`;
    }
    return result.detail;
}
function signed(ratio, scale) {
    const value = ratio * scale;
    const size = Math.abs(value);
    return `${value >= 0 ? '+' : '−'}${size >= 10 ? Math.round(size) : formatNumber(size)}`;
}
function formatNumber(value) {
    return (Math.round(value * 10) / 10).toString();
}
//# sourceMappingURL=verdict.js.map