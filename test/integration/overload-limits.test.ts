/**
 * Client-side overload limits (issue 17): a slowloris client is closed by the headers timeout, connections beyond
 * `limits.maxConnections` are closed at once, oversized or too many headers get 431, a body above
 * `limits.maxBodyBytes` gets 413 (announced or chunked), and each refusal is counted by reason in
 * splitgate_client_rejections_total. The proxy serves normally afterwards.
 */
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { send, waitFor } from '../helpers/http.js';
import { parsePrometheus, sampleValue } from '../helpers/prometheus.js';
import { rawExchange } from '../helpers/raw-client.js';
import { startRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';
import { startSplitgate, type StartedSplitgate } from '../helpers/splitgate.js';

let upstream: RecordingUpstream;
let proxy: StartedSplitgate;
let crowded: StartedSplitgate;

beforeAll(async () => {
  upstream = await startRecordingUpstream();
  const base = { upstreams: { stable: upstream.url }, routes: [{ name: 'app', stable: 'stable' }], log: { level: 'silent' } };
  proxy = await startSplitgate({
    ...base,
    limits: { headersTimeout: '2s', maxHeaderBytes: 4096, maxHeaderCount: 20, maxBodyBytes: 1000 },
  });
  crowded = await startSplitgate({ ...base, limits: { maxConnections: 5 } });
});

afterAll(async () => {
  await proxy?.stop();
  await crowded?.stop();
  await upstream?.close();
});

async function rejections(adminUrl: string, reason: string): Promise<number> {
  const metrics = parsePrometheus((await send(adminUrl, '/metrics')).text);
  return sampleValue(metrics, 'splitgate_client_rejections_total', { reason }) ?? 0;
}

function open(url: string): Promise<Socket> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => resolve(socket));
    socket.on('error', reject);
  });
}

function closedWithin(socket: Socket, ms: number): Promise<{ closed: boolean; data: string }> {
  return new Promise((resolve) => {
    let data = '';
    socket.on('data', (chunk: Buffer) => (data += chunk.toString('latin1')));
    const timer = setTimeout(() => resolve({ closed: false, data }), ms);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ closed: true, data });
    });
  });
}

describe('overload limits', () => {
  it('closes a slowloris client (a header byte a second) with 408 once limits.headersTimeout (2 s) has passed', async () => {
    const before = await rejections(proxy.adminUrl, 'request_timeout');
    const socket = await open(proxy.url);
    socket.on('error', () => {});
    socket.write('GET /slow HTTP/1.1\r\nHost: app\r\nX-Slow: ');
    const drip = setInterval(() => socket.writable && socket.write('a'), 1_000);
    const started = Date.now();
    // Timeout (2 s) plus node:http's check interval (1 s) plus slack for a busy machine.
    const outcome = await closedWithin(socket, 8_000);
    clearInterval(drip);
    socket.destroy();
    expect(outcome.closed).toBe(true);
    expect(outcome.data).toMatch(/^HTTP\/1\.1 408 /);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1_900);
    expect(upstream.requests.some((r) => r.target === '/slow')).toBe(false);
    expect(await rejections(proxy.adminUrl, 'request_timeout')).toBe(before + 1);
  });

  it('closes a connection that sends nothing at all after limits.headersTimeout', async () => {
    const socket = await open(proxy.url);
    socket.on('error', () => {});
    const outcome = await closedWithin(socket, 8_000);
    socket.destroy();
    expect(outcome.closed).toBe(true);
  });

  it('answers 431 to a header section above limits.maxHeaderBytes, counted header_too_large', async () => {
    const before = await rejections(proxy.adminUrl, 'header_too_large');
    const reply = await rawExchange(proxy.url, `GET /big HTTP/1.1\r\nHost: app\r\nX-Big: ${'a'.repeat(5000)}\r\n\r\n`);
    expect(reply.responses.map((r) => r.status)).toEqual([431]);
    expect(reply.closed).toBe(true);
    expect(await rejections(proxy.adminUrl, 'header_too_large')).toBe(before + 1);
    // Just under the limit passes.
    const fits = await rawExchange(proxy.url, `GET /fits HTTP/1.1\r\nHost: app\r\nConnection: close\r\nX-Big: ${'a'.repeat(3500)}\r\n\r\n`);
    expect(fits.responses.map((r) => r.status)).toEqual([200]);
  });

  it('answers 431 SG_TOO_MANY_HEADERS above limits.maxHeaderCount without forwarding, and passes a request at the limit', async () => {
    const before = await rejections(proxy.adminUrl, 'too_many_headers');
    const fields = (n: number): string => Array.from({ length: n }, (_, i) => `X-F${i}: ${i}\r\n`).join('');
    // Host and Connection are two of the fields.
    const over = await rawExchange(proxy.url, `GET /many HTTP/1.1\r\nHost: app\r\nConnection: close\r\n${fields(19)}\r\n`);
    expect(over.responses.map((r) => r.status)).toEqual([431]);
    expect(over.responses[0].body).toContain('"code":"SG_TOO_MANY_HEADERS"');
    expect(upstream.requests.some((r) => r.target === '/many')).toBe(false);
    expect(await rejections(proxy.adminUrl, 'too_many_headers')).toBe(before + 1);
    const at = await rawExchange(proxy.url, `GET /enough HTTP/1.1\r\nHost: app\r\nConnection: close\r\n${fields(18)}\r\n`);
    expect(at.responses.map((r) => r.status)).toEqual([200]);
    const seen = upstream.requests.find((r) => r.target === '/enough');
    expect(seen?.headers.filter(([name]) => /^x-f\d+$/.test(name))).toHaveLength(18);
  });

  it('answers 413 SG_BODY_TOO_LARGE to an announced Content-Length above limits.maxBodyBytes before forwarding anything', async () => {
    const before = await rejections(proxy.adminUrl, 'body_too_large');
    // Only the head: the answer comes before the body is sent, and the connection closes (the body is never read).
    const reply = await rawExchange(proxy.url, 'POST /upload HTTP/1.1\r\nHost: app\r\nContent-Length: 5000\r\n\r\n');
    expect(reply.responses.map((r) => r.status)).toEqual([413]);
    expect(reply.responses[0].body).toContain('"code":"SG_BODY_TOO_LARGE"');
    expect(reply.closed).toBe(true);
    expect(upstream.requests.some((r) => r.target === '/upload')).toBe(false);
    expect(await rejections(proxy.adminUrl, 'body_too_large')).toBe(before + 1);
  });

  it('answers 413 to a chunked body once it passes limits.maxBodyBytes, and the upstream never gets a complete request', async () => {
    const before = await rejections(proxy.adminUrl, 'body_too_large');
    const chunk = 'b'.repeat(600);
    const reply = await rawExchange(proxy.url, [
      'POST /chunked HTTP/1.1\r\nHost: app\r\nTransfer-Encoding: chunked\r\n\r\n',
      `258\r\n${chunk}\r\n`,
      `258\r\n${chunk}\r\n`,
    ], { pauseMs: 50, timeoutMs: 5_000 });
    expect(reply.responses.map((r) => r.status)).toEqual([413]);
    expect(reply.closed).toBe(true);
    expect(upstream.requests.some((r) => r.target === '/chunked')).toBe(false);
    expect(upstream.violations).toEqual([]);
    expect(await rejections(proxy.adminUrl, 'body_too_large')).toBe(before + 1);
  });

  it('passes bodies within limits.maxBodyBytes, announced or chunked', async () => {
    const body = 'c'.repeat(1000);
    const announced = await send(proxy.url, '/ok-cl', { method: 'POST', body });
    expect(announced.status).toBe(200);
    const chunked = await rawExchange(proxy.url, `POST /ok-chunked HTTP/1.1\r\nHost: app\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n3e8\r\n${body}\r\n0\r\n\r\n`);
    expect(chunked.responses.map((r) => r.status)).toEqual([200]);
    expect(upstream.requests.find((r) => r.target === '/ok-chunked')?.body.toString()).toBe(body);
  });

  it('closes connections beyond limits.maxConnections at once, counts them, and accepts again once one closes', async () => {
    const before = await rejections(crowded.adminUrl, 'connection_limit');
    const held = await Promise.all(Array.from({ length: 5 }, () => open(crowded.url)));
    // node:http counts a connection once it has accepted it: give the last accepts a moment.
    await new Promise((r) => setTimeout(r, 100));
    const extra = await rawExchange(crowded.url, 'GET /extra HTTP/1.1\r\nHost: app\r\n\r\n', { timeoutMs: 3_000 });
    expect(extra.closed).toBe(true);
    expect(extra.responses).toEqual([]);
    expect(await rejections(crowded.adminUrl, 'connection_limit')).toBe(before + 1);
    held[0].destroy();
    await waitFor('a freed connection slot', async () => {
      const next = await rawExchange(crowded.url, 'GET /next HTTP/1.1\r\nHost: app\r\nConnection: close\r\n\r\n', { timeoutMs: 3_000 });
      return next.responses[0]?.status === 200;
    });
    for (const socket of held) socket.destroy();
  });
});
