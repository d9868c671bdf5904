export function parseFrozenExperiments(raw, warnings) {
    const out = new Map();
    for (const [key, value] of Object.entries(raw ?? {})) {
        const frozen = readFrozenExperiment(value);
        if (frozen === null)
            warnings.push(`experiments.${key} is not a stopped experiment's record; ignored`);
        else
            out.set(key, frozen);
    }
    return out;
}
export function readFrozenExperiment(value) {
    const totals = readTotals(value);
    if (totals === null)
        return null;
    const v = value;
    const stopped = v.stopped;
    if (stopped === undefined || stopped === null || typeof stopped.at !== 'string' || Number.isNaN(Date.parse(stopped.at)))
        return null;
    return {
        ...totals,
        stopped: { at: stopped.at, actor: typeof stopped.actor === 'string' ? stopped.actor : 'unknown' },
        trackedUsers: isCount(v.trackedUsers) ? v.trackedUsers : 0,
        guardrails: v.guardrails !== null && typeof v.guardrails === 'object' ? v.guardrails : null,
        treatmentPercent: typeof v.treatmentPercent === 'number' && v.treatmentPercent >= 0 && v.treatmentPercent <= 100 ? v.treatmentPercent : null,
    };
}
export function readTotals(value) {
    if (value === null || typeof value !== 'object')
        return null;
    const v = value;
    if (!Array.isArray(v.arms) || v.arms.length !== 2)
        return null;
    const arms = [];
    for (const arm of v.arms) {
        const a = arm;
        if (a === null || typeof a !== 'object' || !isCount(a.users) || a.conversions === null || typeof a.conversions !== 'object')
            return null;
        const conversions = {};
        for (const [name, totals] of Object.entries(a.conversions)) {
            const t = totals;
            if (t === null || typeof t !== 'object' || !isCount(t.converters) || !Number.isFinite(t.valueSum) || !Number.isFinite(t.valueSquares))
                return null;
            conversions[name] = { converters: t.converters, valueSum: t.valueSum, valueSquares: t.valueSquares };
        }
        arms.push({ users: a.users, conversions });
    }
    const minimumPValues = {};
    for (const [name, p] of Object.entries(v.minimumPValues ?? {}))
        if (typeof p === 'number' && p >= 0 && p <= 1)
            minimumPValues[name] = p;
    return { arms, minimumPValues, evictions: isCount(v.evictions) ? v.evictions : 0 };
}
function isCount(value) {
    return Number.isSafeInteger(value) && value >= 0;
}
//# sourceMappingURL=experiment-stop.js.map