/**
 * RFC 8941 (Structured Field Values for HTTP) serialization of the pieces the flags header needs: dictionary keys
 * (§3.2, sf-key) and bare items (§4.1.3): booleans, integers, decimals and strings. Every flag's variants are known
 * when the definitions load, so each `key=value` member is serialized once there; a request only joins members.
 * A value RFC 8941 cannot carry (a non-ASCII string, an out-of-range number, an object) serializes to null and the
 * caller leaves that member out.
 */

/** §3.2: sf-key = ( lcalpha / "*" ) *( lcalpha / DIGIT / "_" / "-" / "." / "*" ) */
const SF_KEY = /^[a-z*][a-z0-9_.*-]*$/;

export function isSfKey(key: string): boolean {
  return SF_KEY.test(key);
}

/**
 * The sf-key a flag key is sent under: itself when it is one; otherwise lower-cased with every other character
 * replaced by "_". Null when even that does not start with a lower-case letter or "*" (such a flag is not sent).
 */
export function toSfKey(key: string): string | null {
  if (SF_KEY.test(key)) return key;
  const mapped = key.toLowerCase().replace(/[^a-z0-9_.*-]/g, '_');
  return SF_KEY.test(mapped) ? mapped : null;
}

/** §3.3.1: integers have at most 15 digits. */
const MAX_INTEGER = 999_999_999_999_999;
/** §3.3.2: decimals have at most 12 integer digits. */
const MAX_DECIMAL_INTEGER_PART = 999_999_999_999;

/** §4.1.3 bare item for a flag value; null when RFC 8941 has no item for it. */
export function serializeBareItem(value: unknown): string | null {
  switch (typeof value) {
    case 'boolean':
      // §4.1.9
      return value ? '?1' : '?0';
    case 'number':
      return Number.isInteger(value) ? serializeInteger(value) : serializeDecimal(value);
    case 'string':
      return serializeString(value);
    default:
      return null;
  }
}

/** §4.1.4 */
function serializeInteger(value: number): string | null {
  if (value < -MAX_INTEGER || value > MAX_INTEGER) return null;
  // -0 is an integer in JSON's eyes; RFC 8941 has no negative zero.
  return value === 0 ? '0' : String(value);
}

/** §4.1.5: rounded to three fractional digits, ties to even; at least one fractional digit, no trailing zeros beyond it. */
function serializeDecimal(value: number): string | null {
  if (!Number.isFinite(value)) return null;
  const thousandths = roundHalfEven(value * 1000);
  const integerPart = Math.trunc(Math.abs(thousandths) / 1000);
  if (integerPart > MAX_DECIMAL_INTEGER_PART) return null;
  const sign = thousandths < 0 ? '-' : '';
  let fraction = String(Math.abs(thousandths) % 1000).padStart(3, '0');
  while (fraction.length > 1 && fraction.endsWith('0')) fraction = fraction.slice(0, -1);
  return `${sign}${integerPart}.${fraction}`;
}

function roundHalfEven(x: number): number {
  const floor = Math.floor(x);
  const diff = x - floor;
  if (diff > 0.5) return floor + 1;
  if (diff < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}

/** §4.1.6: printable ASCII only (%x20-7E), with `"` and `\` escaped. */
function serializeString(value: string): string | null {
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if (code < 0x20 || code > 0x7e) return null;
  }
  return `"${value.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}
