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
