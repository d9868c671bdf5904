/**
 * Bearer token → verified claims, or null. Invariant: nothing here throws into the data path or rejects; a token
 * that is absent, malformed, unsigned (`alg: none`), badly signed, expired, not yet valid, for another issuer or
 * audience, or signed by a key the JWKS does not have yields null, and so does a JWKS that cannot be fetched. Only
 * claims that passed `jwtVerify` (jose) ever leave this module.
 *
 * Cost: verification is async (WebCrypto), so verified results are kept in an LRU keyed by the token string until
 * `min(exp, verified + maxAge)`; a repeated token is one Map lookup, answered synchronously by `cached`. Failures
 * that cannot change (bad signature, expired, wrong issuer) are remembered too, briefly, so a replayed forgery
 * costs no signature check; failures that can (unknown kid, JWKS down, nbf in the future) are not.
 *
 * Remote keys: jose's `createRemoteJWKSet` fetches the set lazily (bounded by `jwks.timeout`), reuses it for
 * `jwks.maxAge`, coalesces concurrent fetches, and on an unknown `kid` refetches once the last successful fetch is
 * older than `jwks.cooldown`. It does not back off after a failed fetch, so this module does: for `cooldown` after
 * a failure, a token whose verification would need a fetch gets null at once instead of waiting on the same outage.
 *
 * jose is loaded on the first verification (a dynamic import, on the path that awaits anyway), so a process whose
 * routes read no claims never loads it, as the supervisor does not load undici's index.
 */
import type { createRemoteJWKSet, JWTVerifyGetKey, JWTVerifyOptions } from 'jose';
import { LRUCache } from 'lru-cache';
import type { JwtConfig } from '../config/schema.js';

/** Verified JWT claims, deeply frozen. */
export type Claims = Readonly<Record<string, unknown>>;

/** How one verification ended; a closed set, used as a metric label. */
export type VerificationResult = 'valid' | 'invalid' | 'expired' | 'malformed' | 'unknown_key' | 'jwks_unavailable';

export interface VerifierDeps {
  readonly warn: (fields: Record<string, unknown>, message: string) => void;
  readonly count: (result: VerificationResult) => void;
  /** Milliseconds since the epoch; injected so cache expiry and token times are testable without timers. */
  readonly now?: () => number;
}

/** RFC 7515 §7.1 compact serialization with a non-empty signature (so `alg: none` tokens fail here, synchronously). */
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
/** Longer strings are not tokens worth a signature check (IdP tokens are a few hundred bytes to a few KiB). */
export const MAX_TOKEN_LENGTH = 8192;
/** How long a failure that cannot change with time is remembered, at most. */
const NEGATIVE_TTL_MS = 60_000;
/** At most one JWKS warning per verifier this often; the others are counted into the next one. */
const WARN_INTERVAL_MS = 60_000;

interface CacheEntry {
  readonly claims: Claims | null;
  /** Epoch ms after which the entry is not used. */
  readonly until: number;
}

/** Thrown by the key lookup when the remote set cannot be had; classified as `jwks_unavailable`. */
class JwksUnavailable extends Error {}

type Jose = typeof import('jose');
type RemoteSet = ReturnType<typeof createRemoteJWKSet>;

/** What verification needs once jose is loaded; built on the first verification. */
interface Engine {
  readonly jose: Jose;
  readonly keys: JWTVerifyGetKey;
  readonly remote: RemoteSet | null;
}

export class JwtVerifier {
  readonly #spec: JwtConfig;
  readonly #deps: VerifierDeps;
  readonly #now: () => number;
  readonly #cache: LRUCache<string, CacheEntry> | null;
  readonly #pending = new Map<string, Promise<Claims | null>>();
  #engine: Promise<Engine> | null = null;
  readonly #options: JWTVerifyOptions;
  readonly #cooldown: number;
  #failedAt = -Infinity;
  #warnedAt = -Infinity;
  #suppressedWarnings = 0;

  constructor(spec: JwtConfig, deps: VerifierDeps) {
    this.#spec = spec;
    this.#deps = deps;
    this.#now = deps.now ?? Date.now;
    this.#cache = spec.cacheSize > 0 ? new LRUCache<string, CacheEntry>({ max: spec.cacheSize }) : null;
    this.#cooldown = spec.jwks.url !== undefined ? spec.jwks.cooldown : 0;
    this.#options = {
      issuer: spec.issuer,
      audience: spec.audience,
      algorithms: [...spec.algorithms],
      clockTolerance: Math.floor(spec.clockTolerance / 1000),
      // A token without an expiry would be a credential forever (RFC 8725 §3.10 asks for bounded lifetimes).
      requiredClaims: ['exp'],
    };
  }

  /** Loads jose and builds the key set, once. */
  #loadEngine(): Promise<Engine> {
    this.#engine ??= this.#buildEngine();
    return this.#engine;
  }

  async #buildEngine(): Promise<Engine> {
    const jose = await import('jose');
    const jwks = this.#spec.jwks;
    if (jwks.url !== undefined) {
      const remote = jose.createRemoteJWKSet(new URL(jwks.url), {
        timeoutDuration: jwks.timeout,
        cooldownDuration: jwks.cooldown,
        cacheMaxAge: jwks.maxAge,
      });
      return { jose, remote, keys: (header, token) => remoteKey(jose, remote, header, token) };
    }
    // load.ts read and checked the file; a key jose cannot import fails each token as `invalid`.
    return { jose, remote: null, keys: jose.createLocalJWKSet({ keys: (jwks.keys ?? []) as never[] }) };
  }

  /** The token this request carries at the configured place, or null. Cookies as parsed by the context. */
  tokenFrom(headers: Readonly<Record<string, string | string[] | undefined>>, cookies: Readonly<Record<string, string | undefined>>): string | null {
    const from = this.#spec.from;
    if (from.kind === 'cookie') {
      const value = cookies[from.name];
      return value === undefined || value === '' ? null : value;
    }
    const value = headers[from.name];
    return typeof value === 'string' ? readBearer(value, from.name === 'authorization') : null;
  }

  /**
   * Synchronous answer when one is known: claims or null from the cache, or null for a string that is not a
   * compact JWS at all. `undefined`: only `verify` can tell.
   */
  cached(token: string): Claims | null | undefined {
    if (token.length > MAX_TOKEN_LENGTH) return null;
    // The cache first: only strings that passed the shape check below were ever stored.
    const entry = this.#cache?.get(token);
    if (entry !== undefined) {
      if (entry.until > this.#now()) return entry.claims;
      this.#cache!.delete(token);
    }
    return COMPACT_JWS.test(token) ? undefined : null;
  }

  /** Verified claims or null; never rejects. Concurrent calls for one token share one verification. */
  verify(token: string): Promise<Claims | null> {
    const known = this.cached(token);
    if (known !== undefined) return Promise.resolve(known);
    let pending = this.#pending.get(token);
    if (pending === undefined) {
      pending = this.#verifyNow(token).finally(() => this.#pending.delete(token));
      this.#pending.set(token, pending);
    }
    return pending;
  }

  async #verifyNow(token: string): Promise<Claims | null> {
    let engine: Engine;
    try {
      engine = await this.#loadEngine();
    } catch (error) {
      this.#engine = null;
      this.#deps.warn({ error: (error as Error).message }, 'JWT verification unavailable: jose could not be loaded');
      return null;
    }
    const { jose, remote } = engine;
    const startedAt = this.#now();
    if (remote !== null && startedAt - this.#failedAt < this.#cooldown && wouldFetch(jose, remote, token)) {
      this.#deps.count('jwks_unavailable');
      return null;
    }
    try {
      const { payload } = await jose.jwtVerify(token, engine.keys, { ...this.#options, currentDate: new Date(startedAt) });
      const claims = deepFreeze(payload) as Claims;
      const expiresAt = typeof payload.exp === 'number' ? payload.exp * 1000 : Infinity;
      this.#remember(token, claims, Math.min(expiresAt, startedAt + this.#spec.maxAge));
      this.#deps.count('valid');
      return claims;
    } catch (error) {
      const result = classify(jose, error);
      this.#deps.count(result);
      if (result === 'jwks_unavailable') this.#jwksFailed(error);
      else if (result === 'expired' || (result === 'invalid' && !notYetValid(jose, error))) {
        this.#remember(token, null, startedAt + Math.min(NEGATIVE_TTL_MS, this.#spec.maxAge));
      }
      return null;
    }
  }

  #remember(token: string, claims: Claims | null, until: number): void {
    if (this.#cache !== null && until > this.#now()) this.#cache.set(token, { claims, until });
  }

  #jwksFailed(error: unknown): void {
    const now = this.#now();
    this.#failedAt = now;
    if (now - this.#warnedAt < WARN_INTERVAL_MS) {
      this.#suppressedWarnings++;
      return;
    }
    const cause = (error as { cause?: unknown }).cause ?? error;
    this.#deps.warn(
      {
        jwks: this.#spec.jwks.url,
        error: (cause as Error)?.message ?? String(cause),
        suppressed: this.#suppressedWarnings,
        backoffMs: this.#cooldown,
      },
      'JWKS unavailable: requests that need a key from it get no claims',
    );
    this.#warnedAt = now;
    this.#suppressedWarnings = 0;
  }
}

/**
 * `Authorization: Bearer <token>` (RFC 6750 §2.1: the scheme is case-insensitive, RFC 9110 §11.1). Any other
 * scheme on Authorization is not a token; a custom header may carry the bare token or the same form.
 */
export function readBearer(value: string, requireScheme: boolean): string | null {
  let start = 0;
  let end = value.length;
  while (start < end && isSpace(value.charCodeAt(start))) start++;
  while (end > start && isSpace(value.charCodeAt(end - 1))) end--;
  if (hasBearerScheme(value, start, end)) {
    start += 7;
    while (start < end && isSpace(value.charCodeAt(start))) start++;
  } else if (requireScheme) return null;
  if (start === end) return null;
  // Read per request on routes that read claims: slice only when there is something around the token.
  return start === 0 && end === value.length ? value : value.slice(start, end);
}

const BEARER = 'bearer ';

/** `Bearer ` at `start`, the scheme compared case-insensitively, without allocating a lower-cased copy. */
function hasBearerScheme(value: string, start: number, end: number): boolean {
  if (end - start <= BEARER.length) return false;
  for (let i = 0; i < BEARER.length; i++) {
    const code = value.charCodeAt(start + i);
    if ((code >= 65 && code <= 90 ? code | 0x20 : code) !== BEARER.charCodeAt(i)) return false;
  }
  return true;
}

function isSpace(code: number): boolean {
  return code === 0x20 || code === 0x09;
}

/** The remote set, with any failure to obtain keys (network, timeout, status, bad JSON) made one recognisable error. */
async function remoteKey(jose: Jose, remote: RemoteSet, header: Parameters<RemoteSet>[0], token: Parameters<RemoteSet>[1]): ReturnType<RemoteSet> {
  const errors = jose.errors;
  try {
    return await remote(header, token);
  } catch (error) {
    if (error instanceof errors.JWKSNoMatchingKey || error instanceof errors.JWKSMultipleMatchingKeys || error instanceof errors.JOSENotSupported) {
      throw error;
    }
    throw new JwksUnavailable('JWKS unavailable', { cause: error });
  }
}

/** True when verifying `token` now would make jose fetch the set (see the module header). */
function wouldFetch(jose: Jose, remote: RemoteSet, token: string): boolean {
  if (!remote.fresh) return true;
  if (remote.coolingDown) return false;
  let kid: unknown;
  try {
    kid = jose.decodeProtectedHeader(token).kid;
  } catch {
    return false;
  }
  if (kid === undefined) return false;
  return !(remote.jwks()?.keys ?? []).some((key) => key.kid === kid);
}

function classify(jose: Jose, error: unknown): VerificationResult {
  const errors = jose.errors;
  if (error instanceof JwksUnavailable) return 'jwks_unavailable';
  if (error instanceof errors.JWTExpired) return 'expired';
  if (error instanceof errors.JWKSNoMatchingKey) return 'unknown_key';
  if (error instanceof errors.JWSInvalid || error instanceof errors.JWTInvalid) return 'malformed';
  return 'invalid';
}

function notYetValid(jose: Jose, error: unknown): boolean {
  return error instanceof jose.errors.JWTClaimValidationFailed && error.claim === 'nbf';
}

function deepFreeze(value: unknown): unknown {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const item of Object.values(value)) deepFreeze(item);
  }
  return value;
}
