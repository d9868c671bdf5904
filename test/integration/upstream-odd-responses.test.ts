/**
 * Upstream responses that are legal, or at least common, but odd: a reason phrase node:http cannot write, a 204 or
 * 304 whose head announces a length (or is followed by bytes), repeated Connection lines, a response cut short
 * after its head with the access log sampled to nothing, and a 100 Continue nobody asked for. Each used to cost
 * the client (a hang, a cut response, a leaked field) or the canary (an ejection, a replay), or a log line.
 * The upstreams are raw TCP servers writing exactly the bytes under test, chosen by the path's `/c/<case>`.
 */
import type { Socket } from 'node:net';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ACCESS_LOG_DELAY_MS } from '../../src/log.js';
import { send, waitFor } from '../helpers/http.js';
import { parsePrometheus, sampleValue } from '../helpers/prometheus.js';
import { rawExchange } from '../helpers/raw-client.js';
import { startRawUpstream } from '../helpers/raw-upstream.js';
import { routeStatus } from '../helpers/rollout.js';
import { startSplitgate, type StartedSplitgate } from '../helpers/splitgate.js';

const R = (text: string): Buffer => Buffer.from(text, 'latin1');

/** The upstream's answer to each case, byte for byte (keep-alive unless the case closes). */
const CASES: Record<string, (socket: Socket) => void> = {
  ok: (s) => s.write(R('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok')),
  reason_latin1: (s) => s.write(R('HTTP/1.1 200 \xc7a va\r\nContent-Length: 2\r\n\r\nok')),
  reason_utf8: (s) => s.write(Buffer.concat([R('HTTP/1.1 200 '), Buffer.from('Ωk', 'utf8'), R('\r\nContent-Length: 2\r\n\r\nok')])),
  reason_ctl: (s) => s.write(R('HTTP/1.1 200 O\x01K\r\nContent-Length: 2\r\n\r\nok')),
  reason_ctl_503: (s) => s.write(R('HTTP/1.1 503 O\x01K\r\nContent-Length: 4\r\n\r\nbusy')),
  reason_unknown_code: (s) => s.write(R('HTTP/1.1 299 \xc7a\r\nContent-Length: 2\r\n\r\nok')),
  no_reason_unknown_code: (s) => s.write(R('HTTP/1.1 299\r\nContent-Length: 2\r\n\r\nok')),
  no_reason_known_code: (s) => s.write(R('HTTP/1.1 202 \r\nContent-Length: 2\r\n\r\nok')),
  reason_obs_text: (s) => s.write(R('HTTP/1.1 200 Tr\xe8s bien\r\nContent-Length: 2\r\n\r\nok')),
  s304cl: (s) => s.write(R('HTTP/1.1 304 Not Modified\r\nContent-Length: 1234\r\nETag: "a"\r\n\r\n')),
  s204cl: (s) => s.write(R('HTTP/1.1 204 No Content\r\nContent-Length: 5\r\nX-Kept: yes\r\n\r\n')),
  s204body: (s) => s.write(R('HTTP/1.1 204 No Content\r\nContent-Length: 5\r\nX-Kept: yes\r\n\r\nhello')),
  s304body: (s) => s.write(R('HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\nETag: "b"\r\n\r\nhello')),
  s204body_nocl: (s) => s.write(R('HTTP/1.1 204 No Content\r\nX-Kept: yes\r\n\r\nhello')),
  hop_multi_conn: (s) => s.write(R('HTTP/1.1 200 OK\r\nConnection: X-Secret\r\nConnection: keep-alive\r\nX-Secret: s\r\nX-Keep: k\r\nContent-Length: 2\r\n\r\nok')),
  hop_multi_conn_list: (s) =>
    s.write(R('HTTP/1.1 200 OK\r\nConnection: keep-alive, X-One\r\nX-One: 1\r\nX-Two: 2\r\nConnection: X-Two\r\nX-Keep: k\r\nContent-Length: 2\r\n\r\nok')),
  short_close: (s) => {
    s.write(R('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nhello'));
    setTimeout(() => s.end(), 50);
  },
  short_rst: (s) => {
    s.write(R('HTTP/1.1 206 Partial Content\r\nContent-Length: 100\r\n\r\nhello'));
    setTimeout(() => s.resetAndDestroy(), 50);
  },
  s100: (s) => s.write(R('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok')),
  early_hints: (s) =>
    s.write(R('HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload; as=style\r\nConnection: X-Hop\r\nX-Hop: h\r\nConstructor: c\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok')),
  huge_head: (s) => s.write(R(`HTTP/1.1 200 OK\r\nX-Big: ${'b'.repeat(20_000)}\r\nContent-Length: 2\r\n\r\nok`)),
  processing: (s) => s.write(R('HTTP/1.1 102 Processing\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok')),
  // gzip("hi") inside chunked framing: undici undoes the chunking only.
  te_gzip: (s) => {
    const coded = gzipSync('hi');
    s.write(Buffer.concat([R(`HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n${coded.length.toString(16)}\r\n`), coded, R('\r\n0\r\n\r\n')]));
  },
};

interface ScriptedUpstream {
  readonly url: string;
  /** Requests received, by case. */
  readonly received: Map<string, number>;
  close(): Promise<void>;
}

/** Serves every request of a connection (bodiless requests only), answering as its path's case says. */
async function startScriptedUpstream(): Promise<ScriptedUpstream> {
  const received = new Map<string, number>();
  const upstream = await startRawUpstream(({ head, socket }) => {
    const name = /\/c\/(\w+)/.exec(head.split('\r\n')[0])?.[1] ?? 'ok';
    received.set(name, (received.get(name) ?? 0) + 1);
    (CASES[name] ?? CASES.ok)(socket);
  });
  return { url: upstream.url, received, close: () => upstream.close() };
}

function get(path: string, requestId: string, extra = ''): string {
  return `GET ${path} HTTP/1.1\r\nHost: odd.test\r\nX-Request-Id: ${requestId}\r\n${extra}\r\n`;
}

async function metric(sg: StartedSplitgate, name: string, labels: Record<string, string>): Promise<number> {
  const res = await send(sg.adminUrl, '/metrics');
  return sampleValue(parsePrometheus(res.text), name, labels) ?? 0;
}

let stable: ScriptedUpstream;
let canary: ScriptedUpstream;
let sg: StartedSplitgate;
/** Access log sampled to nothing: only what `errors: true` keeps is written. */
let sampled: StartedSplitgate;

beforeAll(async () => {
  stable = await startScriptedUpstream();
  canary = await startScriptedUpstream();
  const upstreams = { stable: stable.url, canary: canary.url };
  sg = await startSplitgate({
    upstreams,
    routes: [
      {
        name: 'conditional',
        match: { pathPrefix: '/conditional' },
        stable: 'stable',
        canary: 'canary',
        weight: 100,
        // 3 failures in a row would eject it: five 304s must not.
        outlier: { consecutive5xx: 3, baseEjectionTime: '30s', interval: '1m' },
        retry: false,
      },
      {
        name: 'replayable',
        match: { pathPrefix: '/replayable' },
        stable: 'stable',
        canary: 'canary',
        weight: 100,
        outlier: false,
        retry: { on: ['reset-before-response'], minRetryConcurrency: 10 },
      },
      { name: 'plain', match: { pathPrefix: '/' }, stable: 'stable' },
    ],
  });
  sampled = await startSplitgate({
    log: { level: 'info', accessLog: { enabled: true, sample: 0, errors: true } },
    upstreams,
    routes: [{ name: 'plain', match: { pathPrefix: '/' }, stable: 'stable' }],
  });
});

afterAll(async () => {
  await Promise.all([sg?.stop(), sampled?.stop()]);
  await Promise.all([stable?.close(), canary?.close()]);
});

describe('a reason phrase node:http cannot write', () => {
  it.each([
    ['reason_latin1', 'latin1 obs-text (undici decodes it as UTF-8)'],
    ['reason_utf8', 'UTF-8 text'],
    ['reason_ctl', 'a control character'],
  ])('%s: relays the 200 and its body with the standard reason phrase (%s)', async (name) => {
    const reply = await rawExchange(sg.url, get(`/c/${name}`, `reason-${name}`), { responses: 1, timeoutMs: 3_000 });
    expect(reply.timedOut).toBe(false);
    expect(reply.responses).toHaveLength(1);
    expect(reply.responses[0].head.split('\r\n')[0]).toBe('HTTP/1.1 200 OK');
    expect(reply.responses[0].body).toBe('ok');
    expect(await sg.accessLogLine(`reason-${name}`)).toMatchObject({ status: 200, route: 'plain' });
    expect((await sg.accessLogLine(`reason-${name}`))?.error).toBeUndefined();
  });

  it('keeps the upstream status: a 503 stays a 503, a code without a standard phrase gets none', async () => {
    const busy = await rawExchange(sg.url, get('/c/reason_ctl_503', 'reason-503'), { responses: 1, timeoutMs: 3_000 });
    expect(busy.responses[0].head.split('\r\n')[0]).toBe('HTTP/1.1 503 Service Unavailable');
    expect(busy.responses[0].body).toBe('busy');
    const unknown = await rawExchange(sg.url, get('/c/reason_unknown_code', 'reason-299'), { responses: 1, timeoutMs: 3_000 });
    expect(unknown.responses[0].head.split('\r\n')[0]).toBe('HTTP/1.1 299 ');
    expect(unknown.responses[0].body).toBe('ok');
  });

  it('an upstream status line without a reason phrase: the standard one, or none (never an invented "unknown")', async () => {
    const unknown = await rawExchange(sg.url, get('/c/no_reason_unknown_code', 'no-reason-299', 'Connection: close\r\n'), { timeoutMs: 3_000 });
    expect(unknown.text.split('\r\n')[0]).toBe('HTTP/1.1 299 ');
    const known = await rawExchange(sg.url, get('/c/no_reason_known_code', 'no-reason-202', 'Connection: close\r\n'), { timeoutMs: 3_000 });
    expect(known.text.split('\r\n')[0]).toBe('HTTP/1.1 202 Accepted');
  });

  it('relays a reason phrase node:http can write (latin1 obs-text that is valid UTF-8 is not)', async () => {
    const reply = await rawExchange(sg.url, get('/c/reason_obs_text', 'reason-obs'), { responses: 1, timeoutMs: 3_000 });
    // undici decodes \xe8 alone as U+FFFD: not writable, so the standard phrase.
    expect(reply.responses[0].head.split('\r\n')[0]).toBe('HTTP/1.1 200 OK');
  });

  it('leaves nothing in flight: a drain after such requests completes at once', async () => {
    await Promise.all(['reason_latin1', 'reason_utf8', 'reason_ctl'].map((name, i) => rawExchange(sg.url, get(`/c/${name}`, `drain-${i}`), { responses: 1, timeoutMs: 3_000 })));
    await waitFor('no exchange in flight', () => sg.splitgate.service.inFlight === 0, 2_000);
    const idle = await Promise.race([sg.splitgate.service.idle().then(() => 'idle'), new Promise((resolve) => setTimeout(resolve, 1_000, 'waiting'))]);
    expect(idle).toBe('idle');
  });
});

describe('204 and 304 responses with a Content-Length, or bytes after the head', () => {
  it.each([
    ['s304cl', 304, 'etag: "a"'],
    ['s204cl', 204, 'x-kept: yes'],
    ['s204body', 204, 'x-kept: yes'],
    ['s304body', 304, 'etag: "b"'],
    ['s204body_nocl', 204, 'x-kept: yes'],
  ])('%s: the client gets the head as the whole response, and its connection serves the next request', async (name, status, field) => {
    const reply = await rawExchange(sg.url, [get(`/c/${name}`, `bodiless-${name}`, 'If-None-Match: "a"\r\n'), get('/c/ok', `after-${name}`)], {
      responses: 2,
      pauseMs: 300,
      timeoutMs: 3_000,
    });
    expect(reply.closed).toBe(false);
    expect(reply.responses.map((r) => r.status)).toEqual([status, 200]);
    expect(reply.responses[0].head.toLowerCase()).toContain(field);
    expect(reply.responses[1].body).toBe('ok');
    // Nothing of the upstream's stray bytes reached the client; a 204 announces no length (RFC 9110 §8.6), a 304 keeps its own.
    expect(reply.text).not.toContain('hello');
    expect(/\r\ncontent-length:/i.test(reply.responses[0].head)).toBe(status === 304);
    const line = await sg.accessLogLine(`bodiless-${name}`);
    expect(line).toMatchObject({ status, route: 'plain' });
    expect(line?.error).toBeUndefined();
  });

  it('counts no upstream error for them', async () => {
    await send(sg.url, '/c/s304cl');
    expect(await metric(sg, 'splitgate_upstream_errors_total', { route: 'plain', version: 'stable', kind: 'protocol' })).toBe(0);
  });

  it('a canary answering conditional GETs 304 with a Content-Length is not ejected', async () => {
    for (let i = 0; i < 6; i++) {
      const res = await send(sg.url, '/conditional/c/s304cl', { headers: { 'if-none-match': '"a"', 'x-request-id': `conditional-${i}` } });
      expect(res.status).toBe(304);
      expect(res.headers.etag).toBe('"a"');
    }
    expect((await routeStatus(sg.adminUrl, 'conditional')).outlier).toMatchObject({ ejected: false, ejections: 0 });
    const last = await sg.accessLogLine('conditional-5');
    expect(last).toMatchObject({ version: 'canary', reason: 'weight', status: 304 });
    expect(last?.error).toBeUndefined();
    expect(await metric(sg, 'splitgate_upstream_errors_total', { route: 'conditional', version: 'canary', kind: 'protocol' })).toBe(0);
  });
});

describe('Connection named on several lines', () => {
  it('drops every field any Connection line names', async () => {
    const one = await send(sg.url, '/c/hop_multi_conn');
    expect(one.headers['x-secret']).toBeUndefined();
    expect(one.headers['x-keep']).toBe('k');
    const two = await send(sg.url, '/c/hop_multi_conn_list');
    expect(two.headers['x-one']).toBeUndefined();
    expect(two.headers['x-two']).toBeUndefined();
    expect(two.headers['x-keep']).toBe('k');
  });
});

describe('access log sampled to nothing, errors: true', () => {
  it.each([
    ['short_close', 200],
    ['short_rst', 206],
  ])('%s: a response cut short after a %i head is logged with its error code', async (name, status) => {
    const reply = await rawExchange(sampled.url, get(`/c/${name}`, `cut-${name}`), { timeoutMs: 3_000 });
    expect(reply.closed).toBe(true);
    expect(reply.text.startsWith(`HTTP/1.1 ${status} `)).toBe(true);
    const line = await sampled.accessLogLine(`cut-${name}`);
    expect(line).toMatchObject({ status });
    expect(line?.error).toMatch(/^SG_UPSTREAM_/);
  });

  it('an ordinary 200 is still sampled away', async () => {
    expect((await send(sampled.url, '/c/ok', { headers: { 'x-request-id': 'sampled-ok' } })).status).toBe(200);
    expect(await sampled.accessLogLine('sampled-ok', ACCESS_LOG_DELAY_MS + 300)).toBeUndefined();
  });
});

describe('1xx the upstream sends', () => {
  it('relays 103 Early Hints (its Link, less hop-by-hop fields) ahead of the final response', async () => {
    const reply = await rawExchange(sg.url, get('/c/early_hints', 'hints', 'Connection: close\r\n'), { timeoutMs: 3_000 });
    expect(reply.text).toMatch(/^HTTP\/1\.1 103 Early Hints\r\nLink: <\/style\.css>; rel=preload; as=style\r\nconstructor: c\r\n\r\nHTTP\/1\.1 200 OK\r\n/);
    expect(reply.text).not.toMatch(/x-hop/i);
  });

  it('sends no 1xx to an HTTP/1.0 client, and drops 102', async () => {
    const old = await rawExchange(sg.url, 'GET /c/early_hints HTTP/1.0\r\nHost: app\r\n\r\n', { timeoutMs: 3_000 });
    expect(old.text).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    const processing = await rawExchange(sg.url, get('/c/processing', 'processing', 'Connection: close\r\n'), { timeoutMs: 3_000 });
    expect(processing.text).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
  });
});

describe('a response head too large for undici', () => {
  it('is a 502 with its own code (NGINX: "upstream sent too big header"), counted as a protocol error', async () => {
    const res = await send(sg.url, '/c/huge_head', { headers: { 'x-request-id': 'huge-head' } });
    expect(res.status).toBe(502);
    expect(res.json<{ error: { code: string } }>().error.code).toBe('SG_UPSTREAM_HEADERS_TOO_LARGE');
  });
});

describe('a transfer coding other than chunked', () => {
  it('is a protocol error (502 SG_UPSTREAM_PROTOCOL): the body would reach the client still gzipped, with nothing to say so', async () => {
    const res = await send(sg.url, '/c/te_gzip', { headers: { 'x-request-id': 'te-gzip' } });
    expect(res.status).toBe(502);
    expect(res.json<{ error: { code: string; message: string } }>().error).toMatchObject({ code: 'SG_UPSTREAM_PROTOCOL', message: expect.stringMatching(/transfer coding other than chunked/) });
    expect(await sg.accessLogLine('te-gzip')).toMatchObject({ status: 502, error: 'SG_UPSTREAM_PROTOCOL' });
  });
});

describe('a 100 Continue the upstream was not asked for', () => {
  it('is a protocol error (502 SG_UPSTREAM_PROTOCOL), not a reset', async () => {
    const res = await send(sg.url, '/c/s100', { headers: { 'x-request-id': 'unsolicited-100' } });
    expect(res.status).toBe(502);
    expect(res.json<{ error: { code: string } }>().error.code).toBe('SG_UPSTREAM_PROTOCOL');
    expect(await sg.accessLogLine('unsolicited-100')).toMatchObject({ status: 502, error: 'SG_UPSTREAM_PROTOCOL' });
  });

  it('on a canary route retrying resets before a response, is not replayed on stable: the canary received it', async () => {
    const before = stable.received.get('s100') ?? 0;
    const res = await send(sg.url, '/replayable/c/s100', { headers: { 'x-request-id': 'canary-100' } });
    expect(res.status).toBe(502);
    expect(res.json<{ error: { code: string } }>().error.code).toBe('SG_UPSTREAM_PROTOCOL');
    expect(stable.received.get('s100') ?? 0).toBe(before);
    expect(await sg.accessLogLine('canary-100')).toMatchObject({ version: 'canary', error: 'SG_UPSTREAM_PROTOCOL' });
    // A replay would have logged a second line, reason retry_stable, by the next batch.
    await new Promise((resolve) => setTimeout(resolve, ACCESS_LOG_DELAY_MS + 100));
    expect(sg.logLines.filter((l) => l.msg === 'request' && l.requestId === 'canary-100')).toHaveLength(1);
    expect(await metric(sg, 'splitgate_upstream_errors_total', { route: 'replayable', version: 'canary', kind: 'protocol' })).toBe(1);
    expect(await metric(sg, 'splitgate_upstream_errors_total', { route: 'replayable', version: 'canary', kind: 'reset' })).toBe(0);
  });
});
