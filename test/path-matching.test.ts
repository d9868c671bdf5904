/**
 * A path an upstream could resolve another way must pick the same route in every spelling (src/routing/path.ts):
 * the cases below are ones clients used to reach a stable-pinned path through a canary route (or to leave a route
 * for a wider one), with what RFC 3986 §5.2.4 / §6.2.2 and the broadest server-side decoding make of them worked out
 * by hand.
 */
import { describe, expect, it } from 'vitest';
import { validateConfig } from '../src/config/load.js';
import { AMBIGUOUS_PATH, matchRoute } from '../src/routing/match.js';
import { pathSpellings, prefixSpellings } from '../src/routing/path.js';
import { compileTable } from '../src/routing/table.js';

describe('pathSpellings', () => {
  it.each(['/api/admin', '/', '/api/x?next=/../admin&y=%2F', '/api/v1/users/42'])('%s has nothing to resolve', (target) => {
    expect(pathSpellings(target)).toBeNull();
  });

  it.each([
    // [target, as sent (hex upper-cased), RFC 3986 (unreserved decoded, dot-segments removed), broadest]
    ['/api/%61dmin', '/api/%61dmin', '/api/admin', '/api/admin'],
    ['/ap%69/x', '/ap%69/x', '/api/x', '/api/x'],
    ['/api%2Fadmin', '/api%2Fadmin', '/api%2Fadmin', '/api/admin'],
    ['/api%2fadmin', '/api%2Fadmin', '/api%2Fadmin', '/api/admin'],
    ['/api/%2e%2e/admin', '/api/%2E%2E/admin', '/admin', '/admin'],
    ['/api/x/../admin', '/api/x/../admin', '/api/admin', '/api/admin'],
    ['/api/./admin', '/api/./admin', '/api/admin', '/api/admin'],
    ['//api/x', '//api/x', '//api/x', '/api/x'],
    ['/api//admin', '/api//admin', '/api//admin', '/api/admin'],
    // Where merging slashes first and resolving as RFC 3986 (or a WHATWG URL parser) part ways.
    ['/api/admin//..', '/api/admin//..', '/api/admin/', '/api/'],
    // An encoded slash is data to RFC 3986, a separator to a server that decodes it first.
    ['/api/admin/x%2F..%2F..%2Fusers', '/api/admin/x%2F..%2F..%2Fusers', '/api/admin/x%2F..%2F..%2Fusers', '/api/users'],
    ['/api\\admin/users', '/api\\admin/users', '/api\\admin/users', '/api/admin/users'],
    ['/api;/admin/users', '/api;/admin/users', '/api;/admin/users', '/api/admin/users'],
    ['/api/x/..;/admin', '/api/x/..;/admin', '/api/x/..;/admin', '/api/admin'],
    ['/../../x', '/../../x', '/x', '/x'],
    ['/a/b/..', '/a/b/..', '/a/', '/a/'],
    ['/a/b/.', '/a/b/.', '/a/b/', '/a/b/'],
    ['/api/..', '/api/..', '/', '/'],
    // The query is not part of the path.
    ['/api/./x?a=%2e%2e', '/api/./x', '/api/x', '/api/x'],
    // A "%" without two hex digits stays; decoding happens once (%252e is "%2e", not ".").
    ['/api/%zz/x', '/api/%zz/x', '/api/%zz/x', '/api/%zz/x'],
    ['/api/%252e%252e/admin', '/api/%252e%252e/admin', '/api/%252e%252e/admin', '/api/%2e%2e/admin'],
    // A dot starting a segment name is no dot-segment.
    ['/.well-known/x', '/.well-known/x', '/.well-known/x', '/.well-known/x'],
    // Octets outside ASCII: encoded (upper-case hex) in the first two, one char each in the broadest.
    ['/caf%c3%a9', '/caf%C3%A9', '/caf%C3%A9', '/caf\u00c3\u00a9'],
  ])('%s → %s | %s | %s', (target, asSent, rfc3986, broadest) => {
    expect(pathSpellings(target)).toEqual([asSent, rfc3986, broadest]);
  });

  it('config prefixes take the same forms', () => {
    expect(prefixSpellings('/api/admin')).toEqual(['/api/admin', '/api/admin', '/api/admin']);
    expect(prefixSpellings('/api/')).toEqual(['/api/', '/api/', '/api/']);
    expect(prefixSpellings('/café')).toEqual(['/caf%C3%A9', '/caf%C3%A9', '/caf\u00c3\u00a9']);
    expect(prefixSpellings('/api//v1')).toEqual(['/api//v1', '/api//v1', '/api/v1']);
  });
});

describe('matchRoute: every spelling must pick the route', () => {
  const config = {
    upstreams: { s: 'http://127.0.0.1:1', c: 'http://127.0.0.1:2' },
    routes: [
      { name: 'admin', match: { pathPrefix: '/api/admin' }, stable: 's' },
      { name: 'api', match: { pathPrefix: '/api' }, stable: 's', canary: 'c', weight: 0 },
      { name: 'cafe', match: { host: 'internal.example.com', pathPrefix: '/café' }, stable: 's' },
      { name: 'web', stable: 's' },
    ],
  };
  const normalized = compileTable(validateConfig(config), 1);
  const raw = compileTable(validateConfig({ ...config, pathMatching: 'raw' }), 1);
  const nameOf = (route: ReturnType<typeof matchRoute>): string | undefined => (route === AMBIGUOUS_PATH ? 'AMBIGUOUS' : route?.name);

  it.each([
    ['/api/admin', 'admin', 'admin'],
    ['/api/orders', 'api', 'api'],
    ['/api/orders/%20x', 'api', 'api'],
    ['/static//app.js', 'web', 'web'],
    ['/API/x', 'web', 'web'],
    ['/api/admin/users/./me', 'admin', 'admin'],
    // Spellings that reach /api/admin, or leave /api, through the /api route: refused, not guessed.
    ['/api/%61dmin', 'AMBIGUOUS', 'api'],
    ['/api//admin', 'AMBIGUOUS', 'api'],
    ['/api/./admin', 'AMBIGUOUS', 'api'],
    ['/api/x/../admin', 'AMBIGUOUS', 'api'],
    ['/api/x/%2e%2e/admin', 'AMBIGUOUS', 'api'],
    ['/api%2Fadmin', 'AMBIGUOUS', 'api'],
    ['/api\\admin/users', 'AMBIGUOUS', 'api'],
    ['/api;/admin/users', 'AMBIGUOUS', 'api'],
    ['/api/../checkout/pay', 'AMBIGUOUS', 'api'],
    // And the other way: out of the stricter route into a wider one.
    ['/api/admin/../../web', 'AMBIGUOUS', 'admin'],
    ['/api/admin/x%2F..%2F..%2Fusers', 'AMBIGUOUS', 'admin'],
    ['/api/admin//..', 'AMBIGUOUS', 'admin'],
  ])('%s → %s (raw: %s)', (target, expected, asRaw) => {
    expect(nameOf(matchRoute(normalized, 'example.com', target))).toBe(expected);
    expect(nameOf(matchRoute(raw, 'example.com', target))).toBe(asRaw);
  });

  it('a non-ASCII prefix matches its percent-encoded UTF-8 form, in either hex case', () => {
    expect(nameOf(matchRoute(normalized, 'internal.example.com', '/caf%C3%A9/menu'))).toBe('cafe');
    expect(nameOf(matchRoute(normalized, 'internal.example.com', '/caf%c3%a9/menu'))).toBe('cafe');
    expect(nameOf(matchRoute(normalized, 'internal.example.com', '/cafe/menu'))).toBe('web');
  });

  it('a host with a trailing dot is the same host', () => {
    expect(nameOf(matchRoute(normalized, 'internal.example.com.', '/caf%C3%A9'))).toBe('cafe');
    expect(nameOf(matchRoute(normalized, 'INTERNAL.example.com.:8080', '/caf%C3%A9'))).toBe('cafe');
    expect(nameOf(matchRoute(normalized, 'internal.example.com..', '/caf%C3%A9'))).toBe('web');
  });
});
