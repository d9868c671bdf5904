export const BUCKETING_METADATA_KEY = 'bucketing';
export function migrationSplit(flag) {
    const targeting = flag.targeting;
    const keys = targeting === undefined ? [] : Object.keys(targeting);
    if (keys.length !== 1 || keys[0] !== 'fractional' || !Array.isArray(targeting.fractional)) {
        return 'needs targeting that is exactly {"fractional": [["variant", percent], ...]} (percents adding up to 100)';
    }
    const steps = [];
    let total = 0;
    for (const entry of targeting.fractional) {
        if (!Array.isArray(entry) || entry.length !== 2 || typeof entry[0] !== 'string' || !Number.isInteger(entry[1]) || entry[1] < 0) {
            return 'fractional entries must be ["variant", whole percent] (no bucket-by expression: the targeting key is the key)';
        }
        if (!Object.hasOwn(flag.variants, entry[0]))
            return `fractional names variant "${entry[0]}", which the flag does not have`;
        total += entry[1];
        steps.push([entry[0], total]);
    }
    if (total !== 100)
        return `fractional percents must add up to 100 (got ${total})`;
    return { steps };
}
//# sourceMappingURL=migration-split.js.map