/**
 * The dashboard's charts: per (route, version), request rate, error rate and p99 over the last 15 minutes, in
 * steps of 10 s. The rolling windows keep only 10 minutes of one-second slots, so each step is summed from them
 * once it is complete (and a little older, so a supervisor's workers have shipped their share of it) into a fixed
 * ring of POINTS entries: memory is bounded by the routes in force, whatever the traffic. A read adds the step in
 * progress from the windows directly, so the charts move every second.
 */
import type { Version } from '../routing/table.js';
import type { SeriesBook } from './metrics.js';
import { DURATION_BUCKETS } from './metrics.js';
import { quantileOf } from './rolling-window.js';

export const STEP_SECONDS = 10;
export const POINTS = 90;
/** A step is recorded once it ended this long ago: worker counts arrive at most once a second. */
const SETTLE_SECONDS = 3;

/** Columns for a chart: `t` in unix seconds (a step's start), one value per step per series; null without traffic. */
export interface SeriesColumns {
  readonly route: string;
  readonly stepSeconds: number;
  readonly t: number[];
  /** canary: null for a route without one. */
  readonly versions: { readonly stable: VersionColumns; readonly canary: VersionColumns | null };
}

export interface VersionColumns {
  readonly rps: Array<number | null>;
  readonly errorRate: Array<number | null>;
  readonly p99Ms: Array<number | null>;
}

/** A route to chart and the versions it has. */
export interface ChartedRoute {
  readonly name: string;
  readonly versions: readonly Version[];
}

class Ring {
  /** The step (unix seconds / STEP_SECONDS) each entry holds; -1: empty. */
  readonly steps = new Float64Array(POINTS).fill(-1);
  readonly requests = new Float64Array(POINTS);
  readonly errors = new Float64Array(POINTS);
  readonly p99Ms = new Float64Array(POINTS);
}

export class SeriesHistory {
  readonly #book: SeriesBook;
  readonly #routes: () => readonly ChartedRoute[];
  readonly #rings = new Map<string, Ring>();
  /** The last step recorded, per route. */
  readonly #recorded = new Map<string, number>();
  #timer: NodeJS.Timeout | null = null;

  /** `routes`: the routes in force (a route gone from the config loses its history at the next sample). */
  constructor(book: SeriesBook, routes: () => readonly ChartedRoute[]) {
    this.#book = book;
    this.#routes = routes;
  }

  start(): void {
    this.#timer ??= setInterval(() => this.sample(Date.now()), STEP_SECONDS * 1000);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
  }

  /** Records every complete, settled step not recorded yet (at most the last POINTS), from the rolling windows. */
  sample(nowMs: number): void {
    const routes = this.#routes();
    const wanted = new Set(routes.map((r) => r.name));
    for (const key of this.#rings.keys()) if (!wanted.has(key.slice(0, key.lastIndexOf('\n')))) this.#rings.delete(key);
    for (const name of this.#recorded.keys()) if (!wanted.has(name)) this.#recorded.delete(name);
    const lastComplete = Math.floor((nowMs / 1000 - SETTLE_SECONDS) / STEP_SECONDS) - 1;
    for (const { name: route, versions } of routes) {
      // Older than the rolling windows' reach: nothing to read.
      const first = Math.max((this.#recorded.get(route) ?? -Infinity) + 1, lastComplete - POINTS + 1, Math.ceil((nowMs / 1000 - 590) / STEP_SECONDS));
      for (let step = first; step <= lastComplete; step++) {
        for (const version of versions) {
          const totals = this.#sum(route, version, step);
          const ring = this.#ring(route, version);
          const at = step % POINTS;
          ring.steps[at] = step;
          ring.requests[at] = totals.requests;
          ring.errors[at] = totals.errors;
          ring.p99Ms[at] = totals.p99Ms ?? Number.NaN;
        }
      }
      this.#recorded.set(route, Math.max(this.#recorded.get(route) ?? -Infinity, lastComplete));
    }
  }

  /** The last 15 minutes of `route` as chart columns, oldest first, ending with the step in progress. */
  read(charted: ChartedRoute, nowMs: number): SeriesColumns {
    this.sample(nowMs);
    const route = charted.name;
    const current = Math.floor(nowMs / 1000 / STEP_SECONDS);
    const elapsed = Math.max(1, Math.floor(nowMs / 1000) - current * STEP_SECONDS + 1);
    const t: number[] = [];
    const empty = (): VersionColumns => ({ rps: [], errorRate: [], p99Ms: [] });
    const versions = { stable: empty(), canary: charted.versions.includes('canary') ? empty() : null };
    for (let step = current - POINTS + 1; step <= current; step++) {
      t.push(step * STEP_SECONDS);
      for (const version of charted.versions) {
        const column = versions[version]!;
        const ring = this.#rings.get(`${route}\n${version}`);
        const at = ((step % POINTS) + POINTS) % POINTS;
        // Steps settling (not recorded yet) and the one in progress come from the windows.
        const totals = ring !== undefined && ring.steps[at] === step ? { requests: ring.requests[at], errors: ring.errors[at], p99Ms: Number.isNaN(ring.p99Ms[at]) ? null : ring.p99Ms[at] } : step > (this.#recorded.get(route) ?? -Infinity) ? this.#sum(route, version, step) : null;
        const seconds = step === current ? elapsed : STEP_SECONDS;
        const seen = totals !== null && totals.requests > 0;
        column.rps.push(totals === null ? null : round(totals.requests / seconds));
        column.errorRate.push(seen ? round((totals.errors / totals.requests) * 100) : null);
        column.p99Ms.push(seen ? totals.p99Ms : null);
      }
    }
    return { route, stepSeconds: STEP_SECONDS, t, versions };
  }

  #sum(route: string, version: Version, step: number): { requests: number; errors: number; p99Ms: number | null } {
    const buckets = new Array<number>(DURATION_BUCKETS.length + 1).fill(0);
    let requests = 0;
    let errors = 0;
    const from = step * STEP_SECONDS;
    for (const slot of this.#book.get(route, version).window.slotsBetween(from, from + STEP_SECONDS - 1)) {
      requests += slot.requests;
      errors += slot.errors;
      for (let i = 0; i < buckets.length; i++) buckets[i] += slot.buckets[i];
    }
    const p99 = quantileOf(buckets, 0.99);
    return { requests, errors, p99Ms: p99 === null ? null : round(p99 * 1000) };
  }

  #ring(route: string, version: Version): Ring {
    const key = `${route}\n${version}`;
    let ring = this.#rings.get(key);
    if (ring === undefined) {
      ring = new Ring();
      this.#rings.set(key, ring);
    }
    return ring;
  }
}

function round(value: number): number {
  return Math.round(value * 1000) / 1000;
}

/** The routes of a routing table as charted routes (a route without a canary has only stable). */
export function chartedRoutesOf(routes: ReadonlyArray<{ readonly name: string; readonly upstreams: { readonly canary: string | null } }>): ChartedRoute[] {
  return routes.map((route) => ({ name: route.name, versions: route.upstreams.canary === null ? ['stable'] : ['stable', 'canary'] }));
}
