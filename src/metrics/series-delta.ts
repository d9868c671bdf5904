/**
 * The counter sink between workers and the supervisor (DESIGN § "One machine, many workers"). A worker counts as a
 * single process does, in plain numbers on the hot path; about once a second (and on scrape) it takes what it
 * counted since its previous take, by diffing against the totals it shipped last, and sends that over IPC. The
 * supervisor adds every worker's deltas into its own books, so its /metrics, /status, rollout windows and mirror
 * summaries cover the machine. Nothing here runs per request, and nothing in the hot path knows about it.
 *
 * Deltas are plain objects, arrays, strings and finite numbers: they survive structured clone and JSON alike, so
 * process.send works with either `serialization`.
 */
import type { DecisionReason, Version } from '../routing/table.js';
import type { MirrorBook, MirrorCountsDelta, MirrorOutcome, MirrorRecords } from '../mirror/mirror-records.js';
import { DURATION_BUCKETS, type CountEntry, type Metrics, type SeriesBook, type VersionSeries } from './metrics.js';
import { isProxyDelta, type ProxyDelta } from './proxy-deltas.js';
import { SLOTS, type SlotCounts } from './rolling-window.js';
import type { ExperimentEvent } from '../experiments/worker-events.js';

/** One second of one window, as counted by one worker since its previous take. */
export interface SlotDelta extends SlotCounts {
  readonly buckets: readonly number[];
  readonly weightedBuckets: readonly number[];
}

export interface SeriesDelta {
  readonly route: string;
  readonly version: string;
  /** [method, code, count] as labelled in http_requests_total. */
  readonly requests: ReadonlyArray<readonly [string, string, number]>;
  readonly decisions: ReadonlyArray<readonly [string, number]>;
  readonly upstreamErrors: ReadonlyArray<readonly [string, number]>;
  readonly clientTimeouts: ReadonlyArray<readonly [string, number]>;
  readonly duration: { readonly buckets: readonly number[]; readonly sum: number; readonly count: number } | null;
  /** Seconds of the rolling window touched since the previous take; the current one may be partial. */
  readonly window: readonly SlotDelta[];
}

export interface MirrorDelta extends MirrorCountsDelta {
  readonly route: string;
  /** The worker's `diff.keep` for the route, for a supervisor that has no records for it yet. */
  readonly keep: number;
}

/** Everything a worker counted since its previous take; plain data (numbers, strings, arrays, objects). */
export interface CounterDeltas {
  readonly series: readonly SeriesDelta[];
  readonly mirrors: readonly MirrorDelta[];
  /** The proxy's own counts (retries, ejections, listener), from a worker (proxy-deltas.ts). */
  readonly proxy?: ProxyDelta;
  /** A/B experiments: first exposures and conversions the worker saw (experiments/worker-events.ts). */
  readonly experiments?: readonly ExperimentEvent[];
  /** Flag evaluations: [flag, variant, reason, count] (splitgate_flag_evaluations_total); absent when none. */
  readonly flags?: ReadonlyArray<readonly [string, string, string, number]>;
}

/** Stored differing exchanges shipped per route and take, at most: the newest ones win. */
export const MAX_STORED_PER_TAKE = 100;

/**
 * Seconds of window slots kept as shipped baselines behind the current second, so that a slot still being counted
 * (or reached again by a small wall-clock step back) ships only its increase; and seconds looked at ahead of it.
 * A wall-clock step of more than this between observing and taking may lose those seconds' window counts (never
 * the counters).
 */
const WINDOW_SLACK_SECONDS = 5;

const BUCKET_COUNT = DURATION_BUCKETS.length + 1;

/** What a worker has shipped of one series: the totals it diffs against next time. */
interface ShippedSeries {
  readonly requests: Map<CountEntry<string>, number>;
  readonly decisions: Map<CountEntry<string>, number>;
  readonly upstreamErrors: Map<CountEntry<string>, number>;
  readonly clientTimeouts: Map<CountEntry<string>, number>;
  readonly buckets: Float64Array;
  sum: number;
  count: number;
  /** Shipped slot totals by second, for seconds from `windowFrom` on. */
  readonly slots: Map<number, ShippedSlot>;
  /** Slots of earlier seconds were shipped in full. */
  windowFrom: number;
}

interface ShippedMirror {
  readonly outcomes: Map<MirrorOutcome, number>;
  compared: number;
  matched: number;
  readonly fields: Map<string, number>;
  readonly noise: Map<string, number>;
  noiseSamples: number;
  inFlight: number;
  readonly buckets: Float64Array;
  sum: number;
  count: number;
  lastStoredId: number;
}

// Keyed by the counting objects themselves: the hot path stays as it is, and a book dropped is forgotten.
const shippedSeries = new WeakMap<VersionSeries, ShippedSeries>();
const shippedMirrors = new WeakMap<MirrorRecords, ShippedMirror>();
const shippedFlagCounts = new WeakMap<CountEntry<string>, number>();

/**
 * In a worker: everything counted since the previous take (the first take: since start); resets the baseline.
 * `metrics` is the books' metric set (all counters the admin side reads live in the books today).
 */
export function takeDeltas(series: SeriesBook, mirrors: MirrorBook, metrics: Metrics, nowMs = Date.now()): CounterDeltas {
  const seriesDeltas: SeriesDelta[] = [];
  for (const one of series.all()) {
    const delta = takeSeries(one, nowMs);
    if (delta !== null) seriesDeltas.push(delta);
  }
  const mirrorDeltas: MirrorDelta[] = [];
  for (const records of mirrors.all()) {
    const delta = takeMirror(records);
    if (delta !== null) mirrorDeltas.push(delta);
  }
  const flags = takeFlagCounts(metrics);
  return flags.length === 0 ? { series: seriesDeltas, mirrors: mirrorDeltas } : { series: seriesDeltas, mirrors: mirrorDeltas, flags };
}

function takeFlagCounts(metrics: Metrics): Array<[string, string, string, number]> {
  const flags: Array<[string, string, string, number]> = [];
  for (const cell of metrics.flagCounts.all()) {
    const shipped = shippedFlagCounts.get(cell) ?? 0;
    if (cell.value === shipped) continue;
    flags.push([cell.labels.flag, cell.labels.variant, cell.labels.reason, cell.value - shipped]);
    shippedFlagCounts.set(cell, cell.value);
  }
  return flags;
}

/** True when a take found nothing (a worker can skip the IPC message). */
export function isEmptyDelta(deltas: CounterDeltas): boolean {
  return deltas.series.length === 0 && deltas.mirrors.length === 0 && deltas.proxy === undefined && deltas.experiments === undefined && deltas.flags === undefined;
}

/**
 * In the supervisor: adds a worker's deltas into its own books, so its metrics and windows cover every worker.
 * Window seconds older than the supervisor's window (by `nowMs`) are dropped.
 */
export function applyDeltas(series: SeriesBook, mirrors: MirrorBook, metrics: Metrics, deltas: CounterDeltas, nowMs = Date.now()): void {
  for (const [flag, variant, reason, count] of deltas.flags ?? []) metrics.flagCounts.cell(flag, variant, reason).value += count;
  for (const delta of deltas.series) {
    const target = series.get(delta.route, delta.version as Version | 'none');
    for (const [method, code, count] of delta.requests) target.addRequests(method, code, count);
    for (const [reason, count] of delta.decisions) target.addDecisions(reason as DecisionReason, count);
    for (const [kind, count] of delta.upstreamErrors) target.addUpstreamErrors(kind, count);
    for (const [kind, count] of delta.clientTimeouts) target.addClientTimeouts(kind, count);
    if (delta.duration !== null) target.addDurations(delta.duration.buckets, delta.duration.sum, delta.duration.count);
    for (const slot of delta.window) target.window.add(slot, nowMs);
  }
  for (const delta of deltas.mirrors) {
    // recordsFor would resize an existing route's store to the worker's keep: the supervisor's own config decides.
    const records = mirrors.get(delta.route) ?? mirrors.recordsFor(delta.route, delta.keep);
    records.addCounts(delta, nowMs);
  }
}

/** A shallow check of a message received over IPC, before applyDeltas trusts it. */
export function isCounterDeltas(value: unknown): value is CounterDeltas {
  if (typeof value !== 'object' || value === null) return false;
  const { series, mirrors, proxy, experiments, flags } = value as Partial<CounterDeltas>;
  return (
    Array.isArray(series) &&
    Array.isArray(mirrors) &&
    (proxy === undefined || isProxyDelta(proxy)) &&
    (experiments === undefined || Array.isArray(experiments)) &&
    (flags === undefined || isFlagCounts(flags))
  );
}

function isFlagCounts(flags: unknown): boolean {
  return (
    Array.isArray(flags) &&
    flags.every((entry) => Array.isArray(entry) && entry.length === 4 && typeof entry[0] === 'string' && typeof entry[1] === 'string' && typeof entry[2] === 'string' && Number.isFinite(entry[3]))
  );
}

/**
 * In the supervisor, one per worker: the gauge share that worker added (mirror copies in flight, by route), so
 * that when it exits its share is withdrawn instead of counted as in flight forever. Counters stay, as
 * Prometheus counters must.
 */
export class WorkerShare {
  readonly #inFlight = new Map<string, number>();

  /** Call with every delta applied from this worker. */
  note(deltas: CounterDeltas): void {
    for (const delta of deltas.mirrors) {
      if (delta.inFlight !== 0) this.#inFlight.set(delta.route, (this.#inFlight.get(delta.route) ?? 0) + delta.inFlight);
    }
  }

  /** The worker is gone, and its copies in flight with it. */
  withdraw(mirrors: MirrorBook): void {
    for (const [route, inFlight] of this.#inFlight) {
      if (inFlight !== 0) mirrors.get(route)?.addCounts({ ...NOTHING_MIRRORED, inFlight: -inFlight });
    }
    this.#inFlight.clear();
  }
}

const NOTHING_MIRRORED: MirrorCountsDelta = {
  outcomes: [],
  compared: 0,
  matched: 0,
  fields: [],
  noise: [],
  noiseSamples: 0,
  inFlight: 0,
  duration: null,
  stored: [],
};

function takeSeries(series: VersionSeries, nowMs: number): SeriesDelta | null {
  let shipped = shippedSeries.get(series);
  if (shipped === undefined) {
    shipped = {
      requests: new Map(),
      decisions: new Map(),
      upstreamErrors: new Map(),
      clientTimeouts: new Map(),
      buckets: new Float64Array(BUCKET_COUNT),
      sum: 0,
      count: 0,
      slots: new Map(),
      windowFrom: -Infinity,
    };
    shippedSeries.set(series, shipped);
  }
  const requests: Array<[string, string, number]> = [];
  for (const entry of series.requestCounts()) {
    const count = countDelta(shipped.requests, entry);
    if (count !== 0) requests.push([entry.labels.method, entry.labels.code, count]);
  }
  const decisions = labelledDeltas(series.decisionCounts(), shipped.decisions, 'reason');
  const upstreamErrors = labelledDeltas(series.upstreamErrorCounts(), shipped.upstreamErrors, 'kind');
  const clientTimeouts = labelledDeltas(series.clientTimeoutCounts(), shipped.clientTimeouts, 'kind');
  let duration: SeriesDelta['duration'] = null;
  if (series.durationCount !== shipped.count) {
    duration = {
      buckets: subtractInto(series.buckets, shipped.buckets),
      sum: series.durationSum - shipped.sum,
      count: series.durationCount - shipped.count,
    };
    shipped.sum = series.durationSum;
    shipped.count = series.durationCount;
  }
  const window = takeWindow(series, shipped, nowMs);
  if (requests.length === 0 && decisions.length === 0 && upstreamErrors.length === 0 && clientTimeouts.length === 0 && duration === null && window.length === 0) {
    return null;
  }
  return { route: series.route, version: series.version, requests, decisions, upstreamErrors, clientTimeouts, duration, window };
}

function takeWindow(series: VersionSeries, shipped: ShippedSeries, nowMs: number): SlotDelta[] {
  const nowSecond = Math.floor(nowMs / 1000);
  const out: SlotDelta[] = [];
  const slots = series.window.slotsBetween(Math.max(shipped.windowFrom, nowSecond - SLOTS + 1), nowSecond + WINDOW_SLACK_SECONDS);
  for (const slot of slots) {
    const before = shipped.slots.get(slot.second);
    // Every observation counts a request, so an unchanged request count is an unchanged slot.
    if (before !== undefined && before.requests === slot.requests) continue;
    out.push({
      second: slot.second,
      requests: slot.requests - (before?.requests ?? 0),
      errors: slot.errors - (before?.errors ?? 0),
      buckets: subtract(slot.buckets, before?.buckets),
      weightedRequests: slot.weightedRequests - (before?.weightedRequests ?? 0),
      weightedErrors: slot.weightedErrors - (before?.weightedErrors ?? 0),
      weightedBuckets: subtract(slot.weightedBuckets, before?.weightedBuckets),
      sloErrors: slot.sloErrors - (before?.sloErrors ?? 0),
    });
    shipped.slots.set(slot.second, copySlot(slot));
  }
  const keepFrom = nowSecond - WINDOW_SLACK_SECONDS;
  for (const second of shipped.slots.keys()) if (second < keepFrom) shipped.slots.delete(second);
  shipped.windowFrom = keepFrom;
  return out;
}

function takeMirror(records: MirrorRecords): MirrorDelta | null {
  const counts = records.counts();
  let shipped = shippedMirrors.get(records);
  if (shipped === undefined) {
    shipped = {
      outcomes: new Map(),
      compared: 0,
      matched: 0,
      fields: new Map(),
      noise: new Map(),
      noiseSamples: 0,
      inFlight: 0,
      buckets: new Float64Array(BUCKET_COUNT),
      sum: 0,
      count: 0,
      lastStoredId: 0,
    };
    shippedMirrors.set(records, shipped);
  }
  const outcomes: Array<[MirrorOutcome, number]> = [];
  for (const [outcome, total] of Object.entries(counts.outcomes) as Array<[MirrorOutcome, number]>) {
    const count = total - (shipped.outcomes.get(outcome) ?? 0);
    if (count === 0) continue;
    outcomes.push([outcome, count]);
    shipped.outcomes.set(outcome, total);
  }
  const fields = mapDeltas(counts.fields, shipped.fields);
  const noise = mapDeltas(counts.noise, shipped.noise);
  let duration: MirrorCountsDelta['duration'] = null;
  if (counts.duration.count !== shipped.count) {
    duration = {
      buckets: subtractInto(counts.duration.buckets, shipped.buckets),
      sum: counts.duration.sum - shipped.sum,
      count: counts.duration.count - shipped.count,
    };
    shipped.sum = counts.duration.sum;
    shipped.count = counts.duration.count;
  }
  const stored = counts.lastStoredId > shipped.lastStoredId ? records.storedAfter(shipped.lastStoredId, Math.min(records.keep, MAX_STORED_PER_TAKE)) : [];
  const delta: MirrorDelta = {
    route: records.route,
    keep: records.keep,
    outcomes,
    compared: counts.compared - shipped.compared,
    matched: counts.matched - shipped.matched,
    fields,
    noise,
    noiseSamples: counts.noiseSamples - shipped.noiseSamples,
    inFlight: counts.inFlight - shipped.inFlight,
    duration,
    stored,
  };
  shipped.compared = counts.compared;
  shipped.matched = counts.matched;
  shipped.noiseSamples = counts.noiseSamples;
  shipped.inFlight = counts.inFlight;
  shipped.lastStoredId = counts.lastStoredId;
  const empty =
    outcomes.length === 0 &&
    delta.compared === 0 &&
    delta.matched === 0 &&
    fields.length === 0 &&
    noise.length === 0 &&
    delta.noiseSamples === 0 &&
    delta.inFlight === 0 &&
    duration === null &&
    stored.length === 0;
  return empty ? null : delta;
}

/** The increase of one count since it was last shipped; records the new total as shipped. */
function countDelta(shipped: Map<CountEntry<string>, number>, entry: CountEntry<string>): number {
  const count = entry.value - (shipped.get(entry) ?? 0);
  if (count !== 0) shipped.set(entry, entry.value);
  return count;
}

function labelledDeltas<L extends string>(entries: Iterable<CountEntry<L>>, shipped: Map<CountEntry<string>, number>, label: L): Array<[string, number]> {
  const out: Array<[string, number]> = [];
  for (const entry of entries) {
    const count = countDelta(shipped, entry);
    if (count !== 0) out.push([entry.labels[label], count]);
  }
  return out;
}

function mapDeltas(totals: ReadonlyMap<string, number>, shipped: Map<string, number>): Array<[string, number]> {
  const out: Array<[string, number]> = [];
  for (const [key, total] of totals) {
    const count = total - (shipped.get(key) ?? 0);
    if (count === 0) continue;
    out.push([key, count]);
    shipped.set(key, total);
  }
  return out;
}

/** `current − shipped` as a new array; `shipped` becomes `current`. */
function subtractInto(current: ArrayLike<number>, shipped: Float64Array): number[] {
  const out = new Array<number>(BUCKET_COUNT);
  for (let i = 0; i < BUCKET_COUNT; i++) {
    out[i] = current[i] - shipped[i];
    shipped[i] = current[i];
  }
  return out;
}

function subtract(current: ArrayLike<number>, before: Float64Array | undefined): number[] {
  const out = new Array<number>(BUCKET_COUNT);
  for (let i = 0; i < BUCKET_COUNT; i++) out[i] = current[i] - (before === undefined ? 0 : before[i]);
  return out;
}

interface ShippedSlot extends SlotCounts {
  readonly buckets: Float64Array;
  readonly weightedBuckets: Float64Array;
}

function copySlot(slot: SlotCounts): ShippedSlot {
  return {
    second: slot.second,
    requests: slot.requests,
    errors: slot.errors,
    buckets: Float64Array.from(slot.buckets),
    weightedRequests: slot.weightedRequests,
    weightedErrors: slot.weightedErrors,
    weightedBuckets: Float64Array.from(slot.weightedBuckets),
    sloErrors: slot.sloErrors,
  };
}
