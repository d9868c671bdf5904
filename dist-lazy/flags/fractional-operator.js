import { FLAGD_LOGGER, murmurHash3 } from './flagd-core.js';
const MAX_TOTAL_WEIGHT = 2147483647;
export function fractional(data, context) {
    const scope = context;
    if (!scope[FLAGD_LOGGER])
        throw new Error('Logger not found in context');
    if (!Array.isArray(data))
        return null;
    const args = data;
    if (args.length < 1)
        return null;
    const flagdProperties = scope.$flagd;
    if (!flagdProperties)
        return null;
    let bucketBy;
    let first;
    if (typeof args[0] === 'string') {
        bucketBy = args[0];
        first = 1;
    }
    else {
        const targetingKey = scope.targetingKey;
        if (!targetingKey)
            return null;
        bucketBy = `${flagdProperties.flagKey}${targetingKey}`;
        first = 0;
    }
    let totalWeight = 0;
    for (let i = first; i < args.length; i++) {
        const weight = bucketWeight(args[i]);
        if (weight < 0)
            return null;
        totalWeight += weight;
    }
    if (totalWeight > MAX_TOTAL_WEIGHT)
        return null;
    const hash = murmurHash3(bucketBy) >>> 0;
    const bucket = Math.floor(((hash >>> 16) * totalWeight + Math.floor(((hash & 0xffff) * totalWeight) / 65536)) / 65536);
    let sum = 0;
    for (let i = first; i < args.length; i++) {
        const entry = args[i];
        sum += bucketWeight(entry);
        if (sum > bucket)
            return entry[0] === undefined ? null : entry[0];
    }
    return null;
}
function bucketWeight(entry) {
    if (!Array.isArray(entry) || entry.length === 0 || entry.length > 2)
        return -1;
    const variant = entry[0];
    if (variant !== null && variant !== undefined && typeof variant !== 'string' && typeof variant !== 'number' && typeof variant !== 'boolean')
        return -1;
    if (entry.length < 2)
        return 1;
    const raw = entry[1];
    if (typeof raw !== 'number' || !Number.isInteger(raw))
        return -1;
    return Math.max(0, raw);
}
//# sourceMappingURL=fractional-operator.js.map