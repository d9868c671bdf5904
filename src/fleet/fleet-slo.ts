/**
 * Fleet-wide SLO counts: what a route's error budget is computed from when replicas share the traffic. Each member
 * adds, in the same flush as its window counts (FleetCounts, about once a second, never per request), the requests
 * and errors of both versions per minute into one Redis hash per route and hour, `sg:{f}:slo:<route>:<unix-hour>`,
 * fields `<unix-minute>:r` and `<unix-minute>:e` (HINCRBY), the key expiring once the SLO window no longer covers its
 * hour (plus a margin). An hour's 120 fields stay within Redis's compact listpack encoding (128 entries by default):
 * about 2 KB a key, ~1.5 MB per route for a 30-day window (720 keys). Every route with `slo:` (and no Prometheus
 * SLI) is counted, with a rollout or without. The leader reads them with one HGETALL each, pipelined, for pacing at
 * its rollout windows and for the burn-rate and budget gauges it alone exports (SloFeed, every 5 s), and keeps the
 * hours that can no longer change (ended more than FINAL_AFTER_MS ago), so after its first read a read takes one or
 * two hashes.
 *
 * The counts survive a restart of any member (they are in Redis); a Redis restarted empty loses them, and while
 * Redis cannot be read the leader paces and sets its gauges by its own counts (SloFeed.noteFleetCounts logs it, and
 * records an event).
 */
import type { Config } from '../config/schema.js';
import type { Logger } from '../log.js';
import type { Counts, CountsOver } from '../rollout/error-budget.js';
import { asHash, withTimeout, type FleetRedisClient } from './leader-lease.js';

const MINUTE = 60_000;
const HOUR = 3_600_000;
const MINUTES_PER_HOUR = 60;
/** An hour's hash is final this long after the hour ended: flushes (with their LOOKBACK_SECONDS) are long done. */
export const FINAL_AFTER_MS = 5 * MINUTE;
/** Kept this long past the SLO window, so the window's oldest hour is whole. */
const RETAIN_MARGIN_SECONDS = 2 * 3600;

export function sloKey(fleet: string, route: string, hour: number): string {
  return `sg:{${fleet}}:slo:${route}:${hour}`;
}

/** The SLO window of a route whose budget comes from splitgate's counts; null without `slo:` or with a Prometheus SLI. */
export function sloWindowOf(config: Config, route: string): number | null {
  const slo = config.routes.find((r) => r.name === route)?.slo;
  return slo === undefined || slo.sli?.prometheus !== undefined ? null : slo.window;
}

/** One flush's SLO deltas, summed per (route, minute) before they become commands. */
export class SloMinuteTally {
  readonly #counts = new Map<string, { route: string; minute: number; requests: number; errors: number }>();

  add(route: string, second: number, requestsDelta: number, errorsDelta: number): void {
    const requests = Math.max(0, requestsDelta);
    const errors = Math.max(0, errorsDelta);
    if (requests === 0 && errors === 0) return;
    const minute = Math.floor(second / 60);
    const id = `${route}\n${minute}`;
    const entry = this.#counts.get(id);
    if (entry === undefined) this.#counts.set(id, { route, minute, requests, errors });
    else {
      entry.requests += requests;
      entry.errors += errors;
    }
  }

  /** HINCRBYs, then one EXPIRE per touched key (`windowMs` is the route's SLO window). */
  commands(fleet: string, windowMs: (route: string) => number | null): string[][] {
    const commands: string[][] = [];
    const expiries = new Map<string, number>();
    for (const { route, minute, requests, errors } of this.#counts.values()) {
      const window = windowMs(route);
      if (window === null) continue;
      const key = sloKey(fleet, route, Math.floor(minute / MINUTES_PER_HOUR));
      if (requests > 0) commands.push(['HINCRBY', key, `${minute}:r`, String(requests)]);
      if (errors > 0) commands.push(['HINCRBY', key, `${minute}:e`, String(errors)]);
      expiries.set(key, Math.ceil(window / 1000) + RETAIN_MARGIN_SECONDS);
    }
    for (const [key, seconds] of expiries) commands.push(['EXPIRE', key, String(seconds)]);
    return commands;
  }
}

/** One hour's counts, by minute of the hour. */
interface HourCounts {
  readonly requests: Float64Array;
  readonly errors: Float64Array;
}

export interface FleetSloReaderOptions {
  readonly client: FleetRedisClient;
  readonly fleet: string;
  readonly logger: Logger;
  /** Bound on one read. Default 2000 ms. */
  readonly timeoutMs?: number;
  /** The routes in force (sloWindowOf the config): kept hours of any other route are dropped. */
  readonly sloWindow?: (route: string) => number | null;
}

export class FleetSloReader {
  readonly #options: FleetSloReaderOptions;
  /** route → hour → a final hour's counts. */
  readonly #finalHours = new Map<string, Map<number, HourCounts>>();

  constructor(options: FleetSloReaderOptions) {
    this.#options = options;
  }

  /**
   * The fleet's requests and errors of `route` over any span up to `windowMs` ending at `nowMs` (minutes that
   * overlap it, as SloLedger counts them); null when Redis could not be read.
   */
  async countsOver(route: string, nowMs: number, windowMs: number): Promise<CountsOver | null> {
    const firstHour = Math.floor((nowMs - windowMs) / HOUR);
    const lastHour = Math.floor(nowMs / HOUR);
    const hours = new Map<number, HourCounts>();
    const reads: Array<Promise<void>> = [];
    const sloWindow = this.#options.sloWindow;
    for (const cached of this.#finalHours.keys()) if (cached !== route && sloWindow?.(cached) === null) this.#finalHours.delete(cached);
    let final = this.#finalHours.get(route);
    if (final === undefined) {
      final = new Map();
      this.#finalHours.set(route, final);
    }
    for (const hour of final.keys()) if (hour < firstHour) final.delete(hour);
    for (let hour = firstHour; hour <= lastHour; hour++) {
      const cached = final.get(hour);
      if (cached !== undefined) {
        hours.set(hour, cached);
        continue;
      }
      reads.push(
        this.#options.client.sendCommand(['HGETALL', sloKey(this.#options.fleet, route, hour)]).then((reply) => {
          const counts = parseHour(reply, hour);
          hours.set(hour, counts);
          if ((hour + 1) * HOUR + FINAL_AFTER_MS <= nowMs) final.set(hour, counts);
        }),
      );
    }
    try {
      await withTimeout(Promise.all(reads), this.#options.timeoutMs ?? 2_000);
    } catch (error) {
      this.#options.logger.warn({ err: error, route }, 'fleet: could not read the fleet SLO counts');
      return null;
    }
    return (spanMs: number): Counts => {
      const last = Math.floor(nowMs / MINUTE);
      const first = Math.floor((nowMs - Math.min(spanMs, windowMs)) / MINUTE) + 1;
      let requests = 0;
      let errors = 0;
      for (let minute = first; minute <= last; minute++) {
        const hour = hours.get(Math.floor(minute / MINUTES_PER_HOUR));
        if (hour === undefined) continue;
        const index = minute % MINUTES_PER_HOUR;
        requests += hour.requests[index];
        errors += hour.errors[index];
      }
      return { requests, errors };
    };
  }
}

/** HGETALL's answer as an hour's counts; fields of other hours or shapes are ignored. */
function parseHour(reply: unknown, hour: number): HourCounts {
  const counts: HourCounts = { requests: new Float64Array(MINUTES_PER_HOUR), errors: new Float64Array(MINUTES_PER_HOUR) };
  for (const [field, raw] of Object.entries(asHash(reply))) {
    const match = /^(\d+):([re])$/.exec(field);
    const value = Number(String(raw));
    if (match === null || !Number.isFinite(value)) continue;
    const index = Number(match[1]) - hour * MINUTES_PER_HOUR;
    if (index < 0 || index >= MINUTES_PER_HOUR) continue;
    (match[2] === 'r' ? counts.requests : counts.errors)[index] += value;
  }
  return counts;
}
