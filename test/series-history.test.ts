import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { createMetrics, SeriesBook } from '../src/metrics/metrics.js';
import { bucketIndex } from '../src/metrics/rolling-window.js';
import { POINTS, SeriesHistory, STEP_SECONDS, type ChartedRoute } from '../src/metrics/series-history.js';

/** A step start (unix seconds divisible by 10), well away from 0. */
const T0 = 1_800_000_000;
const API: ChartedRoute = { name: 'api', versions: ['stable', 'canary'] };

function setup(routes: ChartedRoute[] = [API]) {
  const book = new SeriesBook(createMetrics(new Registry(), { processMetrics: false }));
  let charted = routes;
  const history = new SeriesHistory(book, () => charted);
  /** `count` requests of `version` at second `second`, every `errorEvery`-th failed, each taking `ms`. */
  const observe = (route: string, version: 'stable' | 'canary', second: number, count: number, ms: number, errorEvery = 0) => {
    for (let i = 0; i < count; i++) book.get(route, version).window.observe(second * 1000 + 1, errorEvery > 0 && i % errorEvery === 0, bucketIndex(ms / 1000));
  };
  return { book, history, observe, setRoutes: (next: ChartedRoute[]) => (charted = next) };
}

describe('SeriesHistory', () => {
  it('reads 15 minutes of 10 s steps, the step in progress last, as rate, error rate and p99 per version', () => {
    const { history, observe } = setup();
    // Step T0: 50 stable (8 ms) and 20 canary requests (40 ms, every 4th failed); T0+10 in progress, 3 s in.
    for (let s = 0; s < 10; s++) observe('api', 'stable', T0 + s, 5, 8);
    observe('api', 'canary', T0 + 3, 20, 40, 4);
    observe('api', 'stable', T0 + 11, 6, 8);
    const read = history.read(API, (T0 + 12) * 1000 + 500);
    expect(read.stepSeconds).toBe(STEP_SECONDS);
    expect(read.t).toHaveLength(POINTS);
    expect(read.t.at(-1)).toBe(T0 + 10);
    expect(read.t.at(-2)).toBe(T0);
    expect(read.versions.stable.rps.slice(-2)).toEqual([5, 2]);
    expect(read.versions.canary!.rps.slice(-2)).toEqual([2, 0]);
    expect(read.versions.canary!.errorRate.slice(-2)).toEqual([25, null]);
    expect(read.versions.stable.errorRate.at(-2)).toBe(0);
    // Interpolated inside the histogram bucket, as /status does: 40 ms is in 25-50 ms, 8 ms in 5-10 ms.
    expect(read.versions.canary!.p99Ms.at(-2)).toBeCloseTo(49.75, 2);
    expect(read.versions.stable.p99Ms.at(-2)).toBeCloseTo(9.95, 2);
    expect(read.versions.canary!.p99Ms.at(-1)).toBeNull();
  });

  it('keeps 15 minutes though the rolling windows hold 10, and no more', () => {
    const { history, observe } = setup();
    // 16 minutes: each step's first second carries (its index + 1) stable requests; sampled as the timer does.
    const steps = 96;
    for (let step = 0; step < steps; step++) {
      observe('api', 'stable', T0 + step * STEP_SECONDS, step + 1, 8);
      history.sample((T0 + (step + 1) * STEP_SECONDS + 5) * 1000);
    }
    const now = (T0 + steps * STEP_SECONDS + 5) * 1000;
    const read = history.read(API, now);
    expect(read.t[0]).toBe(T0 + (steps - POINTS + 1) * STEP_SECONDS);
    // The oldest step shown, 15 minutes back: from the ring (its seconds left the rolling window long ago).
    expect(read.versions.stable.rps[0]).toBe((steps - POINTS + 2) / STEP_SECONDS);
    expect(read.versions.stable.rps.at(-2)).toBe(steps / STEP_SECONDS);
    expect(read.versions.stable.rps.at(-1)).toBe(0);
  });

  it('a step still settling is read from the windows, so worker counts that arrive late are in it', () => {
    const { book, history, observe } = setup();
    observe('api', 'stable', T0 + 9, 10, 8);
    history.sample((T0 + 11) * 1000);
    // A worker's share of second T0+9 arrives 2 s late.
    const late = { second: T0 + 9, requests: 10, errors: 0, buckets: new Array(14).fill(0).map((_, i) => (i === bucketIndex(0.008) ? 10 : 0)), weightedRequests: 0, weightedErrors: 0, weightedBuckets: new Array(14).fill(0), sloErrors: 0 };
    book.get('api', 'stable').window.add(late, (T0 + 11) * 1000);
    expect(history.read(API, (T0 + 12) * 1000).versions.stable.rps.at(-2)).toBe(2);
    // Once settled it is recorded with both shares, and stays so.
    expect(history.read(API, (T0 + 14) * 1000).versions.stable.rps.at(-2)).toBe(2);
  });

  it('a route without a canary has no canary columns; a route gone from the config loses its history', () => {
    const { history, observe, setRoutes } = setup([API, { name: 'web', versions: ['stable'] }]);
    observe('web', 'stable', T0 + 1, 30, 8);
    const web = { name: 'web', versions: ['stable'] } as const;
    expect(history.read(web, (T0 + 20) * 1000).versions.canary).toBeNull();
    expect(history.read(web, (T0 + 20) * 1000).versions.stable.rps.at(-3)).toBe(3);
    setRoutes([API]);
    history.sample((T0 + 20) * 1000);
    // Back in the config 11 minutes later: its old step is neither in the ring nor in the windows any more.
    setRoutes([API, web]);
    const later = history.read(web, (T0 + 660) * 1000);
    expect(later.versions.stable.rps.every((v) => v === 0 || v === null)).toBe(true);
  });
});
