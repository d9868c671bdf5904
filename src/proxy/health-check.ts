/**
 * Active health checks of one upstream (Envoy's HTTP health checker, NGINX Plus's `health_check`): a GET of `path`
 * every `interval`, through the upstream's own pool (same TLS settings), answered within `timeout` with a 2xx or 3xx
 * counts as a pass. `unhealthy` failures in a row mark the upstream unhealthy, `healthy` passes in a row healthy
 * again. An upstream starts healthy (Envoy's default for hosts not yet checked), so a restart never ejects a canary
 * before its first check. One timer per checked upstream; nothing here runs per client request.
 */
import type { Dispatcher } from 'undici';
import type { HealthConfig } from '../config/schema.js';
import { undiciCore } from './undici-core.js';
import { staleRace } from './upstream-errors.js';

export interface HealthStatus {
  readonly upstream: string;
  readonly path: string;
  readonly healthy: boolean;
  /** ISO time of the last check, or null before the first. */
  readonly lastCheck: string | null;
  /** What the last failing check saw (status or error code), or null. */
  readonly lastFailure: string | null;
  readonly checks: number;
}

export class HealthChecker {
  readonly upstream: string;
  readonly config: HealthConfig;
  readonly #pool: Dispatcher;
  readonly #onChange: (upstream: string, healthy: boolean, reason: string) => void;
  #healthy = true;
  #passes = 0;
  #failures = 0;
  #checks = 0;
  #lastCheck: string | null = null;
  #lastFailure: string | null = null;
  #timer: NodeJS.Timeout | null = null;
  #stopped = false;

  constructor(upstream: string, config: HealthConfig, pool: Dispatcher, onChange: (upstream: string, healthy: boolean, reason: string) => void) {
    this.upstream = upstream;
    this.config = config;
    this.#pool = pool;
    this.#onChange = onChange;
  }

  get healthy(): boolean {
    return this.#healthy;
  }

  start(): void {
    this.#schedule(0);
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
  }

  status(): HealthStatus {
    return { upstream: this.upstream, path: this.config.path, healthy: this.#healthy, lastCheck: this.#lastCheck, lastFailure: this.#lastFailure, checks: this.#checks };
  }

  /** One check now; what the timer runs. */
  async check(): Promise<void> {
    const failure = await this.#probe();
    if (this.#stopped) return;
    this.#checks++;
    this.#lastCheck = new Date().toISOString();
    if (failure === null) {
      this.#failures = 0;
      if (++this.#passes >= this.config.healthy && !this.#healthy) this.#set(true, `${this.#passes} health checks passed in a row`);
    } else {
      this.#lastFailure = failure;
      this.#passes = 0;
      if (++this.#failures >= this.config.unhealthy && this.#healthy) this.#set(false, `${this.#failures} health checks failed in a row (last: ${failure})`);
    }
  }

  #set(healthy: boolean, reason: string): void {
    this.#healthy = healthy;
    this.#onChange(this.upstream, healthy, reason);
  }

  /** Null on a pass, else what failed. */
  async #probe(staleReplays = 0, deadline = performance.now() + this.config.timeout): Promise<string | null> {
    // One timeout for the whole check, a probe sent again included.
    const timeout = Math.max(1, Math.round(deadline - performance.now()));
    const sentAt = performance.now();
    try {
      const response = await undiciCore().request.call(this.#pool, {
        path: this.config.path,
        method: 'GET',
        headers: { 'user-agent': 'splitgate-health-check' },
        headersTimeout: timeout,
        bodyTimeout: timeout,
        signal: AbortSignal.timeout(timeout),
      });
      await response.body.dump();
      return response.statusCode >= 200 && response.statusCode < 400 ? null : `status ${response.statusCode}`;
    } catch (error) {
      // A pooled connection the upstream closed as the probe went out on it says nothing of its health (the data
      // path sends such requests again too, see ProxyExchange#staleReplayable).
      if (staleRace(error, staleReplays, sentAt, false, true)) return this.#probe(staleReplays + 1, deadline);
      const code = (error as { code?: unknown; name?: unknown }).code ?? (error as { name?: unknown }).name;
      return typeof code === 'string' ? code : 'error';
    }
  }

  #schedule(delayMs: number): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      void this.check().finally(() => this.#schedule(this.config.interval));
    }, delayMs);
    this.#timer.unref();
  }
}
