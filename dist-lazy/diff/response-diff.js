import { brotliDecompressSync, gunzipSync, inflateSync } from 'node:zlib';
import { diffJson, normalizeJsonPath } from './json-diff.js';
export const DEFAULT_HEADER_EXCLUDES = [
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
export function createHeaderPolicy(options = {}) {
    const lower = (names) => names.map((name) => name.toLowerCase());
    return {
        include: options.include ? new Set(lower(options.include)) : null,
        exclude: new Set([...DEFAULT_HEADER_EXCLUDES, ...lower(options.exclude ?? [])]),
    };
}
export function compileIgnoreList(entries) {
    const normalized = entries.map(normalizeIgnoreEntry);
    if (normalized.length === 0)
        return () => false;
    return (field) => {
        for (const entry of normalized) {
            if (field === entry)
                return true;
            if (field.startsWith(entry)) {
                const next = field.charCodeAt(entry.length);
                if (next === 46 || next === 91)
                    return true;
            }
        }
        return false;
    };
}
export function normalizeIgnoreEntry(entry) {
    const trimmed = entry.trim();
    if (trimmed.startsWith('headers.'))
        return `headers.${trimmed.slice(8).toLowerCase()}`;
    if (trimmed === 'body' || trimmed === 'body.$')
        return trimmed;
    if (trimmed.startsWith('body.$'))
        return normalizeJsonPath(trimmed);
    if (trimmed.startsWith('body.'))
        return normalizeJsonPath(`body.$.${trimmed.slice(5)}`);
    return trimmed;
}
const JSON_TYPE = /^application\/(?:[\w.+-]+\+)?json\b/i;
export function isJsonContentType(contentType) {
    return contentType !== undefined && JSON_TYPE.test(contentType.trim());
}
export function diffResponses(primary, shadow, headerPolicy, ignored, options = {}) {
    const limit = options.limit ?? 200;
    const maxDecodedBytes = options.maxDecodedBytes ?? MAX_DECODED_BYTES;
    const out = [];
    if (primary.status !== shadow.status && !ignored('status')) {
        out.push({ field: 'status', path: 'status', primary: primary.status, shadow: shadow.status });
    }
    diffHeaders(primary.headers, shadow.headers, headerPolicy, ignored, out);
    if (!ignored('body'))
        diffBodies(primary, shadow, ignored, out, limit, maxDecodedBytes);
    return out.length > limit ? out.slice(0, limit) : out;
}
function diffHeaders(primary, shadow, policy, ignored, out) {
    const names = new Set([...Object.keys(primary), ...Object.keys(shadow)]);
    for (const name of [...names].sort()) {
        if (policy.include !== null ? !policy.include.has(name) : policy.exclude.has(name))
            continue;
        if (primary[name] === shadow[name])
            continue;
        const field = `headers.${name}`;
        if (ignored(field))
            continue;
        out.push({ field, path: field, primary: primary[name], shadow: shadow[name] });
    }
}
function diffBodies(primary, shadow, ignored, out, limit, maxDecodedBytes) {
    if (primary.bodySha256 === shadow.bodySha256 && primary.bodyLength === shadow.bodyLength)
        return;
    const bothJson = isJsonContentType(primary.headers['content-type']) && isJsonContentType(shadow.headers['content-type']);
    const leftBytes = !bothJson || primary.body === null ? null : decodeBody(primary.body, primary.headers['content-encoding'], maxDecodedBytes);
    const rightBytes = leftBytes === null || shadow.body === null ? null : decodeBody(shadow.body, shadow.headers['content-encoding'], maxDecodedBytes);
    if (leftBytes !== null && rightBytes !== null) {
        const left = parseJson(leftBytes);
        const right = parseJson(rightBytes);
        if (left.ok && right.ok) {
            const bodyIgnored = (field) => ignored(`body.${field}`);
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
export const MAX_DECODED_BYTES = 16 * 1024 * 1024;
export function decodeBody(body, encoding, maxBytes = MAX_DECODED_BYTES) {
    const coding = encoding?.trim().toLowerCase();
    if (coding === undefined || coding === '' || coding === 'identity')
        return body.length <= maxBytes ? body : null;
    const maxOutputLength = Math.max(1, maxBytes);
    try {
        if (coding === 'gzip' || coding === 'x-gzip')
            return gunzipSync(body, { maxOutputLength });
        if (coding === 'br')
            return brotliDecompressSync(body, { maxOutputLength });
        if (coding === 'deflate')
            return inflateSync(body, { maxOutputLength });
    }
    catch {
        return null;
    }
    return null;
}
function parseJson(body) {
    try {
        return { ok: true, value: JSON.parse(body.toString('utf8')) };
    }
    catch {
        return { ok: false };
    }
}
//# sourceMappingURL=response-diff.js.map