/**
 * A route's recent mirror comparisons in one-second slots, for a match rate over the last N seconds (the dashboard's
 * verdict judges the rollout's window, not everything since the process started). Fixed memory, as RollingWindow:
 * SLOTS seconds of two counters; a slot is reused when its second comes round again.
 */
import { SLOTS } from '../metrics/rolling-window.js';

export interface ComparedCounts {
  readonly compared: number;
  readonly matched: number;
}

export class ComparisonWindow {
  readonly #seconds = new Float64Array(SLOTS).fill(-1);
  readonly #compared = new Float64Array(SLOTS);
  readonly #matched = new Float64Array(SLOTS);

  /** Counts `compared` comparisons, `matched` of them matching, in the second of `nowMs`. */
  add(nowMs: number, compared: number, matched: number): void {
    const second = Math.floor(nowMs / 1000);
    const index = second % SLOTS;
    if (this.#seconds[index] !== second) {
      this.#seconds[index] = second;
      this.#compared[index] = 0;
      this.#matched[index] = 0;
    }
    this.#compared[index] += compared;
    this.#matched[index] += matched;
  }

  /** Totals over the `spanSeconds` whole seconds up to and including the current one (as RollingWindow.snapshot). */
  snapshot(nowMs: number, spanSeconds: number): ComparedCounts {
    const span = Math.max(1, Math.min(spanSeconds, SLOTS));
    const now = Math.floor(nowMs / 1000);
    let compared = 0;
    let matched = 0;
    for (let i = 0; i < SLOTS; i++) {
      const second = this.#seconds[i];
      if (second <= now - span || second > now) continue;
      compared += this.#compared[i];
      matched += this.#matched[i];
    }
    return { compared, matched };
  }
}
