import { SplitgateError } from '../errors.js';
import { BUCKETING_METADATA_KEY } from './migration-split.js';
export const FLAGS_DOCUMENT = '~flags';
export function flagsDocument(flags) {
    return { flags };
}
export class UnknownFlagError extends SplitgateError {
    constructor(key) {
        super('SG_UNKNOWN_FLAG', `no flag with key "${key}"`, 404);
    }
}
export class UnknownVariantError extends SplitgateError {
    constructor(key, variant, known) {
        super('SG_UNKNOWN_VARIANT', `flag "${key}" has no variant "${variant}" (variants: ${known.join(', ')})`, 400);
    }
}
export class InvalidFlagOverrideError extends SplitgateError {
    constructor(message) {
        super('SG_INVALID', message, 400);
    }
}
export function parseFlagOverride(body) {
    const usage = 'body must be JSON like {"state": "DISABLED"}, {"state": "ENABLED"} or {"defaultVariant": "on"}';
    if (body === null || typeof body !== 'object' || Array.isArray(body))
        throw new InvalidFlagOverrideError(usage);
    const { state, defaultVariant, ...rest } = body;
    const extra = Object.keys(rest);
    if (extra.length > 0)
        throw new InvalidFlagOverrideError(`unknown field ${JSON.stringify(extra[0])}; ${usage}`);
    if (state === undefined && defaultVariant === undefined)
        throw new InvalidFlagOverrideError(usage);
    if (state !== undefined && state !== 'ENABLED' && state !== 'DISABLED')
        throw new InvalidFlagOverrideError('state must be "ENABLED" or "DISABLED"');
    if (defaultVariant !== undefined && (typeof defaultVariant !== 'string' || defaultVariant === ''))
        throw new InvalidFlagOverrideError('defaultVariant must be a variant name');
    if (state === 'DISABLED' && defaultVariant !== undefined)
        throw new InvalidFlagOverrideError('a disabled flag has no variant: send {"state": "DISABLED"} alone');
    return defaultVariant !== undefined ? { defaultVariant: defaultVariant } : { state: state };
}
export function checkFlagOverride(definitions, key, override) {
    const flag = definitions !== undefined && Object.hasOwn(definitions.flags, key) ? definitions.flags[key] : undefined;
    if (flag === undefined)
        throw new UnknownFlagError(key);
    if (override?.defaultVariant !== undefined && !Object.hasOwn(flag.variants, override.defaultVariant)) {
        throw new UnknownVariantError(key, override.defaultVariant, Object.keys(flag.variants));
    }
}
export function staleFlagOverrides(definitions, overrides) {
    const stale = [];
    for (const [key, override] of Object.entries(overrides)) {
        try {
            checkFlagOverride(definitions, key, override);
        }
        catch (error) {
            stale.push({ key, reason: error.message });
        }
    }
    return stale;
}
export function overriddenDefinition(flag, override) {
    if (override === undefined)
        return flag;
    if (override.defaultVariant !== undefined) {
        const { targeting: _targeting, metadata, ...rest } = flag;
        const kept = metadata === undefined ? undefined : Object.fromEntries(Object.entries(metadata).filter(([name]) => name !== BUCKETING_METADATA_KEY));
        return { ...rest, state: 'ENABLED', defaultVariant: override.defaultVariant, ...(kept === undefined ? {} : { metadata: kept }) };
    }
    return { ...flag, state: override.state ?? flag.state };
}
const effectiveCache = new WeakMap();
export function applyFlagOverrides(definitions, overrides) {
    const relevant = Object.entries(overrides ?? {}).filter(([key, override]) => staleFlagOverrides(definitions, { [key]: override }).length === 0);
    if (relevant.length === 0)
        return definitions;
    const key = JSON.stringify(relevant.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    const cached = effectiveCache.get(definitions);
    if (cached !== undefined && cached.key === key)
        return cached.effective;
    const flags = {};
    const byKey = new Map(relevant);
    for (const [name, flag] of Object.entries(definitions.flags))
        flags[name] = overriddenDefinition(flag, byKey.get(name));
    const effective = { ...definitions, flags };
    effectiveCache.set(definitions, { key, effective });
    return effective;
}
export function parseStoredFlagOverrides(raw, warnings) {
    const out = {};
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
        warnings.push('flags is not an object; ignored');
        return out;
    }
    for (const [key, value] of Object.entries(raw)) {
        try {
            out[key] = parseFlagOverride(value);
        }
        catch (error) {
            if (value?.state === 'DISABLED')
                out[key] = { state: 'DISABLED' };
            warnings.push(`flags.${key}: ${error.message}; ${out[key] ? 'kept as DISABLED' : 'ignored'}`);
        }
    }
    return out;
}
//# sourceMappingURL=flag-overrides.js.map