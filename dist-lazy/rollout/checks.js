import { quantileOf } from '../metrics/rolling-window.js';
import { compareErrorRates } from './statistics.js';
export const MIN_MIRROR_SAMPLES = 20;
export const DEFAULT_LATENCY_MIN_INCREASE_MS = 2;
export function evaluateCheck(check, inputs, minRequests) {
    if (check.prometheus)
        return evaluateQuery(check, inputs.queries[check.name]);
    switch (check.metric) {
        case 'success-rate':
            return evaluateSuccessRate(check, inputs, minRequests);
        case 'latency-p99':
            return evaluateLatency(check, inputs, minRequests, 0.99);
        case 'latency-p50':
            return evaluateLatency(check, inputs, minRequests, 0.5);
        case 'mirror-match-rate':
            return evaluateMirror(check, inputs);
        default:
            return { check: check.name, result: 'inconclusive', value: null, threshold: '', sample: { canary: 0 }, detail: 'unknown metric' };
    }
}
export function ejectionCheck(guard, since) {
    if (since <= 0 && !guard.ejected)
        return null;
    const detail = guard.ejected ? `canary ejected (${guard.unhealthy ? 'failing health checks' : 'outlier detection'})` : `canary ejected ${since} time(s) in the window`;
    return { check: 'outlier-ejection', result: 'fail', value: since, threshold: 'no ejection', sample: { canary: 0 }, detail };
}
export function windowVerdict(results) {
    if (results.some((r) => r.result === 'fail'))
        return 'fail';
    if (results.some((r) => r.result === 'inconclusive'))
        return 'inconclusive';
    return 'pass';
}
function evaluateSuccessRate(check, { canary, stable }, minRequests) {
    const sample = { canary: canary.requests, stable: stable.requests };
    const value = canary.requests === 0 ? null : round(((canary.requests - canary.errors) / canary.requests) * 100);
    const thresholds = [];
    if (check.min !== undefined)
        thresholds.push(`≥ ${check.min} %`);
    if (check.vsStable?.maxDegradation !== undefined)
        thresholds.push(`error rate ≤ stable + ${check.vsStable.maxDegradation} pp`);
    const threshold = thresholds.join(' and ');
    const base = { check: check.name, value, threshold, sample };
    const needsStable = check.vsStable?.maxDegradation !== undefined;
    if (canary.requests < Math.max(1, minRequests) || (needsStable && stable.requests < Math.max(1, minRequests))) {
        return { ...base, result: 'inconclusive', detail: `too few requests (canary ${canary.requests}, stable ${stable.requests}; need ${minRequests} each)` };
    }
    const details = [];
    let result = 'pass';
    if (check.min !== undefined && value < check.min) {
        result = 'fail';
        details.push(`success rate ${value} % below ${check.min} %`);
    }
    if (check.vsStable?.maxDegradation !== undefined) {
        const comparison = compareErrorRates({ errors: canary.errors, total: canary.requests }, { errors: stable.errors, total: stable.requests }, check.vsStable.maxDegradation / 100, check.vsStable.confidence);
        const stableRate = round(((stable.requests - stable.errors) / stable.requests) * 100);
        const text = `canary ${value} % vs stable ${stableRate} % (difference ${round(comparison.difference * 100)} pp, p=${round(comparison.pValue, 4)})`;
        if (comparison.verdict === 'fail') {
            result = 'fail';
            details.push(`${text}: significantly worse`);
        }
        else if (comparison.verdict === 'inconclusive' && result !== 'fail') {
            result = 'inconclusive';
            details.push(`${text}: worse but not significant yet`);
        }
        else {
            details.push(text);
        }
    }
    return { ...base, result, detail: details.join('; ') || `success rate ${value} %` };
}
function evaluateLatency(check, { canary, stable }, minRequests, q) {
    const sample = { canary: canary.requests, stable: stable.requests };
    const canaryMs = msOrNull(quantileOf(canary.buckets, q));
    const stableMs = msOrNull(quantileOf(stable.buckets, q));
    const label = `p${Math.round(q * 100)}`;
    const thresholds = [];
    if (check.max !== undefined)
        thresholds.push(`≤ ${check.max} ms`);
    if (check.vsStable?.maxRatio !== undefined) {
        thresholds.push(`≤ max(${check.vsStable.maxRatio} × stable, stable + ${check.vsStable.minIncrease ?? DEFAULT_LATENCY_MIN_INCREASE_MS} ms)`);
    }
    const base = { check: check.name, value: canaryMs === null ? null : round(canaryMs), threshold: thresholds.join(' and '), sample };
    const needsStable = check.vsStable?.maxRatio !== undefined;
    if (canary.requests < Math.max(1, minRequests) || (needsStable && stable.requests < Math.max(1, minRequests)) || canaryMs === null) {
        return { ...base, result: 'inconclusive', detail: `too few requests (canary ${canary.requests}, stable ${stable.requests}; need ${minRequests} each)` };
    }
    const details = [];
    let result = 'pass';
    if (check.max !== undefined && canaryMs > check.max) {
        result = 'fail';
        details.push(`canary ${label} ${round(canaryMs)} ms above ${check.max} ms`);
    }
    if (check.vsStable?.maxRatio !== undefined) {
        if (stableMs === null) {
            if (result !== 'fail')
                result = 'inconclusive';
            details.push('no stable latency to compare with');
        }
        else {
            const ratio = canaryMs / Math.max(stableMs, 1e-6);
            const text = `canary ${label} ${round(canaryMs)} ms vs stable ${round(stableMs)} ms (×${round(ratio)})`;
            if (ratio > check.vsStable.maxRatio && canaryMs - stableMs > (check.vsStable.minIncrease ?? DEFAULT_LATENCY_MIN_INCREASE_MS)) {
                result = 'fail';
                details.push(`${text}: above ×${check.vsStable.maxRatio}`);
            }
            else
                details.push(text);
        }
    }
    return { ...base, result, detail: details.join('; ') || `canary ${label} ${round(canaryMs)} ms` };
}
function evaluateMirror(check, { mirror }) {
    const compared = mirror?.compared ?? 0;
    const value = compared === 0 ? null : round((mirror.matched / compared) * 100);
    const base = { check: check.name, value, threshold: check.min !== undefined ? `≥ ${check.min} %` : `≤ ${check.max} %`, sample: { canary: compared } };
    if (compared < MIN_MIRROR_SAMPLES)
        return { ...base, result: 'inconclusive', detail: `too few mirrored comparisons (${compared}; need ${MIN_MIRROR_SAMPLES})` };
    const failed = (check.min !== undefined && value < check.min) || (check.max !== undefined && value > check.max);
    return { ...base, result: failed ? 'fail' : 'pass', detail: `mirror match rate ${value} % over ${compared} comparisons` };
}
function evaluateQuery(check, outcome) {
    const thresholds = [check.min !== undefined ? `≥ ${check.min}` : '', check.max !== undefined ? `≤ ${check.max}` : ''].filter(Boolean).join(' and ');
    const base = { check: check.name, threshold: thresholds, sample: { canary: 0 } };
    if (typeof outcome !== 'number' || Number.isNaN(outcome)) {
        const why = outcome === undefined ? 'not queried' : typeof outcome === 'string' ? outcome : 'NaN';
        return { ...base, value: null, result: 'inconclusive', detail: `no value: ${why}` };
    }
    const failed = (check.min !== undefined && outcome < check.min) || (check.max !== undefined && outcome > check.max);
    return { ...base, value: outcome, result: failed ? 'fail' : 'pass', detail: `query returned ${outcome}` };
}
function msOrNull(seconds) {
    return seconds === null ? null : seconds * 1000;
}
function round(value, digits = 3) {
    return Number.isFinite(value) ? Number(value.toFixed(digits)) : value;
}
//# sourceMappingURL=checks.js.map