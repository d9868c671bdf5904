/**
 * One undici Pool per upstream, keep-alive, shared by every route that names it. On reload a pool whose URL and
 * options are unchanged is kept (its warm connections with it); a pool no longer named is drained and closed.
 *
 * An https:// upstream's TLS identity belongs to the upstream, never to the client: SNI and the certificate check
 * use the URL's host name (or the upstream's `servername`), whatever Host the client sent.
 */
import { createHash } from 'node:crypto';
import { isIP } from 'node:net';
import type { buildConnector, Dispatcher, Pool } from 'undici';
import type { Config, TimeoutsConfig, UpstreamConfig } from '../config/schema.js';
import { JwtVerifierBook } from '../auth/verifier-book.js';
import { GuardBook } from './canary-guard.js';
import { HealthChecker, type HealthStatus } from './health-check.js';
import { undiciCore } from './undici-core.js';
import { noteResetAfterUse } from './upstream-errors.js';

/** Milliseconds; 0 turns a timeout off. Layered: defaults, then global, upstream and route config. */
export interface UpstreamTimeouts {
  readonly connect: number;
  readonly headers: number;
  readonly body: number;
  /** Client side, checked by the exchange's timeout sweep (timeout-sweep.ts), not by undici. */
  readonly send: number;
  readonly clientBody: number;
  readonly queue: number;
}

/** Envoy's default for max_requests and max_pending_requests. */
export const DEFAULT_MAX_REQUESTS = 1024;

/**
 * Headers and body both default to 60 s, as NGINX's proxy_read_timeout covers both. Equal values also save a timer
 * per request: undici re-arms its parser timer only when the value changes between the headers and body phases
 * (about 1.5 % of a proxied request's CPU time, measured side by side).
 */
export const DEFAULT_TIMEOUTS: UpstreamTimeouts = {
  connect: 5_000,
  headers: 60_000,
  body: 60_000,
  // NGINX's send_timeout and client_body_timeout defaults.
  send: 60_000,
  clientBody: 60_000,
  // Above the connect timeout, so a request that waits for a new connection fails on that connection, not here.
  queue: 10_000,
};

const TIMEOUT_KEYS = ['connect', 'headers', 'body', 'send', 'clientBody', 'queue'] as const;

export interface Upstream {
  readonly name: string;
  readonly origin: string;
  readonly pool: Pool;
  readonly timeouts: UpstreamTimeouts;
  /** Circuit breaker, as Envoy's max_requests: requests in flight (queued included) beyond which splitgate answers 503. */
  readonly maxRequests: number;
  /** Client requests in flight to this upstream now. */
  inFlight: number;
  /** Identity of the options a pool was built with; equal keys may share a pool across reloads. */
  readonly key: string;
}

/**
 * undici takes a request's TLS server name from its Host header (core/request.js: `servername ||
 * getServerName(host)`) and, when it differs from the name its connection was opened with, closes that connection
 * and opens another (dispatcher/client.js, "servername changed"). A proxy forwards the client's Host, so every
 * request carries the upstream's name instead: one constant per pool, and pooled connections stay pooled whatever
 * Host clients send.
 *
 * Setting it here, rather than at each call site, covers every request the pool sends (client traffic, upgrades,
 * mirror copies). The options object is always the caller's fresh literal, so it is completed in place rather than
 * copied per request; with a name given, undici no longer parses one out of the Host header for every request.
 */
type UpstreamPoolClass = new (origin: string, servername: string, options: Pool.Options) => Pool;
let upstreamPoolClass: UpstreamPoolClass | undefined;

/** Defined on first use, as undici is loaded on first use (undici-core.ts). */
function upstreamPool(): UpstreamPoolClass {
  upstreamPoolClass ??= class UpstreamPool extends undiciCore().Pool {
    readonly #servername: string;

    constructor(origin: string, servername: string, options: Pool.Options) {
      super(origin, options);
      this.#servername = servername;
    }

    override dispatch(options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
      // undici reads `servername` from the dispatch options (core/request.js) but does not declare it.
      (options as Dispatcher.DispatchOptions & { servername?: string }).servername = this.#servername;
      return super.dispatch(options, handler);
    }
  };
  return upstreamPoolClass;
}

/** What a pool's TLS connections are built with. */
interface UpstreamTls {
  /** Sent as SNI and checked against the certificate; null for an IP literal (RFC 6066 §3: no SNI for addresses). */
  readonly sni: string | null;
  /** Constant per upstream, see UpstreamPool: the SNI name, or the address itself for an IP literal. */
  readonly requestName: string;
  readonly ca: string | undefined;
  readonly rejectUnauthorized: boolean;
}

function upstreamTls(spec: UpstreamConfig): UpstreamTls {
  const url = new URL(spec.url);
  // URL keeps the brackets of an IPv6 literal (`[::1]`); isIP wants the bare address.
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  const sni = spec.servername ?? (isIP(host) === 0 ? host : null);
  return { sni, requestName: sni ?? host, ca: spec.caPem, rejectUnauthorized: !(spec.insecureSkipVerify ?? false) };
}

/**
 * undici's connector, told the upstream's server name whatever name the request carried: this is what makes the
 * handshake and the certificate check use it (node:tls checks the certificate against `servername`, else against
 * the address connected to).
 */
function createTlsConnector(tls: UpstreamTls, timeout: number): buildConnector.connector {
  const connect = undiciCore().buildConnector({ timeout, rejectUnauthorized: tls.rejectUnauthorized, ...(tls.ca !== undefined ? { ca: tls.ca } : {}) });
  // undefined, not null, for an IP literal: undici then asks the URL's host, which gives no name for an address.
  const servername = tls.sni ?? undefined;
  return (options, callback) => connect({ ...options, servername }, callback);
}

export function resolveTimeouts(...layers: ReadonlyArray<TimeoutsConfig | undefined>): UpstreamTimeouts {
  let result = DEFAULT_TIMEOUTS;
  for (const layer of layers) if (layer) result = { ...result, ...definedOnly(layer) };
  return result;
}

function definedOnly(layer: TimeoutsConfig): Partial<UpstreamTimeouts> {
  const out: Partial<Record<keyof UpstreamTimeouts, number>> = {};
  for (const key of TIMEOUT_KEYS) if (layer[key] !== undefined) out[key] = layer[key];
  return out;
}

/**
 * Mirror copies travel on pools of their own, so a slow or hung shadow can never take a connection, or a queue
 * slot, from client traffic, even when the shadow is also some route's primary upstream.
 */
export class UpstreamPools {
  #upstreams = new Map<string, Upstream>();
  #mirrorUpstreams = new Map<string, Upstream>();
  readonly #dispatching: boolean;

  /**
   * `dispatching: false` (a supervisor, which compiles tables for /status and its rollouts and sends no request):
   * every upstream gets the same inert stand-in instead of a Pool (connections, parser, timers) that would never
   * carry traffic.
   */
  constructor(options: { readonly dispatching?: boolean } = {}) {
    this.#dispatching = options.dispatching ?? true;
  }

  /** Active health checks, by upstream name, for upstreams that configure `health`. */
  #checkers = new Map<string, HealthCheckEntry>();
  /** The canaries' ejection state and retry budgets (see canary-guard.ts), following the checks' verdicts. */
  readonly guards = new GuardBook();
  /** The JWT verifiers (token caches, fetched key sets) of the routes that read claims; they outlast tables too. */
  readonly verifiers = new JwtVerifierBook();

  /** What the health checks say now, by upstream. */
  health(): HealthStatus[] {
    return [...this.#checkers.values()].map((entry) => entry.checker.status());
  }

  get(name: string): Upstream | undefined {
    return this.#upstreams.get(name);
  }

  /** The mirror-owned pool for `name`; present for every upstream a mirror sends to. */
  getForMirror(name: string): Upstream | undefined {
    return this.#mirrorUpstreams.get(name);
  }

  /** Brings the pools in line with `config`; returns the pools that left, for the caller to close once drained. */
  update(config: Config): Upstream[] {
    const mirrorNames = new Set<string>();
    for (const route of config.routes) {
      if (!route.mirror) continue;
      mirrorNames.add(route.mirror.to);
      if (route.mirror.diff.noisePercent > 0) mirrorNames.add(route.stable);
    }
    const previous = [...this.#upstreams.values(), ...this.#mirrorUpstreams.values()];
    this.#upstreams = buildPools(config, Object.keys(config.upstreams), this.#upstreams, this.#dispatching);
    this.#mirrorUpstreams = buildPools(config, [...mirrorNames], this.#mirrorUpstreams, this.#dispatching);
    const kept = new Set([...this.#upstreams.values(), ...this.#mirrorUpstreams.values()]);
    this.#updateHealthChecks(config);
    return previous.filter((upstream) => !kept.has(upstream));
  }

  /** A checker is kept while its upstream's pool and `health` settings are; otherwise restarted (healthy again). */
  #updateHealthChecks(config: Config): void {
    const next = new Map<string, HealthCheckEntry>();
    for (const [name, spec] of Object.entries(config.upstreams)) {
      const upstream = this.#upstreams.get(name);
      if (spec.health === undefined || upstream === undefined) continue;
      const key = JSON.stringify(spec.health);
      const existing = this.#checkers.get(name);
      if (existing !== undefined && existing.upstreamKey === upstream.key && existing.key === key) {
        next.set(name, existing);
        continue;
      }
      // A supervisor's pools are inert, yet its rollout runners judge the canary's health: its checks get a pool of
      // their own, one connection, closed with the checker.
      const pool = this.#dispatching ? upstream.pool : createPool(config, name, 1);
      const checker = new HealthChecker(name, spec.health, pool, (upstreamName, healthy, reason) => this.guards.setUnhealthy(upstreamName, !healthy, reason));
      next.set(name, { checker, pool, ownsPool: !this.#dispatching, upstreamKey: upstream.key, key });
    }
    for (const [name, entry] of this.#checkers) {
      if (next.get(name) === entry) continue;
      stopCheck(entry);
      if (!entry.checker.healthy) this.guards.setUnhealthy(name, false, 'health checks changed or removed');
    }
    for (const [name, entry] of next) if (this.#checkers.get(name) !== entry) entry.checker.start();
    this.#checkers = next;
  }

  async close(): Promise<void> {
    for (const entry of this.#checkers.values()) stopCheck(entry);
    this.#checkers = new Map();
    this.guards.close();
    const all = [...this.#upstreams.values(), ...this.#mirrorUpstreams.values()];
    this.#upstreams = new Map();
    this.#mirrorUpstreams = new Map();
    await Promise.allSettled(all.map((u) => u.pool.close()));
  }
}

/** What a non-dispatching UpstreamPools hands out: closes at once, refuses (throws on) any request. */
const INERT_POOL = {
  close: () => Promise.resolve(),
  dispatch: (): never => {
    throw new Error('this process does not send requests upstream (its pools are inert)');
  },
} as unknown as Pool;

interface HealthCheckEntry {
  readonly checker: HealthChecker;
  readonly pool: Pool;
  /** The pool is the checker's own (a supervisor's), closed when the checker stops. */
  readonly ownsPool: boolean;
  /** The upstream's pool identity and the `health` settings the checker was started with. */
  readonly upstreamKey: string;
  readonly key: string;
}

function stopCheck(entry: HealthCheckEntry): void {
  entry.checker.stop();
  if (entry.ownsPool) void entry.pool.close().catch(() => undefined);
}

function buildPools(config: Config, names: readonly string[], current: ReadonlyMap<string, Upstream>, dispatching: boolean): Map<string, Upstream> {
  const next = new Map<string, Upstream>();
  for (const name of names) {
    const spec = config.upstreams[name];
    const origin = new URL(spec.url).origin;
    const timeouts = resolveTimeouts(config.timeouts, spec.timeouts);
    const connections = spec.connections ?? 256;
    const maxRequests = spec.maxRequests ?? DEFAULT_MAX_REQUESTS;
    const tls = upstreamTls(spec);
    // The CA's content, not its path: a reload after the file changed builds a pool that trusts the new CAs.
    const caDigest = tls.ca === undefined ? null : createHash('sha256').update(tls.ca).digest('hex');
    // Only what the Pool is built with: a change to a client-side timeout keeps the warm connections.
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

function createPool(config: Config, name: string, connections: number): Pool {
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
    connect: notingResets(url.protocol === 'https:' ? createTlsConnector(tls, timeouts.connect) : undiciCore().buildConnector({ timeout: timeouts.connect })),
  });
}

/** Each new connection gets noteResetAfterUse before undici's own listeners (see ProxyExchange#staleReplayable). */
function notingResets(connect: buildConnector.connector): buildConnector.connector {
  return (options, callback) =>
    connect(options, (error, socket) => {
      // A failed connect passes no socket at all (undefined, whatever the types say).
      if (error === null && socket != null) socket.prependListener('error', noteResetAfterUse);
      (callback as (error: Error | null, socket: unknown) => void)(error, socket);
    });
}
