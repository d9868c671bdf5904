/**
 * The diff worker client (src/mirror/comparisons.ts) on its own: comparisons are answered by the worker thread,
 * the queue is bounded (beyond it a comparison is dropped, not queued), large bodies are transferred rather than
 * copied, and a stopped client drops what is pending and anything later.
 */
import { createHash } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { createDiffSpec } from '../src/diff/compare.js';
import { createHeaderPolicy, type CapturedResponse } from '../src/diff/response-diff.js';
import { Comparisons } from '../src/mirror/comparisons.js';

const SPEC = createDiffSpec({ headerPolicy: createHeaderPolicy(), ignore: [], maxDecodedBytes: 1 << 20, redact: [] });

function json(value: unknown, pad = 0): CapturedResponse {
  const body = Buffer.from(JSON.stringify({ value, pad: 'p'.repeat(pad) }));
  return { status: 200, headers: { 'content-type': 'application/json' }, body, bodyLength: body.length, bodySha256: createHash('sha256').update(body).digest('hex') };
}

const clients: Comparisons[] = [];
function client(options?: ConstructorParameters<typeof Comparisons>[0]): Comparisons {
  const created = new Comparisons(options);
  clients.push(created);
  return created;
}

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
});

describe('Comparisons (diff worker)', () => {
  it('answers differences computed on the worker, with noise fields from the second stable answer', async () => {
    const answer = await client().compare({ primary: json(1), shadow: json(2), secondary: json(1) }, SPEC);
    expect(answer).toEqual({ ok: true, result: { differences: [{ field: 'body.$.value', path: 'body.$.value', primary: '1', shadow: '2' }], noiseFields: [] } });
  });

  it('drops a comparison beyond maxPending instead of queueing it', async () => {
    const comparisons = client({ maxPending: 1 });
    const first = comparisons.compare({ primary: json(1), shadow: json(2), secondary: null }, SPEC);
    const second = await comparisons.compare({ primary: json(1), shadow: json(3), secondary: null }, SPEC);
    expect(second).toEqual({ ok: false, dropped: true, error: 'comparison queue full' });
    expect((await first).ok).toBe(true);
    expect(comparisons.pending).toBe(0);
    expect((await comparisons.compare({ primary: json(1), shadow: json(4), secondary: null }, SPEC)).ok).toBe(true);
  });

  it('bounds the bytes waiting, but always admits one comparison', async () => {
    const comparisons = client({ maxPendingBytes: 10_000 });
    const first = comparisons.compare({ primary: json(1, 20_000), shadow: json(2, 20_000), secondary: null }, SPEC);
    const second = await comparisons.compare({ primary: json(1), shadow: json(2), secondary: null }, SPEC);
    expect(second).toMatchObject({ ok: false, dropped: true });
    expect((await first).ok).toBe(true);
  });

  it('transfers large bodies to the worker (the sender keeps a detached, empty view), copies small pooled ones', async () => {
    const primary = json(1, 100_000);
    const small = Buffer.from('{"value":2}');
    const shadow: CapturedResponse = { ...json(2), body: small, bodyLength: small.length };
    expect(small.buffer.byteLength).toBeGreaterThan(small.length); // a slice of Node's pool
    const answer = client().compare({ primary, shadow, secondary: null }, SPEC);
    expect(primary.body!.byteLength).toBe(0);
    expect(small.toString()).toBe('{"value":2}');
    expect((await answer).ok).toBe(true);
  });

  it('once closed, drops what is pending and every later comparison', async () => {
    const comparisons = client();
    const pending = comparisons.compare({ primary: json(1), shadow: json(2), secondary: null }, SPEC);
    await comparisons.close();
    expect(await pending).toMatchObject({ ok: false, dropped: true });
    expect(await comparisons.compare({ primary: json(1), shadow: json(2), secondary: null }, SPEC)).toMatchObject({ ok: false, dropped: true });
  });
});
