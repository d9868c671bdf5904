import { formatDuration } from './machine.js';
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
export const REFERENCE_WINDOW_MS = 30 * DAY;
export const WORKBOOK_PAIRS = Object.freeze([
    { long: HOUR, short: 5 * MINUTE, threshold: 14.4, speed: 'fast' },
    { long: 6 * HOUR, short: 30 * MINUTE, threshold: 6, speed: 'fast' },
    { long: DAY, short: 2 * HOUR, threshold: 3, speed: 'slow' },
    { long: 3 * DAY, short: 6 * HOUR, threshold: 1, speed: 'slow' },
]);
export function pairsFor(windowMs) {
    const scale = windowMs / REFERENCE_WINDOW_MS;
    return WORKBOOK_PAIRS.map((pair) => ({ ...pair, long: Math.max(1000, Math.round(pair.long * scale)), short: Math.max(1000, Math.round(pair.short * scale)) }));
}
export function burnRate(counts, objective) {
    if (counts.requests <= 0)
        return null;
    return Math.round((counts.errors / counts.requests / (1 - objective / 100)) * 1e9) / 1e9;
}
export function ratioBurnRate(ratio, objective) {
    return Math.round((ratio / (1 - objective / 100)) * 1e9) / 1e9;
}
export function budgetSpans(windowMs) {
    return [...new Set([...pairsFor(windowMs).flatMap((pair) => [pair.long, pair.short]), windowMs])];
}
export function promqlDuration(ms) {
    for (const [unit, size] of [['d', DAY], ['h', HOUR], ['m', MINUTE], ['s', 1000]])
        if (ms % size === 0)
            return `${ms / size}${unit}`;
    return `${ms}ms`;
}
export function readBudget(countsOver, slo) {
    return readBurn((spanMs) => burnRate(countsOver(spanMs), slo.objective), slo);
}
export function readBurn(burnOver, slo) {
    const pairs = pairsFor(slo.window).map((pair) => {
        const longRate = burnOver(pair.long);
        const shortRate = burnOver(pair.short);
        const firing = longRate !== null && shortRate !== null && longRate >= pair.threshold && shortRate >= pair.threshold;
        return { windows: `${formatDuration(pair.long)}/${formatDuration(pair.short)}`.replaceAll(' ', ''), threshold: pair.threshold, speed: pair.speed, longRate, shortRate, firing };
    });
    const spent = burnOver(slo.window);
    return { pairs, remaining: spent === null ? null : 1 - spent };
}
export function paceRollout(reading, rules) {
    for (const speed of ['fast', 'slow']) {
        const pair = reading.pairs.find((p) => p.speed === speed && p.firing);
        if (pair === undefined)
            continue;
        const action = speed === 'fast' ? rules.fastBurn : rules.slowBurn;
        const value = Math.min(pair.longRate, pair.shortRate);
        return {
            action,
            window: pair.windows,
            value: round(value),
            reason: `${speed} burn: error budget burning at ${round(pair.longRate)}× over ${pair.windows.split('/')[0]} and ${round(pair.shortRate)}× over ${pair.windows.split('/')[1]} (threshold ${pair.threshold}×)`,
        };
    }
    if (rules.budgetFloor > 0 && reading.remaining !== null && reading.remaining * 100 < rules.budgetFloor) {
        const left = round(reading.remaining * 100);
        return { action: 'freeze', window: 'budget', value: left, reason: `error budget ${left} % left, below the floor of ${rules.budgetFloor} %: no stage advances` };
    }
    const left = reading.remaining === null ? 'no traffic yet' : `${round(reading.remaining * 100)} % of the error budget left`;
    return { action: 'go', window: null, value: null, reason: left };
}
function round(value) {
    return Math.round(value * 100) / 100;
}
//# sourceMappingURL=error-budget.js.map