/**
 * Claims in routing, without sockets: the `claims` rule kind in decideRoute (pure, on plain claim objects), the
 * compiled flags that tell the data path whether to look at a token at all, the shared claim matcher, and the
 * config errors (with paths) for bad `jwt` settings.
 */
import { describe, expect, it } from 'vitest';
import { validateConfig } from '../src/config/load.js';
import { ConfigError } from '../src/errors.js';
import { claimsMatch, compileClaimMatchers } from '../src/routing/claim-match.js';
import { buildContext, type Entropy } from '../src/routing/context.js';
import { decideRoute } from '../src/routing/decide.js';
import { compileTable } from '../src/routing/table.js';

const FIXED: Entropy = { newId: () => 'fresh-id', random: () => 0.5 };
const JWT = { jwks: { url: 'https://idp.example.com/.well-known/jwks.json' }, issuer: 'https://idp.example.com', audience: 'api' };

function tableOf(raw: Record<string, unknown>) {
  return compileTable(
    validateConfig({
      upstreams: { s: 'http://127.0.0.1:1', c: 'http://127.0.0.1:2' },
      ...raw,
    }),
    1,
  );
}

/** The `path: message` lines of the ConfigError thrown for `raw`. */
function problems(raw: Record<string, unknown>): string[] {
  try {
    validateConfig({ upstreams: { s: 'http://127.0.0.1:1', c: 'http://127.0.0.1:2' }, ...raw });
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).issues.map((issue) => `${issue.path}: ${issue.message}`);
  }
  throw new Error('expected the config to be rejected');
}

describe('claims rules in decideRoute', () => {
  const route = tableOf({
    jwt: JWT,
    routes: [
      {
        name: 'api',
        stable: 's',
        canary: 'c',
        weight: 0,
        rules: [
          { match: { claims: { email: '~@example\\.com$' } }, version: 'canary' },
          { match: { claims: { groups: 'beta', plan: 'pro' } }, version: 'canary' },
          { match: { claims: { employee: 'true' }, headers: { 'x-ring': 'inner' } }, version: 'canary' },
        ],
      },
    ],
  }).routes[0];

  it.each([
    ['no claims (no token, or an invalid one)', null, {}, 'stable', 'weight', -1],
    ['an email at the domain', { email: 'alice@example.com' }, {}, 'canary', 'rule', 0],
    ['an email elsewhere', { email: 'alice@example.com.evil.test' }, {}, 'stable', 'weight', -1],
    ['an array claim matches by any element', { groups: ['staff', 'beta'], plan: 'pro' }, {}, 'canary', 'rule', 1],
    ['every claim of a rule must match', { groups: ['beta'], plan: 'free' }, {}, 'stable', 'weight', -1],
    ['a boolean claim matches its JSON text, with the rule’s header', { employee: true }, { 'x-ring': 'inner' }, 'canary', 'rule', 2],
    ['…and not without the header', { employee: true }, {}, 'stable', 'weight', -1],
    ['an object claim never matches', { email: { value: 'alice@example.com' } }, {}, 'stable', 'weight', -1],
  ] as const)('%s', (_name, claims, headers, version, reason, rule) => {
    const context = buildContext(route, headers, '10.0.0.1', FIXED).withClaims(claims);
    expect(decideRoute(route, context)).toEqual({ version, reason, rule });
  });

  it('a claim sent as a plain header is not a claim', () => {
    const context = buildContext(route, { email: 'alice@example.com', authorization: 'Bearer forged' }, '10.0.0.1', FIXED);
    expect(context.claims).toBeNull();
    expect(decideRoute(route, context).version).toBe('stable');
  });
});

describe('compiled flags: who needs a token verified', () => {
  const table = tableOf({
    jwt: JWT,
    routes: [
      { name: 'reads-claims', match: { pathPrefix: '/a' }, stable: 's', canary: 'c', rules: [{ match: { claims: { sub: 'u1' } }, version: 'canary' }] },
      { name: 'reads-none', match: { pathPrefix: '/b' }, stable: 's', canary: 'c', rules: [{ match: { headers: { 'x-beta': 'true' } }, version: 'canary' }] },
      {
        name: 'own-jwt-from-cookie',
        match: { pathPrefix: '/c' },
        stable: 's',
        canary: 'c',
        jwt: { ...JWT, from: 'cookie:id_token', audience: 'web' },
        rules: [{ match: { claims: { sub: 'u1' } }, version: 'canary' }],
      },
    ],
  });
  const [readsClaims, readsNone, ownJwt] = table.routes;

  it('only routes with a claims rule read claims, with the jwt settings in force for them', () => {
    expect(readsClaims.readsClaims).toBe(true);
    expect(readsClaims.jwt?.audience).toEqual(['api']);
    expect(readsNone.readsClaims).toBe(false);
    expect(readsNone.jwt).toBeNull();
    expect(ownJwt.jwt?.audience).toEqual(['web']);
    expect(ownJwt.jwt?.from).toEqual({ kind: 'cookie', name: 'id_token' });
  });

  it('the token header is collected for routing; a cookie source makes the route parse cookies', () => {
    expect(table.headerNames.has('authorization')).toBe(true);
    expect(ownJwt.readsCookies).toBe(true);
  });

  it('without any claims rule, no route looks at Authorization', () => {
    const plain = tableOf({ jwt: JWT, routes: [{ name: 'api', stable: 's', canary: 'c' }] });
    expect(plain.routes[0].readsClaims).toBe(false);
    expect(plain.headerNames.has('authorization')).toBe(false);
  });
});

describe('claim matcher (shared with release-plan audiences)', () => {
  it('matches exact and regex values against verified claims only', () => {
    const matchers = compileClaimMatchers({ email: '~@example\\.com$', tier: '3' });
    expect(claimsMatch(matchers, { email: 'bob@example.com', tier: 3 })).toBe(true);
    expect(claimsMatch(matchers, { email: 'bob@example.com', tier: 4 })).toBe(false);
    expect(claimsMatch(matchers, { email: 'bob@example.com' })).toBe(false);
    expect(claimsMatch(matchers, null)).toBe(false);
    expect(claimsMatch(compileClaimMatchers({}), null)).toBe(true);
  });

  it('does not read inherited properties as claims', () => {
    expect(claimsMatch(compileClaimMatchers({ constructor: '~.' }), {})).toBe(false);
  });
});

describe('jwt config validation', () => {
  const route = { name: 'api', stable: 's', canary: 'c' };
  const claimsRule = { match: { claims: { email: 'a@example.com' } }, version: 'canary' };

  it('fills defaults', () => {
    const config = validateConfig({ upstreams: { s: 'http://127.0.0.1:1' }, routes: [{ name: 'api', stable: 's' }], jwt: JWT });
    expect(config.jwt).toMatchObject({
      from: { kind: 'header', name: 'authorization' },
      jwks: { url: JWT.jwks.url, timeout: 2000, cooldown: 30_000, maxAge: 600_000 },
      clockTolerance: 5000,
      cacheSize: 10_000,
      maxAge: 300_000,
    });
    expect(config.jwt!.algorithms).not.toContain('none');
    expect(config.jwt!.algorithms).not.toContain('HS256');
  });

  it('a claims rule needs jwt somewhere', () => {
    expect(problems({ routes: [{ ...route, rules: [claimsRule] }] })).toEqual([
      'routes[0].rules[0].match.claims: needs jwt (top-level or on the route) to verify the token claims come from',
    ]);
  });

  it.each([
    [{ ...JWT, from: 'query:token' }, 'jwt.from: must be header:NAME or cookie:NAME (got "query:token")'],
    [{ ...JWT, jwks: { url: 'http://idp.example.com/jwks' } }, 'jwt.jwks.url: must use https:// (http:// only to a loopback host; got "http://idp.example.com/jwks")'],
    [{ ...JWT, jwks: { url: 'https://idp.example.com/jwks', timeout: 'soon' } }, 'jwt.jwks.timeout: must be a duration such as 500ms, 5s or 1m (got "soon")'],
    [{ ...JWT, jwks: {} }, 'jwt.jwks: must set exactly one of url or file'],
    [{ ...JWT, jwks: { url: JWT.jwks.url, file: 'jwks.json' } }, 'jwt.jwks: must set exactly one of url or file'],
    [{ ...JWT, jwks: { uri: JWT.jwks.url } }, 'jwt.jwks: unknown field "uri"'],
    [{ ...JWT, algorithms: ['none'] }, "jwt.algorithms[0]: Invalid enum value. Expected 'RS256' | 'RS384' | 'RS512' | 'PS256' | 'PS384' | 'PS512' | 'ES256' | 'ES384' | 'ES512' | 'EdDSA' | 'Ed25519', received 'none'"],
    [{ ...JWT, algorithms: ['HS256'] }, "jwt.algorithms[0]: Invalid enum value. Expected 'RS256' | 'RS384' | 'RS512' | 'PS256' | 'PS384' | 'PS512' | 'ES256' | 'ES384' | 'ES512' | 'EdDSA' | 'Ed25519', received 'HS256'"],
    [{ jwks: JWT.jwks, audience: 'api' }, 'jwt.issuer: is required'],
    [{ ...JWT, audience: [] }, 'jwt.audience: must list at least one'],
    [{ ...JWT, cacheSize: -1 }, 'jwt.cacheSize: Number must be greater than or equal to 0'],
    [{ ...JWT, clockTolerance: '1h' }, 'jwt.clockTolerance: must be at most 5m'],
    [{ ...JWT, jwks: { file: '/nonexistent/jwks.json' } }, 'jwt.jwks.file: cannot read /nonexistent/jwks.json: ENOENT'],
  ])('%j', (jwt, expected) => {
    expect(problems({ jwt, routes: [route] })).toContain(expected);
  });

  it('a route’s own jwt is checked at its path, and a bad claims pattern at the rule', () => {
    const lines = problems({
      routes: [{ ...route, jwt: { ...JWT, issuer: '' }, rules: [{ match: { claims: { email: '~(?=x)' } }, version: 'canary' }] }],
    });
    expect(lines).toContain('routes[0].jwt.issuer[0]: String must contain at least 1 character(s)');
    expect(lines.some((line) => line.startsWith('routes[0].rules[0].match.claims.email: invalid regular expression'))).toBe(true);
  });
});
