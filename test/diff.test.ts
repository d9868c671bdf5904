import { createHash } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { diffJson } from '../src/diff/json-diff.js';
import {
  compileIgnoreList,
  createHeaderPolicy,
  diffResponses,
  normalizeIgnoreEntry,
  type CapturedResponse,
} from '../src/diff/response-diff.js';

function response(status: number, headers: Record<string, string>, body: string | null, bodyLength?: number): CapturedResponse {
  const bytes = Buffer.from(body ?? '');
  return {
    status,
    headers,
    body: body === null ? null : bytes,
    bodyLength: bodyLength ?? bytes.length,
    bodySha256: createHash('sha256').update(bytes).digest('hex'),
  };
}

const JSON_HEADERS = { 'content-type': 'application/json; charset=utf-8' };
const POLICY = createHeaderPolicy();
const NOTHING_IGNORED = compileIgnoreList([]);

describe('diffJson', () => {
  it('reordered object keys match', () => {
    expect(diffJson({ a: 1, b: { c: 2, d: [1, 2] } }, { b: { d: [1, 2], c: 2 }, a: 1 })).toEqual([]);
  });

  it('a changed field is reported at its path', () => {
    expect(diffJson({ user: { name: 'a', age: 3 } }, { user: { name: 'a', age: 4 } })).toEqual([
      { path: '$.user.age', field: '$.user.age', primary: 3, shadow: 4 },
    ]);
  });

  it('array elements are compared by index; the field collapses the index', () => {
    expect(diffJson({ items: [{ price: 1 }, { price: 2 }] }, { items: [{ price: 1 }, { price: 3 }] })).toEqual([
      { path: '$.items[1].price', field: '$.items[].price', primary: 2, shadow: 3 },
    ]);
  });

  it('missing and extra keys and elements', () => {
    expect(diffJson({ a: 1, list: [1] }, { b: 2, list: [1, 2] })).toEqual([
      { path: '$.a', field: '$.a', primary: 1, shadow: undefined },
      { path: '$.list[1]', field: '$.list[]', primary: undefined, shadow: 2 },
      { path: '$.b', field: '$.b', primary: undefined, shadow: 2 },
    ]);
  });

  it('type changes, null and odd keys', () => {
    expect(diffJson({ 'a.b': null, n: 1 }, { 'a.b': 0, n: '1' })).toEqual([
      { path: '$["a.b"]', field: '$["a.b"]', primary: null, shadow: 0 },
      { path: '$.n', field: '$.n', primary: 1, shadow: '1' },
    ]);
  });

  it('property: the diff is empty iff the documents are deep-equal', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.jsonValue(), (a, b) => {
        // JSON has no -0; normalise the generator's -0 the way a JSON round trip would.
        const left = JSON.parse(JSON.stringify(a)) as unknown;
        const right = JSON.parse(JSON.stringify(b)) as unknown;
        expect(diffJson(left, right).length === 0).toBe(isDeepStrictEqual(left, right));
        expect(diffJson(left, structuredClone(left))).toEqual([]);
      }),
      { numRuns: 2_000 },
    );
  });

  it('property: with an ignore list, the diff is empty iff equal after removing the ignored fields', () => {
    const ignore = compileIgnoreList(['body.$.requestId', 'body.$.items[].ts']);
    const filter = (field: string) => ignore(`body.${field}`);
    const doc = fc.record({
      requestId: fc.string(),
      name: fc.oneof(fc.constant('a'), fc.constant('b')),
      items: fc.array(fc.record({ ts: fc.integer(), id: fc.integer({ min: 0, max: 2 }) }), { maxLength: 3 }),
    });
    const strip = (d: { name: string; items: Array<{ id: number }> }) => ({ name: d.name, items: d.items.map((i) => i.id) });
    fc.assert(
      fc.property(doc, doc, (a, b) => {
        expect(diffJson(a, b, filter).length === 0).toBe(isDeepStrictEqual(strip(a), strip(b)));
      }),
      { numRuns: 2_000 },
    );
  });
});

describe('diffResponses', () => {
  it('identical responses match', () => {
    const a = response(200, { ...JSON_HEADERS, date: 'Mon', 'x-request-id': '1' }, '{"a":1}');
    const b = response(200, { ...JSON_HEADERS, date: 'Tue', 'x-request-id': '2' }, '{"a":1}');
    expect(diffResponses(a, b, POLICY, NOTHING_IGNORED)).toEqual([]);
  });

  it('status, header and body differences, in that order', () => {
    const a = response(200, { ...JSON_HEADERS, 'cache-control': 'no-store' }, '{"a":1,"b":[1,2]}');
    const b = response(500, { ...JSON_HEADERS, 'cache-control': 'max-age=60' }, '{"a":1,"b":[1,3]}');
    expect(diffResponses(a, b, POLICY, NOTHING_IGNORED).map((d) => d.path)).toEqual(['status', 'headers.cache-control', 'body.$.b[1]']);
  });

  it('ignore list hides fields and whole subtrees', () => {
    const a = response(200, { ...JSON_HEADERS, etag: '"1"', 'x-trace': 'a' }, '{"requestId":"x","meta":{"t":1},"v":1}');
    const b = response(200, { ...JSON_HEADERS, etag: '"2"', 'x-trace': 'b' }, '{"requestId":"y","meta":{"t":2},"v":1}');
    expect(diffResponses(a, b, POLICY, compileIgnoreList(['headers.X-Trace', 'body.requestId', 'body.$.meta']))).toEqual([]);
  });

  it('include list compares only the named headers', () => {
    const a = response(200, { 'x-a': '1', 'x-b': '1' }, '');
    const b = response(200, { 'x-a': '2', 'x-b': '2' }, '');
    expect(diffResponses(a, b, createHeaderPolicy({ include: ['X-B'] }), NOTHING_IGNORED).map((d) => d.field)).toEqual(['headers.x-b']);
  });

  it('non-JSON bodies compare by length and hash', () => {
    const a = response(200, { 'content-type': 'text/html' }, '<p>a</p>');
    const b = response(200, { 'content-type': 'text/html' }, '<p>b</p>');
    const [difference] = diffResponses(a, b, POLICY, NOTHING_IGNORED);
    expect(difference.field).toBe('body');
    expect(difference.primary).toMatchObject({ length: 8 });
    expect(diffResponses(a, a, POLICY, NOTHING_IGNORED)).toEqual([]);
  });

  it('bodies over the capture cap compare by hash only', () => {
    const a = response(200, JSON_HEADERS, null, 5_000_000);
    const b = { ...a, bodySha256: 'different' };
    expect(diffResponses(a, b, POLICY, NOTHING_IGNORED).map((d) => d.field)).toEqual(['body']);
    expect(diffResponses(a, { ...a }, POLICY, NOTHING_IGNORED)).toEqual([]);
  });

  it('invalid JSON falls back to the hash', () => {
    const a = response(200, JSON_HEADERS, '{"a":');
    const b = response(200, JSON_HEADERS, '{"a":1}');
    expect(diffResponses(a, b, POLICY, NOTHING_IGNORED).map((d) => d.field)).toEqual(['body']);
  });
});

describe('normalizeIgnoreEntry', () => {
  it.each([
    ['headers.ETag', 'headers.etag'],
    ['body.requestId', 'body.$.requestId'],
    ['body.$.items[3].id', 'body.$.items[].id'],
    ['status', 'status'],
    ['body', 'body'],
  ])('%s → %s', (entry, normalized) => {
    expect(normalizeIgnoreEntry(entry)).toBe(normalized);
  });
});

describe('review regressions', () => {
  it('does not recurse past MAX_DEPTH: a 20 000-deep document is one difference, not a stack overflow', async () => {
    const { MAX_DEPTH, TOO_DEEP } = await import('../src/diff/json-diff.js');
    const deep = JSON.parse(`${'['.repeat(20_000)}1${']'.repeat(20_000)}`) as unknown;
    const other = JSON.parse(`${'['.repeat(20_000)}2${']'.repeat(20_000)}`) as unknown;
    const differences = diffJson(deep, other);
    expect(differences).toHaveLength(1);
    expect(differences[0]).toMatchObject({ primary: TOO_DEEP, field: `$${'[]'.repeat(MAX_DEPTH)}` });
  });

  it('compares gzip, br and deflate JSON bodies structurally', async () => {
    const { gzipSync, brotliCompressSync, deflateSync } = await import('node:zlib');
    const { decodeBody } = await import('../src/diff/response-diff.js');
    const text = '{"a":1}';
    for (const [encoding, encode] of [['gzip', gzipSync], ['br', brotliCompressSync], ['deflate', deflateSync]] as const) {
      expect(decodeBody(encode(Buffer.from(text)), encoding)?.toString()).toBe(text);
    }
    expect(decodeBody(Buffer.from('not gzip'), 'gzip')).toBeNull();
    expect(decodeBody(Buffer.from(text), 'zstd')).toBeNull();
    const primary = { ...response(200, { ...JSON_HEADERS, 'content-encoding': 'gzip' }, null), body: gzipSync('{"a":1,"b":2}') };
    const shadow = { ...response(200, { ...JSON_HEADERS, 'content-encoding': 'gzip' }, null), body: gzipSync('{"b":2,"a":3}'), bodySha256: 'other' };
    expect(diffResponses(primary, shadow, POLICY, NOTHING_IGNORED).map((d) => d.path)).toEqual(['body.$.a']);
  });
});

describe('review (issue 14): decode cap and redaction of stored diffs', () => {
  const GZIP_JSON = { ...JSON_HEADERS, 'content-encoding': 'gzip' };

  async function gzipped(text: string): Promise<CapturedResponse> {
    const { gzipSync } = await import('node:zlib');
    const body = gzipSync(text);
    return { status: 200, headers: GZIP_JSON, body, bodyLength: body.length, bodySha256: createHash('sha256').update(body).digest('hex') };
  }

  it('a body decoding past maxDecodedBytes is compared by length and SHA-256 of its encoded bytes', async () => {
    const big = (n: number) => JSON.stringify({ items: Array.from({ length: 2_000 }, (_, i) => ({ i, n })) });
    const primary = await gzipped(big(1));
    const shadow = await gzipped(big(2));
    const decoded = Buffer.byteLength(big(1));
    // Under the cap: structural, one difference per item (limit 200).
    expect(diffResponses(primary, shadow, POLICY, NOTHING_IGNORED, { maxDecodedBytes: decoded })[0].field).toBe('body.$.items[].n');
    // One byte over: not decoded, compared as sent.
    const capped = diffResponses(primary, shadow, POLICY, NOTHING_IGNORED, { maxDecodedBytes: decoded - 1 });
    expect(capped).toEqual([
      {
        field: 'body',
        path: 'body',
        primary: { length: primary.bodyLength, sha256: primary.bodySha256 },
        shadow: { length: shadow.bodyLength, sha256: shadow.bodySha256 },
      },
    ]);
    // Equal encoded bodies match, whatever their decoded size.
    expect(diffResponses(primary, await gzipped(big(1)), POLICY, NOTHING_IGNORED, { maxDecodedBytes: 10 })).toEqual([]);
  });

  it('a gzip bomb stops at the cap: decodeBody answers null, no large allocation', async () => {
    const { gzipSync } = await import('node:zlib');
    const { decodeBody } = await import('../src/diff/response-diff.js');
    const bomb = gzipSync(Buffer.alloc(16 * 1024 * 1024));
    expect(bomb.length).toBeLessThan(32 * 1024);
    expect(decodeBody(bomb, 'gzip', 1024 * 1024)).toBeNull();
    expect(decodeBody(Buffer.from('{"a":1}'), undefined, 3)).toBeNull();
  });

  it('redactQuery keeps parameter names and drops values', async () => {
    const { redactQuery } = await import('../src/diff/redact.js');
    expect(redactQuery('/api?token=abc&page=2')).toBe('/api?token=[redacted]&page=[redacted]');
    expect(redactQuery('/api?flag&x=&y=a=b')).toBe('/api?flag&x=[redacted]&y=[redacted]');
    expect(redactQuery('/api/plain')).toBe('/api/plain');
  });

  it('credential-like names are redacted: built-in parts, exact names, and * patterns from config', async () => {
    const { compileNameRedaction } = await import('../src/diff/redact.js');
    const redacted = compileNameRedaction(['x-tenant', 'x-internal-*', '*-sig']);
    for (const name of ['authorization', 'Proxy-Authorization', 'cookie', 'set-cookie', 'x-api-key', 'x-auth-token', 'sessionId', 'client_secret', 'password', 'x-tenant', 'x-internal-id', 'url-sig']) {
      expect(redacted(name), name).toBe(true);
    }
    for (const name of ['accept', 'content-type', 'x-request-id', 'page', 'x-tenants', 'sig-url']) expect(redacted(name), name).toBe(false);
  });

  it('lastPathName names the field a value belongs to', async () => {
    const { lastPathName } = await import('../src/diff/redact.js');
    expect(lastPathName('body.$.user.apiKey')).toBe('apiKey');
    expect(lastPathName('body.$.tokens[2]')).toBe('tokens');
    expect(lastPathName('body.$.a["x-token"][0]')).toBe('x-token');
    expect(lastPathName('body.$["a[b"].c["["]')).toBe('[');
    expect(lastPathName('headers.set-cookie')).toBe('set-cookie');
    expect(lastPathName('body.$[3]')).toBeNull();
    expect(lastPathName('status')).toBeNull();
  });

  it('stored differences redact credential fields and headers at any depth, and stay bounded', async () => {
    const { compareExchange, compileDiffSpec, createDiffSpec } = await import('../src/diff/compare.js');
    const spec = compileDiffSpec(
      createDiffSpec({ headerPolicy: createHeaderPolicy({ include: ['set-cookie', 'x-session', 'cache-control'] }), ignore: [], maxDecodedBytes: 1 << 20, redact: ['ssn'] }),
    );
    const primary = response(200, { ...JSON_HEADERS, 'set-cookie': 'sid=AAA', 'x-session': 's-1', 'cache-control': 'a' }, JSON.stringify({ apiKey: 'k1', ssn: '111', tokens: ['t1'], name: 'ann', long: 'x'.repeat(500) }));
    const shadow = response(
      200,
      { ...JSON_HEADERS, 'set-cookie': 'sid=BBB', 'x-session': 's-2', 'cache-control': 'b' },
      JSON.stringify({ apiKey: 'k2', ssn: '222', tokens: ['t2'], name: 'bob', long: 'y'.repeat(500), user: { auth: { secret: 'deep' }, id: 7 } }),
    );
    const { differences, noiseFields } = compareExchange({ primary, shadow, secondary: null }, spec);
    expect(noiseFields).toBeNull();
    const byPath = Object.fromEntries(differences.map((d) => [d.path, [d.primary, d.shadow]]));
    expect(byPath).toMatchObject({
      'headers.set-cookie': ['[redacted]', '[redacted]'],
      'headers.x-session': ['[redacted]', '[redacted]'],
      'headers.cache-control': ['a', 'b'],
      'body.$.apiKey': ['[redacted]', '[redacted]'],
      'body.$.ssn': ['[redacted]', '[redacted]'],
      'body.$.tokens[0]': ['[redacted]', '[redacted]'],
      'body.$.name': ['ann', 'bob'],
      'body.$.user': ['(absent)', '{"auth":"[redacted]","id":7}'],
    });
    expect(byPath['body.$.long'][0]).toMatch(/^x{200}… \(500 chars\)$/);
    expect(JSON.stringify(differences)).not.toMatch(/k1|k2|111|222|t1|t2|AAA|BBB|s-1|s-2|deep/);
  });

  it('storedValue leaves its own output unchanged, so values cut on the diff worker are stored as they are', async () => {
    const { storedValue } = await import('../src/diff/stored-value.js');
    for (const value of ['x'.repeat(300), { a: 'y'.repeat(400) }, 'short', 42, undefined, null]) {
      const once = storedValue(value);
      expect(storedValue(once)).toBe(once);
    }
    expect(storedValue('x'.repeat(300))).toMatch(/^x{200}… \(300 chars\)$/);
  });
});
