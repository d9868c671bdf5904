/**
 * auth/jwt-verifier.ts against a real JWKS server on 127.0.0.1 and tokens signed by jose: what yields claims, what
 * yields null (never a throw), when the key set is fetched again, and what the cache remembers. Clocks are injected;
 * nothing here waits on time.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { JwtVerifier, readBearer, type VerificationResult } from '../src/auth/jwt-verifier.js';
import { JwtVerifierBook } from '../src/auth/verifier-book.js';
import { validateConfig } from '../src/config/load.js';
import type { JwtConfig } from '../src/config/schema.js';
import { closedPort } from './helpers/http.js';
import { AUDIENCE, createSigningKey, ISSUER, signToken, startJwksServer, unsignedToken, type JwksServer, type SigningKey } from './helpers/jwks.js';

const BASE = {
  upstreams: { stable: 'http://127.0.0.1:3001' },
  routes: [{ name: 'api', stable: 'stable' }],
};

function jwtConfig(jwt: Record<string, unknown>): JwtConfig {
  return validateConfig({ ...BASE, jwt: { issuer: ISSUER, audience: AUDIENCE, ...jwt } }).jwt!;
}

/** A verifier with a controllable clock, recording its counts and warnings. */
function makeVerifier(spec: JwtConfig) {
  const counts: VerificationResult[] = [];
  const warnings: Array<Record<string, unknown>> = [];
  const clock = { now: Date.now() };
  const verifier = new JwtVerifier(spec, {
    warn: (fields) => warnings.push(fields),
    count: (result) => counts.push(result),
    now: () => clock.now,
  });
  return { verifier, counts, warnings, clock };
}

const nowSeconds = (): number => Math.floor(Date.now() / 1000);

let keyA: SigningKey;
let keyB: SigningKey;
let attacker: SigningKey;
let jwks: JwksServer;

beforeAll(async () => {
  [keyA, keyB, attacker] = await Promise.all([createSigningKey('key-a'), createSigningKey('key-b', 'RS256'), createSigningKey('key-a')]);
  jwks = await startJwksServer([keyA]);
});

afterEach(() => {
  jwks.serve([keyA]);
  jwks.answerWith(200);
});

afterAll(async () => {
  await jwks?.close();
});

describe('JwtVerifier: what yields claims', () => {
  it('a valid token yields its claims, frozen, and a repeat is answered from the cache without verifying again', async () => {
    const { verifier, counts } = makeVerifier(jwtConfig({ jwks: { url: jwks.url } }));
    const token = await signToken(keyA, { sub: 'u1', email: 'alice@example.com', groups: ['beta'] });
    expect(verifier.cached(token)).toBeUndefined();
    const claims = await verifier.verify(token);
    expect(claims).toMatchObject({ sub: 'u1', email: 'alice@example.com', iss: ISSUER, aud: AUDIENCE });
    expect(Object.isFrozen(claims)).toBe(true);
    expect(Object.isFrozen(claims!.groups)).toBe(true);
    expect(verifier.cached(token)).toBe(claims);
    expect(await verifier.verify(token)).toBe(claims);
    expect(counts).toEqual(['valid']);
  });

  it('concurrent verifications of one token share one signature check', async () => {
    const { verifier, counts } = makeVerifier(jwtConfig({ jwks: { url: jwks.url } }));
    const token = await signToken(keyA, { sub: 'burst' });
    const results = await Promise.all(Array.from({ length: 5 }, () => verifier.verify(token)));
    expect(results.every((claims) => claims?.sub === 'burst')).toBe(true);
    expect(counts).toEqual(['valid']);
  });

  it('a key set from a file verifies without any fetch', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sg-jwks-'));
    const file = join(dir, 'jwks.json');
    await writeFile(file, JSON.stringify({ keys: [keyA.publicJwk] }));
    const { verifier, counts } = makeVerifier(jwtConfig({ jwks: { file } }));
    const before = jwks.fetches();
    expect(await verifier.verify(await signToken(keyA, { sub: 'from-file' }))).toMatchObject({ sub: 'from-file' });
    expect(await verifier.verify(await signToken(keyB, { sub: 'other-key' }))).toBeNull();
    expect(counts).toEqual(['valid', 'unknown_key']);
    expect(jwks.fetches()).toBe(before);
  });

  it('claims are remembered until exp, and never longer than maxAge', async () => {
    const { verifier, clock } = makeVerifier(jwtConfig({ jwks: { url: jwks.url }, maxAge: '5m' }));
    const shortLived = await signToken(keyA, { sub: 'short' }, { exp: nowSeconds() + 60 });
    const longLived = await signToken(keyA, { sub: 'long' }, { exp: nowSeconds() + 3600 });
    await verifier.verify(shortLived);
    await verifier.verify(longLived);
    clock.now += 61_000;
    expect(verifier.cached(shortLived)).toBeUndefined();
    expect(verifier.cached(longLived)).toMatchObject({ sub: 'long' });
    clock.now += 5 * 60_000;
    expect(verifier.cached(longLived)).toBeUndefined();
  });

  it('cacheSize 0 verifies every time', async () => {
    const { verifier, counts } = makeVerifier(jwtConfig({ jwks: { url: jwks.url }, cacheSize: 0 }));
    const token = await signToken(keyA, { sub: 'u' });
    await verifier.verify(token);
    expect(verifier.cached(token)).toBeUndefined();
    await verifier.verify(token);
    expect(counts).toEqual(['valid', 'valid']);
  });
});

const REFUSED: ReadonlyArray<readonly [string, () => Promise<string>, VerificationResult]> = [
  ['expired', () => signToken(keyA, { sub: 'u' }, { exp: nowSeconds() - 3600 }), 'expired'],
  ['wrong issuer', () => signToken(keyA, { sub: 'u' }, { issuer: 'https://evil.test' }), 'invalid'],
  ['wrong audience', () => signToken(keyA, { sub: 'u' }, { audience: 'someone-else' }), 'invalid'],
  ['bad signature (another key under a known kid)', () => signToken(attacker, { sub: 'u' }), 'invalid'],
  ['no exp', () => signToken(keyA, { sub: 'u' }, { exp: null }), 'invalid'],
  ['alg none with a junk signature', async () => unsignedToken({ sub: 'u' }, 'c2ln'), 'invalid'],
  ['a header that is not JSON', async () => 'bm90LWpzb24.eyJzdWIiOiJ1In0.c2ln', 'malformed'],
];

describe('JwtVerifier: what yields no claims (null, never a throw)', () => {
  it.each(REFUSED)('%s', async (_name, makeToken, result) => {
    const { verifier, counts } = makeVerifier(jwtConfig({ jwks: { url: jwks.url } }));
    const token = await makeToken();
    await expect(verifier.verify(token)).resolves.toBeNull();
    expect(counts).toEqual([result]);
  });

  it('a failure that cannot change is remembered: a replayed forgery costs no second check', async () => {
    const { verifier, counts } = makeVerifier(jwtConfig({ jwks: { url: jwks.url } }));
    const forged = await signToken(attacker, { sub: 'u' });
    await verifier.verify(forged);
    expect(verifier.cached(forged)).toBeNull();
    await verifier.verify(forged);
    expect(counts).toEqual(['invalid']);
  });

  it('alg none with an empty signature, and strings that are not tokens, are null synchronously', () => {
    const { verifier, counts } = makeVerifier(jwtConfig({ jwks: { url: jwks.url } }));
    for (const token of [unsignedToken({ sub: 'u' }), 'not-a-token', 'a.b', 'a.b.c.d', 'x'.repeat(9000)]) {
      expect(verifier.cached(token)).toBeNull();
    }
    expect(counts).toEqual([]);
  });

  it('nbf in the future: null now, claims once the clock has passed it (not remembered as a failure)', async () => {
    const { verifier, counts, clock } = makeVerifier(jwtConfig({ jwks: { url: jwks.url }, clockTolerance: '0s' }));
    const token = await signToken(keyA, { sub: 'later' }, { nbf: nowSeconds() + 600, exp: nowSeconds() + 3600 });
    expect(await verifier.verify(token)).toBeNull();
    expect(verifier.cached(token)).toBeUndefined();
    clock.now += 601_000;
    expect(await verifier.verify(token)).toMatchObject({ sub: 'later' });
    expect(counts).toEqual(['invalid', 'valid']);
  });

  it('only the configured algorithms are accepted', async () => {
    const { verifier, counts } = makeVerifier(jwtConfig({ jwks: { url: jwks.url }, algorithms: ['RS256'] }));
    expect(await verifier.verify(await signToken(keyA, { sub: 'es256' }))).toBeNull();
    expect(counts).toEqual(['invalid']);
  });
});

describe('JwtVerifier: the remote key set', () => {
  it('an unknown kid refetches the set (after the cooldown) and verifies once the server has the new key', async () => {
    const { verifier, counts } = makeVerifier(jwtConfig({ jwks: { url: jwks.url, cooldown: 0 } }));
    const start = jwks.fetches();
    expect(await verifier.verify(await signToken(keyA, { sub: 'a' }))).not.toBeNull();
    expect(jwks.fetches()).toBe(start + 1);

    const rotated = await signToken(keyB, { sub: 'b' });
    expect(await verifier.verify(rotated)).toBeNull();
    expect(jwks.fetches()).toBe(start + 2);
    expect(verifier.cached(rotated)).toBeUndefined();

    jwks.serve([keyA, keyB]);
    expect(await verifier.verify(rotated)).toMatchObject({ sub: 'b' });
    expect(jwks.fetches()).toBe(start + 3);
    expect(counts).toEqual(['valid', 'unknown_key', 'valid']);
  });

  it('within the cooldown after a fetch, an unknown kid does not refetch', async () => {
    const { verifier, counts } = makeVerifier(jwtConfig({ jwks: { url: jwks.url, cooldown: '30s' } }));
    const start = jwks.fetches();
    await verifier.verify(await signToken(keyA, { sub: 'a' }));
    jwks.serve([keyA, keyB]);
    expect(await verifier.verify(await signToken(keyB, { sub: 'b' }))).toBeNull();
    expect(await verifier.verify(await signToken(keyB, { sub: 'b2' }))).toBeNull();
    expect(jwks.fetches()).toBe(start + 1);
    expect(counts).toEqual(['valid', 'unknown_key', 'unknown_key']);
  });

  it('a failing JWKS server: null, one warning, a count, and no refetch until the back-off has passed', async () => {
    jwks.answerWith(500);
    const { verifier, counts, warnings, clock } = makeVerifier(jwtConfig({ jwks: { url: jwks.url, cooldown: '30s' } }));
    const start = jwks.fetches();
    expect(await verifier.verify(await signToken(keyA, { sub: 'a' }))).toBeNull();
    expect(await verifier.verify(await signToken(keyA, { sub: 'b' }))).toBeNull();
    expect(jwks.fetches()).toBe(start + 1);
    expect(counts).toEqual(['jwks_unavailable', 'jwks_unavailable']);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ jwks: jwks.url, backoffMs: 30_000 });

    jwks.answerWith(200);
    clock.now += 31_000;
    expect(await verifier.verify(await signToken(keyA, { sub: 'c' }))).toMatchObject({ sub: 'c' });
    expect(jwks.fetches()).toBe(start + 2);
  });

  it('a JWKS server that never answers: null after the fetch timeout, not a hung request', async () => {
    const hung = await startJwksServer([keyA]);
    hung.hang();
    try {
      const { verifier, counts } = makeVerifier(jwtConfig({ jwks: { url: hung.url, timeout: '100ms' } }));
      expect(await verifier.verify(await signToken(keyA, { sub: 'a' }))).toBeNull();
      expect(counts).toEqual(['jwks_unavailable']);
    } finally {
      await hung.close();
    }
  });

  it('a JWKS address with nothing listening: null and a count', async () => {
    const port = await closedPort();
    const { verifier, counts, warnings } = makeVerifier(jwtConfig({ jwks: { url: `http://127.0.0.1:${port}/jwks` } }));
    expect(await verifier.verify(await signToken(keyA, { sub: 'a' }))).toBeNull();
    expect(counts).toEqual(['jwks_unavailable']);
    expect(warnings).toHaveLength(1);
  });
});

describe('reading the token', () => {
  it.each([
    ['Bearer abc.def.ghi', true, 'abc.def.ghi'],
    ['bearer   abc.def.ghi  ', true, 'abc.def.ghi'],
    ['BEARER abc.def.ghi', true, 'abc.def.ghi'],
    ['Basic dXNlcjpwYXNz', true, null],
    ['Bearer ', true, null],
    ['abc.def.ghi', true, null],
    ['abc.def.ghi', false, 'abc.def.ghi'],
    ['Bearer abc.def.ghi', false, 'abc.def.ghi'],
  ] as const)('%j (scheme required: %s) → %j', (value, requireScheme, expected) => {
    expect(readBearer(value, requireScheme)).toBe(expected);
  });

  it('from a cookie, as the context parsed it', () => {
    const { verifier } = makeVerifier(jwtConfig({ from: 'cookie:id_token', jwks: { url: jwks.url } }));
    expect(verifier.tokenFrom({ authorization: 'Bearer x.y.z' }, { id_token: 'a.b.c' })).toBe('a.b.c');
    expect(verifier.tokenFrom({ authorization: 'Bearer x.y.z' }, {})).toBeNull();
  });

  it('from the Authorization header only with the Bearer scheme', () => {
    const { verifier } = makeVerifier(jwtConfig({ jwks: { url: jwks.url } }));
    expect(verifier.tokenFrom({ authorization: 'Bearer x.y.z' }, { id_token: 'a.b.c' })).toBe('x.y.z');
    expect(verifier.tokenFrom({ authorization: 'Basic eDp5' }, {})).toBeNull();
    expect(verifier.tokenFrom({}, {})).toBeNull();
  });
});

describe('JwtVerifierBook', () => {
  it('equal settings share a verifier (and its cache) across tables; unused ones are dropped', () => {
    const book = new JwtVerifierBook();
    const deps = { warn: () => undefined, count: () => undefined };
    const first = book.verifierFor(jwtConfig({ jwks: { url: jwks.url } }), deps);
    expect(book.verifierFor(jwtConfig({ jwks: { url: jwks.url } }), deps)).toBe(first);
    const other = book.verifierFor(jwtConfig({ jwks: { url: jwks.url }, audience: 'other' }), deps);
    expect(other).not.toBe(first);
    book.retain(new Set([other]));
    expect(book.size).toBe(1);
    expect(book.verifierFor(jwtConfig({ jwks: { url: jwks.url } }), deps)).not.toBe(first);
  });
});
