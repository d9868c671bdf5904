/**
 * One rollout leader per fleet: a lease in Redis (`sg:{f}:leader` = member id, `SET NX PX leaseMs`) and a fencing
 * epoch (`sg:{f}:epoch`, INCRed by the same script on every acquisition). Every rollout write carries the epoch and
 * is refused by the store unless it is still the current one, so a leader that was paused or cut off cannot write
 * after someone else took over, whatever its own clock believes (the epoch is the safety; Redlock is not needed).
 *
 * On top of that, a leader stops *acting* before its lease can expire in Redis: it counts its authority from the
 * moment it *sent* the acquire/renew that succeeded (monotonic clock, performance.now), so the key in Redis
 * outlives `sentAt + leaseMs`, and it gives up at `sentAt + leaseMs - margin` unless a later renewal succeeded.
 * `leading()` checks that deadline on every call rather than trusting a timer, so a process that was SIGSTOPped
 * past its lease sees on waking, before any timer of its own runs a write, that it is no longer the leader.
 *
 * Invariant: `leading()` true ⇒ the key held our id at some moment less than `leaseMs - margin` ago, and the epoch
 * returned by `epoch()` is the one our acquisition set.
 */
import { performance } from 'node:perf_hooks';
import type { Logger } from '../log.js';

/** The few calls the fleet needs from a node-redis client (`RedisClientType` fits). */
export interface FleetRedisClient {
  sendCommand(args: string[]): Promise<unknown>;
}

/**
 * SET NX PX, or (the key is already ours: we stopped acting on our own clock but nobody took over) a fresh PX; on
 * either, a new epoch, so writes of our previous term are fenced too. Otherwise the holder's remaining ms, so the
 * next attempt can be timed to the expiry.
 */
const ACQUIRE = `
local won = redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2])
if not won and redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'XX', 'PX', ARGV[2])
  won = true
end
if won then return {1, redis.call('INCR', KEYS[2])} end
return {0, redis.call('PTTL', KEYS[1])}
`;

/** PEXPIRE only while the key still holds our id; returns the current epoch then, 0 otherwise. */
const RENEW = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return tonumber(redis.call('GET', KEYS[2]) or '0')
end
return 0
`;

/** DEL only while the key still holds our id. */
const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;

export function leaderKey(fleet: string): string {
  return `sg:{${fleet}}:leader`;
}

export function epochKey(fleet: string): string {
  return `sg:{${fleet}}:epoch`;
}

export interface LeaderLeaseOptions {
  readonly client: FleetRedisClient;
  readonly fleet: string;
  readonly memberId: string;
  /** Lifetime of the key in Redis; a dead leader is replaced within about this long. Default 10 s. */
  readonly leaseMs?: number;
  /** Renewal period while leading, and retry period of a follower. Default leaseMs / 3. */
  readonly renewEveryMs?: number;
  /** How long before `sentAt + leaseMs` a leader that could not renew stops acting. Default min(1 s, leaseMs / 5). */
  readonly marginMs?: number;
  readonly logger: Logger;
  /** Called on every change of leadership (from the lease's timers or from a `leading()` call that saw the deadline pass). */
  readonly onChange?: (leading: boolean, epoch: number | null) => void;
  /** Monotonic milliseconds; performance.now unless a test injects another. */
  readonly clock?: () => number;
}

export interface LeaseStatus {
  readonly memberId: string;
  readonly leading: boolean;
  /** The epoch of our current term, or of our last one (null before the first acquisition). */
  readonly epoch: number | null;
  /** Ms of authority left (0 when not leading). */
  readonly validForMs: number;
}

export class LeaderLease {
  readonly memberId: string;
  readonly leaseMs: number;
  readonly renewEveryMs: number;
  readonly marginMs: number;
  readonly #client: FleetRedisClient;
  readonly #keys: [string, string];
  readonly #logger: Logger;
  readonly #onChange: ((leading: boolean, epoch: number | null) => void) | undefined;
  readonly #clock: () => number;
  #leading = false;
  #epoch: number | null = null;
  #validUntil = 0;
  #timer: NodeJS.Timeout | null = null;
  #deadlineTimer: NodeJS.Timeout | null = null;
  #attempt: Promise<void> | null = null;
  #started = false;
  #stopped = false;

  constructor(options: LeaderLeaseOptions) {
    this.#client = options.client;
    this.memberId = options.memberId;
    this.leaseMs = options.leaseMs ?? 10_000;
    this.renewEveryMs = options.renewEveryMs ?? Math.floor(this.leaseMs / 3);
    this.marginMs = options.marginMs ?? Math.min(1_000, Math.floor(this.leaseMs / 5));
    if (!(this.leaseMs > 0) || !(this.renewEveryMs > 0) || !(this.marginMs >= 0) || this.renewEveryMs + this.marginMs >= this.leaseMs) {
      throw new RangeError(`lease: need 0 < renewEveryMs (${this.renewEveryMs}) + marginMs (${this.marginMs}) < leaseMs (${this.leaseMs})`);
    }
    this.#keys = [leaderKey(options.fleet), epochKey(options.fleet)];
    this.#logger = options.logger;
    this.#onChange = options.onChange;
    this.#clock = options.clock ?? (() => performance.now());
  }

  /** Starts contending (first attempt at once). */
  start(): void {
    if (this.#started || this.#stopped) return;
    this.#started = true;
    this.#schedule(0);
  }

  /**
   * Stops contending; a lease still ours is released (by a script that checks it is ours), so another member takes
   * over at its next attempt instead of after the expiry.
   */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#clearTimers();
    const held = this.#epoch !== null;
    if (this.#leading) this.#lose('stopping');
    await this.#attempt?.catch(() => {});
    if (!held) return;
    try {
      await withTimeout(this.#client.sendCommand(['EVAL', RELEASE, '1', this.#keys[0], this.memberId]), this.renewEveryMs);
    } catch (error) {
      this.#logger.warn({ err: error }, 'fleet: could not release the leader lease; it expires on its own');
    }
  }

  /** True while this member may act as the rollout leader; checks the deadline itself (see the module comment). */
  leading(): boolean {
    if (!this.#leading) return false;
    if (this.#clock() >= this.#validUntil) {
      this.#lose('lease not renewed in time');
      return false;
    }
    return true;
  }

  /** The epoch to fence writes with while leading; null otherwise. */
  epoch(): number | null {
    return this.leading() ? this.#epoch : null;
  }

  /**
   * A write under `epoch` was refused by the store's fence: someone else was elected (or the epoch moved) while our
   * clock still said we lead. Stop acting now instead of at the next renewal; the next attempt contends again.
   */
  stepDown(epoch: number): void {
    if (!this.#leading || this.#epoch !== epoch) return;
    this.#lose('a write was fenced');
    this.#schedule(0);
  }

  status(): LeaseStatus {
    const leading = this.leading();
    return { memberId: this.memberId, leading, epoch: this.#epoch, validForMs: leading ? Math.max(0, Math.round(this.#validUntil - this.#clock())) : 0 };
  }

  #schedule(delayMs: number): void {
    if (this.#stopped) return;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#attempt ??= this.#runAttempt().finally(() => {
        this.#attempt = null;
      });
    }, Math.max(0, delayMs));
    this.#timer.unref();
  }

  async #runAttempt(): Promise<void> {
    if (this.#stopped) return;
    if (this.leading()) await this.#renew();
    else await this.#acquire();
  }

  async #acquire(): Promise<void> {
    const sentAt = this.#clock();
    let reply: unknown;
    try {
      reply = await withTimeout(this.#client.sendCommand(['EVAL', ACQUIRE, '2', this.#keys[0], this.#keys[1], this.memberId, String(this.leaseMs)]), this.renewEveryMs);
    } catch (error) {
      this.#logger.debug({ err: error }, 'fleet: leader lease acquire failed');
      this.#schedule(this.renewEveryMs);
      return;
    }
    if (this.#stopped) return;
    const [won, value] = Array.isArray(reply) ? reply.map(Number) : [0, -1];
    if (won === 1 && Number.isSafeInteger(value)) {
      this.#validUntil = sentAt + this.leaseMs - this.marginMs;
      if (this.#clock() >= this.#validUntil) {
        // The answer took longer than our authority would last: do not act on it; the next attempt re-acquires.
        this.#schedule(0);
        return;
      }
      this.#leading = true;
      this.#epoch = value;
      this.#armDeadline();
      this.#logger.info({ epoch: value, leaseMs: this.leaseMs }, 'fleet: this member is the rollout leader');
      this.#notify();
      this.#schedule(this.renewEveryMs);
      return;
    }
    // Held by another member: try again right after its key expires (a dead leader is replaced within leaseMs of its
    // last renewal), and at least every renewEveryMs.
    const pttl = Number.isFinite(value) && value >= 0 ? value : this.renewEveryMs;
    this.#schedule(Math.min(this.renewEveryMs, pttl + 5));
  }

  async #renew(): Promise<void> {
    const sentAt = this.#clock();
    const epoch = this.#epoch;
    let reply: unknown;
    try {
      reply = await withTimeout(this.#client.sendCommand(['EVAL', RENEW, '2', this.#keys[0], this.#keys[1], this.memberId, String(this.leaseMs)]), this.renewEveryMs);
    } catch (error) {
      // Keep acting until the deadline (the key is still ours until then at least), retrying sooner than usual.
      this.#logger.warn({ err: error, validForMs: Math.round(this.#validUntil - this.#clock()) }, 'fleet: leader lease renewal failed');
      this.#schedule(Math.min(this.renewEveryMs, 250));
      return;
    }
    if (this.#stopped || !this.#leading || this.#epoch !== epoch) return;
    if (Number(reply) !== epoch) {
      this.#lose(Number(reply) === 0 ? 'lease held by another member' : 'fencing epoch moved on');
      this.#schedule(0);
      return;
    }
    if (!this.leading()) {
      // The deadline passed while the renewal was on its way; #lose ran. Start a new term (a new epoch).
      this.#schedule(0);
      return;
    }
    this.#validUntil = Math.max(this.#validUntil, sentAt + this.leaseMs - this.marginMs);
    this.#armDeadline();
    this.#schedule(this.renewEveryMs);
  }

  #armDeadline(): void {
    if (this.#deadlineTimer !== null) clearTimeout(this.#deadlineTimer);
    this.#deadlineTimer = setTimeout(
      () => {
        this.#deadlineTimer = null;
        if (!this.leading()) this.#schedule(0);
      },
      Math.max(0, this.#validUntil - this.#clock()) + 1,
    );
    this.#deadlineTimer.unref();
  }

  #lose(reason: string): void {
    if (!this.#leading) return;
    this.#leading = false;
    if (this.#deadlineTimer !== null) clearTimeout(this.#deadlineTimer);
    this.#deadlineTimer = null;
    this.#logger.warn({ epoch: this.#epoch, reason }, 'fleet: this member stopped acting as the rollout leader');
    this.#notify();
  }

  #notify(): void {
    try {
      this.#onChange?.(this.#leading, this.#epoch);
    } catch (error) {
      this.#logger.error({ err: error }, 'fleet: leader change handler failed');
    }
  }

  #clearTimers(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    if (this.#deadlineTimer !== null) clearTimeout(this.#deadlineTimer);
    this.#timer = null;
    this.#deadlineTimer = null;
  }
}

/** Rejects after `ms` (the call itself goes on; its late answer is ignored by the caller's checks). */
export function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer from Redis within ${ms} ms`)), ms);
    timer.unref();
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** HGETALL answers an object (RESP3 map or node-redis's RESP2 transform) or a flat [field, value, ...] array. */
export function asHash(reply: unknown): Record<string, string> {
  if (Array.isArray(reply)) {
    const out: Record<string, string> = {};
    for (let i = 0; i + 1 < reply.length; i += 2) out[String(reply[i])] = String(reply[i + 1]);
    return out;
  }
  if (reply instanceof Map) return Object.fromEntries([...reply].map(([k, v]) => [String(k), String(v)]));
  return (reply ?? {}) as Record<string, string>;
}
