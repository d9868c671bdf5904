/**
 * Review follow-up (request semantics): what splitgate does with requests that are well framed but mean something
 * splitgate must not pass on as it came. Each block pins one finding:
 * - the override cookie's pair is stripped by the same name rule the cookie parser reads it with (whitespace before
 *   `=` included), so a secret never reaches the upstream;
 * - bytes after a `Connection: close` (or HTTP/1.0) request are ignored: the request that ran gets its answer;
 * - two Authorization fields are refused (routing would read the first, the upstream maybe the last);
 * - a Host that is not `uri-host [":" port]` (RFC 9112 §3.2, RFC 3986 §3.2.2) is refused with 400 SG_BAD_HOST;
 * - CONNECT and TRACE are answered 405 SG_METHOD_NOT_ALLOWED, never forwarded;
 * - a client's `Forwarded` is dropped unless the peer is trusted; behind a trusted proxy its X-Forwarded-Proto/-Host
 *   are the last ones (the nearest proxy's), as X-Forwarded-For's client is the right-most entry;
 * - Connection options on two lines are one list: every field named on either is dropped.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { send } from '../helpers/http.js';
import { rawExchange, type RawResponse } from '../helpers/raw-client.js';
import { startSplitgate, type StartedSplitgate } from '../helpers/splitgate.js';
import { echoHandler, startUpstream, type TestUpstream } from '../helpers/upstreams.js';

const SECRET = 's3cr3t-value-123';

/** Echoes the request; `/slow…` after 150 ms, so bytes sent behind the request arrive before its answer. */
function slowEcho(version: string) {
  const echo = echoHandler(version);
  return (req: IncomingMessage, res: ServerResponse): void => {
    if (req.url?.startsWith('/slow')) setTimeout(() => echo(req, res), 150);
    else echo(req, res);
  };
}

let stable: TestUpstream;
let canary: TestUpstream;
let proxy: StartedSplitgate;
let trusting: StartedSplitgate;

beforeAll(async () => {
  [stable, canary] = await Promise.all([startUpstream('stable', slowEcho('stable')), startUpstream('canary', slowEcho('canary'))]);
  const routes = [
    { name: 'sec', match: { pathPrefix: '/sec' }, stable: 'stable', canary: 'canary', weight: 0, overrides: { header: 'x-canary', cookie: 'canary', secret: SECRET } },
    { name: 'wild', match: { host: '*.example.com' }, stable: 'stable' },
    { name: 'app', stable: 'stable' },
  ];
  const upstreams = { stable: stable.url, canary: canary.url };
  [proxy, trusting] = await Promise.all([
    startSplitgate({ log: { level: 'info' }, upstreams, routes }),
    startSplitgate({ log: { level: 'silent' }, upstreams, routes, trustForwardedFor: true }),
  ]);
});

afterAll(async () => {
  await Promise.all([proxy?.stop(), trusting?.stop()]);
  await Promise.all([stable?.close(), canary?.close()]);
});

/** The upstream requests seen since `mark` (stable and canary). */
function seenSince(mark: { stable: number; canary: number }) {
  return [...stable.seen.slice(mark.stable), ...canary.seen.slice(mark.canary)];
}

function mark() {
  return { stable: stable.seen.length, canary: canary.seen.length };
}

/** A raw response's JSON body, de-chunked when it came chunked (the raw client keeps the chunk framing). */
function json(response: RawResponse): any {
  if (!/\r\ntransfer-encoding: *chunked/i.test(response.head)) return JSON.parse(response.body);
  let text = '';
  // The raw client's body runs from the first chunk size to the last-chunk's `0` (no trailer CRLF).
  for (let at = 0; ; ) {
    const eol = response.body.indexOf('\r\n', at);
    const size = parseInt(eol === -1 ? response.body.slice(at) : response.body.slice(at, eol), 16);
    if (!(size > 0)) return JSON.parse(text);
    text += response.body.slice(eol + 2, eol + 2 + size);
    at = eol + 2 + size + 2;
  }
}

/** Lets a request that was (wrongly) forwarded reach the upstream before asserting that none did. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 50));

describe('the override cookie is stripped by the rule that reads it', () => {
  const cases: ReadonlyArray<readonly [string, string, string | undefined]> = [
    ['a space before "="', `a=1; canary =always:${SECRET}; b=2`, 'a=1; b=2'],
    ['a tab before "="', `a=1; canary\t=always:${SECRET}`, 'a=1'],
    ['spaces on both sides of the name', `  canary  =always:${SECRET};b=2`, 'b=2'],
    ['the pair alone, with a space before "="', `canary =always:${SECRET}`, undefined],
    ['names that only contain the override name are kept', `xcanary=1; canary2=2; canary =always:${SECRET}`, 'xcanary=1; canary2=2'],
  ];
  for (const [name, cookie, forwarded] of cases) {
    it(`${name}: the override is honoured and its pair not forwarded`, async () => {
      const before = mark();
      const response = await send(proxy.url, '/sec/x', { headers: { cookie } });
      expect(response.json().version).toBe('canary');
      const seen = seenSince(before);
      expect(seen).toHaveLength(1);
      expect(seen[0].headers.cookie).toBe(forwarded);
      expect(JSON.stringify(seen[0].rawHeaders)).not.toContain(SECRET);
    });
  }
});

describe('bytes after a request that closes the connection', () => {
  it('DELETE with Connection: close, then more bytes: the DELETE is answered 200 (not 400) and logged 200', async () => {
    const before = mark();
    const reply = await rawExchange(
      proxy.url,
      'DELETE /slow/orders/1 HTTP/1.1\r\nHost: app\r\nConnection: close\r\nX-Request-Id: closed-then-bytes-1\r\n\r\nGET /x HTTP/1.1\r\n\r\n',
    );
    expect(reply.timedOut).toBe(false);
    expect(reply.responses.map((r) => r.status)).toEqual([200]);
    expect(json(reply.responses[0])).toMatchObject({ method: 'DELETE', url: '/slow/orders/1' });
    expect(reply.closed).toBe(true);
    expect(seenSince(before).map((r) => `${r.method} ${r.url}`)).toEqual(['DELETE /slow/orders/1']);
    const line = await proxy.accessLogLine('closed-then-bytes-1');
    expect(line).toMatchObject({ status: 200 });
    expect(line?.error).toBeUndefined();
  });

  it('HTTP/1.0 POST without Content-Length, then bytes: answered 200, connection closed', async () => {
    const before = mark();
    const reply = await rawExchange(proxy.url, 'POST /slow/form HTTP/1.0\r\nHost: app\r\n\r\nname=value');
    expect(reply.responses.map((r) => r.status)).toEqual([200]);
    expect(json(reply.responses[0])).toMatchObject({ method: 'POST', bodyBytes: 0 });
    expect(reply.closed).toBe(true);
    expect(seenSince(before).map((r) => r.url)).toEqual(['/slow/form']);
  });

  for (const path of ['/orders/2', '/slow/orders/3']) {
    it(`the same, the client half-closing after its bytes (${path}): answered 200`, async () => {
      const before = mark();
      const reply = await rawExchange(proxy.url, `DELETE ${path} HTTP/1.1\r\nHost: app\r\nConnection: close\r\n\r\nGET /x HTTP/1.1\r\n\r\n`, { end: true });
      expect(reply.responses.map((r) => r.status)).toEqual([200]);
      expect(reply.closed).toBe(true);
      expect(seenSince(before).map((r) => `${r.method} ${r.url}`)).toEqual([`DELETE ${path}`]);
    });
  }

  it('a keep-alive request, then one with Connection: close, then bytes: both answered in order', async () => {
    const before = mark();
    const reply = await rawExchange(
      proxy.url,
      'GET /slow/a HTTP/1.1\r\nHost: app\r\n\r\nGET /slow/b HTTP/1.1\r\nHost: app\r\nConnection: close\r\n\r\nGET /c HTTP/1.1\r\nHost: app\r\n\r\n',
    );
    expect(reply.responses.map((r) => [r.status, json(r).url])).toEqual([
      [200, '/slow/a'],
      [200, '/slow/b'],
    ]);
    expect(reply.closed).toBe(true);
    expect(seenSince(before).map((r) => r.url)).toEqual(['/slow/a', '/slow/b']);
  });
});

describe('two Authorization fields', () => {
  it('are refused with 400 SG_DUPLICATE_AUTHORIZATION, nothing forwarded', async () => {
    const before = mark();
    const reply = await rawExchange(
      proxy.url,
      'GET /api/me HTTP/1.1\r\nHost: app\r\nAuthorization: Bearer first\r\nauthorization: Bearer second\r\nConnection: close\r\n\r\n',
    );
    expect(reply.responses.map((r) => r.status)).toEqual([400]);
    expect(json(reply.responses[0]).error.code).toBe('SG_DUPLICATE_AUTHORIZATION');
    await settle();
    expect(seenSince(before)).toEqual([]);
  });

  it('one Authorization field is forwarded as it came', async () => {
    const response = await send(proxy.url, '/api/me', { headers: { authorization: 'Bearer only' } });
    expect(response.status).toBe(200);
    expect(response.json().headers.authorization).toBe('Bearer only');
  });
});

describe('Host must be uri-host [":" port] (RFC 9112 §3.2)', () => {
  const invalid = [
    'internal.example.com extra',
    'a, b',
    'host/x',
    'evil.com/.example.com',
    '::1',
    'internal.example.com:80:90',
    'a.example.com:8o',
    'user@a.example.com',
    'a.example.com?x',
    'a.example.com#x',
    'a\\b.example.com',
    'bad%zzpct.example.com',
    '[::1',
    '[::1]x',
    '[not-v6]',
    '\xfcml\xe4ut.example.com',
  ];
  for (const host of invalid) {
    it(`${JSON.stringify(host)}: 400 SG_BAD_HOST, nothing forwarded`, async () => {
      const before = mark();
      const reply = await rawExchange(proxy.url, Buffer.from(`GET /h HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`, 'latin1'));
      expect(reply.responses.map((r) => r.status)).toEqual([400]);
      expect(json(reply.responses[0]).error.code).toBe('SG_BAD_HOST');
      await settle();
      expect(seenSince(before)).toEqual([]);
    });
  }

  const valid = [
    'app',
    'App.Example.COM:8080',
    'example.com.',
    'a.example.com.',
    '127.0.0.1',
    '127.0.0.1:80',
    '[::1]',
    '[::1]:8080',
    '[2001:db8::192.0.2.1]',
    'a-b_c~d.example',
    'xn--bcher-kva.example',
    'a%41.example',
    'example.com:',
    '',
  ];
  for (const host of valid) {
    it(`${JSON.stringify(host)}: forwarded with that Host`, async () => {
      const reply = await rawExchange(proxy.url, `GET /h HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
      expect(reply.responses.map((r) => r.status)).toEqual([200]);
      expect(json(reply.responses[0]).headers.host).toBe(host);
    });
  }
});

describe('CONNECT and TRACE', () => {
  for (const target of ['a.example:443', '/api/x']) {
    it(`CONNECT ${target}: 405 SG_METHOD_NOT_ALLOWED and the connection closed, nothing forwarded`, async () => {
      const before = mark();
      const reply = await rawExchange(proxy.url, `CONNECT ${target} HTTP/1.1\r\nHost: a.example:443\r\nX-Request-Id: connect-${target.length}\r\n\r\n`);
      expect(reply.timedOut).toBe(false);
      expect(reply.responses.map((r) => r.status)).toEqual([405]);
      expect(json(reply.responses[0]).error.code).toBe('SG_METHOD_NOT_ALLOWED');
      expect(reply.closed).toBe(true);
      await settle();
      expect(seenSince(before)).toEqual([]);
    });
  }

  it('CONNECT pipelined behind a slow request: that answer first, then 405', async () => {
    const reply = await rawExchange(proxy.url, 'GET /slow/first HTTP/1.1\r\nHost: app\r\n\r\nCONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n');
    expect(reply.responses.map((r) => r.status)).toEqual([200, 405]);
    expect(json(reply.responses[0]).url).toBe('/slow/first');
    expect(reply.closed).toBe(true);
  });

  it('CONNECT is counted in http_requests_total like other refused requests', async () => {
    const metrics = (await send(proxy.adminUrl, '/metrics')).text;
    expect(metrics).toMatch(/http_requests_total\{[^}]*method="CONNECT"[^}]*code="405"[^}]*\} [1-9]/);
  });

  it('TRACE: 405 SG_METHOD_NOT_ALLOWED, not forwarded (cookies are never reflected)', async () => {
    const before = mark();
    const response = await send(proxy.url, '/api/x', { method: 'TRACE', headers: { cookie: 'session=abc' } });
    expect(response.status).toBe(405);
    expect(response.json().error.code).toBe('SG_METHOD_NOT_ALLOWED');
    expect(response.text).not.toContain('session=abc');
    await settle();
    expect(seenSince(before)).toEqual([]);
  });

  it('TRACE with a body, then a pipelined GET: 405, then the GET is served on the same connection', async () => {
    const before = mark();
    const reply = await rawExchange(proxy.url, 'TRACE /t HTTP/1.1\r\nHost: app\r\nContent-Length: 3\r\n\r\nabcGET /after-trace HTTP/1.1\r\nHost: app\r\nConnection: close\r\n\r\n');
    expect(reply.responses.map((r) => r.status)).toEqual([405, 200]);
    expect(seenSince(before).map((r) => `${r.method} ${r.url}`)).toEqual(['GET /after-trace']);
  });
});

describe('forwarding headers', () => {
  const spoofed = 'for=6.6.6.6;proto=https;host=evil.example';

  it('an untrusted client\'s Forwarded is dropped (splitgate does not write one)', async () => {
    const response = await send(proxy.url, '/f', { headers: { forwarded: spoofed, 'x-forwarded-host': 'evil.example' } });
    const headers = response.json().headers;
    expect(headers.forwarded).toBeUndefined();
    expect(headers['x-forwarded-host']).toBe(`127.0.0.1:${new URL(proxy.url).port}`);
  });

  it('behind a trusted proxy, its Forwarded is passed on', async () => {
    const response = await send(trusting.url, '/f', { headers: { forwarded: 'for=10.1.1.1;proto=https' } });
    expect(response.json().headers.forwarded).toBe('for=10.1.1.1;proto=https');
  });

  it('behind a trusted proxy, the last X-Forwarded-Proto/-Host line (the proxy\'s own) wins over the client\'s', async () => {
    const reply = await rawExchange(
      trusting.url,
      'GET /f HTTP/1.1\r\nHost: app\r\nX-Forwarded-For: 6.6.6.6\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: evil.example\r\n' +
        'X-Forwarded-For: 10.1.1.1\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Host: shop.example\r\nConnection: close\r\n\r\n',
    );
    const headers = json(reply.responses[0]).headers;
    expect(headers['x-forwarded-proto']).toBe('http');
    expect(headers['x-forwarded-host']).toBe('shop.example');
    expect(headers['x-forwarded-for']).toBe('6.6.6.6, 10.1.1.1, 127.0.0.1');
  });

  it('behind a trusted proxy, one X-Forwarded-Host line holding a list: the right-most entry, as for X-Forwarded-For', async () => {
    const response = await send(trusting.url, '/f', { headers: { 'x-forwarded-host': 'evil.example, shop.example', 'x-forwarded-proto': 'https, http' } });
    const headers = response.json().headers;
    expect(headers['x-forwarded-host']).toBe('shop.example');
    expect(headers['x-forwarded-proto']).toBe('http');
  });
});

describe('Connection options on two lines', () => {
  for (const [first, second] of [
    ['X-Secret', 'keep-alive'],
    ['keep-alive', 'X-Secret'],
  ]) {
    it(`Connection: ${first}, then Connection: ${second}: X-Secret is not forwarded`, async () => {
      const reply = await rawExchange(
        proxy.url,
        `GET /c HTTP/1.1\r\nHost: app\r\nConnection: ${first}\r\nX-Secret: s\r\nX-Kept: k\r\nConnection: ${second}\r\n\r\n`,
        { responses: 1 },
      );
      const headers = json(reply.responses[0]).headers;
      expect(headers['x-secret']).toBeUndefined();
      expect(headers['x-kept']).toBe('k');
    });
  }
});
