const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const DURATION = /^(?:(\d+(?:\.\d+)?)(ms|s|m|h|d))+$/;
const PART = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/g;
export const MAX_TIMER_MS = 2 ** 31 - 1;
export function parseDuration(value) {
    if (typeof value === 'number')
        return Number.isFinite(value) && value >= 0 ? Math.round(value) : undefined;
    const text = value.trim();
    if (!DURATION.test(text))
        return undefined;
    let total = 0;
    for (const part of text.matchAll(PART))
        total += Number(part[1]) * UNIT_MS[part[2]];
    return Math.round(total);
}
//# sourceMappingURL=duration.js.map