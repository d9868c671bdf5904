/**
 * One coarse, shared timer for the client-side timeouts (send, client body, queue): every tick it asks each member
 * whether its wait has run out. Members join only while they actually wait on something slow (queued behind a
 * saturated pool, paused behind a client that does not read, waiting for request-body bytes), so the common
 * request arms no timer and joins nothing. The interval runs only while there are members, and is unref'd.
 *
 * Resolution is one tick (1 s), like undici's own fast timers: a timeout fires between its value and its value plus
 * a tick. Progress is sampled at each tick rather than stamped on every chunk, so data-path callbacks stay free of
 * clock reads.
 */
import { performance } from 'node:perf_hooks';

export interface SweepMember {
  /** Checks this member's waits at `now` (performance.now() ms); false when nothing is left to watch. */
  sweep(now: number): boolean;
}

export const SWEEP_TICK_MS = 1_000;

export class TimeoutSweep {
  readonly #members = new Set<SweepMember>();
  readonly #tickMs: number;
  readonly #now: () => number;
  #timer: NodeJS.Timeout | null = null;

  constructor(tickMs = SWEEP_TICK_MS, now: () => number = () => performance.now()) {
    this.#tickMs = tickMs;
    this.#now = now;
  }

  get size(): number {
    return this.#members.size;
  }

  add(member: SweepMember): void {
    this.#members.add(member);
    if (this.#timer === null) {
      this.#timer = setInterval(tick, this.#tickMs, this);
      this.#timer.unref();
    }
  }

  delete(member: SweepMember): void {
    this.#members.delete(member);
  }

  /** One pass over the members; the interval calls it, tests may too. */
  tick(): void {
    const now = this.#now();
    // A member may end (and delete itself) inside sweep(); deleting while iterating a Set is safe.
    for (const member of this.#members) if (!member.sweep(now)) this.#members.delete(member);
    if (this.#members.size === 0) this.close();
  }

  /** Stops the interval; members that join later start it again. */
  close(): void {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
  }
}

function tick(sweep: TimeoutSweep): void {
  sweep.tick();
}
