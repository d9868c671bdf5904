import { createHash } from 'node:crypto';
export function hashConfig(config) {
    return createHash('sha256').update(stableStringify(config)).digest('hex').slice(0, 16);
}
export function stableStringify(value) {
    if (Array.isArray(value))
        return `[${value.map(stableStringify).join(',')}]`;
    if (value !== null && typeof value === 'object') {
        const entries = Object.keys(value)
            .sort()
            .map((key) => `${JSON.stringify(key)}:${stableStringify(value[key])}`);
        return `{${entries.join(',')}}`;
    }
    return JSON.stringify(value) ?? 'null';
}
//# sourceMappingURL=config-hash.js.map