import { Registry } from 'prom-client';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { ResponseDifference } from '../src/diff/response-diff.js';
import { createMetrics, SeriesBook, type ClientTimeoutKind, type Metrics, type UpstreamErrorKind } from '../src/metrics/metrics.js';
import { RollingWindow, SLOTS, type WindowTraffic } from '../src/metrics/rolling-window.js';
import { applyDeltas, isCounterDeltas, isEmptyDelta, MAX_STORED_PER_TAKE, takeDeltas, WorkerShare, type CounterDeltas } from '../src/metrics/series-delta.js';
import { MirrorBook, type MirrorOutcome } from '../src/mirror/mirror-records.js';
import type { DecisionReason } from '../src/routing/table.js';

interface Book {
  readonly metrics: Metrics;
  readonly series: SeriesBook;
  readonly mirrors: MirrorBook;
}

function createBook(): Book {
  const metrics = createMetrics(new Registry(), { processMetrics: false });
  return { metrics, series: new SeriesBook(metrics), mirrors: new MirrorBook(metrics) };
}

/** Durations that are sums of powers of two add up exactly in any order, so sums compare exactly too. */
const DURATIONS = [2 ** -10, 2 ** -9, 2 ** -8, 2 ** -7, 2 ** -6, 2 ** -5, 2 ** -4, 2 ** -3, 2 ** -2, 0.5, 1, 2, 4, 8, 16];
const METHODS = ['GET', 'POST', 'PUT', 'OTHER'];
const STATUSES = [200, 201, 404, 499, 500, 503];
const REASONS: DecisionReason[] = ['weight', 'override_header', 'rule', 'kill_switch'];
const ERRORS: UpstreamErrorKind[] = ['connect_refused', 'reset', 'headers_timeout', 'overflow'];
const TIMEOUTS: ClientTimeoutKind[] = ['send', 'body'];
const OUTCOMES: MirrorOutcome[] = ['sent', 'shadow_error', 'shadow_timeout', 'dropped', 'skipped_body', 'compare_dropped'];
const FIELDS = ['status', 'body.$.id', 'body.$.ts', 'header.etag', 'body.$.items[].price'];
const ROUTES: Array<[string, 'stable' | 'canary' | 'none']> = [
  ['api', 'stable'],
  ['api', 'canary'],
  ['web', 'stable'],
  ['_unmatched', 'none'],
];

function difference(field: string): ResponseDifference {
  return { field, path: field, primary: 1, shadow: 2 };
}

/** One recorded event, deterministic in `n`, applied through the real recording methods. */
function record(book: Book, n: number): void {
  const [route, version] = ROUTES[n % ROUTES.length];
  const series = book.series.get(route, version);
  switch (n % 7) {
    case 0:
    case 1:
    case 2:
      series.countDecision(REASONS[n % REASONS.length]);
      series.observeResponse(METHODS[n % METHODS.length], STATUSES[(n >> 1) % STATUSES.length], DURATIONS[n % DURATIONS.length], n % 11 === 0, n % 3 !== 0);
      break;
    case 3:
      series.countUpstreamError(ERRORS[n % ERRORS.length]);
      series.observeResponse('GET', 502, DURATIONS[(n * 7) % DURATIONS.length], false, n % 2 === 0);
      break;
    case 4:
      series.countClientTimeout(TIMEOUTS[n % TIMEOUTS.length]);
      break;
    case 5: {
      const records = book.mirrors.recordsFor(route === 'web' ? 'web' : 'api', 20);
      records.count(OUTCOMES[n % OUTCOMES.length]);
      records.observeShadow(DURATIONS[(n * 3) % DURATIONS.length]);
      if (n % 2 === 0) records.learnNoise([difference('body.$.ts'), difference(FIELDS[n % FIELDS.length])]);
      break;
    }
    case 6: {
      const records = book.mirrors.recordsFor(route === 'web' ? 'web' : 'api', 20);
      records.trackInFlight(n % 4 === 0 ? -1 : 1);
      const differences = n % 3 === 0 ? [] : [difference(FIELDS[n % FIELDS.length]), difference(FIELDS[(n + 2) % FIELDS.length])];
      records.recordComparison(differences, {
        time: '2026-01-01T00:00:00.000Z',
        route: records.route,
        request: { method: 'GET', url: `/n/${n}`, headers: { accept: 'application/json' } },
        primaryVersion: 'stable',
        status: { primary: 200, shadow: 200 },
        suppressed: [],
      });
      break;
    }
  }
}

/** The exposition as a sorted list of sample lines: series for series, whatever order books were filled in. */
async function exposition(book: Book): Promise<string[]> {
  const text = await book.metrics.registry.metrics();
  return text
    .split('\n')
    .filter((line) => line !== '' && !line.startsWith('#'))
    .sort();
}

function windows(book: Book, nowMs: number): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [route, version] of ROUTES) {
    for (const span of [1, 2, 5, 60, SLOTS]) {
      for (const traffic of ['all', 'weighted'] as WindowTraffic[]) {
        out[`${route}/${version}/${span}/${traffic}`] = book.series.get(route, version).window.snapshot(nowMs, span, traffic);
      }
    }
  }
  return out;
}

/** What crossing the process boundary does to a delta. */
function ship(from: Book, to: Book, nowMs: number): CounterDeltas {
  const deltas = structuredClone(takeDeltas(from.series, from.mirrors, from.metrics, nowMs));
  applyDeltas(to.series, to.mirrors, to.metrics, deltas, nowMs);
  return deltas;
}

const START = Date.UTC(2026, 0, 1, 12, 0, 0);

describe('counter deltas from workers summed in the supervisor', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(START);
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('renders the same /metrics, windows and mirror summaries as one book fed with all events', async () => {
    const workers = [createBook(), createBook()];
    const supervisor = createBook();
    const single = createBook();
    let n = 0;
    // Nine rounds over 14 s: each round records in both workers at several times within and across seconds, and
    // ships at points that split seconds (a partial current second, then its remainder).
    for (let round = 0; round < 9; round++) {
      for (let step = 0; step < 4; step++) {
        vi.setSystemTime(START + round * 1500 + step * 400);
        for (let k = 0; k < 25; k++, n++) {
          record(workers[n % 3 === 0 ? 1 : 0], n);
          record(single, n);
        }
        if (step === 1) ship(workers[round % 2], supervisor, Date.now());
      }
      for (const worker of workers) ship(worker, supervisor, Date.now());
    }
    const now = Date.now();
    expect(n).toBe(900);
    const expected = await exposition(single);
    expect(expected.some((line) => line.startsWith('splitgate_upstream_errors_total{'))).toBe(true);
    expect(expected.some((line) => line.startsWith('splitgate_mirror_duration_seconds_bucket{'))).toBe(true);
    expect(await exposition(supervisor)).toEqual(expected);
    expect(windows(supervisor, now)).toEqual(windows(single, now));
    expect(windows(supervisor, now)['api/stable/600/weighted']).toMatchObject({ requests: expect.any(Number) });
    expect(supervisor.mirrors.all().map((records) => records.summary())).toEqual(single.mirrors.all().map((records) => records.summary()));
    for (const route of ['api', 'web']) {
      const urls = (book: Book) => book.mirrors.get(route)!.recent().map((diff) => diff.request.url).sort();
      expect(urls(supervisor)).toEqual(urls(single));
      expect(urls(supervisor).length).toBeGreaterThan(0);
      const ids = supervisor.mirrors.get(route)!.recent().map((diff) => diff.id);
      expect(new Set(ids).size).toBe(ids.length);
    }
  });

  it('takes an empty delta when nothing was counted since the previous take', () => {
    const worker = createBook();
    expect(isEmptyDelta(takeDeltas(worker.series, worker.mirrors, worker.metrics))).toBe(true);
    worker.series.get('api', 'stable').observeResponse('GET', 200, 0.01);
    worker.mirrors.recordsFor('api', 5).count('sent');
    const first = takeDeltas(worker.series, worker.mirrors, worker.metrics);
    expect(isEmptyDelta(first)).toBe(false);
    expect(first.series).toHaveLength(1);
    expect(first.mirrors).toHaveLength(1);
    expect(isEmptyDelta(takeDeltas(worker.series, worker.mirrors, worker.metrics))).toBe(true);
    // A second later, in the same window slots: still nothing new.
    vi.setSystemTime(START + 1000);
    expect(isEmptyDelta(takeDeltas(worker.series, worker.mirrors, worker.metrics))).toBe(true);
    worker.series.get('api', 'stable').countClientTimeout('send');
    const next = takeDeltas(worker.series, worker.mirrors, worker.metrics);
    expect(next.series[0]).toMatchObject({ requests: [], clientTimeouts: [['send', 1]], duration: null, window: [] });
  });

  it('ships a delta that survives structured clone (and JSON) as the same plain data', () => {
    const worker = createBook();
    for (let n = 0; n < 70; n++) record(worker, n);
    const deltas = takeDeltas(worker.series, worker.mirrors, worker.metrics);
    const cloned = structuredClone(deltas);
    expect(cloned).toEqual(deltas);
    expect(cloned.series[0].window[0].buckets).toHaveLength(14);
    // process.send's default serialization is JSON: the same data must come through it too.
    expect(JSON.parse(JSON.stringify(deltas))).toEqual(deltas);
  });

  it('ships a partial current second as its increase, and the supervisor adds the rest to the same second', () => {
    const worker = createBook();
    const supervisor = createBook();
    const series = worker.series.get('api', 'canary');
    series.observeResponse('GET', 200, 0.01, false, true);
    ship(worker, supervisor, Date.now());
    series.observeResponse('GET', 500, 0.2, false, true);
    series.observeResponse('GET', 200, 0.01, false, false);
    const deltas = ship(worker, supervisor, Date.now());
    expect(deltas.series[0].window).toHaveLength(1);
    expect(deltas.series[0].window[0]).toMatchObject({ second: Math.floor(START / 1000), requests: 2, errors: 1, weightedRequests: 1, weightedErrors: 1 });
    expect(supervisor.series.get('api', 'canary').window.snapshot(Date.now(), 1, 'weighted')).toMatchObject({ requests: 2, errors: 1 });
    expect(supervisor.series.get('api', 'canary').window.snapshot(Date.now(), 1)).toMatchObject({ requests: 3, errors: 1 });
  });

  it('drops window seconds older than the window, and keeps what a newer second holds', () => {
    const window = new RollingWindow();
    const now = START;
    const second = Math.floor(now / 1000);
    const slot = (at: number, requests: number) => ({
      second: at,
      requests,
      errors: 0,
      buckets: Float64Array.from({ length: 14 }, (_, i) => (i === 0 ? requests : 0)),
      weightedRequests: 0,
      weightedErrors: 0,
      weightedBuckets: new Float64Array(14),
      sloErrors: 0,
    });
    window.add(slot(second - SLOTS, 5), now);
    expect(window.snapshot(now, SLOTS).requests).toBe(0);
    window.add(slot(second, 3), now);
    window.add(slot(second - SLOTS, 5), now + 1);
    window.add(slot(second, 4), now);
    expect(window.snapshot(now, 1)).toMatchObject({ requests: 7, buckets: [7, ...new Array(13).fill(0)] });
  });

  it('ships at most the newest stored exchanges the route keeps, and the supervisor numbers them itself', () => {
    const worker = createBook();
    const supervisor = createBook();
    const records = worker.mirrors.recordsFor('api', 3);
    const entry = (url: string) => ({
      time: '2026-01-01T00:00:00.000Z',
      route: 'api',
      request: { method: 'GET', url, headers: {} },
      primaryVersion: 'stable',
      status: { primary: 200, shadow: 500 },
      suppressed: [],
    });
    supervisor.mirrors.recordsFor('api', 10).recordComparison([difference('status')], entry('/supervisor'));
    for (let i = 0; i < 5; i++) records.recordComparison([difference('status')], entry(`/${i}`));
    const deltas = ship(worker, supervisor, Date.now());
    expect(deltas.mirrors[0].stored.map((diff) => diff.request.url)).toEqual(['/2', '/3', '/4']);
    expect(supervisor.mirrors.get('api')!.recent().map((diff) => [diff.id, diff.request.url])).toEqual([
      [4, '/4'],
      [3, '/3'],
      [2, '/2'],
      [1, '/supervisor'],
    ]);
    expect(supervisor.mirrors.get('api')!.summary()).toMatchObject({ compared: 6, outcomes: { diff: 6 } });
    expect(MAX_STORED_PER_TAKE).toBeGreaterThanOrEqual(50);
  });
});

describe('counter deltas over gaps and worker exits', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(START);
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('ships every second of a long gap between takes, and a later take ships only newer seconds', () => {
    const worker = createBook();
    const supervisor = createBook();
    const single = createBook();
    let n = 0;
    for (const gap of [0, 100, 3, 250]) {
      const from = Date.now();
      for (let second = 0; second <= gap; second += 7) {
        vi.setSystemTime(from + second * 1000);
        for (let k = 0; k < 9; k++, n++) {
          record(worker, n);
          record(single, n);
        }
      }
      vi.setSystemTime(from + gap * 1000 + 500);
      ship(worker, supervisor, Date.now());
    }
    expect(windows(supervisor, Date.now())).toEqual(windows(single, Date.now()));
    expect(single.series.get('api', 'stable').window.snapshot(Date.now(), 60).requests).toBeGreaterThan(0);
  });

  it('withdraws the copies in flight of a worker that exited, and keeps its counts', () => {
    const workers = [createBook(), createBook()];
    const supervisor = createBook();
    const shares = [new WorkerShare(), new WorkerShare()];
    workers[0].mirrors.recordsFor('api', 5).trackInFlight(1);
    workers[0].mirrors.recordsFor('api', 5).trackInFlight(1);
    workers[0].mirrors.recordsFor('api', 5).count('sent');
    workers[1].mirrors.recordsFor('api', 5).trackInFlight(1);
    for (let i = 0; i < 2; i++) {
      const deltas = structuredClone(takeDeltas(workers[i].series, workers[i].mirrors, workers[i].metrics));
      expect(isCounterDeltas(deltas)).toBe(true);
      applyDeltas(supervisor.series, supervisor.mirrors, supervisor.metrics, deltas);
      shares[i].note(deltas);
    }
    expect(supervisor.mirrors.get('api')!.summary()).toMatchObject({ inFlight: 3, outcomes: { sent: 1 } });
    shares[0].withdraw(supervisor.mirrors);
    expect(supervisor.mirrors.get('api')!.summary()).toMatchObject({ inFlight: 1, outcomes: { sent: 1 } });
    expect(isCounterDeltas({ series: [] })).toBe(false);
    expect(isCounterDeltas(null)).toBe(false);
  });
});
