/**
 * A path servers could read differently must pick the same route read as sent and read the broadest way, and one
 * with a dot-segment, a fragment or an encoded NUL is refused (src/routing/path.ts): the cases below are ones
 * reviewers used to reach a stable-pinned path through a canary route, or to leave a route for a wider one, end to
 * end against nginx, a WHATWG URL parser and Tomcat's rules; their readings are worked out by hand.
 */
import { describe, expect, it } from 'vitest';
import { validateConfig } from '../src/config/load.js';
import { AMBIGUOUS_PATH, matchRoute } from '../src/routing/match.js';
import { isPlainPrefix, readPath } from '../src/routing/path.js';
import { compileTable } from '../src/routing/table.js';

describe('readPath', () => {
  it.each(['/api/admin', '/', '/api/x?next=/../admin&y=%2F#x', '/api/v1/users/42', '/api/'])('%s has nothing to read another way', (target) => {
    expect(readPath(target)).toBeNull();
  });

  it.each([
    // [target, its broadest reading: every octet decoded, \ as /, ;params cut, slashes merged]
    ['/api/%61dmin', '/api/admin'],
    ['/api%2Fadmin', '/api/admin'],
    ['/api%2fadmin', '/api/admin'],
    ['/api//admin', '/api/admin'],
    ['//api/x', '/api/x'],
    ['/api\\admin/users', '/api/admin/users'],
    ['/api;/admin/users', '/api/admin/users'],
    ['/api;jsessionid=1/x', '/api/x'],
    ['/api/orders/John%20Doe', '/api/orders/John Doe'],
    ['/.well-known/x', '/.well-known/x'],
    ['/api/%zz/x', '/api/%zz/x'],
    ['/caf%C3%A9', '/caf\u00c3\u00a9'],
    // Decoded once: %252e is "%2e" to every server that decodes once.
    ['/api/%252e%252e/admin', '/api/%2e%2e/admin'],
  ])('%s reads at broadest as %s', (target, broadest) => {
    expect(readPath(target)).toEqual({ broadest });
  });

  it.each([
    '/api/x/../admin',
    '/api/./admin',
    '/api/admin/..',
    '/api/%2e%2e/admin',
    '/api/.%2E/admin',
    '/api/admin//..',
    '/api/admin/x%2F..%2F..%2Fusers',
    '/api/public%2F..%2Fadmin%2F..;%2Fx',
    '/api/public%2F..%2Fadmin%2F..\\x',
    '/api/public%2F..%2Fadmin%2F..%5Cx',
    '/api/public\\..\\admin\\\\..\\x',
    '/api/x/..;/admin',
    '/api/x/..%3B/admin',
    '/api/public%2F..%2Fadmin#/../x',
    '/api/admin/..#',
    '/api/admin%00/../x',
    '/api/admin%00',
  ])('%s is ambiguous: refused', (target) => {
    expect(readPath(target)).toBe('ambiguous');
  });
});

describe('isPlainPrefix', () => {
  it.each(['/', '/api', '/api/', '/api/admin', '/@myorg/', "/a-b_c.d~e!$&'()*+,=:@"])('%s is plain', (prefix) => {
    expect(isPlainPrefix(prefix)).toBe(true);
  });
  it.each(['/%41pi', '/api//v1', '/api/./x', '/api/..', '/api;x', '/api\\x', '/café', '/api?x', '/api#x', 'api'])('%s is not', (prefix) => {
    expect(isPlainPrefix(prefix)).toBe(false);
  });
});

describe('matchRoute: a path must pick the same route read every way', () => {
  const config = {
    upstreams: { s: 'http://127.0.0.1:1', c: 'http://127.0.0.1:2' },
    routes: [
      { name: 'admin', match: { pathPrefix: '/api/admin' }, stable: 's' },
      { name: 'api', match: { pathPrefix: '/api' }, stable: 's', canary: 'c', weight: 0 },
      { name: 'menu', match: { host: 'internal.example.com', pathPrefix: '/menu' }, stable: 's' },
      { name: 'web', stable: 's' },
    ],
  };
  const normalized = compileTable(validateConfig(config), 1);
  const raw = compileTable(validateConfig({ ...config, pathMatching: 'raw' }), 1);
  const nameOf = (route: ReturnType<typeof matchRoute>): string | undefined => (route === AMBIGUOUS_PATH ? 'AMBIGUOUS' : route?.name);

  it.each([
    ['/api/admin', 'admin', 'admin'],
    ['/api/orders', 'api', 'api'],
    ['/api/orders/John%20Doe', 'api', 'api'],
    ['/api/orders/a%2Fb', 'api', 'api'],
    ['/api;jsessionid=1/orders', 'api', 'api'],
    ['/static//app.js', 'web', 'web'],
    ['/API/x', 'web', 'web'],
    // Spellings that reach /api/admin, or leave /api, through the /api route: refused, not guessed.
    ['/api/%61dmin', 'AMBIGUOUS', 'api'],
    ['/api//admin', 'AMBIGUOUS', 'api'],
    ['/api/./admin', 'AMBIGUOUS', 'api'],
    ['/api/x/../admin', 'AMBIGUOUS', 'api'],
    ['/api%2Fadmin', 'AMBIGUOUS', 'api'],
    ['/api\\admin/users', 'AMBIGUOUS', 'api'],
    ['/api;/admin/users', 'AMBIGUOUS', 'api'],
    ['/api/../checkout/pay', 'AMBIGUOUS', 'api'],
    ['/api/public%2F..%2Fadmin%2F..;%2Fx', 'AMBIGUOUS', 'api'],
    ['/api/public%2F..%2Fadmin#/../x', 'AMBIGUOUS', 'api'],
    // And the other way: out of the stricter route into a wider one.
    ['/api/admin/../../web', 'AMBIGUOUS', 'admin'],
    ['/api/admin/x%2F..%2F..%2Fusers', 'AMBIGUOUS', 'admin'],
    ['/api/admin//..', 'AMBIGUOUS', 'admin'],
    ['/api/admin/..#', 'AMBIGUOUS', 'admin'],
  ])('%s → %s (raw: %s)', (target, expected, asRaw) => {
    expect(nameOf(matchRoute(normalized, 'example.com', target))).toBe(expected);
    expect(nameOf(matchRoute(raw, 'example.com', target))).toBe(asRaw);
  });

  it('the config refuses a prefix that is not plain, unless pathMatching is raw', () => {
    const odd = { ...config, routes: [{ name: 'odd', match: { pathPrefix: '/%41pi' }, stable: 's' }] };
    expect(() => validateConfig(odd)).toThrow(/is not plain/);
    expect(() => validateConfig({ ...odd, pathMatching: 'raw' })).not.toThrow();
  });

  it('a host with a trailing dot is the same host', () => {
    expect(nameOf(matchRoute(normalized, 'internal.example.com.', '/menu'))).toBe('menu');
    expect(nameOf(matchRoute(normalized, 'INTERNAL.example.com.:8080', '/menu'))).toBe('menu');
    expect(nameOf(matchRoute(normalized, 'internal.example.com..', '/menu'))).toBe('web');
  });
});
