/**
 * What mirroring has learned for one route, kept across table swaps: outcome counts, per-field diff counts, the
 * fields learned to be noise, and the last N differing exchanges. Everything here is bounded: distinct fields
 * (MAX_FIELDS, then "other"), metric label values (MAX_FIELD_LABELS, then "other"), stored exchanges (LRU),
 * stored value sizes (truncated).
 */
import { LRUCache } from 'lru-cache';
import type { ResponseDifference } from '../diff/response-diff.js';
import { storedValue } from '../diff/stored-value.js';
import { SplitgateError } from '../errors.js';
import { DurationCounts, type Metrics } from '../metrics/metrics.js';
import { ComparisonWindow } from './comparison-window.js';
import { Comparisons } from './comparisons.js';
import { CopyControllers } from './shadow-client.js';

export type MirrorOutcome =
  | 'sent'
  | 'match'
  | 'diff'
  | 'shadow_error'
  | 'shadow_timeout'
  | 'primary_error'
  | 'dropped'
  | 'skipped_body'
  | 'skipped_method'
  | 'compare_error'
  | 'compare_dropped';

export const MIRROR_OUTCOMES: readonly MirrorOutcome[] = [
  'sent',
  'match',
  'diff',
  'shadow_error',
  'shadow_timeout',
  'primary_error',
  'dropped',
  'skipped_body',
  'skipped_method',
  'compare_error',
  'compare_dropped',
];

const MAX_FIELDS = 1_000;
const MAX_FIELD_LABELS = 20;
/** A field that differs on at least this share of compared exchanges (after enough of them) is likely noise. */
const LIKELY_NOISE_SHARE = 0.9;
const LIKELY_NOISE_MIN_COMPARED = 20;
const NOISE_SHARE = 0.5;

export interface StoredDifference {
  readonly field: string;
  readonly path: string;
  readonly primary: string;
  readonly shadow: string;
}

export interface StoredDiff {
  readonly id: number;
  readonly time: string;
  readonly route: string;
  readonly request: { readonly method: string; readonly url: string; readonly headers: Record<string, string> };
  readonly primaryVersion: string;
  readonly status: { readonly primary: number; readonly shadow: number };
  readonly differences: readonly StoredDifference[];
  /** Fields that differed but were suppressed as learned noise. */
  readonly suppressed: readonly string[];
}

export interface FieldSummary {
  readonly field: string;
  readonly count: number;
  readonly likelyNoise: boolean;
}

export interface MirrorSummary {
  readonly route: string;
  readonly compared: number;
  readonly matched: number;
  /** matched / compared, or null before anything was compared. */
  readonly matchRate: number | null;
  readonly outcomes: Readonly<Record<MirrorOutcome, number>>;
  readonly topFields: readonly FieldSummary[];
  readonly noiseFields: ReadonlyArray<{ readonly field: string; readonly count: number }>;
  readonly noiseSamples: number;
  readonly inFlight: number;
}

/** What a MirrorRecords has counted so far: live views, read-only (for taking a worker's deltas). */
export interface MirrorCounts {
  readonly outcomes: Readonly<Record<MirrorOutcome, number>>;
  readonly compared: number;
  readonly matched: number;
  readonly fields: ReadonlyMap<string, number>;
  readonly noise: ReadonlyMap<string, number>;
  readonly noiseSamples: number;
  readonly inFlight: number;
  readonly duration: DurationCounts;
  /** Id of the newest stored exchange (0 before any). */
  readonly lastStoredId: number;
}

/** Counts made elsewhere (by a worker since its previous report), as plain structured-clone-able data. */
export interface MirrorCountsDelta {
  readonly outcomes: ReadonlyArray<readonly [MirrorOutcome, number]>;
  readonly compared: number;
  readonly matched: number;
  readonly fields: ReadonlyArray<readonly [string, number]>;
  readonly noise: ReadonlyArray<readonly [string, number]>;
  readonly noiseSamples: number;
  /** Change of the copies in flight (may be negative). */
  readonly inFlight: number;
  readonly duration: { readonly buckets: ArrayLike<number>; readonly sum: number; readonly count: number } | null;
  /** Differing exchanges stored meanwhile, oldest first; they get ids of these records when added. */
  readonly stored: readonly StoredDiff[];
}

export class MirrorRecords {
  readonly route: string;
  /** This route's copies in flight; shared by every route of an instance, so that stopping ends them all. */
  readonly copies: CopyControllers;
  /** The instance's diff worker, shared by every route. */
  readonly comparisons: Comparisons;
  readonly #metrics: Metrics;
  readonly #outcomes: Record<MirrorOutcome, number>;
  readonly #fieldCounts = new Map<string, number>();
  readonly #noise = new Map<string, number>();
  readonly #labelledFields = new Set<string>();
  #store: LRUCache<number, StoredDiff> | null;
  #nextId = 1;
  #compared = 0;
  #matched = 0;
  #noiseSamples = 0;
  inFlight = 0;
  /** Shadow exchange times, rendered as splitgate_mirror_duration_seconds at scrape time. */
  readonly duration = new DurationCounts();
  /** Comparisons by second (this process's, with its workers'): the verdict's match rate over a rollout's window. */
  readonly window = new ComparisonWindow();

  constructor(route: string, metrics: Metrics, keep: number, copies = new CopyControllers(), comparisons = new Comparisons()) {
    this.route = route;
    this.copies = copies;
    this.comparisons = comparisons;
    this.#metrics = metrics;
    this.#outcomes = Object.fromEntries(MIRROR_OUTCOMES.map((o) => [o, 0])) as Record<MirrorOutcome, number>;
    this.#store = keep > 0 ? new LRUCache({ max: keep }) : null;
  }

  /** A reload may change how many exchanges are kept; the newest survive. */
  resize(keep: number): void {
    if (keep === (this.#store?.max ?? 0)) return;
    const previous = this.#store ? [...this.#store.values()].reverse() : [];
    this.#store = keep > 0 ? new LRUCache({ max: keep }) : null;
    for (const entry of previous) this.#store?.set(entry.id, entry);
  }

  count(outcome: MirrorOutcome): void {
    this.#outcomes[outcome]++;
    this.#metrics.mirrorRequests.inc({ route: this.route, outcome });
  }

  observeShadow(seconds: number): void {
    this.duration.observe(seconds);
  }

  trackInFlight(delta: 1 | -1): void {
    this.inFlight += delta;
    this.#metrics.mirrorInFlight.set({ route: this.route }, this.inFlight);
  }

  /**
   * Noise is what differs between stable and itself on at least half of the noise samples: a request id differs
   * every time, a transient 503 once. A status difference is never noise.
   */
  isNoise(field: string): boolean {
    if (field === 'status') return false;
    const seen = this.#noise.get(field);
    return seen !== undefined && seen >= Math.max(1, NOISE_SHARE * this.#noiseSamples);
  }

  /** Fields that differed between stable and itself are nondeterministic: noise for this route. */
  learnNoise(differences: ReadonlyArray<Pick<ResponseDifference, 'field'>>): void {
    this.#noiseSamples++;
    for (const difference of differences) {
      const field = difference.field;
      const seen = this.#noise.get(field);
      if (seen !== undefined) this.#noise.set(field, seen + 1);
      else if (this.#noise.size < MAX_FIELDS) this.#noise.set(field, 1);
    }
  }

  /** Records one comparison; `differences` are what is left after noise suppression. */
  recordComparison(differences: readonly ResponseDifference[], entry: Omit<StoredDiff, 'id' | 'differences'> | null, nowMs = Date.now()): StoredDiff | null {
    this.#compared++;
    this.window.add(nowMs, 1, differences.length === 0 ? 1 : 0);
    if (differences.length === 0) {
      this.#matched++;
      this.count('match');
      return null;
    }
    this.count('diff');
    const fields = new Set<string>();
    for (const difference of differences) fields.add(difference.field);
    for (const field of fields) {
      const key = this.#fieldCounts.has(field) || this.#fieldCounts.size < MAX_FIELDS ? field : 'other';
      this.#fieldCounts.set(key, (this.#fieldCounts.get(key) ?? 0) + 1);
      this.#metrics.mirrorDiffs.inc({ route: this.route, field: this.#fieldLabel(field) });
    }
    if (entry === null || this.#store === null) return null;
    const stored: StoredDiff = {
      id: this.#nextId++,
      ...entry,
      differences: differences.slice(0, 50).map((d) => ({
        field: d.field,
        path: d.path,
        primary: storedValue(d.primary),
        shadow: storedValue(d.shadow),
      })),
    };
    this.#store.set(stored.id, stored);
    return stored;
  }

  /** Newest first. */
  recent(limit = Infinity): StoredDiff[] {
    if (this.#store === null) return [];
    const out: StoredDiff[] = [];
    for (const entry of this.#store.values()) {
      out.push(entry);
      if (out.length >= limit) break;
    }
    return out.sort((a, b) => b.id - a.id);
  }

  summary(topK = 10): MirrorSummary {
    const compared = this.#compared;
    const topFields = [...this.#fieldCounts.entries()]
      .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
      .slice(0, topK)
      .map(([field, count]) => ({
        field,
        count,
        likelyNoise: compared >= LIKELY_NOISE_MIN_COMPARED && count / compared >= LIKELY_NOISE_SHARE,
      }));
    return {
      route: this.route,
      compared,
      matched: this.#matched,
      matchRate: compared === 0 ? null : this.#matched / compared,
      outcomes: { ...this.#outcomes },
      topFields,
      noiseFields: [...this.#noise.entries()]
        .filter(([field]) => this.isNoise(field))
        .sort((a, b) => b[1] - a[1])
        .map(([field, count]) => ({ field, count })),
      noiseSamples: this.#noiseSamples,
      inFlight: this.inFlight,
    };
  }

  /** How many differing exchanges are kept. */
  get keep(): number {
    return this.#store?.max ?? 0;
  }

  counts(): MirrorCounts {
    return {
      outcomes: this.#outcomes,
      compared: this.#compared,
      matched: this.#matched,
      fields: this.#fieldCounts,
      noise: this.#noise,
      noiseSamples: this.#noiseSamples,
      inFlight: this.inFlight,
      duration: this.duration,
      lastStoredId: this.#nextId - 1,
    };
  }

  /** Stored exchanges with an id above `afterId`, at most `limit` of the newest, oldest first. */
  storedAfter(afterId: number, limit: number): StoredDiff[] {
    const out: StoredDiff[] = [];
    if (this.#store === null || limit <= 0) return out;
    // Ids only grow and stored entries are never read through get(), so the LRU order is newest first.
    for (const entry of this.#store.values()) {
      if (entry.id <= afterId) break;
      out.push(entry);
      if (out.length >= limit) break;
    }
    return out.reverse();
  }

  /**
   * Adds counts made elsewhere (a worker's deltas, in the supervisor), bounded as the records' own counting is. The
   * comparisons count in the second they arrive (a worker reports about once a second).
   */
  addCounts(delta: MirrorCountsDelta, nowMs = Date.now()): void {
    for (const [outcome, count] of delta.outcomes) {
      if (this.#outcomes[outcome] === undefined || count === 0) continue;
      this.#outcomes[outcome] += count;
      this.#metrics.mirrorRequests.inc({ route: this.route, outcome }, count);
    }
    this.#compared += delta.compared;
    this.#matched += delta.matched;
    if (delta.compared !== 0) this.window.add(nowMs, delta.compared, delta.matched);
    for (const [field, count] of delta.fields) {
      const key = this.#fieldCounts.has(field) || this.#fieldCounts.size < MAX_FIELDS ? field : 'other';
      this.#fieldCounts.set(key, (this.#fieldCounts.get(key) ?? 0) + count);
      this.#metrics.mirrorDiffs.inc({ route: this.route, field: this.#fieldLabel(field) }, count);
    }
    this.#noiseSamples += delta.noiseSamples;
    for (const [field, count] of delta.noise) {
      const seen = this.#noise.get(field);
      if (seen !== undefined) this.#noise.set(field, seen + count);
      else if (this.#noise.size < MAX_FIELDS) this.#noise.set(field, count);
    }
    if (delta.inFlight !== 0) {
      this.inFlight += delta.inFlight;
      this.#metrics.mirrorInFlight.set({ route: this.route }, this.inFlight);
    }
    if (delta.duration !== null) this.duration.add(delta.duration.buckets, delta.duration.sum, delta.duration.count);
    if (this.#store === null) return;
    for (const entry of delta.stored) {
      const stored: StoredDiff = { ...entry, id: this.#nextId++ };
      this.#store.set(stored.id, stored);
    }
  }

  /** The first MAX_FIELD_LABELS fields seen keep their own label value; later ones share "other". */
  #fieldLabel(field: string): string {
    if (this.#labelledFields.has(field)) return field;
    if (this.#labelledFields.size < MAX_FIELD_LABELS) {
      this.#labelledFields.add(field);
      return field;
    }
    return 'other';
  }
}

/** MirrorRecords by route name, outliving any one routing table. */
export class MirrorBook {
  readonly #metrics: Metrics;
  readonly #byRoute = new Map<string, MirrorRecords>();
  readonly #copies = new CopyControllers();
  readonly #comparisons = new Comparisons();

  constructor(metrics: Metrics) {
    this.#metrics = metrics;
    metrics.mirrorBooks.push(this);
  }

  recordsFor(route: string, keep: number): MirrorRecords {
    let records = this.#byRoute.get(route);
    if (records === undefined) {
      records = new MirrorRecords(route, this.#metrics, keep, this.#copies, this.#comparisons);
      this.#byRoute.set(route, records);
    } else {
      records.resize(keep);
    }
    return records;
  }

  get(route: string): MirrorRecords | undefined {
    return this.#byRoute.get(route);
  }

  all(): MirrorRecords[] {
    return [...this.#byRoute.values()];
  }

  /**
   * Ends every copy still in flight (each counts as shadow_error). For shutdown, once client traffic has drained:
   * a copy waits on its shadow for up to `mirror.timeout`, and closing the pools would otherwise wait for it.
   */
  abortCopies(): void {
    this.#copies.abortAll(new SplitgateError('SG_STOPPING', 'splitgate is stopping', 503));
  }

  /** Ends the diff worker, once the copies are ended; comparisons still waiting are dropped. */
  close(): Promise<void> {
    return this.#comparisons.close();
  }
}
