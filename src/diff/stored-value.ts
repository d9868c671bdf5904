/**
 * Differences in the form they are kept and shown: each value as bounded text (MAX_VALUE_CHARS, then a marker with
 * the full length), values of credential-like names as `[redacted]`. Applying `storedValue` to its own output
 * changes nothing, so differences can be made storable where they are computed (the diff worker, which then sends
 * a few hundred characters instead of a whole document back) and stored as they are.
 */
import { lastPathName, redactedJson, REDACTED, type NameRedaction } from './redact.js';
import type { ResponseDifference } from './response-diff.js';

export const MAX_VALUE_CHARS = 200;

const TRUNCATION_MARK = /^… \(\d{1,16} chars\)$/;

/** A value as stored text: strings as they are, anything else as JSON, both cut at MAX_VALUE_CHARS. */
export function storedValue(value: unknown, redacted: NameRedaction | null = null): string {
  if (typeof value === 'string' && isStoredText(value)) return value;
  const text = value === undefined ? '(absent)' : typeof value === 'string' ? value : printable(value, redacted);
  return text.length > MAX_VALUE_CHARS ? `${text.slice(0, MAX_VALUE_CHARS)}… (${text.length} chars)` : text;
}

function isStoredText(text: string): boolean {
  if (text.length <= MAX_VALUE_CHARS) return true;
  // Already cut by storedValue: the first MAX_VALUE_CHARS characters and the marker (at most 30 characters).
  return text.length <= MAX_VALUE_CHARS + 30 && TRUNCATION_MARK.test(text.slice(MAX_VALUE_CHARS));
}

/** JSON text of a value; a structure too deep to print (JSON.stringify recurses) is named, not thrown. */
function printable(value: unknown, redacted: NameRedaction | null): string {
  try {
    return redacted === null ? JSON.stringify(value) : redactedJson(value, redacted);
  } catch {
    return Array.isArray(value) ? '[… too deep to print]' : '{… too deep to print}';
  }
}

/**
 * Differences with stored values: a header or JSON field whose name looks like a credential shows `[redacted]`
 * on the sides where it is present (absence is kept: it is what differed), and credential-like keys inside an
 * object or array value are redacted at any depth.
 */
export function storedDifferences(differences: readonly ResponseDifference[], redacted: NameRedaction): ResponseDifference[] {
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
