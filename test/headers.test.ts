import { describe, expect, it } from 'vitest';
import { buildClientHeaders, buildUpstreamHeaders, connectionTokens, VIA } from '../src/proxy/headers.js';
import { mapUpstreamError } from '../src/proxy/upstream-errors.js';

const VALUES = { peerIp: '10.0.0.9', trustForwarded: false, proto: 'http', version: 'canary', requestId: 'rid-1', connectionTokens: null };

/** Flat [name, value, ...] → list of "name: value" lines, for readable assertions. */
function lines(flat: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < flat.length; i += 2) out.push(`${flat[i]}: ${flat[i + 1]}`);
  return out;
}

describe('buildUpstreamHeaders', () => {
  it('drops hop-by-hop fields and adds the forwarding fields', () => {
    const out = buildUpstreamHeaders(
      ['Host', 'api.example.com', 'Connection', 'keep-alive', 'Keep-Alive', 'timeout=5', 'TE', 'trailers', 'Trailer', 'x',
        'Transfer-Encoding', 'chunked', 'Upgrade', 'h2c', 'Proxy-Connection', 'keep-alive', 'Expect', '100-continue', 'Accept', '*/*'],
      VALUES,
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

  it('drops fields named in Connection', () => {
    const out = buildUpstreamHeaders(['X-Secret', 's', 'X-Keep', 'k', 'Connection', 'x-secret, close'], {
      ...VALUES,
      connectionTokens: connectionTokens('x-secret, close'),
    });
    expect(lines(out).slice(0, 1)).toEqual(['x-keep: k']);
    expect(out).not.toContain('x-secret');
  });

  it('appends to X-Forwarded-For and Via, and replaces client-sent proto/host/x-splitgate-*', () => {
    const out = buildUpstreamHeaders(
      ['X-Forwarded-For', '1.1.1.1', 'x-forwarded-for', '2.2.2.2', 'Via', '1.0 edge', 'X-Forwarded-Proto', 'https',
        'X-Forwarded-Host', 'evil', 'X-Splitgate-Version', 'canary', 'x-splitgate-shadow', '1'],
      { ...VALUES, version: 'stable' },
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
      { ...VALUES, trustForwarded: true },
    );
    expect(lines(out)).toEqual(expect.arrayContaining([
      'x-forwarded-for: 203.0.113.7, 10.0.0.9',
      'x-forwarded-proto: https',
      'x-forwarded-host: shop.example.com',
    ]));
  });

  it('never drops Host, even when Connection names it', () => {
    const out = buildUpstreamHeaders(['Host', 'api.example.com', 'Connection', 'host'], { ...VALUES, connectionTokens: connectionTokens('host') });
    expect(lines(out)[0]).toBe('host: api.example.com');
  });

  it('passes a client request id through as given (the caller decides it)', () => {
    const out = buildUpstreamHeaders(['X-Request-Id', 'client-id'], { ...VALUES, requestId: 'client-id' });
    expect(out.filter((v) => v === 'x-request-id')).toHaveLength(1);
    expect(lines(out)).toContain('x-request-id: client-id');
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
    expect(lines(out)).toEqual(['content-type: text/plain', 'set-cookie: a=1', 'set-cookie: b=2', 'content-length: 3', 'set-cookie: sg_uid=u; Path=/']);
  });

  it('keeps latin1 bytes as they came', () => {
    const out = buildClientHeaders([Buffer.from('X-Name'), Buffer.from([0x63, 0x61, 0x66, 0xe9])], null);
    expect(out).toEqual(['x-name', 'caf\u00e9']);
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
