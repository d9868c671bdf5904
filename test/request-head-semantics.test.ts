/**
 * The pure parts of the request-semantics fixes (test/integration/request-semantics.test.ts drives them through
 * sockets): the Host grammar, the override cookie's name rule, the Authorization count, and which forwarding
 * fields a trusted proxy's request keeps.
 */
import { parse as parseCookies } from 'cookie';
import { describe, expect, it } from 'vitest';
import { dropOverrideFields, HeaderNameIndex, HostCheck, isValidHost, readRequestHead, upstreamHeaders } from '../src/proxy/request-head.js';

const NAMES = new HeaderNameIndex([]);
const FIELDS = { peerIp: '10.0.0.9', proto: 'http', version: 'stable', requestId: 'rid-1' };

function upstream(raw: string[], trustForwarded: boolean): Record<string, string> {
  const flat = upstreamHeaders(readRequestHead(raw, NAMES), { ...FIELDS, trustForwarded });
  const out: Record<string, string> = {};
  for (let i = 0; i < flat.length; i += 2) out[flat[i]] = flat[i + 1];
  return out;
}

describe('isValidHost: uri-host [":" port] (RFC 9112 §3.2, RFC 3986 §3.2.2)', () => {
  const valid = ['', 'app', 'API.Example.com', 'example.com.', 'a.example.com:8080', 'example.com:', '127.0.0.1:80', '[::1]', '[::1]:443',
    '[2001:db8::192.0.2.1]', '[v1.fe80::a+en1]', 'a-b_c~d', "sub!$&'()*+,;=delims", 'a%2Eb', 'xn--bcher-kva.example'];
  const invalid = ['a b', 'a, b', 'host/x', 'evil.com/.example.com', '::1', 'a:80:90', 'a:8o', 'u@a', 'a?x', 'a#x', 'a\\b', '%zz', 'a%4',
    '[::1', '[::1]x', '[::1]:a', '[fe80::1%eth0]', '[fe80::1%25eth0]', '[not-v6]', '[v.x]', '[v1.]', '\xfc.example', 'a\tb', '[]'];
  it.each(valid)('%j is valid', (host) => expect(isValidHost(host)).toBe(true));
  it.each(invalid)('%j is not', (host) => expect(isValidHost(host)).toBe(false));

  it('HostCheck gives the same verdicts, remembering only a valid value', () => {
    const check = new HostCheck();
    for (const host of ['a.example', 'a b', 'a.example', 'a b', '', 'x/y']) expect(check.valid(host)).toBe(isValidHost(host));
  });
});

describe('dropOverrideFields: the pair the cookie parser reads as the override is the pair stripped', () => {
  const cases = [
    'a=1; canary=always:s; b=2',
    'a=1; canary =always:s; b=2',
    'a=1; canary\t=always:s',
    '  canary  =always:s;b=2',
    'canary=never:s',
    'xcanary=1; canary2=2; canary =always:s',
    'a=1; canary; b=2',
    'canary=first; canary=second',
    'a=1;;canary=x;',
  ];
  it.each(cases)('%j', (cookie) => {
    const forward = ['cookie', cookie, 'accept', '*/*'];
    dropOverrideFields(forward, null, 'canary');
    const kept = forward[0] === 'cookie' ? forward[1] : '';
    // Nothing the parser would read as `canary` is left, and every other pair it reads is.
    expect(parseCookies(kept).canary).toBeUndefined();
    const { canary: _dropped, ...others } = parseCookies(cookie);
    expect({ ...parseCookies(kept) }).toEqual(others);
    expect(forward.slice(-2)).toEqual(['accept', '*/*']);
  });
});

describe('readRequestHead', () => {
  it('counts Authorization fields whatever their case', () => {
    expect(readRequestHead(['Authorization', 'Bearer a'], NAMES).authorizations).toBe(1);
    expect(readRequestHead(['Authorization', 'Bearer a', 'authorization', 'Bearer b'], NAMES).authorizations).toBe(2);
    expect(readRequestHead(['Host', 'a'], NAMES).authorizations).toBe(0);
  });

  it('an untrusted client: Forwarded dropped, X-Forwarded-Proto/-Host replaced', () => {
    const out = upstream(['Host', 'app', 'Forwarded', 'for=6.6.6.6;host=evil', 'X-Forwarded-Host', 'evil', 'X-Forwarded-Proto', 'https'], false);
    expect(out.forwarded).toBeUndefined();
    expect(out['x-forwarded-host']).toBe('app');
    expect(out['x-forwarded-proto']).toBe('http');
  });

  it('a trusted proxy: its Forwarded kept (repeated fields joined), the last X-Forwarded-Proto/-Host entry used', () => {
    const out = upstream(
      ['Host', 'app', 'Forwarded', 'for=1.1.1.1', 'X-Forwarded-Host', 'evil', 'X-Forwarded-Proto', 'https', 'Forwarded', 'for=10.0.0.1',
        'X-Forwarded-Host', 'shop, real', 'X-Forwarded-Proto', 'http'],
      true,
    );
    expect(out.forwarded).toBe('for=1.1.1.1, for=10.0.0.1');
    expect(out['x-forwarded-host']).toBe('real');
    expect(out['x-forwarded-proto']).toBe('http');
  });

  it('a trusted proxy that sent an empty X-Forwarded-Host: the Host is used', () => {
    expect(upstream(['Host', 'app', 'X-Forwarded-Host', ''], true)['x-forwarded-host']).toBe('app');
  });
});
