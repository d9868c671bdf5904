import { quantileOf } from '../metrics/rolling-window.js';
import { evaluateCheck } from '../rollout/checks.js';
export const GUARDRAIL_WINDOW_SECONDS = 600;
export const NO_PER_ARM_METRICS = Object.freeze({
    windowSeconds: 0,
    breached: false,
    checks: Object.freeze([]),
    note: 'flag arms share versions and splitgate keeps no request counters per flag variant: guardrails cover route-split (stable/canary) arms only',
});
export function evaluateGuardrails(settings, control, treatment) {
    const inputs = { canary: treatment, stable: control, mirror: null, queries: {} };
    const errorCheck = { name: 'error-rate', metric: 'success-rate', vsStable: { maxDegradation: settings.maxErrorRateIncrease, confidence: settings.confidence } };
    const latencyCheck = { name: 'latency-p99', metric: 'latency-p99', vsStable: { maxRatio: settings.maxP99Ratio, minIncrease: settings.minP99Increase, confidence: settings.confidence } };
    const errors = evaluateCheck(errorCheck, inputs, settings.minRequests);
    const latency = evaluateCheck(latencyCheck, inputs, settings.minRequests);
    const sample = { control: control.requests, treatment: treatment.requests };
    const checks = [
        { check: 'error-rate', result: errors.result, unit: '%', control: errorRate(control), treatment: errorRate(treatment), threshold: `B ≤ A + ${settings.maxErrorRateIncrease} pp`, sample, detail: errors.detail },
        { check: 'latency-p99', result: latency.result, unit: 'ms', control: p99Ms(control), treatment: p99Ms(treatment), threshold: `B ≤ max(${settings.maxP99Ratio} × A, A + ${settings.minP99Increase} ms)`, sample, detail: latency.detail },
    ];
    return { windowSeconds: control.seconds, breached: checks.some((c) => c.result === 'fail'), checks };
}
export function describeBreach(report) {
    const failed = report.checks.filter((c) => c.result === 'fail');
    if (failed.length === 0)
        return null;
    return `guardrail: ${failed.map((c) => `${c.check === 'error-rate' ? 'error rate' : 'p99'} ${show(c.treatment, c.unit)} vs ${show(c.control, c.unit)}`).join(', ')} (B vs A)`;
}
function show(value, unit) {
    return value === null ? '–' : `${Math.round(value * 10) / 10} ${unit}`;
}
function errorRate(window) {
    return window.requests === 0 ? null : Number(((window.errors / window.requests) * 100).toFixed(3));
}
function p99Ms(window) {
    const seconds = quantileOf(window.buckets, 0.99);
    return seconds === null ? null : Number((seconds * 1000).toFixed(3));
}
export const UNREAD_FLEET_GUARDRAILS = Object.freeze({
    windowSeconds: 0,
    breached: false,
    checks: Object.freeze([]),
    note: "the fleet's guardrail counts could not be read from Redis: not judged",
});
//# sourceMappingURL=guardrails.js.map