/**
 * The fleet's Redis connection (node-redis 5, the maintained official client). Nothing here is on the per-request
 * path. The client never throws into its caller's flow: commands fail fast while disconnected (no offline queue,
 * so an admin call answers 503 at once instead of waiting for a reconnect), every command is bounded by
 * `commandTimeout`, and the connection retries forever with capped backoff. State changes (connected, lost) are
 * logged once each, not on every retry.
 */
import { createRequire } from 'node:module';
import { hostname } from 'node:os';
import type { RedisClientType } from 'redis';
import type { FleetConfig } from '../config/schema.js';
import type { Logger } from '../log.js';
import { FleetUnavailableError } from './errors.js';

export type FleetRedis = RedisClientType;

const requireModule = createRequire(import.meta.url);

/**
 * node-redis, loaded on first use: about 18 MB of RSS that a splitgate without `fleet:` never needs (it is a
 * CommonJS package, so it loads synchronously here).
 */
export function loadRedis(): typeof import('redis') {
  return requireModule('redis') as typeof import('redis');
}

/** Backoff between reconnect attempts: 100 ms doubling to 2 s, so a returning Redis is noticed within ~2 s. */
export function reconnectDelay(retries: number): number {
  return Math.min(100 * 2 ** Math.min(retries, 5), 2000);
}

export function createFleetRedis(config: FleetConfig, name: string): FleetRedis {
  const redis = config.redis;
  const secure = redis.url.startsWith('rediss:');
  const socket = {
    connectTimeout: redis.connectTimeout,
    reconnectStrategy: (retries: number) => reconnectDelay(retries),
    ...(secure
      ? {
          tls: true as const,
          ...(redis.tls?.caPem !== undefined ? { ca: redis.tls.caPem } : {}),
          ...(redis.tls?.servername !== undefined ? { servername: redis.tls.servername } : {}),
          rejectUnauthorized: redis.tls?.insecureSkipVerify !== true,
        }
      : {}),
  };
  return loadRedis().createClient({
    url: redis.url,
    ...(redis.username !== undefined ? { username: redis.username } : {}),
    ...(redis.password !== undefined ? { password: redis.password } : {}),
    name: `splitgate-${name}-${hostname()}`.replace(/[^\w.-]/g, '_').slice(0, 100),
    disableOfflineQueue: true,
    // A silently dead TCP path (no RST) is found by this ping rather than by a command timing out.
    pingInterval: 5000,
    socket,
  }) as unknown as FleetRedis;
}

/**
 * Watches one client's connection: `connected` follows the `ready`/`end`/`reconnecting` events, transitions are
 * logged once, and `onChange` fires on each transition. The client's `error` event must have a listener (node-redis
 * would otherwise throw it as an unhandled 'error' event and end the process).
 */
export class ConnectionWatch {
  #connected = false;
  #lastError: string | null = null;
  readonly #logger: Logger;
  readonly #role: string;
  readonly #listeners: Array<(connected: boolean) => void> = [];
  #closed = false;

  constructor(client: FleetRedis, role: string, logger: Logger) {
    this.#logger = logger;
    this.#role = role;
    client.on('ready', () => this.#set(true, null));
    client.on('end', () => this.#set(false, 'closed'));
    client.on('reconnecting', () => this.#set(false, this.#lastError));
    client.on('error', (error: Error) => {
      this.#lastError = error.message || error.name;
      // A command-level error (a script error, say) is not a lost connection; only the socket state decides.
      if (!client.isReady) this.#set(false, this.#lastError);
    });
  }

  get connected(): boolean {
    return this.#connected;
  }

  get lastError(): string | null {
    return this.#lastError;
  }

  onChange(listener: (connected: boolean) => void): void {
    this.#listeners.push(listener);
  }

  /** A deliberate close (splitgate stopping) is not an outage: nothing is logged or reported after this. */
  close(): void {
    this.#closed = true;
  }

  #set(connected: boolean, error: string | null): void {
    if (connected === this.#connected || this.#closed) return;
    this.#connected = connected;
    if (connected) this.#logger.info({ role: this.#role }, 'fleet store connected');
    else this.#logger.warn({ role: this.#role, error }, 'fleet store unreachable; routing stays on the last applied state');
    for (const listener of this.#listeners) listener(connected);
  }
}

/**
 * Runs one Redis call with a deadline; any failure (disconnected, timeout, socket error) becomes
 * FleetUnavailableError, so callers deal with one kind of "the store is not there".
 */
export async function bounded<T>(call: () => Promise<T>, timeoutMs: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new FleetUnavailableError(`the fleet store (Redis) did not answer within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    return await Promise.race([call(), deadline]);
  } catch (error) {
    if (error instanceof FleetUnavailableError) throw error;
    throw new FleetUnavailableError(`the fleet store (Redis) is unreachable: ${(error as Error).message}`, { cause: error });
  } finally {
    clearTimeout(timer);
  }
}
