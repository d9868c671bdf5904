import { lastPathName, redactedJson, REDACTED } from './redact.js';
export const MAX_VALUE_CHARS = 200;
const TRUNCATION_MARK = /^… \(\d{1,16} chars\)$/;
export function storedValue(value, redacted = null) {
    if (typeof value === 'string' && isStoredText(value))
        return value;
    const text = value === undefined ? '(absent)' : typeof value === 'string' ? value : printable(value, redacted);
    return text.length > MAX_VALUE_CHARS ? `${text.slice(0, MAX_VALUE_CHARS)}… (${text.length} chars)` : text;
}
function isStoredText(text) {
    if (text.length <= MAX_VALUE_CHARS)
        return true;
    return text.length <= MAX_VALUE_CHARS + 30 && TRUNCATION_MARK.test(text.slice(MAX_VALUE_CHARS));
}
function printable(value, redacted) {
    try {
        return redacted === null ? JSON.stringify(value) : redactedJson(value, redacted);
    }
    catch {
        return Array.isArray(value) ? '[… too deep to print]' : '{… too deep to print}';
    }
}
export function storedDifferences(differences, redacted) {
    return differences.map((difference) => {
        const name = lastPathName(difference.path);
        const hide = name !== null && redacted(name);
        return {
            field: difference.field,
            path: difference.path,
            primary: hide && difference.primary !== undefined ? REDACTED : storedValue(difference.primary, redacted),
            shadow: hide && difference.shadow !== undefined ? REDACTED : storedValue(difference.shadow, redacted),
        };
    });
}
//# sourceMappingURL=stored-value.js.map