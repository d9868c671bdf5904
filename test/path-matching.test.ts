/**
 * Route prefixes match the path as an origin server resolves it (src/routing/path.ts): each case below is one a
 * client used to reach a stable-pinned path through a canary route, with what RFC 3986 §5.2.4 / §6.2.2 and NGINX
 * make of it worked out by hand.
 */
import { describe, expect, it } from 'vitest';
import { validateConfig } from '../src/config/load.js';
import { matchRoute } from '../src/routing/match.js';
import { matchablePath, matchablePrefix } from '../src/routing/path.js';
import { compileTable } from '../src/routing/table.js';

describe('matchablePath', () => {
  it.each([
    // Nothing to resolve: the same string back.
    ['/api/admin', '/api/admin'],
    ['/', '/'],
    ['/api/x?next=/../admin', '/api/x?next=/../admin'],
    ['/.well-known/x', '/.well-known/x'],
    // Percent-encoded octets, unreserved or not (%2F too, as NGINX decodes before matching).
    ['/api/%61dmin', '/api/admin'],
    ['/ap%69/x', '/api/x'],
    ['/api%2Fadmin', '/api/admin'],
    ['/api%2fadmin', '/api/admin'],
    ['/api/%2e%2e/admin', '/admin'],
    ['/api/x/%2e%2e%2fadmin', '/api/admin'],
    // Dot-segments (RFC 3986 §5.2.4) and repeated slashes.
    ['/api/../admin', '/admin'],
    ['/api/x/../admin', '/api/admin'],
    ['/api/./admin', '/api/admin'],
    ['/./api/x', '/api/x'],
    ['//api/x', '/api/x'],
    ['/api//admin', '/api/admin'],
    ['/api/admin/../../web', '/web'],
    ['/../../x', '/x'],
    ['/a/b/..', '/a/'],
    ['/a/b/.', '/a/b/'],
    ['/api/', '/api/'],
    ['/api/..', '/'],
    // The query is not part of the path: left as is.
    ['/api/./x?a=%2e%2e', '/api/x?a=%2e%2e'],
    // A "%" without two hex digits stays; decoding happens once (%252e is "%2e", not ".").
    ['/api/%zz/x', '/api/%zz/x'],
    ['/api/%2', '/api/%2'],
    ['/api/%252e%252e/admin', '/api/%2e%2e/admin'],
    // Octets above 0x7f, one char each.
    ['/caf%C3%A9', '/caf\u00c3\u00a9'],
  ])('%s → %s', (target, expected) => {
    expect(matchablePath(target)).toBe(expected);
  });

  it('config prefixes take the same form', () => {
    expect(matchablePrefix('/api/admin')).toBe('/api/admin');
    expect(matchablePrefix('/api/')).toBe('/api/');
    expect(matchablePrefix('/café')).toBe(matchablePath('/caf%C3%A9'));
    expect(matchablePrefix('/api//v1')).toBe('/api/v1');
  });
});

describe('matchRoute on resolved paths', () => {
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

  it.each([
    ['/api/admin', 'admin', 'admin'],
    ['/api/%61dmin', 'admin', 'api'],
    ['/api//admin', 'admin', 'api'],
    ['/api/./admin', 'admin', 'api'],
    ['/api/x/../admin', 'admin', 'api'],
    ['/api/x/%2e%2e/admin', 'admin', 'api'],
    ['/api%2Fadmin', 'admin', 'api'],
    ['/api/../checkout/pay', 'web', 'api'],
    ['/api/%2e%2e/checkout/pay', 'web', 'api'],
    ['/api/admin/../../web', 'web', 'admin'],
    ['/api/orders', 'api', 'api'],
    ['/API/x', 'web', 'web'],
  ])('%s → %s (raw: %s)', (target, expected, asRaw) => {
    expect(matchRoute(normalized, 'example.com', target)?.name).toBe(expected);
    expect(matchRoute(raw, 'example.com', target)?.name).toBe(asRaw);
  });

  it('a non-ASCII prefix matches its percent-encoded UTF-8 form', () => {
    expect(matchRoute(normalized, 'internal.example.com', '/caf%C3%A9/menu')?.name).toBe('cafe');
    expect(matchRoute(normalized, 'internal.example.com', '/cafe/menu')?.name).toBe('web');
  });

  it('a host with a trailing dot is the same host', () => {
    expect(matchRoute(normalized, 'internal.example.com.', '/caf%C3%A9')?.name).toBe('cafe');
    expect(matchRoute(normalized, 'INTERNAL.example.com.:8080', '/caf%C3%A9')?.name).toBe('cafe');
    expect(matchRoute(normalized, 'internal.example.com..', '/caf%C3%A9')?.name).toBe('web');
  });
});
