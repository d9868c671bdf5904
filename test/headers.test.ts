import { describe, expect, it } from 'vitest';
import { buildClientHeaders } from '../src/proxy/headers.js';
import { connectionTokens, HeaderNameIndex, readRequestHead, upstreamHeaders, VIA, type ProxyFields } from '../src/proxy/request-head.js';
import { mapUpstreamError } from '../src/proxy/upstream-errors.js';

const FIELDS = { peerIp: '10.0.0.9', trustForwarded: false, proto: 'http', version: 'canary', requestId: 'rid-1' };
const NO_ROUTING_NAMES = new HeaderNameIndex([]);

/** The request's header pass as the data path runs it: read the head, then append splitgate's fields. */
function buildUpstreamHeaders(raw: string[], fields: ProxyFields = FIELDS): string[] {
  return upstreamHeaders(readRequestHead(raw, NO_ROUTING_NAMES), fields);
}

/** Flat [name, value, ...] → list of "name: value" lines, for readable assertions. */
function lines(flat: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < flat.length; i += 2) out.push(`${flat[i]}: ${flat[i + 1]}`);
  return out;
}

describe('request header pass (readRequestHead + upstreamHeaders)', () => {
  it('drops hop-by-hop fields and adds the forwarding fields', () => {
    const out = buildUpstreamHeaders(
      ['Host', 'api.example.com', 'Connection', 'keep-alive', 'Keep-Alive', 'timeout=5', 'TE', 'trailers', 'Trailer', 'x',
        'Transfer-Encoding', 'chunked', 'Upgrade', 'h2c', 'Proxy-Connection', 'keep-alive', 'Expect', '100-continue', 'Accept', '*/*'],
    );
    expect(lines(out)).toEqual([
      'host: api.example.com',
      'accept: */*',
      'x-forwarded-for: 10.0.0.9',
      'x-forwarded-proto: http',
      `via: ${VIA}`,
      'x-request-id: rid-1',
      'x-splitgate-version: canary',
      'x-forwarded-host: api.example.com',
    ]);
  });

  it('drops fields named in Connection, wherever Connection comes', () => {
    const before = buildUpstreamHeaders(['X-Secret', 's', 'X-Keep', 'k', 'Connection', 'x-secret, close']);
    const after = buildUpstreamHeaders(['Connection', 'close, X-Secret', 'X-Secret', 's', 'X-Keep', 'k']);
    for (const out of [before, after]) {
      expect(lines(out).slice(0, 1)).toEqual(['x-keep: k']);
      expect(out).not.toContain('x-secret');
    }
  });

  it('appends to X-Forwarded-For and Via, and replaces client-sent proto/host/x-splitgate-*', () => {
    const out = buildUpstreamHeaders(
      ['X-Forwarded-For', '1.1.1.1', 'x-forwarded-for', '2.2.2.2', 'Via', '1.0 edge', 'X-Forwarded-Proto', 'https',
        'X-Forwarded-Host', 'evil', 'X-Splitgate-Version', 'canary', 'x-splitgate-shadow', '1'],
      { ...FIELDS, version: 'stable' },
    );
    expect(lines(out)).toEqual([
      'x-forwarded-for: 1.1.1.1, 2.2.2.2, 10.0.0.9',
      'x-forwarded-proto: http',
      `via: 1.0 edge, ${VIA}`,
      'x-request-id: rid-1',
      'x-splitgate-version: stable',
    ]);
  });

  it('behind a trusted proxy keeps its X-Forwarded-Proto/-Host and still appends the peer', () => {
    const out = buildUpstreamHeaders(
      ['Host', 'internal:8080', 'X-Forwarded-For', '203.0.113.7', 'X-Forwarded-Proto', 'https', 'X-Forwarded-Host', 'shop.example.com'],
      { ...FIELDS, trustForwarded: true },
    );
    expect(lines(out)).toEqual(expect.arrayContaining([
      'x-forwarded-for: 203.0.113.7, 10.0.0.9',
      'x-forwarded-proto: https',
      'x-forwarded-host: shop.example.com',
    ]));
  });

  it('never drops Host, even when Connection names it', () => {
    const out = buildUpstreamHeaders(['Host', 'api.example.com', 'Connection', 'host']);
    expect(lines(out)[0]).toBe('host: api.example.com');
  });

  it('passes a client request id through as given (the caller decides it)', () => {
    const out = buildUpstreamHeaders(['X-Request-Id', 'client-id'], { ...FIELDS, requestId: 'client-id' });
    expect(out.filter((v) => v === 'x-request-id')).toHaveLength(1);
    expect(lines(out)).toContain('x-request-id: client-id');
  });

  it('reads what the data path needs: host (first wins, repeats flagged), body framing, upgrade, request id', () => {
    const head = readRequestHead(
      ['Host', 'a.example', 'HOST', 'b.example', 'Content-Length', '12', 'Upgrade', 'websocket', 'X-Request-Id', 'r1'],
      NO_ROUTING_NAMES,
    );
    expect(head).toMatchObject({ host: 'a.example', hostRepeated: true, contentLength: '12', upgrade: 'websocket', requestId: 'r1' });
    expect(head.hasBody).toBe(true);
    expect(lines(head.forward)).toEqual(['host: a.example', 'content-length: 12']);
    expect(readRequestHead(['Content-Length', '0'], NO_ROUTING_NAMES).hasBody).toBe(false);
    expect(readRequestHead(['Transfer-Encoding', 'chunked'], NO_ROUTING_NAMES).hasBody).toBe(true);
    expect(readRequestHead([], NO_ROUTING_NAMES).hasBody).toBe(false);
    expect(readRequestHead(['X-Request-Id', 'a', 'x-request-id', 'b'], NO_ROUTING_NAMES).requestId).toBe('a, b');
  });

  it('collects the fields routing reads, joined as node:http joins repeats, and nothing else', () => {
    const head = readRequestHead(
      ['X-User', 'u1', 'x-user', 'u2', 'Cookie', 'a=1', 'cookie', 'b=2', 'User-Agent', 'first', 'User-Agent', 'second', 'X-Other', 'o'],
      new HeaderNameIndex(['x-user', 'cookie', 'user-agent', 'x-absent']),
    );
    expect(head.routing).toEqual({ 'x-user': 'u1, u2', cookie: 'a=1; b=2', 'user-agent': 'first' });
    expect(readRequestHead(['X-Other', 'o'], new HeaderNameIndex(['cookie'])).routing).toEqual({});
  });

  it('gives every request the same routing fields in the same order, whatever its headers and their order', () => {
    const names = new HeaderNameIndex(['x-user', 'cookie', 'x-region']);
    const a = readRequestHead(['X-Region', 'eu', 'Cookie', 'c=1', 'X-User', 'u1'], names).routing;
    const b = readRequestHead(['x-user', 'u2'], names).routing;
    // One hidden class for all of them keeps routing's reads monomorphic: same keys, same order.
    expect(Object.keys(a)).toEqual(['x-user', 'cookie', 'x-region']);
    expect(Object.keys(b)).toEqual(Object.keys(a));
    expect(b).toEqual({ 'x-user': 'u2' });
    expect(a).toEqual({ 'x-user': 'u1', cookie: 'c=1', 'x-region': 'eu' });
  });

  it('tells apart names of one length and lets routing read a field the proxy also handles', () => {
    // 'x-request-id' and 'x-user-agent' are both 12 long; 'x-forwarded-for' is rebuilt by the proxy and read by routing.
    const names = new HeaderNameIndex(['x-user-agent', 'x-forwarded-for', 'x-splitgate-probe']);
    const head = readRequestHead(
      ['X-User-Agent', 'ua', 'X-Request-Id', 'r1', 'X-Forwarded-For', '1.2.3.4', 'X-Splitgate-Probe', 'p', 'X-Splitgate-Other', 'q'],
      names,
    );
    expect(head.routing).toEqual({ 'x-user-agent': 'ua', 'x-forwarded-for': '1.2.3.4', 'x-splitgate-probe': 'p' });
    expect(head.requestId).toBe('r1');
    expect(head.forwardedFor).toBe('1.2.3.4');
    // Routing may read a client's x-splitgate-* field, but it is never forwarded.
    expect(lines(head.forward)).toEqual(['x-user-agent: ua']);
  });

  it('gives routing the same values node:http puts in req.headers', async () => {
    const { createServer } = await import('node:http');
    const { connect } = await import('node:net');
    const names = ['x-a', 'cookie', 'referer', 'x-b', 'x-c'];
    const seen = new Promise<{ raw: string[]; headers: Record<string, unknown> }>((resolve) => {
      const server = createServer((req, res) => {
        resolve({ raw: req.rawHeaders, headers: { ...req.headers } });
        res.end();
        server.close();
      });
      server.listen(0, '127.0.0.1', () => {
        const { port } = server.address() as { port: number };
        const socket = connect(port, '127.0.0.1', () => {
          socket.end(
            'GET / HTTP/1.1\r\nHost: h\r\nX-A: 1\r\nx-a: 2\r\nCookie: c=1\r\nCOOKIE: d=2\r\nReferer: r1\r\nreferer: r2\r\n' +
              'X-B:\r\nX-C:  spaced  \r\nConnection: close\r\n\r\n',
          );
        });
        socket.on('data', () => {}).on('error', () => {});
      });
    });
    const { raw, headers } = await seen;
    const head = readRequestHead(raw, new HeaderNameIndex(names));
    for (const name of names) expect(head.routing[name], name).toBe(headers[name]);
    expect(head.host).toBe(headers.host);
  });
});

describe('connectionTokens', () => {
  it.each([
    [undefined, null],
    ['keep-alive', null],
    ['close', null],
    ['Keep-Alive, X-Foo ,x-bar', ['x-foo', 'x-bar']],
  ])('%j → %j', (input, expected) => {
    const tokens = connectionTokens(input);
    expect(tokens === null ? null : [...tokens]).toEqual(expected);
  });
});

describe('buildClientHeaders', () => {
  const raw = (...pairs: string[]) => pairs.map((p) => Buffer.from(p, 'latin1'));

  it('drops hop-by-hop response fields, keeps repeated set-cookie, appends the sticky cookie', () => {
    const out = buildClientHeaders(
      raw('Content-Type', 'text/plain', 'Connection', 'keep-alive, x-internal', 'Keep-Alive', 'timeout=5', 'X-Internal', 'i',
        'Transfer-Encoding', 'chunked', 'Set-Cookie', 'a=1', 'Set-Cookie', 'b=2', 'Content-Length', '3'),
      'sg_uid=u; Path=/',
    );
    expect(lines(out!)).toEqual(['Content-Type: text/plain', 'Set-Cookie: a=1', 'Set-Cookie: b=2', 'Content-Length: 3', 'set-cookie: sg_uid=u; Path=/']);
  });

  it('refuses a transfer coding other than chunked (null), whose body would reach the client still coded', () => {
    for (const coding of ['gzip, chunked', 'chunked, chunked, gzip', 'x-custom,chunked', ' , ']) {
      expect(buildClientHeaders(raw('Transfer-Encoding', coding, 'Content-Type', 'text/plain'), null), coding).toBeNull();
    }
    for (const coding of ['chunked', 'Chunked', ' chunked ']) {
      expect(buildClientHeaders(raw('Transfer-Encoding', coding, 'Content-Type', 'text/plain'), null), coding).toEqual(['Content-Type', 'text/plain']);
    }
  });

  it('drops every hop-by-hop name in any case, and keeps same-length names that are not hop-by-hop', () => {
    const out = buildClientHeaders(
      raw('TE', 'x', 'Trailer', 'x', 'UPGRADE', 'h2c', 'CONNECTION', 'close', 'KEEP-ALIVE', 'x', 'Proxy-Connection', 'x',
        'transfer-ENCODING', 'chunked', 'Tx', 'kept', 'Trailed', 'kept', 'Connector1', 'kept', 'Content-Encoding', 'gzip'),
      null,
    );
    expect(lines(out!)).toEqual(['Tx: kept', 'Trailed: kept', 'Connector1: kept', 'Content-Encoding: gzip']);
  });

  it('keeps latin1 bytes and name case as they came', () => {
    const out = buildClientHeaders([Buffer.from('X-Name'), Buffer.from([0x63, 0x61, 0x66, 0xe9])], null);
    expect(out).toEqual(['X-Name', 'caf\u00e9']);
  });
});

describe('mapUpstreamError', () => {
  const withCode = (code: string) => Object.assign(new Error(code), { code });

  it.each([
    ['ECONNREFUSED', 502, 'SG_UPSTREAM_CONNECT_REFUSED', 'connect_refused'],
    ['ECONNRESET', 502, 'SG_UPSTREAM_RESET', 'reset'],
    ['UND_ERR_SOCKET', 502, 'SG_UPSTREAM_RESET', 'reset'],
    ['UND_ERR_HEADERS_TIMEOUT', 504, 'SG_UPSTREAM_TIMEOUT', 'headers_timeout'],
    ['UND_ERR_BODY_TIMEOUT', 504, 'SG_UPSTREAM_BODY_TIMEOUT', 'body_timeout'],
    ['UND_ERR_CONNECT_TIMEOUT', 504, 'SG_UPSTREAM_CONNECT_TIMEOUT', 'connect_timeout'],
    ['HPE_INVALID_HEADER_TOKEN', 502, 'SG_UPSTREAM_PROTOCOL', 'protocol'],
    ['UND_ERR_REQ_CONTENT_LENGTH_MISMATCH', 400, 'SG_CLIENT_BODY_INCOMPLETE', null],
    ['SOMETHING_NEW', 502, 'SG_UPSTREAM_ERROR', 'other'],
  ])('%s → %d %s', (code, status, errorCode, kind) => {
    expect(mapUpstreamError(withCode(code))).toMatchObject({ status, code: errorCode, kind });
  });

  it('looks inside AggregateError (Happy Eyeballs) and cause', () => {
    expect(mapUpstreamError(new AggregateError([withCode('ECONNREFUSED')])).code).toBe('SG_UPSTREAM_CONNECT_REFUSED');
    expect(mapUpstreamError(new Error('wrapped', { cause: withCode('ECONNRESET') })).code).toBe('SG_UPSTREAM_RESET');
  });
});
