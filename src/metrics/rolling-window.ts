/**
 * Recent traffic of one (route, version) in one-second slots, for the questions Prometheus answers too slowly
 * for an operator staring at /status or for a rollout deciding its next step: how many requests in the last N
 * seconds, how many failed, and latency quantiles. Fixed memory: SLOTS slots of a few counters each; a slot is
 * reused when its second comes round again. Each slot counts all traffic and, apart, the traffic the weight placed
 * (see placedByWeight), the part a rollout compares by default, and the responses bad for the route's SLO (which
 * may differ from errors: slo.sli.errors, see sli-errors.ts).
 */
import { DURATION_BUCKETS } from './metrics.js';

export const SLOTS = 600;

/** `all`: every request; `weighted`: only requests the weight placed (overrides, pinned rules and kill switch left out). */
export type WindowTraffic = 'all' | 'weighted';

/** One second of one window as plain counts; buckets per DURATION_BUCKETS bound, the last for +Inf. */
export interface SlotCounts {
  readonly second: number;
  readonly requests: number;
  readonly errors: number;
  readonly buckets: ArrayLike<number>;
  readonly weightedRequests: number;
  readonly weightedErrors: number;
  readonly weightedBuckets: ArrayLike<number>;
  /** Responses bad for the route's SLO (all traffic); what the error budget counts. */
  readonly sloErrors: number;
}

class Slot implements SlotCounts {
  second = -1;
  requests = 0;
  errors = 0;
  readonly buckets = new Float64Array(DURATION_BUCKETS.length + 1);
  weightedRequests = 0;
  weightedErrors = 0;
  readonly weightedBuckets = new Float64Array(DURATION_BUCKETS.length + 1);
  sloErrors = 0;

  reset(second: number): void {
    this.second = second;
    this.requests = 0;
    this.errors = 0;
    this.buckets.fill(0);
    this.weightedRequests = 0;
    this.weightedErrors = 0;
    this.weightedBuckets.fill(0);
    this.sloErrors = 0;
  }
}

export interface WindowSnapshot {
  readonly seconds: number;
  readonly requests: number;
  /** Responses with status ≥ 500 or cut short by the upstream (a 499, the client leaving, is not an error). */
  readonly errors: number;
  /** Counts per DURATION_BUCKETS upper bound, the last one for +Inf. Not cumulative. */
  readonly buckets: readonly number[];
}

/** Index of the DURATION_BUCKETS bucket holding `seconds` (DURATION_BUCKETS.length for +Inf). */
export function bucketIndex(seconds: number): number {
  let bucket = 0;
  while (bucket < DURATION_BUCKETS.length && seconds > DURATION_BUCKETS[bucket]) bucket++;
  return bucket;
}

export class RollingWindow {
  readonly #slots: Slot[] = Array.from({ length: SLOTS }, () => new Slot());

  /**
   * `failed`: a 5xx, or a response cut short after its headers. `bucket`: index into DURATION_BUCKETS of the
   * response time (DURATION_BUCKETS.length for +Inf), see bucketIndex. `weighted`: the weight placed the request.
   * `sloError`: bad for the route's SLO (isSloError); a 5xx or cut-short response when not given.
   */
  observe(nowMs: number, failed: boolean, bucket: number, weighted = false, sloError = failed): void {
    const second = Math.floor(nowMs / 1000);
    const slot = this.#slots[second % SLOTS];
    if (slot.second !== second) slot.reset(second);
    slot.requests++;
    if (failed) slot.errors++;
    if (sloError) slot.sloErrors++;
    slot.buckets[bucket]++;
    if (weighted) {
      slot.weightedRequests++;
      if (failed) slot.weightedErrors++;
      slot.weightedBuckets[bucket]++;
    }
  }

  /** The slots of seconds `fromSecond` to `toSecond` that hold any request (read-only views, valid until the next observe). */
  slotsBetween(fromSecond: number, toSecond: number): SlotCounts[] {
    const out: SlotCounts[] = [];
    if (toSecond - fromSecond + 1 >= SLOTS) {
      for (const slot of this.#slots) if (slot.second >= fromSecond && slot.second <= toSecond && slot.requests > 0) out.push(slot);
      return out;
    }
    // A few seconds (the usual take): look at their slots only.
    for (let second = fromSecond; second <= toSecond; second++) {
      const slot = this.#slots[second % SLOTS];
      if (slot.second === second && slot.requests > 0) out.push(slot);
    }
    return out;
  }

  /**
   * Adds one second counted elsewhere (another worker's share of it) to the slot of that second, so that windows
   * line up across workers. A second older than the window, or than what its slot already holds, is dropped.
   */
  add(counts: SlotCounts, nowMs: number): void {
    const second = counts.second;
    if (second <= Math.floor(nowMs / 1000) - SLOTS) return;
    const slot = this.#slots[second % SLOTS];
    if (slot.second > second) return;
    if (slot.second !== second) slot.reset(second);
    slot.requests += counts.requests;
    slot.errors += counts.errors;
    slot.weightedRequests += counts.weightedRequests;
    slot.weightedErrors += counts.weightedErrors;
    slot.sloErrors += counts.sloErrors;
    for (let i = 0; i < slot.buckets.length; i++) {
      slot.buckets[i] += counts.buckets[i];
      slot.weightedBuckets[i] += counts.weightedBuckets[i];
    }
  }

  /** Totals over the `spanSeconds` whole seconds up to and including the current one. */
  snapshot(nowMs: number, spanSeconds: number, traffic: WindowTraffic = 'all'): WindowSnapshot {
    const span = Math.max(1, Math.min(spanSeconds, SLOTS));
    const now = Math.floor(nowMs / 1000);
    const weighted = traffic === 'weighted';
    let requests = 0;
    let errors = 0;
    const buckets = new Array<number>(DURATION_BUCKETS.length + 1).fill(0);
    for (const slot of this.#slots) {
      if (slot.second <= now - span || slot.second > now) continue;
      requests += weighted ? slot.weightedRequests : slot.requests;
      errors += weighted ? slot.weightedErrors : slot.errors;
      const counts = weighted ? slot.weightedBuckets : slot.buckets;
      for (let i = 0; i < buckets.length; i++) buckets[i] += counts[i];
    }
    return { seconds: span, requests, errors, buckets };
  }
}

/**
 * The q-quantile of a bucketed distribution, interpolating linearly inside the bucket as Prometheus's
 * histogram_quantile does. Null when there are no observations. Observations above the last finite bound are
 * reported as that bound.
 */
export function quantileOf(buckets: readonly number[], q: number): number | null {
  const total = buckets.reduce((sum, count) => sum + count, 0);
  if (total === 0) return null;
  const rank = q * total;
  let seen = 0;
  for (let i = 0; i < buckets.length; i++) {
    const count = buckets[i];
    if (seen + count >= rank && count > 0) {
      if (i >= DURATION_BUCKETS.length) return DURATION_BUCKETS[DURATION_BUCKETS.length - 1];
      const lower = i === 0 ? 0 : DURATION_BUCKETS[i - 1];
      const upper = DURATION_BUCKETS[i];
      return lower + (upper - lower) * ((rank - seen) / count);
    }
    seen += count;
  }
  return DURATION_BUCKETS[DURATION_BUCKETS.length - 1];
}
