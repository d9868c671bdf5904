import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { validateConfig } from '../src/config/load.js';
import { buildContext, type Entropy } from '../src/routing/context.js';
import { decideRoute } from '../src/routing/decide.js';
import { bucketOf } from '../src/routing/hash.js';
import { matchRoute } from '../src/routing/match.js';
import { compileTable, type CompiledRoute, type RuntimeOverrides } from '../src/routing/table.js';

const FIXED: Entropy = { newId: () => 'fresh-id', random: () => 0.5 };

function routeOf(route: Record<string, unknown>, runtime: RuntimeOverrides = {}): CompiledRoute {
  const config = validateConfig({
    upstreams: { s: 'http://127.0.0.1:1', c: 'http://127.0.0.1:2' },
    routes: [{ name: 'api', stable: 's', canary: 'c', ...route }],
  });
  return compileTable(config, 1, runtime).routes[0];
}

function decide(route: CompiledRoute, headers: Record<string, string>, clientIp = '10.0.0.1') {
  return decideRoute(route, buildContext(route, headers, clientIp, FIXED));
}

/** A user id whose bucket on route "api" is below (canary) or at/above (stable) `buckets`. */
function userWithBucket(predicate: (bucket: number) => boolean): string {
  for (let i = 0; ; i++) if (predicate(bucketOf('api', `user-${i}`))) return `user-${i}`;
}

describe('decideRoute precedence', () => {
  const route = routeOf({
    weight: 0,
    sticky: { key: ['header:x-user-id'] },
    region: { header: 'x-region' },
    rules: [
      { match: { headers: { 'x-beta': 'true' } }, version: 'canary' },
      { match: { headers: { 'user-agent': '~Mobile' } }, version: 'stable' },
      { match: { cookies: { plan: 'gold' } }, version: 'canary' },
      { match: { region: ['EU-West'] }, weight: 100 },
    ],
  });

  it.each([
    ['nothing special → weight 0', {}, 'stable', 'weight', -1],
    ['override header always', { 'x-canary': 'always' }, 'canary', 'override_header', -1],
    ['override header never beats a canary rule', { 'x-canary': 'never', 'x-beta': 'true' }, 'stable', 'override_header', -1],
    ['override header is case-insensitive and trimmed', { 'x-canary': ' Always ' }, 'canary', 'override_header', -1],
    ['override cookie always', { cookie: 'canary=always' }, 'canary', 'override_cookie', -1],
    ['override header beats override cookie', { 'x-canary': 'never', cookie: 'canary=always' }, 'stable', 'override_header', -1],
    ['override cookie beats rules', { cookie: 'canary=never', 'x-beta': 'true' }, 'stable', 'override_cookie', -1],
    ['unknown override value is ignored', { 'x-canary': 'sometimes', 'x-beta': 'true' }, 'canary', 'rule', 0],
    ['first matching rule wins', { 'x-beta': 'true', 'user-agent': 'Mobile Safari' }, 'canary', 'rule', 0],
    ['regex rule', { 'user-agent': 'Mozilla (Mobile)' }, 'stable', 'rule', 1],
    ['exact rule needs the exact value', { 'x-beta': 'TRUE' }, 'stable', 'weight', -1],
    ['cookie rule', { cookie: 'a=1; plan=gold' }, 'canary', 'rule', 2],
    ['region rule with its own weight (case-insensitive region)', { 'x-region': 'eu-west' }, 'canary', 'rule_weight', 3],
    ['region not listed falls through to weight', { 'x-region': 'us-east' }, 'stable', 'weight', -1],
    ['malformed cookie header does not match', { cookie: 'plan=%E0%A4%A; canary' }, 'stable', 'weight', -1],
  ])('%s', (_name, headers, version, reason, rule) => {
    expect(decide(route, headers as Record<string, string>)).toEqual({ version, reason, rule });
  });

  it('kill switch beats every override and rule', () => {
    const killed = routeOf({ weight: 50, rules: [{ match: { headers: { 'x-beta': 'true' } }, version: 'canary' }] }, { killed: new Set(['api']) });
    expect(decide(killed, { 'x-canary': 'always', 'x-beta': 'true' })).toEqual({ version: 'stable', reason: 'kill_switch', rule: -1 });
  });

  it('a route without a canary always goes to stable', () => {
    const config = validateConfig({ upstreams: { s: 'http://127.0.0.1:1' }, routes: [{ name: 'plain', stable: 's' }] });
    const plain = compileTable(config, 1).routes[0];
    expect(decide(plain, { 'x-canary': 'always' })).toEqual({ version: 'stable', reason: 'no_canary', rule: -1 });
  });

  it('overrides can be switched off', () => {
    const strict = routeOf({ weight: 0, overrides: false });
    expect(decide(strict, { 'x-canary': 'always', cookie: 'canary=always' }).version).toBe('stable');
  });

  it('a rule weight uses the same sticky bucket as the route weight', () => {
    const halfRule = routeOf({ weight: 0, sticky: { key: ['header:x-user-id'] }, rules: [{ match: { headers: { 'x-r': '1' } }, weight: 50 }] });
    const low = userWithBucket((b) => b < 5000);
    const high = userWithBucket((b) => b >= 5000);
    expect(decide(halfRule, { 'x-r': '1', 'x-user-id': low })).toEqual({ version: 'canary', reason: 'rule_weight', rule: 0 });
    expect(decide(halfRule, { 'x-r': '1', 'x-user-id': high })).toEqual({ version: 'stable', reason: 'rule_weight', rule: 0 });
  });
});

describe('weighted sticky split', () => {
  it('bucket b goes to canary iff b < weight·100 (boundaries)', () => {
    const route = routeOf({ weight: 12.34, sticky: { key: ['header:x-user-id'] } });
    const justIn = userWithBucket((b) => b === 1233);
    const justOut = userWithBucket((b) => b === 1234);
    expect(decide(route, { 'x-user-id': justIn }).version).toBe('canary');
    expect(decide(route, { 'x-user-id': justOut }).version).toBe('stable');
  });

  it('raising the weight only ever moves users stable → canary', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1 }), fc.integer({ min: 0, max: 10_000 }), fc.integer({ min: 0, max: 10_000 }), (user, a, b) => {
        const [low, high] = a <= b ? [a / 100, b / 100] : [b / 100, a / 100];
        const before = decide(routeOf({ weight: low, sticky: { key: ['header:x-user-id'] } }), { 'x-user-id': user });
        const after = decide(routeOf({ weight: high, sticky: { key: ['header:x-user-id'] } }), { 'x-user-id': user });
        if (before.version === 'canary') expect(after.version).toBe('canary');
      }),
      { numRuns: 2_000 },
    );
  });

  it('uses the first key source present, in order', () => {
    const route = routeOf({ weight: 50, sticky: { key: ['header:x-user-id', 'cookie:session', 'ip'] } });
    const byHeader = buildContext(route, { 'x-user-id': 'u1', cookie: 'session=s1' }, '10.1.1.1', FIXED);
    const byCookie = buildContext(route, { cookie: 'session=s1' }, '10.1.1.1', FIXED);
    const byIp = buildContext(route, {}, '10.1.1.1', FIXED);
    expect([byHeader.stickyKey, byCookie.stickyKey, byIp.stickyKey]).toEqual(['u1', 's1', '10.1.1.1']);
    expect([byHeader.issuedId, byCookie.issuedId, byIp.issuedId]).toEqual([null, null, null]);
  });

  it('issues an id (and hashes it) when the client has no key, and reads it back from the cookie', () => {
    const route = routeOf({ weight: 50, sticky: { key: ['header:x-user-id'], cookie: { name: 'sg_uid', maxAge: 60 } } });
    const first = buildContext(route, {}, '10.1.1.1', FIXED);
    expect(first.issuedId).toBe('fresh-id');
    expect(first.bucket).toBe(bucketOf('api', 'fresh-id'));
    const again = buildContext(route, { cookie: 'sg_uid=fresh-id' }, '10.1.1.1', FIXED);
    expect(again.issuedId).toBeNull();
    expect(again.bucket).toBe(first.bucket);
    expect(route.stickyCookie).toEqual({ name: 'sg_uid', attributes: '; Max-Age=60; Path=/; HttpOnly; SameSite=Lax' });
  });

  it('without sticky config the bucket is random per request', () => {
    const route = routeOf({ weight: 50 });
    expect(buildContext(route, {}, '1.1.1.1', { newId: () => 'x', random: () => 0.4999 }).bucket).toBe(4999);
    expect(decideRoute(route, buildContext(route, {}, '1.1.1.1', { newId: () => 'x', random: () => 0.4999 })).version).toBe('canary');
    expect(decideRoute(route, buildContext(route, {}, '1.1.1.1', { newId: () => 'x', random: () => 0.5 })).version).toBe('stable');
  });

  it('operator weight overrides the config weight', () => {
    const route = routeOf({ weight: 0 }, { weights: { api: { weight: 100, source: 'operator' } } });
    expect(route.weight).toBe(100);
    expect(route.weightSource).toBe('operator');
    expect(decide(route, {}).version).toBe('canary');
  });
});

describe('matchRoute', () => {
  const config = validateConfig({
    upstreams: { s: 'http://127.0.0.1:1' },
    routes: [
      { name: 'exact-host', match: { host: 'API.example.com', pathPrefix: '/v1' }, stable: 's' },
      { name: 'wildcard', match: { host: '*.example.com' }, stable: 's' },
      { name: 'prefix', match: { pathPrefix: '/static' }, stable: 's' },
      { name: 'fallback', stable: 's' },
    ],
  });
  const table = compileTable(config, 1);

  it.each([
    ['api.example.com', '/v1/users', 'exact-host'],
    ['API.EXAMPLE.COM:8443', '/v1', 'exact-host'],
    ['api.example.com', '/v2', 'wildcard'],
    ['shop.example.com', '/', 'wildcard'],
    ['example.com', '/static/app.js', 'prefix'],
    ['other.org', '/static', 'prefix'],
    ['other.org', '/', 'fallback'],
    [undefined, '/x', 'fallback'],
  ])('host %s path %s → %s', (host, path, name) => {
    expect((matchRoute(table, host, path) as { name?: string } | undefined)?.name).toBe(name);
  });

  it('no route when nothing matches', () => {
    const narrow = compileTable(validateConfig({ upstreams: { s: 'http://127.0.0.1:1' }, routes: [{ name: 'a', match: { pathPrefix: '/a' }, stable: 's' }] }), 1);
    expect(matchRoute(narrow, 'x', '/b')).toBeUndefined();
  });
});
