/**
 * Fleet-wide rollout windows. Every member adds the per-second counts its rolling windows keep (requests, errors
 * and latency buckets per version, all and weight-placed traffic) and its mirror comparisons into one Redis hash
 * per route and second, `sg:{f}:w:<route>:<unix-second>`, with HINCRBY, about once a second, all commands of a
 * flush sent together (node-redis pipelines the commands issued in one tick), each key expiring a few windows
 * later. The leader reads only seconds that every member has had time to flush (older than one flush interval
 * plus a grace) and builds the same WindowSnapshot a single replica builds from its own window, so the fleet's
 * window equals what the same traffic through one replica would give.
 *
 * Outlier ejections of a route's canary travel the same way (field `o:j`, their growth booked to the last completed
 * second, as mirror comparisons are): each member ejects on the failures it sees, and the leader's window must fail
 * on an ejection whichever member made it, as a single replica's fails on its own.
 *
 * Routes with an A/B experiment on the route's split also add the all-traffic counts to one hash per minute,
 * `sg:{f}:g:<route>:<unix-minute>`, kept GUARDRAIL_RETAIN_SECONDS: the experiment's guardrails judge the last ten
 * minutes of the fleet's traffic (experiments/guardrails.ts), which per-second hashes would make 600 reads.
 *
 * Nothing here runs per request: the data path keeps counting into its RollingWindow as before; a flush reads the
 * completed seconds back from it. Counts that reach a second after it was flushed (a supervisor's workers ship
 * theirs about once a second) go out as a delta on a later flush, for LOOKBACK_SECONDS. A flush is at-most-once:
 * a pipeline that fails is not sent again (resending could count part of it twice), so a Redis outage loses those
 * seconds' counts, and the leader takes no step while it cannot read them anyway.
 */
import { FlushLoop } from './flush-loop.js';
import type { Logger } from '../log.js';
import { DURATION_BUCKETS } from '../metrics/metrics.js';
import type { GuardCounts, SeriesBook } from '../metrics/metrics.js';
import type { SlotCounts, WindowSnapshot, WindowTraffic } from '../metrics/rolling-window.js';
import type { MirrorBook } from '../mirror/mirror-records.js';
import type { Version } from '../routing/table.js';
import { SloMinuteTally } from './fleet-slo.js';
import { asHash, withTimeout, type FleetRedisClient } from './leader-lease.js';

export { asHash };

/** How far back a flush looks for counts that arrived after their second was flushed. */
export const LOOKBACK_SECONDS = 5;
const BUCKETS = DURATION_BUCKETS.length + 1;
const VERSIONS: readonly Version[] = ['stable', 'canary'];

export function windowKey(fleet: string, route: string, second: number): string {
  return `sg:{${fleet}}:w:${route}:${second}`;
}

export function guardrailKey(fleet: string, route: string, minute: number): string {
  return `sg:{${fleet}}:g:${route}:${minute}`;
}

/** Lifetime of a guardrail minute: the ten-minute window, the minute still filling, and some slack. */
export const GUARDRAIL_RETAIN_SECONDS = 15 * 60;

/** Hash field names: `<version>:<counter>`, buckets as `b<i>` (all traffic) and `wb<i>` (weight-placed). */
const FIELDS = Object.fromEntries(
  VERSIONS.map((version) => [
    version,
    {
      requests: `${version}:r`,
      errors: `${version}:e`,
      weightedRequests: `${version}:wr`,
      weightedErrors: `${version}:we`,
      buckets: Array.from({ length: BUCKETS }, (_, i) => `${version}:b${i}`),
      weightedBuckets: Array.from({ length: BUCKETS }, (_, i) => `${version}:wb${i}`),
    },
  ]),
) as Record<Version, { requests: string; errors: string; weightedRequests: string; weightedErrors: string; buckets: string[]; weightedBuckets: string[] }>;
const MIRROR_COMPARED = 'm:c';
const MIRROR_MATCHED = 'm:m';
const EJECTIONS = 'o:j';

export interface FleetCountsOptions {
  readonly client: FleetRedisClient;
  readonly fleet: string;
  readonly series: SeriesBook;
  readonly mirrors?: MirrorBook;
  readonly logger: Logger;
  /**
   * Routes whose window counts are pushed (those with a rollout block); all routes when absent. SLO counts
   * (`sloWindow`) are pushed for every route with `slo:`, included or not.
   */
  readonly include?: (route: string) => boolean;
  /** Brings in counts kept elsewhere (the supervisor's workers) before a flush; bounded, never fails. */
  readonly collect?: () => Promise<void>;
  /** Routes whose per-minute guardrail counts are pushed (those with a route-split experiment); none when absent. */
  readonly guardrailed?: (route: string) => boolean;
  /** This member's canary guards (a supervisor: its workers' summed), whose ejections since start are pushed. */
  readonly guards?: () => Iterable<GuardCounts>;
  /** Flush period. Default 1000 ms. */
  readonly flushEveryMs?: number;
  /** Extra wait, past one flush period, before the leader reads a second (a member's flush late or slow). Default 1000 ms. */
  readonly graceMs?: number;
  /** Lifetime of a second's hash; a few rollout windows long. Default 120 s. */
  readonly retainSeconds?: number;
  /** Bound on one flush or read. Default 2000 ms. */
  readonly timeoutMs?: number;
  /** Wall clock (the seconds are unix seconds, shared by the fleet). */
  readonly now?: () => number;
  /** The route's SLO window (ms), null without `slo:`: routes with one also add per-minute counts (fleet-slo.ts). */
  readonly sloWindow?: (route: string) => number | null;
}

/** What this member already added for one second of one (route, version). */
interface Pushed {
  requests: number;
  errors: number;
  weightedRequests: number;
  weightedErrors: number;
  sloErrors: number;
  readonly buckets: Float64Array;
  readonly weightedBuckets: Float64Array;
}

function emptyPushed(): Pushed {
  return { requests: 0, errors: 0, weightedRequests: 0, weightedErrors: 0, sloErrors: 0, buckets: new Float64Array(BUCKETS), weightedBuckets: new Float64Array(BUCKETS) };
}

export class FleetCounts {
  readonly flushEveryMs: number;
  readonly graceMs: number;
  readonly #options: FleetCountsOptions;
  readonly #retainSeconds: number;
  readonly #timeoutMs: number;
  readonly #now: () => number;
  /** `${route}\n${version}` → second → what was pushed for it. */
  readonly #pushed = new Map<string, Map<number, Pushed>>();
  /** route → mirror counts already pushed. */
  readonly #mirrorPushed = new Map<string, { compared: number; matched: number }>();
  /** Each canary guard's (`route\nupstream`) ejections already pushed, or seen on a route not pushed. */
  #ejectionsPushed = new Map<string, number>();
  readonly #loop: FlushLoop;

  constructor(options: FleetCountsOptions) {
    this.#options = options;
    this.flushEveryMs = options.flushEveryMs ?? 1_000;
    this.#loop = new FlushLoop(this.flushEveryMs, (final) => this.flush(final));
    this.graceMs = options.graceMs ?? 1_000;
    this.#retainSeconds = options.retainSeconds ?? 120;
    this.#timeoutMs = options.timeoutMs ?? 2_000;
    this.#now = options.now ?? Date.now;
  }

  start(): void {
    this.#loop.start();
  }

  /** Stops the timer after one last flush of what is complete (a member leaving hands in its counts). */
  stop(): Promise<void> {
    return this.#loop.stop();
  }

  /**
   * Adds the counts of completed seconds not yet pushed (after `collect`). Resolves false when the pipeline
   * failed (logged; those counts are not sent again). `final` ignores the stopped flag, for stop's last flush.
   */
  async flush(final = false): Promise<boolean> {
    if (this.#loop.stopped && !final) return true;
    await this.#options.collect?.();
    const nowMs = this.#now();
    const current = Math.floor(nowMs / 1000);
    const commands: string[][] = [];
    /** Keys written, with their lifetime (s). */
    const touched = new Map<string, number>();
    const { fleet, sloWindow } = this.#options;
    const slo = new SloMinuteTally();
    for (const series of this.#options.series.all()) {
      if (series.version !== 'stable' && series.version !== 'canary') continue;
      // Window counts only for routes a leader analyses (a rollout); SLO counts for every route with `slo:`, so
      // its budget gauges are the fleet's whether or not a rollout runs.
      const windowed = this.#options.include?.(series.route) ?? true;
      const counted = sloWindow !== undefined && sloWindow(series.route) !== null;
      const guarded = this.#options.guardrailed?.(series.route) ?? false;
      if (!windowed && !counted && !guarded) continue;
      const fields = FIELDS[series.version];
      const mapKey = `${series.route}\n${series.version}`;
      let pushed = this.#pushed.get(mapKey);
      if (pushed === undefined) {
        pushed = new Map();
        this.#pushed.set(mapKey, pushed);
      }
      for (const second of pushed.keys()) if (second < current - LOOKBACK_SECONDS) pushed.delete(second);
      for (const slot of series.window.slotsBetween(current - LOOKBACK_SECONDS, current - 1)) {
        let done = pushed.get(slot.second);
        if (done === undefined) {
          done = emptyPushed();
          pushed.set(slot.second, done);
        }
        if (counted) slo.add(series.route, slot.second, slot.requests - done.requests, slot.sloErrors - done.sloErrors);
        done.sloErrors = Math.max(done.sloErrors, slot.sloErrors);
        if (!windowed && !guarded) {
          done.requests = Math.max(done.requests, slot.requests);
          continue;
        }
        const key = windowed ? windowKey(fleet, series.route, slot.second) : null;
        const minuteKey = guarded ? guardrailKey(fleet, series.route, Math.floor(slot.second / 60)) : null;
        const before = commands.length;
        addDeltas(commands, key, minuteKey, fields, slot, done);
        if (commands.length > before) {
          if (key !== null) touched.set(key, this.#retainSeconds);
          if (minuteKey !== null) touched.set(minuteKey, GUARDRAIL_RETAIN_SECONDS);
        }
      }
    }
    if (this.#options.mirrors) {
      // Mirror comparisons are cumulative counters without seconds: their growth since the last flush is booked
      // to the last completed second.
      for (const records of this.#options.mirrors.all()) {
        const { compared, matched } = records.counts();
        const last = this.#mirrorPushed.get(records.route) ?? { compared: 0, matched: 0 };
        const dc = compared >= last.compared ? compared - last.compared : compared;
        const dm = matched >= last.matched ? matched - last.matched : matched;
        // Kept for routes not pushed too: a route that gains a rollout pushes what it compares from then on.
        this.#mirrorPushed.set(records.route, { compared, matched });
        if (this.#options.include && !this.#options.include(records.route)) continue;
        if (dc === 0 && dm === 0) continue;
        const key = windowKey(fleet, records.route, current - 1);
        if (dc !== 0) commands.push(['HINCRBY', key, MIRROR_COMPARED, String(dc)]);
        if (dm !== 0) commands.push(['HINCRBY', key, MIRROR_MATCHED, String(dm)]);
        touched.set(key, this.#retainSeconds);
      }
    }
    const ejections = this.#ejectionGrowth();
    for (const [route, grown] of ejections.grown) {
      const key = windowKey(fleet, route, current - 1);
      commands.push(['HINCRBY', key, EJECTIONS, String(grown)]);
      touched.set(key, this.#retainSeconds);
    }
    for (const [key, seconds] of touched) commands.push(['EXPIRE', key, String(seconds)]);
    if (sloWindow) commands.push(...slo.commands(fleet, sloWindow));
    if (commands.length === 0) {
      this.#ejectionsPushed = ejections.seen;
      return true;
    }
    const client = this.#options.client;
    try {
      await withTimeout(Promise.all(commands.map((command) => client.sendCommand(command))), this.#timeoutMs);
      // Only now: an ejection is the safety signal, so one a failed flush lost goes out with the next (twice, should
      // Redis have run part of the failed pipeline: a window failed once too often rather than not at all).
      this.#ejectionsPushed = ejections.seen;
      return true;
    } catch (error) {
      this.#options.logger.warn({ err: error, commands: commands.length }, 'fleet: could not add this member\'s window counts');
      return false;
    }
  }

  /**
   * Each guard's ejections since the previous flush, by route, for the routes pushed. Counted per guard (a route has
   * two while a reload renames its canary, and the old one may go with the new one's first ejection in one period);
   * a guard first seen on a route not pushed gives its count as a baseline, so a route that gains a rollout pushes
   * only what comes after.
   */
  #ejectionGrowth(): { grown: Map<string, number>; seen: Map<string, number> } {
    const grown = new Map<string, number>();
    const seen = new Map<string, number>();
    for (const guard of this.#options.guards?.() ?? []) {
      const key = `${guard.route}\n${guard.upstream ?? ''}`;
      const last = this.#ejectionsPushed.get(key);
      seen.set(key, guard.ejections);
      // Unseen, or below its last count (a guard made again under the same name): counted from 0.
      const growth = last === undefined || guard.ejections < last ? guard.ejections : guard.ejections - last;
      if (growth <= 0 || (this.#options.include && !this.#options.include(guard.route))) continue;
      grown.set(guard.route, (grown.get(guard.route) ?? 0) + growth);
    }
    return { grown, seen };
  }

  /** The newest second every member has had time to flush, at `nowMs`. */
  newestCompleteSecond(nowMs: number): number {
    return Math.floor((nowMs - this.flushEveryMs - this.graceMs) / 1000) - 1;
  }

  /**
   * The fleet's counts of (route, version) over the `seconds` newest complete seconds, shaped as a replica's own
   * RollingWindow.snapshot; null when Redis could not be read (no step is taken on a partial picture).
   */
  async window(route: string, version: Version, nowMs: number, seconds: number, traffic: WindowTraffic = 'all'): Promise<WindowSnapshot | null> {
    const hashes = await this.#read(route, nowMs, seconds);
    return hashes === null ? null : { seconds: hashes.length, ...sumCounts(hashes, version, traffic) };
  }

  /** Mirror comparisons of the route over the same seconds as window(); null when Redis could not be read. */
  async mirror(route: string, nowMs: number, seconds: number): Promise<{ compared: number; matched: number } | null> {
    const hashes = await this.#read(route, nowMs, seconds);
    if (hashes === null) return null;
    let compared = 0;
    let matched = 0;
    for (const hash of hashes) {
      compared += num(hash[MIRROR_COMPARED]);
      matched += num(hash[MIRROR_MATCHED]);
    }
    return { compared, matched };
  }

  /**
   * The fleet's all-traffic counts of (route, version) over the whole minutes that hold the last `seconds` (the minute
   * still filling included, as far as members have flushed it), for an experiment's guardrails; null when Redis could
   * not be read. `seconds` of the snapshot is the span those minutes cover up to `nowMs`.
   */
  async guardrailWindow(route: string, version: Version, nowMs: number, seconds: number): Promise<WindowSnapshot | null> {
    const first = Math.floor((nowMs - seconds * 1000) / 60_000);
    const keys: string[] = [];
    for (let minute = first; minute <= Math.floor(nowMs / 60_000); minute++) keys.push(guardrailKey(this.#options.fleet, route, minute));
    const hashes = await this.#readKeys(keys, route, 'guardrail');
    return hashes === null ? null : { seconds: Math.round((nowMs - first * 60_000) / 1000), ...sumCounts(hashes, version, 'all') };
  }

  /**
   * Canary ejections of the route, by any member, over the same seconds as window() but only those after
   * `afterSecond` (the newest second a previous window counted: windows overlap by a second, an ejection counts once);
   * with the newest second read. Null when Redis could not be read.
   */
  async ejections(route: string, nowMs: number, seconds: number, afterSecond: number | null = null): Promise<{ count: number; throughSecond: number } | null> {
    const hashes = await this.#read(route, nowMs, seconds);
    if (hashes === null) return null;
    const newest = this.newestCompleteSecond(nowMs);
    const oldest = newest - hashes.length + 1;
    let count = 0;
    for (const [index, hash] of hashes.entries()) if (afterSecond === null || oldest + index > afterSecond) count += num(hash[EJECTIONS]);
    return { count, throughSecond: newest };
  }

  async #read(route: string, nowMs: number, seconds: number): Promise<Array<Record<string, string>> | null> {
    const newest = this.newestCompleteSecond(nowMs);
    const span = Math.max(1, Math.floor(seconds));
    const keys: string[] = [];
    for (let second = newest - span + 1; second <= newest; second++) keys.push(windowKey(this.#options.fleet, route, second));
    return this.#readKeys(keys, route, 'window');
  }

  async #readKeys(keys: readonly string[], route: string, what: string): Promise<Array<Record<string, string>> | null> {
    const client = this.#options.client;
    try {
      const replies = await withTimeout(Promise.all(keys.map((key) => client.sendCommand(['HGETALL', key]))), this.#timeoutMs);
      return replies.map(asHash);
    } catch (error) {
      this.#options.logger.warn({ err: error, route }, `fleet: could not read the fleet ${what} counts`);
      return null;
    }
  }
}

/** One version's requests, errors and latency buckets summed over `hashes` (all or weight-placed traffic). */
function sumCounts(hashes: ReadonlyArray<Record<string, string>>, version: Version, traffic: WindowTraffic): Omit<WindowSnapshot, 'seconds'> {
  const fields = FIELDS[version];
  const weighted = traffic === 'weighted';
  const bucketFields = weighted ? fields.weightedBuckets : fields.buckets;
  let requests = 0;
  let errors = 0;
  const buckets = new Array<number>(BUCKETS).fill(0);
  for (const hash of hashes) {
    requests += num(hash[weighted ? fields.weightedRequests : fields.requests]);
    errors += num(hash[weighted ? fields.weightedErrors : fields.errors]);
    for (let i = 0; i < BUCKETS; i++) buckets[i] += num(hash[bucketFields[i]]);
  }
  return { requests, errors, buckets };
}

/** The second's growth into its window hash (`key`) and, all traffic only, into its guardrail minute (`minuteKey`). */
function addDeltas(commands: string[][], key: string | null, minuteKey: string | null, fields: (typeof FIELDS)[Version], slot: SlotCounts, done: Pushed): void {
  const push = (field: string, now: number, before: number, everyMinute: boolean): void => {
    if (now <= before) return;
    const delta = String(now - before);
    if (key !== null) commands.push(['HINCRBY', key, field, delta]);
    if (everyMinute && minuteKey !== null) commands.push(['HINCRBY', minuteKey, field, delta]);
  };
  push(fields.requests, slot.requests, done.requests, true);
  push(fields.errors, slot.errors, done.errors, true);
  push(fields.weightedRequests, slot.weightedRequests, done.weightedRequests, false);
  push(fields.weightedErrors, slot.weightedErrors, done.weightedErrors, false);
  done.requests = Math.max(done.requests, slot.requests);
  done.errors = Math.max(done.errors, slot.errors);
  done.weightedRequests = Math.max(done.weightedRequests, slot.weightedRequests);
  done.weightedErrors = Math.max(done.weightedErrors, slot.weightedErrors);
  for (let i = 0; i < BUCKETS; i++) {
    push(fields.buckets[i], slot.buckets[i], done.buckets[i], true);
    push(fields.weightedBuckets[i], slot.weightedBuckets[i], done.weightedBuckets[i], false);
    done.buckets[i] = Math.max(done.buckets[i], slot.buckets[i]);
    done.weightedBuckets[i] = Math.max(done.weightedBuckets[i], slot.weightedBuckets[i]);
  }
}

function num(value: string | undefined): number {
  return value === undefined ? 0 : Number(value);
}
