/**
 * Compares a shadow response with the primary response the client got: status, headers (a default exclude list
 * of fields that differ on every response, plus configured include/exclude), and body — JSON structurally by
 * path, anything else (or a body above the capture cap) by length and SHA-256.
 *
 * Fields are named `status`, `headers.<name>`, `body.$.<json path>` (indices collapsed) and `body`; ignore lists
 * use the same names, and an ignored field hides everything beneath it.
 */
import { brotliDecompressSync, gunzipSync, inflateSync } from 'node:zlib';
import { diffJson, normalizeJsonPath, type FieldFilter } from './json-diff.js';

export interface CapturedResponse {
  readonly status: number;
  /** Lower-case names; repeated fields joined with ", ". */
  readonly headers: Readonly<Record<string, string>>;
  /** The full body, or null when it was larger than the capture cap. */
  readonly body: Buffer | null;
  readonly bodyLength: number;
  readonly bodySha256: string;
}

export interface ResponseDifference {
  /** Normalized name used for grouping and counting: `body.$.items[].price`. */
  readonly field: string;
  /** Exact location: `body.$.items[2].price`. */
  readonly path: string;
  readonly primary: unknown;
  readonly shadow: unknown;
}

export interface HeaderPolicy {
  /** When set, only these headers are compared. */
  readonly include: ReadonlySet<string> | null;
  readonly exclude: ReadonlySet<string>;
}

/** Headers that differ between any two responses, or that describe the transfer rather than the content. */
export const DEFAULT_HEADER_EXCLUDES: readonly string[] = [
  'date',
  'set-cookie',
  'x-request-id',
  'server',
  'content-length',
  'connection',
  'keep-alive',
  'transfer-encoding',
  'age',
  'expires',
  'last-modified',
  'etag',
  'via',
  'x-upstream-version',
];

export function createHeaderPolicy(options: { include?: readonly string[]; exclude?: readonly string[] } = {}): HeaderPolicy {
  const lower = (names: readonly string[]) => names.map((name) => name.toLowerCase());
  return {
    include: options.include ? new Set(lower(options.include)) : null,
    exclude: new Set([...DEFAULT_HEADER_EXCLUDES, ...lower(options.exclude ?? [])]),
  };
}

/**
 * An ignore list → FieldFilter. Accepts `headers.ETag`, `body.$.requestId`, `body.requestId` (the `$` is implied)
 * and explicit indices (`body.$.items[0].id`, treated as every index).
 */
export function compileIgnoreList(entries: readonly string[]): FieldFilter {
  const normalized = entries.map(normalizeIgnoreEntry);
  if (normalized.length === 0) return () => false;
  return (field: string) => {
    for (const entry of normalized) {
      if (field === entry) return true;
      if (field.startsWith(entry)) {
        const next = field.charCodeAt(entry.length);
        if (next === 46 /* . */ || next === 91 /* [ */) return true;
      }
    }
    return false;
  };
}

export function normalizeIgnoreEntry(entry: string): string {
  const trimmed = entry.trim();
  if (trimmed.startsWith('headers.')) return `headers.${trimmed.slice(8).toLowerCase()}`;
  if (trimmed === 'body' || trimmed === 'body.$') return trimmed;
  if (trimmed.startsWith('body.$')) return normalizeJsonPath(trimmed);
  if (trimmed.startsWith('body.')) return normalizeJsonPath(`body.$.${trimmed.slice(5)}`);
  return trimmed;
}

const JSON_TYPE = /^application\/(?:[\w.+-]+\+)?json\b/i;

export function isJsonContentType(contentType: string | undefined): boolean {
  return contentType !== undefined && JSON_TYPE.test(contentType.trim());
}

export interface DiffOptions {
  /** Differences reported at most. */
  readonly limit?: number;
  /** A compressed body that decodes to more than this is compared by length and hash of its encoded bytes. */
  readonly maxDecodedBytes?: number;
}

/** Pure and synchronous: it decompresses and parses, so the proxy runs it on its diff worker, never per request. */
export function diffResponses(
  primary: CapturedResponse,
  shadow: CapturedResponse,
  headerPolicy: HeaderPolicy,
  ignored: FieldFilter,
  options: DiffOptions = {},
): ResponseDifference[] {
  const limit = options.limit ?? 200;
  const maxDecodedBytes = options.maxDecodedBytes ?? MAX_DECODED_BYTES;
  const out: ResponseDifference[] = [];
  if (primary.status !== shadow.status && !ignored('status')) {
    out.push({ field: 'status', path: 'status', primary: primary.status, shadow: shadow.status });
  }
  diffHeaders(primary.headers, shadow.headers, headerPolicy, ignored, out);
  if (!ignored('body')) diffBodies(primary, shadow, ignored, out, limit, maxDecodedBytes);
  return out.length > limit ? out.slice(0, limit) : out;
}

function diffHeaders(
  primary: Readonly<Record<string, string>>,
  shadow: Readonly<Record<string, string>>,
  policy: HeaderPolicy,
  ignored: FieldFilter,
  out: ResponseDifference[],
): void {
  const names = new Set([...Object.keys(primary), ...Object.keys(shadow)]);
  for (const name of [...names].sort()) {
    if (policy.include !== null ? !policy.include.has(name) : policy.exclude.has(name)) continue;
    if (primary[name] === shadow[name]) continue;
    const field = `headers.${name}`;
    if (ignored(field)) continue;
    out.push({ field, path: field, primary: primary[name], shadow: shadow[name] });
  }
}

function diffBodies(
  primary: CapturedResponse,
  shadow: CapturedResponse,
  ignored: FieldFilter,
  out: ResponseDifference[],
  limit: number,
  maxDecodedBytes: number,
): void {
  // Same bytes, same body: nothing to parse.
  if (primary.bodySha256 === shadow.bodySha256 && primary.bodyLength === shadow.bodyLength) return;
  const bothJson = isJsonContentType(primary.headers['content-type']) && isJsonContentType(shadow.headers['content-type']);
  const leftBytes = !bothJson || primary.body === null ? null : decodeBody(primary.body, primary.headers['content-encoding'], maxDecodedBytes);
  const rightBytes = leftBytes === null || shadow.body === null ? null : decodeBody(shadow.body, shadow.headers['content-encoding'], maxDecodedBytes);
  if (leftBytes !== null && rightBytes !== null) {
    const left = parseJson(leftBytes);
    const right = parseJson(rightBytes);
    if (left.ok && right.ok) {
      const bodyIgnored: FieldFilter = (field) => ignored(`body.${field}`);
      for (const difference of diffJson(left.value, right.value, bodyIgnored, limit)) {
        out.push({ field: `body.${difference.field}`, path: `body.${difference.path}`, primary: difference.primary, shadow: difference.shadow });
      }
      return;
    }
  }
  if (primary.bodySha256 !== shadow.bodySha256) {
    out.push({
      field: 'body',
      path: 'body',
      primary: { length: primary.bodyLength, sha256: primary.bodySha256 },
      shadow: { length: shadow.bodyLength, sha256: shadow.bodySha256 },
    });
  }
}

/** The decode cap when none is given (the largest `mirror.diff.maxBodyBytes` allows 64 MiB). */
export const MAX_DECODED_BYTES = 16 * 1024 * 1024;

/**
 * The body as the application wrote it: clients usually send Accept-Encoding, so both versions answer gzip or br,
 * and compressed bytes cannot be compared structurally. Null when the encoding is unknown, the data is bad, or it
 * decodes to more than `maxBytes`: zlib stops there, so a small bomb never becomes a large allocation.
 */
export function decodeBody(body: Buffer, encoding: string | undefined, maxBytes = MAX_DECODED_BYTES): Buffer | null {
  const coding = encoding?.trim().toLowerCase();
  if (coding === undefined || coding === '' || coding === 'identity') return body.length <= maxBytes ? body : null;
  // zlib takes no maxOutputLength below 1 (a cap of 0 captures no compressed body anyway).
  const maxOutputLength = Math.max(1, maxBytes);
  try {
    if (coding === 'gzip' || coding === 'x-gzip') return gunzipSync(body, { maxOutputLength });
    if (coding === 'br') return brotliDecompressSync(body, { maxOutputLength });
    if (coding === 'deflate') return inflateSync(body, { maxOutputLength });
  } catch {
    return null;
  }
  return null;
}

function parseJson(body: Buffer): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(body.toString('utf8')) };
  } catch {
    return { ok: false };
  }
}
