/**
 * A route's requests and errors over an SLO window (days to weeks), in one-minute buckets: what burn rates and the
 * error budget are computed from. Fixed memory (one bucket per minute of the window, two counters each); a bucket is
 * reused when its minute comes round again. Fed from the one-second rolling windows (complete seconds only), so a
 * second is counted once whichever tick reads it. Kept in memory: a restart starts it empty.
 */
import type { Counts } from '../rollout/error-budget.js';

const MINUTE = 60_000;

export class SloLedger {
  readonly spanMs: number;
  readonly #minutes: Int32Array;
  readonly #requests: Float64Array;
  readonly #errors: Float64Array;

  constructor(spanMs: number) {
    this.spanMs = spanMs;
    const size = Math.ceil(spanMs / MINUTE) + 1;
    this.#minutes = new Int32Array(size).fill(-1);
    this.#requests = new Float64Array(size);
    this.#errors = new Float64Array(size);
  }

  /** Counts of the second (or minute) starting at `atMs`. */
  add(atMs: number, requests: number, errors: number): void {
    const minute = Math.floor(atMs / MINUTE);
    const index = minute % this.#minutes.length;
    if (this.#minutes[index] !== minute) {
      if (this.#minutes[index] > minute) return; // older than what the bucket holds: outside the window
      this.#minutes[index] = minute;
      this.#requests[index] = 0;
      this.#errors[index] = 0;
    }
    this.#requests[index] += requests;
    this.#errors[index] += errors;
  }

  /** Requests and errors in the minutes that overlap (nowMs − spanMs, nowMs]. */
  counts(nowMs: number, spanMs: number): Counts {
    const last = Math.floor(nowMs / MINUTE);
    const first = Math.floor((nowMs - Math.min(spanMs, this.spanMs)) / MINUTE) + 1;
    let requests = 0;
    let errors = 0;
    for (let minute = Math.max(first, last - this.#minutes.length + 1); minute <= last; minute++) {
      const index = minute % this.#minutes.length;
      if (this.#minutes[index] !== minute) continue;
      requests += this.#requests[index];
      errors += this.#errors[index];
    }
    return { requests, errors };
  }
}

/**
 * One ledger per route, outliving the rollout runners (a reload replaces a runner, not its route's history), with
 * the last second fed into it, so each second of the rolling windows is added once.
 */
export class SloLedgerBook {
  readonly #entries = new Map<string, { ledger: SloLedger; fedThroughSecond: number }>();

  /** The route's ledger for a window of `spanMs` (a new, empty one when the window changed). */
  entryFor(route: string, spanMs: number): { ledger: SloLedger; fedThroughSecond: number } {
    let entry = this.#entries.get(route);
    if (entry === undefined || entry.ledger.spanMs !== spanMs) {
      entry = { ledger: new SloLedger(spanMs), fedThroughSecond: -1 };
      this.#entries.set(route, entry);
    }
    return entry;
  }
}
