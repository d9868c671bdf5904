/**
 * What the shadow receives: only the methods the route lists (safe ones by default), the request body byte for
 * byte (with a length or chunked), nothing above `maxBodyBytes` (while the primary still gets all of it), and the
 * client's headers with the Host kept (or suffixed), `x-splitgate-shadow: 1` added and client `x-splitgate-*` removed.
 */
import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { send, waitFor } from '../helpers/http.js';
import { recordingHandler, settled, sha256, summaryOf, waitForSummary, type ReceivedRequest } from '../helpers/mirror.js';
import { startSplitgate, type StartedSplitgate } from '../helpers/splitgate.js';
import { startUpstream, type TestUpstream } from '../helpers/upstreams.js';

const MAX_BODY = 64 * 1024;

const atPrimary: ReceivedRequest[] = [];
const atShadow: ReceivedRequest[] = [];
let stable: TestUpstream;
let shadow: TestUpstream;
let proxy: StartedSplitgate;

beforeAll(async () => {
  stable = await startUpstream('stable', recordingHandler(atPrimary));
  shadow = await startUpstream('shadow', recordingHandler(atShadow));
  proxy = await startSplitgate({
    log: { level: 'warn' },
    upstreams: { stable: stable.url, shadow: shadow.url },
    routes: [
      { name: 'safe', match: { pathPrefix: '/safe' }, stable: 'stable', mirror: { to: 'shadow', percent: 100 } },
      {
        name: 'writes',
        match: { pathPrefix: '/writes' },
        stable: 'stable',
        mirror: { to: 'shadow', percent: 100, methods: ['GET', 'POST'], maxBodyBytes: MAX_BODY },
      },
      { name: 'suffix', match: { pathPrefix: '/suffix' }, stable: 'stable', mirror: { to: 'shadow', percent: 100, hostSuffix: '.shadow' } },
    ],
  });
});

afterAll(async () => {
  await proxy?.stop();
  await stable?.close();
  await shadow?.close();
});

interface Reply {
  status: number;
  json: { url: string; bytes: number; sha256: string };
}

/** A POST with no content-length: node sends it chunked, one chunk per write, `pauseMs` apart. */
function postChunked(path: string, chunks: readonly Buffer[], pauseMs = 15): Promise<Reply> {
  const url = new URL(proxy.url);
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, method: 'POST', path, agent: false, headers: { 'content-type': 'application/octet-stream' } });
    req.on('error', reject);
    req.on('response', (res) => {
      const received: Buffer[] = [];
      res.on('data', (chunk: Buffer) => received.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(Buffer.concat(received).toString('utf8')) }));
      res.on('error', reject);
    });
    void (async () => {
      for (const chunk of chunks) {
        req.write(chunk);
        await new Promise((r) => setTimeout(r, pauseMs));
      }
      req.end();
    })();
  });
}

async function post(path: string, body: Buffer): Promise<Reply> {
  const response = await send(proxy.url, path, { method: 'POST', body, headers: { 'content-type': 'application/octet-stream', 'content-length': body.length } });
  return { status: response.status, json: response.json() };
}

/**
 * Proves a copy was NOT sent for `path`: a GET sent after it on the same route is mirrored, and once that copy has
 * arrived (copies leave in order, on the same pool) nothing for `path` has. Returns once the sentinel's comparison
 * is counted too (comparisons finish on the diff worker, after the copy), so the next test reads settled counts.
 */
async function expectNoCopy(routePrefix: string, path: string): Promise<void> {
  const route = routePrefix.slice(1);
  const before = settled(await summaryOf(proxy.adminUrl, route));
  const sentinel = `${routePrefix}/sentinel-${randomBytes(4).toString('hex')}`;
  expect((await send(proxy.url, sentinel)).status).toBe(200);
  await waitFor(`the copy of ${sentinel}`, () => atShadow.some((r) => r.url === sentinel));
  expect(atShadow.filter((r) => r.url === path)).toEqual([]);
  await waitForSummary(proxy.adminUrl, route, `the comparison of ${sentinel}`, (s) => settled(s) >= before + 1);
}

/** Waits until the shadow got `path`, and returns what it got. */
async function copyOf(path: string): Promise<ReceivedRequest> {
  await waitFor(`the copy of ${path}`, () => atShadow.some((r) => r.url === path));
  const copies = atShadow.filter((r) => r.url === path);
  expect(copies).toHaveLength(1);
  return copies[0];
}

describe('methods', () => {
  it('POST is not mirrored by default: counted skipped_method, never sent', async () => {
    const body = Buffer.from('{"order":1}');
    const reply = await post('/safe/orders', body);
    expect(reply).toEqual({ status: 200, json: { url: '/safe/orders', bytes: body.length, sha256: sha256(body) } });
    expect((await summaryOf(proxy.adminUrl, 'safe')).outcomes.skipped_method).toBe(1);
    await expectNoCopy('/safe', '/safe/orders');
  });

  it('GET and HEAD are mirrored by default', async () => {
    const before = await summaryOf(proxy.adminUrl, 'safe');
    expect((await send(proxy.url, '/safe/page')).status).toBe(200);
    expect((await send(proxy.url, '/safe/page', { method: 'HEAD' })).status).toBe(200);
    const after = await waitForSummary(proxy.adminUrl, 'safe', 'two copies', (s) => s.outcomes.match === before.outcomes.match + 2);
    expect(after.outcomes.skipped_method).toBe(before.outcomes.skipped_method);
    expect(atShadow.filter((r) => r.url === '/safe/page').map((r) => r.method)).toEqual(['GET', 'HEAD']);
  });

  it('with methods [GET, POST] a POST is mirrored with its body intact', async () => {
    const body = randomBytes(10_000);
    const before = await summaryOf(proxy.adminUrl, 'writes');
    const reply = await post('/writes/sized', body);
    expect(reply).toEqual({ status: 200, json: { url: '/writes/sized', bytes: body.length, sha256: sha256(body) } });
    const copy = await copyOf('/writes/sized');
    expect(copy.method).toBe('POST');
    expect(copy.body.equals(body)).toBe(true);
    expect(copy.headers['content-type']).toBe('application/octet-stream');
    // Both answered with the digest of what they got: the same bytes, so the comparison matches.
    await waitForSummary(proxy.adminUrl, 'writes', 'the comparison', (s) => s.outcomes.match === before.outcomes.match + 1);
  });

  it('a chunked POST body (no content-length, several writes) is mirrored intact', async () => {
    const chunks = [randomBytes(8_000), randomBytes(1), randomBytes(12_345), randomBytes(4_096)];
    const whole = Buffer.concat(chunks);
    const reply = await postChunked('/writes/chunked', chunks);
    expect(reply).toEqual({ status: 200, json: { url: '/writes/chunked', bytes: whole.length, sha256: sha256(whole) } });
    const primary = atPrimary.find((r) => r.url === '/writes/chunked')!;
    expect(primary.headers['transfer-encoding']).toBe('chunked');
    const copy = await copyOf('/writes/chunked');
    expect(copy.method).toBe('POST');
    expect(sha256(copy.body)).toBe(sha256(whole));
    expect(copy.body.length).toBe(whole.length);
  });
});

describe('maxBodyBytes', () => {
  it('a body over the cap with content-length is not mirrored (skipped_body); the primary gets all of it', async () => {
    const body = randomBytes(MAX_BODY + 1);
    const before = await summaryOf(proxy.adminUrl, 'writes');
    const reply = await post('/writes/big-sized', body);
    expect(reply).toEqual({ status: 200, json: { url: '/writes/big-sized', bytes: body.length, sha256: sha256(body) } });
    expect((await summaryOf(proxy.adminUrl, 'writes')).outcomes.skipped_body).toBe(before.outcomes.skipped_body + 1);
    await expectNoCopy('/writes', '/writes/big-sized');
  });

  it('a chunked body that grows over the cap is not mirrored (skipped_body); the primary gets all of it', async () => {
    const chunks = Array.from({ length: 5 }, () => randomBytes(16 * 1024));
    const whole = Buffer.concat(chunks);
    expect(whole.length).toBeGreaterThan(MAX_BODY);
    const before = await summaryOf(proxy.adminUrl, 'writes');
    const reply = await postChunked('/writes/big-chunked', chunks);
    expect(reply).toEqual({ status: 200, json: { url: '/writes/big-chunked', bytes: whole.length, sha256: sha256(whole) } });
    const after = await waitForSummary(proxy.adminUrl, 'writes', 'skipped_body', (s) => s.outcomes.skipped_body === before.outcomes.skipped_body + 1);
    expect(after.inFlight).toBe(0);
    await expectNoCopy('/writes', '/writes/big-chunked');
  });

  it('a body of exactly maxBodyBytes is still mirrored', async () => {
    const body = randomBytes(MAX_BODY);
    await post('/writes/at-cap', body);
    expect((await copyOf('/writes/at-cap')).body.equals(body)).toBe(true);
  });
});

describe('shadow request headers', () => {
  it('carry x-splitgate-shadow: 1 and the original Host; client x-splitgate-* headers are stripped', async () => {
    const response = await send(proxy.url, '/safe/headers', {
      headers: {
        host: 'api.example.com',
        'x-splitgate-shadow': 'forged',
        'x-splitgate-version': 'canary',
        'x-splitgate-debug': 'yes',
        'x-user': 'u1',
      },
    });
    expect(response.status).toBe(200);
    const copy = await copyOf('/safe/headers');
    expect(copy.headers.host).toBe('api.example.com');
    expect(copy.headers['x-splitgate-shadow']).toBe('1');
    expect(copy.headers['x-splitgate-version']).toBe('shadow');
    expect(copy.headers['x-splitgate-debug']).toBeUndefined();
    expect(copy.headers['x-user']).toBe('u1');
    const raw = shadow.seen.find((r) => r.url === '/safe/headers')!.rawHeaders;
    expect(raw.filter((_, i) => i % 2 === 0 && raw[i].toLowerCase() === 'x-splitgate-shadow')).toHaveLength(1);
    // The primary request is not marked as a copy.
    const primary = atPrimary.find((r) => r.url === '/safe/headers')!;
    expect(primary.headers['x-splitgate-shadow']).toBeUndefined();
    expect(primary.headers['x-splitgate-version']).toBe('stable');
    expect(primary.headers.host).toBe('api.example.com');
  });

  it('hostSuffix is appended to the shadow Host only', async () => {
    await send(proxy.url, '/suffix/plain', { headers: { host: 'api.example.com' } });
    expect((await copyOf('/suffix/plain')).headers.host).toBe('api.example.com.shadow');
    expect(atPrimary.find((r) => r.url === '/suffix/plain')!.headers.host).toBe('api.example.com');
  });

  it('hostSuffix goes on the host name, before a port', async () => {
    await send(proxy.url, '/suffix/port', { headers: { host: 'api.example.com:8443' } });
    expect((await copyOf('/suffix/port')).headers.host).toBe('api.example.com.shadow:8443');
    expect(atPrimary.find((r) => r.url === '/suffix/port')!.headers.host).toBe('api.example.com:8443');
  });
});

describe('counts', () => {
  it('every mirrored request of these routes settled, none is left in flight', async () => {
    for (const route of ['safe', 'writes', 'suffix']) {
      const summary = await waitForSummary(proxy.adminUrl, route, 'nothing in flight', (s) => s.inFlight === 0);
      expect(summary.outcomes.shadow_error + summary.outcomes.shadow_timeout + summary.outcomes.primary_error).toBe(0);
      expect(settled(summary)).toBeGreaterThan(0);
    }
  });
});
