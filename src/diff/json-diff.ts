/**
 * Structural JSON comparison by path. Two documents differ iff they are not deep-equal (object key order never
 * matters; array order does). Each difference names its exact path (`$.items[2].price`) and a normalized field
 * with array indices collapsed (`$.items[].price`), which is what diffs are grouped and counted by.
 */

export interface JsonDifference {
  /** Exact location, e.g. `$.items[2].price`. */
  readonly path: string;
  /** Location with array indices collapsed, e.g. `$.items[].price`. */
  readonly field: string;
  /** Value on each side; undefined where the path exists on one side only. */
  readonly primary: unknown;
  readonly shadow: unknown;
}

/** Decides whether a normalized field is ignored; the whole subtree under an ignored field is skipped. */
export type FieldFilter = (field: string) => boolean;

const NONE: FieldFilter = () => false;

/**
 * Subtrees deeper than this are not walked (a shadow answering 10 000 nested arrays must not overflow the stack):
 * they are reported as one difference at that depth. JSON documents this deep are not real API payloads.
 */
export const MAX_DEPTH = 64;
export const TOO_DEEP = `(nested deeper than ${MAX_DEPTH} levels)`;

export function diffJson(primary: unknown, shadow: unknown, ignored: FieldFilter = NONE, limit = 1_000): JsonDifference[] {
  const out: JsonDifference[] = [];
  walk(primary, shadow, '$', '$', ignored, out, limit, 0);
  return out;
}

function walk(a: unknown, b: unknown, path: string, field: string, ignored: FieldFilter, out: JsonDifference[], limit: number, depth: number): void {
  if (out.length >= limit || ignored(field)) return;
  if (a === b) return;
  if (depth >= MAX_DEPTH) {
    out.push({ path, field, primary: TOO_DEEP, shadow: TOO_DEEP });
    return;
  }
  const kindA = kindOf(a);
  const kindB = kindOf(b);
  if (kindA !== kindB || (kindA !== 'object' && kindA !== 'array')) {
    out.push({ path, field, primary: a, shadow: b });
    return;
  }
  if (kindA === 'array') {
    const left = a as unknown[];
    const right = b as unknown[];
    const length = Math.max(left.length, right.length);
    for (let i = 0; i < length; i++) {
      walk(i < left.length ? left[i] : undefined, i < right.length ? right[i] : undefined, `${path}[${i}]`, `${field}[]`, ignored, out, limit, depth + 1);
    }
    return;
  }
  const left = a as Record<string, unknown>;
  const right = b as Record<string, unknown>;
  for (const key of Object.keys(left)) {
    const segment = pathSegment(key);
    walk(left[key], Object.hasOwn(right, key) ? right[key] : undefined, path + segment, field + segment, ignored, out, limit, depth + 1);
  }
  for (const key of Object.keys(right)) {
    if (Object.hasOwn(left, key)) continue;
    const segment = pathSegment(key);
    walk(undefined, right[key], path + segment, field + segment, ignored, out, limit, depth + 1);
  }
}

type Kind = 'array' | 'object' | 'null' | 'undefined' | 'scalar';

function kindOf(value: unknown): Kind {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'object') return 'object';
  return 'scalar';
}

/** `.name` for identifier-like keys, `["odd key"]` otherwise, so paths stay unambiguous. */
function pathSegment(key: string): string {
  return /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`;
}

/** `$.items[3].price` → `$.items[].price`. */
export function normalizeJsonPath(path: string): string {
  return path.replace(/\[\d+\]/g, '[]');
}
