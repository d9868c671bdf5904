import { LRUCache } from 'lru-cache';
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
export const MAX_TOKEN_LENGTH = 8192;
const NEGATIVE_TTL_MS = 60_000;
const WARN_INTERVAL_MS = 60_000;
class JwksUnavailable extends Error {
}
export class JwtVerifier {
    #spec;
    #deps;
    #now;
    #cache;
    #pending = new Map();
    #engine = null;
    #options;
    #cooldown;
    #failedAt = -Infinity;
    #warnedAt = -Infinity;
    #suppressedWarnings = 0;
    constructor(spec, deps) {
        this.#spec = spec;
        this.#deps = deps;
        this.#now = deps.now ?? Date.now;
        this.#cache = spec.cacheSize > 0 ? new LRUCache({ max: spec.cacheSize }) : null;
        this.#cooldown = spec.jwks.url !== undefined ? spec.jwks.cooldown : 0;
        this.#options = {
            issuer: spec.issuer,
            audience: spec.audience,
            algorithms: [...spec.algorithms],
            clockTolerance: Math.floor(spec.clockTolerance / 1000),
            requiredClaims: ['exp'],
        };
    }
    #loadEngine() {
        this.#engine ??= this.#buildEngine();
        return this.#engine;
    }
    async #buildEngine() {
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
        return { jose, remote: null, keys: jose.createLocalJWKSet({ keys: (jwks.keys ?? []) }) };
    }
    tokenFrom(headers, cookies) {
        const from = this.#spec.from;
        if (from.kind === 'cookie') {
            const value = cookies[from.name];
            return value === undefined || value === '' ? null : value;
        }
        const value = headers[from.name];
        return typeof value === 'string' ? readBearer(value, from.name === 'authorization') : null;
    }
    cached(token) {
        if (token.length > MAX_TOKEN_LENGTH)
            return null;
        const entry = this.#cache?.get(token);
        if (entry !== undefined) {
            if (entry.until > this.#now())
                return entry.claims;
            this.#cache.delete(token);
        }
        return COMPACT_JWS.test(token) ? undefined : null;
    }
    verify(token) {
        const known = this.cached(token);
        if (known !== undefined)
            return Promise.resolve(known);
        let pending = this.#pending.get(token);
        if (pending === undefined) {
            pending = this.#verifyNow(token).finally(() => this.#pending.delete(token));
            this.#pending.set(token, pending);
        }
        return pending;
    }
    async #verifyNow(token) {
        let engine;
        try {
            engine = await this.#loadEngine();
        }
        catch (error) {
            this.#engine = null;
            this.#deps.warn({ error: error.message }, 'JWT verification unavailable: jose could not be loaded');
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
            const claims = deepFreeze(payload);
            const expiresAt = typeof payload.exp === 'number' ? payload.exp * 1000 : Infinity;
            this.#remember(token, claims, Math.min(expiresAt, startedAt + this.#spec.maxAge));
            this.#deps.count('valid');
            return claims;
        }
        catch (error) {
            const result = classify(jose, error);
            this.#deps.count(result);
            if (result === 'jwks_unavailable')
                this.#jwksFailed(error);
            else if (result === 'expired' || (result === 'invalid' && !notYetValid(jose, error))) {
                this.#remember(token, null, startedAt + Math.min(NEGATIVE_TTL_MS, this.#spec.maxAge));
            }
            return null;
        }
    }
    #remember(token, claims, until) {
        if (this.#cache !== null && until > this.#now())
            this.#cache.set(token, { claims, until });
    }
    #jwksFailed(error) {
        const now = this.#now();
        this.#failedAt = now;
        if (now - this.#warnedAt < WARN_INTERVAL_MS) {
            this.#suppressedWarnings++;
            return;
        }
        const cause = error.cause ?? error;
        this.#deps.warn({
            jwks: this.#spec.jwks.url,
            error: cause?.message ?? String(cause),
            suppressed: this.#suppressedWarnings,
            backoffMs: this.#cooldown,
        }, 'JWKS unavailable: requests that need a key from it get no claims');
        this.#warnedAt = now;
        this.#suppressedWarnings = 0;
    }
}
export function readBearer(value, requireScheme) {
    let start = 0;
    let end = value.length;
    while (start < end && isSpace(value.charCodeAt(start)))
        start++;
    while (end > start && isSpace(value.charCodeAt(end - 1)))
        end--;
    if (hasBearerScheme(value, start, end)) {
        start += 7;
        while (start < end && isSpace(value.charCodeAt(start)))
            start++;
    }
    else if (requireScheme)
        return null;
    if (start === end)
        return null;
    return start === 0 && end === value.length ? value : value.slice(start, end);
}
const BEARER = 'bearer ';
function hasBearerScheme(value, start, end) {
    if (end - start <= BEARER.length)
        return false;
    for (let i = 0; i < BEARER.length; i++) {
        const code = value.charCodeAt(start + i);
        if ((code >= 65 && code <= 90 ? code | 0x20 : code) !== BEARER.charCodeAt(i))
            return false;
    }
    return true;
}
function isSpace(code) {
    return code === 0x20 || code === 0x09;
}
async function remoteKey(jose, remote, header, token) {
    const errors = jose.errors;
    try {
        return await remote(header, token);
    }
    catch (error) {
        if (error instanceof errors.JWKSNoMatchingKey || error instanceof errors.JWKSMultipleMatchingKeys || error instanceof errors.JOSENotSupported) {
            throw error;
        }
        throw new JwksUnavailable('JWKS unavailable', { cause: error });
    }
}
function wouldFetch(jose, remote, token) {
    if (!remote.fresh)
        return true;
    if (remote.coolingDown)
        return false;
    let kid;
    try {
        kid = jose.decodeProtectedHeader(token).kid;
    }
    catch {
        return false;
    }
    if (kid === undefined)
        return false;
    return !(remote.jwks()?.keys ?? []).some((key) => key.kid === kid);
}
function classify(jose, error) {
    const errors = jose.errors;
    if (error instanceof JwksUnavailable)
        return 'jwks_unavailable';
    if (error instanceof errors.JWTExpired)
        return 'expired';
    if (error instanceof errors.JWKSNoMatchingKey)
        return 'unknown_key';
    if (error instanceof errors.JWSInvalid || error instanceof errors.JWTInvalid)
        return 'malformed';
    return 'invalid';
}
function notYetValid(jose, error) {
    return error instanceof jose.errors.JWTClaimValidationFailed && error.claim === 'nbf';
}
function deepFreeze(value) {
    if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
        Object.freeze(value);
        for (const item of Object.values(value))
            deepFreeze(item);
    }
    return value;
}
//# sourceMappingURL=jwt-verifier.js.map