/**
 * The header policy on the wire: hop-by-hop fields (RFC 9110 §7.6.1, and any field the Connection header names)
 * dropped in both directions; X-Forwarded-*, Via and X-Request-Id set for the upstream; client-sent
 * `x-splitgate-*` replaced by the proxy's own; repeated Set-Cookie and the Host header kept as they were.
 */
import { Agent } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { send, sendRaw } from '../helpers/http.js';
import { startSplitgate, type StartedSplitgate } from '../helpers/splitgate.js';
import { startRawUpstream, startUpstream, type RawUpstream, type TestUpstream } from '../helpers/upstreams.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** A response whose header section is exactly what the test needs, hop-by-hop fields and all. */
const RAW_RESPONSE = [
  'HTTP/1.1 200 OK',
  'Content-Type: text/plain',
  'Content-Length: 5',
  'Connection: close, X-Secret-Resp',
  'Keep-Alive: timeout=999',
  'X-Secret-Resp: leaked',
  'Proxy-Connection: keep-alive',
  'TE: trailers',
  'Trailer: X-Checksum',
  'Upgrade: h2c',
  'Set-Cookie: a=1; Path=/',
  'Set-Cookie: b=2; HttpOnly',
  'Set-Cookie: c=3',
  'X-Kept: yes',
  '',
  'hello',
].join('\r\n');

let echo: TestUpstream;
let raw: RawUpstream;
let proxy: StartedSplitgate;
const agent = new Agent({ keepAlive: true, maxSockets: 4 });

beforeAll(async () => {
  echo = await startUpstream('stable');
  raw = await startRawUpstream((socket) => socket.end(RAW_RESPONSE));
  proxy = await startSplitgate({
    upstreams: { echo: echo.url, raw: raw.url },
    routes: [
      { name: 'raw', match: { pathPrefix: '/raw' }, stable: 'raw', sticky: { key: ['header:x-user-id'] } },
      { name: 'echo', stable: 'echo' },
    ],
  });
});

afterAll(async () => {
  agent.destroy();
  await proxy?.stop();
  await Promise.all([echo?.close(), raw?.close()]);
});

/** Values of `name` in a raw header list, in order. */
function all(rawHeaders: readonly string[], name: string): string[] {
  const values: string[] = [];
  for (let i = 0; i < rawHeaders.length; i += 2) if (rawHeaders[i].toLowerCase() === name) values.push(rawHeaders[i + 1]);
  return values;
}

interface Forwarded {
  /** The header lines the upstream received, as on the wire. */
  readonly rawHeaders: string[];
  /** The access log line for the request. */
  readonly logged: Record<string, unknown> | undefined;
}

async function forwarded(headers: Record<string, string | string[]>, path = '/echo'): Promise<Forwarded> {
  const before = echo.seen.length;
  const res = await send(proxy.url, path, { headers, agent });
  expect(res.status).toBe(200);
  expect(echo.seen.length).toBe(before + 1);
  const rawHeaders = echo.seen[before].rawHeaders;
  const requestId = all(rawHeaders, 'x-request-id')[0];
  const logged = await proxy.accessLogLine(requestId);
  return { rawHeaders, logged };
}

describe('request headers to the upstream', () => {
  it('drops hop-by-hop fields and those named in Connection, keeps the rest', async () => {
    // Raw bytes: node's client refuses some of these fields on a request without a body.
    const before = echo.seen.length;
    const reply = await sendRaw(
      proxy.url,
      [
        'GET /echo HTTP/1.1',
        'Host: example.test',
        'Connection: close, X-Secret',
        'Keep-Alive: timeout=5',
        'TE: trailers',
        'Trailer: X-Checksum',
        'Upgrade: websocket',
        'Proxy-Connection: keep-alive',
        'X-Secret: hidden',
        'X-Kept: yes',
        '',
        '',
      ].join('\r\n'),
    );
    expect(reply.text).toMatch(/^HTTP\/1\.1 200 /);
    const rawHeaders = echo.seen[before].rawHeaders;
    const names = new Set(rawHeaders.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase()));
    for (const name of ['keep-alive', 'te', 'trailer', 'upgrade', 'proxy-connection', 'transfer-encoding', 'x-secret']) {
      expect(names.has(name), `${name} forwarded`).toBe(false);
    }
    // The upstream connection is the proxy's own: only its persistence option may appear, never the client's list.
    expect(all(rawHeaders, 'connection').every((v) => v === 'keep-alive')).toBe(true);
    expect(all(rawHeaders, 'x-kept')).toEqual(['yes']);
  });

  it('re-frames a chunked request body itself: the client’s Trailer and TE stay behind, the body arrives', async () => {
    const before = echo.seen.length;
    const reply = await sendRaw(
      proxy.url,
      [
        'POST /echo HTTP/1.1',
        'Host: example.test',
        'Connection: close',
        'Transfer-Encoding: chunked',
        'Trailer: X-Checksum',
        'TE: trailers',
        '',
        '5',
        'hello',
        '6',
        ' world',
        '0',
        'X-Checksum: abc',
        '',
        '',
      ].join('\r\n'),
    );
    expect(reply.text).toMatch(/^HTTP\/1\.1 200 /);
    expect(reply.text).toContain('"bodyBytes":11');
    const rawHeaders = echo.seen[before].rawHeaders;
    // undici frames the body its own way (here it had all 11 bytes at once); never the client's framing fields.
    const framing = [all(rawHeaders, 'transfer-encoding'), all(rawHeaders, 'content-length')];
    expect([JSON.stringify([['chunked'], []]), JSON.stringify([[], ['11']])]).toContain(JSON.stringify(framing));
    expect(all(rawHeaders, 'trailer')).toEqual([]);
    expect(all(rawHeaders, 'te')).toEqual([]);
  });

  it('appends the client address to X-Forwarded-For, sets X-Forwarded-Proto/-Host and Via, preserves Host', async () => {
    const { rawHeaders } = await forwarded({
      host: 'App.Example.test:8443',
      'x-forwarded-for': '203.0.113.7',
      'x-forwarded-proto': 'https',
      'x-forwarded-host': 'evil.example',
      via: '1.0 cdn-edge',
    });
    expect(all(rawHeaders, 'host')).toEqual(['App.Example.test:8443']);
    expect(all(rawHeaders, 'x-forwarded-for')).toEqual(['203.0.113.7, 127.0.0.1']);
    // The client does not get to say which scheme or host it used: the proxy knows.
    expect(all(rawHeaders, 'x-forwarded-proto')).toEqual(['http']);
    expect(all(rawHeaders, 'x-forwarded-host')).toEqual(['App.Example.test:8443']);
    expect(all(rawHeaders, 'via')).toEqual(['1.0 cdn-edge, 1.1 splitgate']);
  });

  it('joins repeated X-Forwarded-For lines in order before appending', async () => {
    const { rawHeaders } = await forwarded({ 'x-forwarded-for': ['198.51.100.1', '198.51.100.2, 10.0.0.1'] });
    expect(all(rawHeaders, 'x-forwarded-for')).toEqual(['198.51.100.1, 198.51.100.2, 10.0.0.1, 127.0.0.1']);
  });

  it('sets X-Forwarded-For and Via when the client sent none', async () => {
    const { rawHeaders } = await forwarded({});
    expect(all(rawHeaders, 'x-forwarded-for')).toEqual(['127.0.0.1']);
    expect(all(rawHeaders, 'via')).toEqual(['1.1 splitgate']);
    expect(all(rawHeaders, 'x-forwarded-proto')).toEqual(['http']);
  });

  it('strips client-sent x-splitgate-* and sets x-splitgate-version once', async () => {
    const { rawHeaders } = await forwarded({
      'x-splitgate-version': 'canary',
      'X-Splitgate-Shadow': '1',
      'x-splitgate-anything': 'x',
    });
    expect(all(rawHeaders, 'x-splitgate-version')).toEqual(['stable']);
    expect(all(rawHeaders, 'x-splitgate-shadow')).toEqual([]);
    expect(all(rawHeaders, 'x-splitgate-anything')).toEqual([]);
  });

  it('keeps a given X-Request-Id and logs it', async () => {
    const { rawHeaders, logged } = await forwarded({ 'x-request-id': 'req-abc-123' });
    expect(all(rawHeaders, 'x-request-id')).toEqual(['req-abc-123']);
    expect(logged?.requestId).toBe('req-abc-123');
  });

  it.each([
    ['absent', {}],
    ['not printable', { 'x-request-id': 'has space' }],
    ['too long', { 'x-request-id': 'r'.repeat(200) }],
  ])('generates an X-Request-Id when the given one is %s', async (_name, headers) => {
    const first = await forwarded(headers);
    const second = await forwarded(headers);
    const [a] = all(first.rawHeaders, 'x-request-id');
    const [b] = all(second.rawHeaders, 'x-request-id');
    expect(a).toMatch(UUID);
    expect(b).toMatch(UUID);
    expect(a).not.toBe(b);
    expect(all(first.rawHeaders, 'x-request-id')).toHaveLength(1);
    expect(first.logged?.requestId).toBe(a);
  });
});

describe('response headers to the client', () => {
  it('drops hop-by-hop fields and those named in Connection, keeps every Set-Cookie', async () => {
    const res = await send(proxy.url, '/raw/page', { headers: { 'x-user-id': 'u1' }, agent });
    expect(res.status).toBe(200);
    expect(res.text).toBe('hello');
    for (const name of ['x-secret-resp', 'proxy-connection', 'te', 'trailer', 'upgrade']) {
      expect(res.headers[name], `${name} relayed`).toBeUndefined();
    }
    // The client's connection is the proxy's: the upstream's "close" and keep-alive parameters stay upstream.
    expect(res.headers.connection).toBe('keep-alive');
    expect(res.headers['keep-alive']).not.toBe('timeout=999');
    expect(res.headers['x-kept']).toBe('yes');
    expect(res.headers['content-type']).toBe('text/plain');
    expect(res.headers['set-cookie']).toEqual(['a=1; Path=/', 'b=2; HttpOnly', 'c=3']);
  });

  it('adds the sticky cookie after the upstream’s own Set-Cookie lines', async () => {
    const res = await send(proxy.url, '/raw/page', { agent });
    expect(res.status).toBe(200);
    const cookies = res.headers['set-cookie']!;
    expect(cookies.slice(0, 3)).toEqual(['a=1; Path=/', 'b=2; HttpOnly', 'c=3']);
    expect(cookies).toHaveLength(4);
    expect(cookies[3]).toMatch(/^sg_uid=/);
  });
});
