import { createHash } from 'node:crypto';
import { isIP } from 'node:net';
import { JwtVerifierBook } from '../auth/verifier-book.js';
import { GuardBook } from './canary-guard.js';
import { HealthChecker } from './health-check.js';
import { undiciCore } from './undici-core.js';
export const DEFAULT_MAX_REQUESTS = 1024;
export const DEFAULT_TIMEOUTS = {
    connect: 5_000,
    headers: 60_000,
    body: 60_000,
    send: 60_000,
    clientBody: 60_000,
    queue: 10_000,
};
const TIMEOUT_KEYS = ['connect', 'headers', 'body', 'send', 'clientBody', 'queue'];
let upstreamPoolClass;
function upstreamPool() {
    upstreamPoolClass ??= class UpstreamPool extends undiciCore().Pool {
        #servername;
        constructor(origin, servername, options) {
            super(origin, options);
            this.#servername = servername;
        }
        dispatch(options, handler) {
            options.servername = this.#servername;
            return super.dispatch(options, handler);
        }
    };
    return upstreamPoolClass;
}
function upstreamTls(spec) {
    const url = new URL(spec.url);
    const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    const sni = spec.servername ?? (isIP(host) === 0 ? host : null);
    return { sni, requestName: sni ?? host, ca: spec.caPem, rejectUnauthorized: !(spec.insecureSkipVerify ?? false) };
}
function createTlsConnector(tls, timeout) {
    const connect = undiciCore().buildConnector({ timeout, rejectUnauthorized: tls.rejectUnauthorized, ...(tls.ca !== undefined ? { ca: tls.ca } : {}) });
    const servername = tls.sni ?? undefined;
    return (options, callback) => connect({ ...options, servername }, callback);
}
export function resolveTimeouts(...layers) {
    let result = DEFAULT_TIMEOUTS;
    for (const layer of layers)
        if (layer)
            result = { ...result, ...definedOnly(layer) };
    return result;
}
function definedOnly(layer) {
    const out = {};
    for (const key of TIMEOUT_KEYS)
        if (layer[key] !== undefined)
            out[key] = layer[key];
    return out;
}
export class UpstreamPools {
    #upstreams = new Map();
    #mirrorUpstreams = new Map();
    #dispatching;
    constructor(options = {}) {
        this.#dispatching = options.dispatching ?? true;
    }
    #checkers = new Map();
    guards = new GuardBook();
    verifiers = new JwtVerifierBook();
    health() {
        return [...this.#checkers.values()].map((entry) => entry.checker.status());
    }
    get(name) {
        return this.#upstreams.get(name);
    }
    getForMirror(name) {
        return this.#mirrorUpstreams.get(name);
    }
    update(config) {
        const mirrorNames = new Set();
        for (const route of config.routes) {
            if (!route.mirror)
                continue;
            mirrorNames.add(route.mirror.to);
            if (route.mirror.diff.noisePercent > 0)
                mirrorNames.add(route.stable);
        }
        const previous = [...this.#upstreams.values(), ...this.#mirrorUpstreams.values()];
        this.#upstreams = buildPools(config, Object.keys(config.upstreams), this.#upstreams, this.#dispatching);
        this.#mirrorUpstreams = buildPools(config, [...mirrorNames], this.#mirrorUpstreams, this.#dispatching);
        const kept = new Set([...this.#upstreams.values(), ...this.#mirrorUpstreams.values()]);
        this.#updateHealthChecks(config);
        return previous.filter((upstream) => !kept.has(upstream));
    }
    #updateHealthChecks(config) {
        const next = new Map();
        for (const [name, spec] of Object.entries(config.upstreams)) {
            const upstream = this.#upstreams.get(name);
            if (spec.health === undefined || upstream === undefined)
                continue;
            const key = JSON.stringify(spec.health);
            const existing = this.#checkers.get(name);
            if (existing !== undefined && existing.upstreamKey === upstream.key && existing.key === key) {
                next.set(name, existing);
                continue;
            }
            const pool = this.#dispatching ? upstream.pool : createPool(config, name, 1);
            const checker = new HealthChecker(name, spec.health, pool, (upstreamName, healthy, reason) => this.guards.setUnhealthy(upstreamName, !healthy, reason));
            next.set(name, { checker, pool, ownsPool: !this.#dispatching, upstreamKey: upstream.key, key });
        }
        for (const [name, entry] of this.#checkers) {
            if (next.get(name) === entry)
                continue;
            stopCheck(entry);
            if (!entry.checker.healthy)
                this.guards.setUnhealthy(name, false, 'health checks changed or removed');
        }
        for (const [name, entry] of next)
            if (this.#checkers.get(name) !== entry)
                entry.checker.start();
        this.#checkers = next;
    }
    async close() {
        for (const entry of this.#checkers.values())
            stopCheck(entry);
        this.#checkers = new Map();
        this.guards.close();
        const all = [...this.#upstreams.values(), ...this.#mirrorUpstreams.values()];
        this.#upstreams = new Map();
        this.#mirrorUpstreams = new Map();
        await Promise.allSettled(all.map((u) => u.pool.close()));
    }
}
const INERT_POOL = {
    close: () => Promise.resolve(),
    dispatch: () => {
        throw new Error('this process does not send requests upstream (its pools are inert)');
    },
};
function stopCheck(entry) {
    entry.checker.stop();
    if (entry.ownsPool)
        void entry.pool.close().catch(() => undefined);
}
function buildPools(config, names, current, dispatching) {
    const next = new Map();
    for (const name of names) {
        const spec = config.upstreams[name];
        const origin = new URL(spec.url).origin;
        const timeouts = resolveTimeouts(config.timeouts, spec.timeouts);
        const connections = spec.connections ?? 256;
        const maxRequests = spec.maxRequests ?? DEFAULT_MAX_REQUESTS;
        const tls = upstreamTls(spec);
        const caDigest = tls.ca === undefined ? null : createHash('sha256').update(tls.ca).digest('hex');
        const key = JSON.stringify([origin, timeouts.connect, timeouts.headers, timeouts.body, connections, tls.rejectUnauthorized, maxRequests, tls.sni, caDigest]);
        const existing = current.get(name);
        if (existing && existing.key === key) {
            next.set(name, existing);
            continue;
        }
        const pool = dispatching ? createPool(config, name, connections) : INERT_POOL;
        next.set(name, { name, origin, pool, timeouts, key, maxRequests, inFlight: 0 });
    }
    return next;
}
function createPool(config, name, connections) {
    const spec = config.upstreams[name];
    const url = new URL(spec.url);
    const timeouts = resolveTimeouts(config.timeouts, spec.timeouts);
    const tls = upstreamTls(spec);
    const UpstreamPool = upstreamPool();
    return new UpstreamPool(url.origin, tls.requestName, {
        connections,
        pipelining: 1,
        keepAliveTimeout: 4_000,
        keepAliveMaxTimeout: 60_000,
        headersTimeout: timeouts.headers,
        bodyTimeout: timeouts.body,
        connect: url.protocol === 'https:' ? createTlsConnector(tls, timeouts.connect) : { timeout: timeouts.connect },
    });
}
//# sourceMappingURL=upstream-pools.js.map