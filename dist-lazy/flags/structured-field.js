const SF_KEY = /^[a-z*][a-z0-9_.*-]*$/;
export function isSfKey(key) {
    return SF_KEY.test(key);
}
export function toSfKey(key) {
    if (SF_KEY.test(key))
        return key;
    const mapped = key.toLowerCase().replace(/[^a-z0-9_.*-]/g, '_');
    return SF_KEY.test(mapped) ? mapped : null;
}
const MAX_INTEGER = 999_999_999_999_999;
const MAX_DECIMAL_INTEGER_PART = 999_999_999_999;
export function serializeBareItem(value) {
    switch (typeof value) {
        case 'boolean':
            return value ? '?1' : '?0';
        case 'number':
            return Number.isInteger(value) ? serializeInteger(value) : serializeDecimal(value);
        case 'string':
            return serializeString(value);
        default:
            return null;
    }
}
function serializeInteger(value) {
    if (value < -MAX_INTEGER || value > MAX_INTEGER)
        return null;
    return value === 0 ? '0' : String(value);
}
function serializeDecimal(value) {
    if (!Number.isFinite(value))
        return null;
    const thousandths = roundHalfEven(value * 1000);
    const integerPart = Math.trunc(Math.abs(thousandths) / 1000);
    if (integerPart > MAX_DECIMAL_INTEGER_PART)
        return null;
    const sign = thousandths < 0 ? '-' : '';
    let fraction = String(Math.abs(thousandths) % 1000).padStart(3, '0');
    while (fraction.length > 1 && fraction.endsWith('0'))
        fraction = fraction.slice(0, -1);
    return `${sign}${integerPart}.${fraction}`;
}
function roundHalfEven(x) {
    const floor = Math.floor(x);
    const diff = x - floor;
    if (diff > 0.5)
        return floor + 1;
    if (diff < 0.5)
        return floor;
    return floor % 2 === 0 ? floor : floor + 1;
}
function serializeString(value) {
    for (let i = 0; i < value.length; i++) {
        const code = value.charCodeAt(i);
        if (code < 0x20 || code > 0x7e)
            return null;
    }
    return `"${value.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}
//# sourceMappingURL=structured-field.js.map