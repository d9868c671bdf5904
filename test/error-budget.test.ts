/**
 * Error-budget pacing: burn rates over the SRE Workbook's window pairs against hand-computed cases (each pair, its
 * threshold met exactly, one window of a pair alone not firing, a scaled SLO window), the budget floor, the minute
 * ledger the counts come from, and what the rollout machine does with each verdict (rollback, pause, hold and
 * resume, freeze). Objective 99.9 % throughout: the budget is 0.1 % of requests, so burn = error ratio × 1000.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { validateConfig } from '../src/config/load.js';
import { ConfigError } from '../src/errors.js';
import { EventLog } from '../src/control/event-log.js';
import { createMetrics, SeriesBook } from '../src/metrics/metrics.js';
import { countedSlos, seriesSloSeconds, SloFeed } from '../src/metrics/slo-feed.js';
import { SloLedger, SloLedgerBook } from '../src/metrics/slo-ledger.js';
import { burnRate, budgetSpans, pairsFor, paceRollout, promqlDuration, readBudget, type Counts, type PacingRules, type PacingVerdict } from '../src/rollout/error-budget.js';
import { afterInitialization, afterWindow, begin, idleStatus, type WindowReport } from '../src/rollout/machine.js';
import { startRolloutHarness } from './helpers/rollout-manager.js';

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
const SLO = { objective: 99.9, window: 30 * DAY };
const RULES: PacingRules = { fastBurn: 'rollback', slowBurn: 'hold', budgetFloor: 25 };

/** Counts by window length; a window not listed saw no traffic. */
function countsBy(table: Record<number, [requests: number, errors: number]>) {
  return (spanMs: number): Counts => {
    const entry = table[spanMs];
    return entry === undefined ? { requests: 0, errors: 0 } : { requests: entry[0], errors: entry[1] };
  };
}

describe('burn rates (hand-computed)', () => {
  it('burn = error ratio / (1 - objective); no requests is no burn', () => {
    expect(burnRate({ requests: 10_000, errors: 150 }, 99.9)).toBeCloseTo(15, 10);
    expect(burnRate({ requests: 1000, errors: 1 }, 99)).toBeCloseTo(0.1, 10);
    expect(burnRate({ requests: 0, errors: 0 }, 99.9)).toBeNull();
  });

  it.each([
    // pair, counts, firing pair, action, value (the lower of the two rates), reason fragment
    ['1h/5m ≥ 14.4', { [HOUR]: [10_000, 150], [5 * MIN]: [1000, 20] }, '1h/5m', 'rollback', 15, '15× over 1h and 20× over 5m (threshold 14.4×)'],
    ['6h/30m ≥ 6', { [6 * HOUR]: [100_000, 700], [30 * MIN]: [10_000, 65] }, '6h/30m', 'rollback', 6.5, '7× over 6h and 6.5× over 30m (threshold 6×)'],
    ['1d/2h ≥ 3, exactly at the threshold', { [DAY]: [1_000_000, 3500], [2 * HOUR]: [100_000, 300] }, '1d/2h', 'hold', 3, 'slow burn: error budget burning at 3.5× over 1d and 3× over 2h (threshold 3×)'],
    ['3d/6h ≥ 1', { [3 * DAY]: [3_000_000, 3000], [6 * HOUR]: [250_000, 250] }, '3d/6h', 'hold', 1, '1× over 3d and 1× over 6h (threshold 1×)'],
  ] as const)('%s', (_name, table, windows, action, value, reason) => {
    const verdict = paceRollout(readBudget(countsBy(table as Record<number, [number, number]>), SLO), RULES);
    expect(verdict).toMatchObject({ action, window: windows, value });
    expect(verdict.reason).toContain(reason);
  });

  it('a pair fires only when both of its windows burn: a long burn that has stopped, or a short spike, does not', () => {
    const longOnly = readBudget(countsBy({ [HOUR]: [10_000, 150], [5 * MIN]: [1000, 10] }), SLO);
    expect(longOnly.pairs[0]).toMatchObject({ windows: '1h/5m', longRate: 15, shortRate: 10, firing: false });
    const shortOnly = readBudget(countsBy({ [3 * DAY]: [3_000_000, 2400], [6 * HOUR]: [250_000, 500] }), SLO);
    expect(shortOnly.pairs[3]).toMatchObject({ windows: '3d/6h', firing: false });
    expect(paceRollout(shortOnly, RULES).action).toBe('go');
  });

  it('a fast burn wins over a slow one, whatever its action', () => {
    const both = readBudget(countsBy({ [HOUR]: [10_000, 150], [5 * MIN]: [1000, 20], [DAY]: [1_000_000, 3500], [2 * HOUR]: [100_000, 300] }), SLO);
    expect(paceRollout(both, { ...RULES, fastBurn: 'pause' })).toMatchObject({ action: 'pause', window: '1h/5m' });
  });

  it('scales the pairs with the SLO window and keeps the thresholds', () => {
    expect(pairsFor(7 * DAY).map((p) => [p.long, p.short, p.threshold])).toEqual([
      [14 * MIN, 70_000, 14.4],
      [84 * MIN, 7 * MIN, 6],
      [336 * MIN, 28 * MIN, 3],
      [1008 * MIN, 84 * MIN, 1],
    ]);
    const reading = readBudget(countsBy({ [14 * MIN]: [10_000, 150], [70_000]: [1000, 20] }), { objective: 99.9, window: 7 * DAY });
    expect(paceRollout(reading, RULES)).toMatchObject({ action: 'rollback', window: '14m/1m10s', value: 15 });
  });

  it('budget floor: 20 % left is below a 25 % floor, so no stage advances; 30 % left is not', () => {
    const low = readBudget(countsBy({ [30 * DAY]: [10_000_000, 8000] }), SLO);
    expect(low.remaining).toBeCloseTo(0.2, 10);
    expect(paceRollout(low, RULES)).toEqual({ action: 'freeze', window: 'budget', value: 20, reason: 'error budget 20 % left, below the floor of 25 %: no stage advances' });
    const enough = readBudget(countsBy({ [30 * DAY]: [10_000_000, 7000] }), SLO);
    expect(paceRollout(enough, RULES)).toMatchObject({ action: 'go', reason: '30 % of the error budget left' });
    expect(paceRollout(low, { ...RULES, budgetFloor: 0 }).action).toBe('go');
  });
});

describe('SLO ledger', () => {
  it('sums the minutes overlapping a span and forgets minutes older than its window', () => {
    const ledger = new SloLedger(10 * MIN);
    const t0 = Date.UTC(2026, 11, 1, 9);
    ledger.add(t0, 100, 1);
    ledger.add(t0 + 30_000, 100, 1);
    ledger.add(t0 + 5 * MIN, 50, 5);
    expect(ledger.counts(t0 + 5 * MIN + 10_000, HOUR)).toEqual({ requests: 250, errors: 7 });
    expect(ledger.counts(t0 + 5 * MIN + 10_000, MIN)).toEqual({ requests: 50, errors: 5 });
    // Minute 12 takes the bucket of minute 1 (11 buckets), and minute 0 is outside a 10-minute window from minute 12.
    ledger.add(t0 + 12 * MIN, 10, 0);
    expect(ledger.counts(t0 + 12 * MIN, 10 * MIN)).toEqual({ requests: 60, errors: 5 });
  });
});

describe('SLO ledger book on disk', () => {
  it('saves at most once a minute (and at once on stop); a new book reads it back; a damaged file is reported', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sg-slo-'));
    try {
      const file = join(dir, 'state.json.slo');
      let now = Date.UTC(2026, 11, 1, 9);
      const book = new SloLedgerBook({ file, now: () => now });
      const entry = book.entryFor('api', 30 * DAY);
      entry.ledger.add(now - 2 * MIN, 100, 3);
      entry.ledger.add(now - MIN, 50, 1);
      entry.fedThroughSecond = now / 1000 - 1;
      book.saveSoon();
      expect(existsSync(file)).toBe(false);
      now += 60_000;
      book.saveSoon();
      for (let i = 0; i < 200 && !existsSync(file); i++) await new Promise((r) => setTimeout(r, 5));
      const again = new SloLedgerBook({ file }).entryFor('api', 30 * DAY);
      expect(again.ledger.counts(now, 30 * DAY)).toEqual({ requests: 150, errors: 4 });
      expect(again.fedThroughSecond).toBe(entry.fedThroughSecond);
      // Another window is another ledger: the saved one does not apply.
      expect(new SloLedgerBook({ file }).entryFor('api', 7 * DAY).ledger.counts(now, 7 * DAY)).toEqual({ requests: 0, errors: 0 });

      entry.ledger.add(now, 10, 10);
      await book.save();
      expect(new SloLedgerBook({ file }).entryFor('api', 30 * DAY).ledger.counts(now, HOUR)).toEqual({ requests: 160, errors: 14 });

      writeFileSync(file, '{"routes": ');
      const errors: string[] = [];
      const damaged = new SloLedgerBook({ file, onError: (message) => errors.push(message) });
      expect(damaged.entryFor('api', 30 * DAY).ledger.counts(now, 30 * DAY)).toEqual({ requests: 0, errors: 0 });
      expect(errors).toEqual([expect.stringMatching(/^SLO ledger .* not loaded, starting empty: /)]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** Runs `test` with the path of a ledger file in a fresh directory, removed after. */
async function withLedgerFile<T>(test: (file: string) => T | Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'sg-slo-'));
  try {
    return await test(join(dir, 'state.json.slo'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('SLO ledger book: a damaged file, and saves in order', () => {
  function bookFrom(text: string) {
    return withLedgerFile((file) => {
      writeFileSync(file, text);
      const errors: string[] = [];
      return { book: new SloLedgerBook({ file, onError: (message) => errors.push(message) }), errors };
    });
  }
  const now = Date.UTC(2026, 11, 1, 9);

  // Before: `null` threw a TypeError (saved.routes) and a spanMs of 1e15 a RangeError out of the constructor, which
  // runs while splitgate starts, with or without any `slo:`.
  it.each(['null', '[]', '"text"', '{"routes": null}', '{"routes": 5}', '{"version": 1}'])('a file holding %s: reported, the book starts empty, nothing thrown', async (text) => {
    const { book, errors } = await bookFrom(text);
    expect(errors).toEqual([expect.stringMatching(/^SLO ledger .* not loaded, starting empty: not an SLO ledger/)]);
    expect(book.entryFor('api', 30 * DAY).ledger.counts(now, 30 * DAY)).toEqual({ requests: 0, errors: 0 });
  });

  it('a damaged route entry costs only itself: a window above 90 days, below 1 hour or not a number, bad minutes', async () => {
    const minute = now / MIN - 1;
    const { book, errors } = await bookFrom(
      JSON.stringify({
        version: 1,
        routes: {
          huge: { spanMs: 1e15, fedThroughSecond: 0, minutes: [] },
          tiny: { spanMs: 1000, minutes: [] },
          named: { spanMs: '30d', minutes: [] },
          none: null,
          api: { spanMs: 30 * DAY, fedThroughSecond: now / 1000 - 1, minutes: [[minute, 10, 1], ['x', 1, 1], null, [minute, -5, 0], [minute, 5]] },
        },
      }),
    );
    expect(errors).toHaveLength(4);
    for (const route of ['huge', 'tiny', 'named', 'none']) expect(errors.some((e) => e.includes(`route "${route}" not loaded, its budget starts empty`))).toBe(true);
    expect(errors.find((e) => e.includes('"huge"'))).toContain('window 1000000000000000 ms is not between 1h and 90d');
    const api = book.entryFor('api', 30 * DAY);
    expect(api.ledger.counts(now, 30 * DAY)).toEqual({ requests: 10, errors: 1 });
    expect(api.fedThroughSecond).toBe(now / 1000 - 1);
  });

  it('saved as the buckets themselves: a full 30-day window reads back the same; a truncated file loses only the routes cut', () =>
    withLedgerFile(async (file) => {
      const book = new SloLedgerBook({ file });
      for (const route of ['a', 'b']) {
        const entry = book.entryFor(route, 30 * DAY);
        for (let t = now - 30 * DAY; t < now; t += MIN) entry.ledger.add(t, route === 'a' ? 7 : 3, 1);
        entry.fedThroughSecond = now / 1000 - 1;
      }
      await book.save();
      const again = new SloLedgerBook({ file });
      for (const [route, requests] of [['a', 7], ['b', 3]] as const) {
        for (const span of [30 * DAY, DAY, HOUR]) expect(again.entryFor(route, 30 * DAY).ledger.counts(now, span)).toEqual(book.entryFor(route, 30 * DAY).ledger.counts(now, span));
        expect(again.entryFor(route, 30 * DAY).ledger.counts(now, HOUR)).toEqual({ requests: 59 * requests, errors: 59 }); // minute `now` is empty
      }
      const bytes = readFileSync(file);
      const errors: string[] = [];
      writeFileSync(file, bytes.subarray(0, bytes.length - 100));
      const truncated = new SloLedgerBook({ file, onError: (message) => errors.push(message) });
      expect(truncated.entryFor('a', 30 * DAY).ledger.counts(now, HOUR)).toEqual({ requests: 413, errors: 59 });
      expect(truncated.entryFor('b', 30 * DAY).ledger.counts(now, HOUR)).toEqual({ requests: 0, errors: 0 });
      expect(errors).toEqual([expect.stringMatching(/route "b" not loaded, its budget starts empty: \d+ bytes, not the \d+ of a 2592000000 ms window/)]);
    }));

  // Before: a minute ahead of the clock held its bucket against every later add, so that minute's slot stayed stale.
  it('drops saved minutes ahead of the clock', async () => {
    const ahead = Math.floor(Date.now() / MIN) + 1000;
    const { book } = await bookFrom(JSON.stringify({ version: 1, routes: { api: { spanMs: 30 * DAY, fedThroughSecond: -1, minutes: [[ahead, 50, 50]] } } }));
    const ledger = book.entryFor('api', 30 * DAY).ledger;
    const sameSlot = (ahead - 30 * 24 * 60) * MIN;
    ledger.add(sameSlot, 10, 1);
    expect(ledger.counts(sameSlot + MIN, HOUR)).toEqual({ requests: 10, errors: 1 });
  });

  // Before: saveNow wrote synchronously, and a saveSoon still in flight renamed its older file over it afterwards.
  it('the stop save, asked while a periodic save is in flight, is the one left on disk', () =>
    withLedgerFile(async (file) => {
      let clock = now;
      const book = new SloLedgerBook({ file, now: () => clock });
      const entry = book.entryFor('api', 30 * DAY);
      entry.ledger.add(now - MIN, 100, 1);
      clock += 60_000;
      book.saveSoon(); // in flight
      entry.ledger.add(now, 50, 1);
      await book.save();
      await new Promise((r) => setTimeout(r, 50));
      expect(new SloLedgerBook({ file }).entryFor('api', 30 * DAY).ledger.counts(clock, HOUR)).toEqual({ requests: 150, errors: 2 });
    }));
});

describe('SLO feed: every route with slo:, whatever its rollout', () => {
  function feedOf(windowMs = 30 * DAY) {
    const metrics = createMetrics(new Registry(), { processMetrics: false });
    const series = new SeriesBook(metrics);
    const book = new SloLedgerBook();
    let clock = Date.UTC(2026, 11, 1, 9);
    const feed = new SloFeed({ book, seconds: seriesSloSeconds(series), now: () => clock, metrics, publishEveryMs: 0 });
    const routes = countedSlos(validateConfig({ upstreams: { s: 'http://127.0.0.1:1', c: 'http://127.0.0.1:2' }, routes: [{ name: 'api', stable: 's', canary: 'c', slo: { objective: 99.9, window: windowMs } }] }).routes);
    feed.track(routes);
    return { metrics, series, book, feed, ledger: () => book.entryFor('api', windowMs).ledger, now: () => clock, set: (ms: number) => (clock = ms) };
  }

  it('counts both versions once per second, a late share of a second (a worker\'s) once more, and sets the gauges', async () => {
    const f = feedOf();
    try {
      const second = f.now() / 1000;
      for (let i = 0; i < 10; i++) f.series.get('api', 'stable').window.observe(second * 1000 + i, i === 0, 1);
      for (let i = 0; i < 10; i++) f.series.get('api', 'canary').window.observe(second * 1000 + i, false, 1);
      f.set((second + 1) * 1000 + 500);
      f.feed.pass();
      f.feed.pass();
      expect(f.ledger().counts(f.now(), HOUR)).toEqual({ requests: 20, errors: 1 });
      // Another worker's share of the same second, shipped a second later.
      const buckets = new Array(20).fill(0);
      f.series.get('api', 'stable').window.add({ second, requests: 5, errors: 4, sloErrors: 4, buckets, weightedRequests: 0, weightedErrors: 0, weightedBuckets: buckets }, f.now());
      f.set(f.now() + 1000);
      f.feed.pass();
      f.feed.pass();
      expect(f.ledger().counts(f.now(), HOUR)).toEqual({ requests: 25, errors: 5 });
      const text = await f.metrics.registry.metrics();
      expect(text).toContain('splitgate_slo_burn_rate{route="api",window="1h"} 200');
      expect(text).toContain('splitgate_slo_error_budget_remaining{route="api"} -199');
      // The route's slo: gone: its ledger and its gauges go with it.
      f.feed.track(new Map());
      expect(await f.metrics.registry.metrics()).not.toContain('route="api"');
      expect(f.book.entryFor('api', 30 * DAY).ledger.counts(f.now(), HOUR)).toEqual({ requests: 0, errors: 0 });
    } finally {
      f.feed.stop();
    }
  });

  // Before: a position ahead of the clock (a damaged file, a clock stepped back) stopped the feed for that long.
  it('feeds on from now when its position is ahead of the clock', () => {
    const f = feedOf();
    try {
      f.book.entryFor('api', 30 * DAY).fedThroughSecond = 1e15;
      const second = f.now() / 1000;
      for (let i = 0; i < 4; i++) f.series.get('api', 'stable').window.observe(second * 1000 + i, i === 0, 1);
      f.set((second + 1) * 1000 + 500);
      f.feed.pass();
      // The first pass starts over from now; the next second's requests are counted.
      for (let i = 0; i < 6; i++) f.series.get('api', 'stable').window.observe((second + 1) * 1000 + i, i === 0, 1);
      f.set((second + 2) * 1000 + 500);
      f.feed.pass();
      expect(f.ledger().counts(f.now(), HOUR).requests).toBeGreaterThanOrEqual(6);
      expect(f.book.entryFor('api', 30 * DAY).fedThroughSecond).toBe(second + 1);
    } finally {
      f.feed.stop();
    }
  });

  // Before: in a fleet the feed set no gauges; a route without a rollout had none anywhere.
  it("in a fleet: the leader's gauges from the fleet's counts, its own while they cannot be read (one event each way), none on a follower", async () => {
    const metrics = createMetrics(new Registry(), { processMetrics: false });
    const series = new SeriesBook(metrics);
    const events = new EventLog();
    let clock = Date.UTC(2026, 11, 1, 9);
    let leading = true;
    // The fleet's: 1 of 1000 failing, a burn of 1 on 99.9 %; null while Redis cannot be read.
    let fleetCounts: Counts | null = { requests: 1000, errors: 1 };
    const reads: string[] = [];
    const feed = new SloFeed({
      book: new SloLedgerBook(),
      seconds: seriesSloSeconds(series),
      now: () => clock,
      metrics,
      events,
      publishEveryMs: 0,
      fleet: {
        leading: () => leading,
        slo: async (route) => {
          reads.push(route);
          const counts = fleetCounts;
          return counts === null ? null : () => counts;
        },
      },
    });
    const routes = validateConfig({
      upstreams: { s: 'http://127.0.0.1:1' },
      routes: [{ name: 'api', stable: 's', slo: { objective: 99.9, window: '30d' } }],
    }).routes;
    feed.track(countedSlos(routes));
    const burn1h = async () => /splitgate_slo_burn_rate\{route="api",window="1h"\} (\S+)/.exec(await metrics.registry.metrics())?.[1];
    const sloEvents = () => events.list({ route: 'api' }).map((e) => e.action);
    /** A pass, and its background read and publish. */
    const pass = async () => {
      clock += 1000;
      feed.pass();
      for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
    };
    try {
      // This member's own: 1 of 10 failing, a burn of 100.
      for (let i = 0; i < 10; i++) series.get('api', 'stable').window.observe(clock - 500 + i, i === 0, 1);
      await pass();
      expect(reads).toEqual(['api']);
      expect(await burn1h()).toBe('1');
      fleetCounts = null;
      await pass();
      expect(await burn1h()).toBe('100');
      await pass();
      expect(sloEvents()).toEqual(['slo.local_counts']);
      fleetCounts = { requests: 1000, errors: 1 };
      await pass();
      expect(await burn1h()).toBe('1');
      expect(sloEvents().sort()).toEqual(['slo.fleet_counts', 'slo.local_counts']);
      // Another member leads: this one's series go, so the fleet exports one per route and window.
      leading = false;
      reads.length = 0;
      await pass();
      expect(reads).toEqual([]);
      expect(await metrics.registry.metrics()).not.toContain('route="api"');
    } finally {
      feed.stop();
    }
  });

  // Before: the ledger was fed only at rollout windows, reaching back at most 600 s: a longer interval left gaps.
  it('20 minutes of traffic fed every 5 s: every request is in the ledger, none twice', () => {
    const f = feedOf(HOUR);
    try {
      const start = f.now() / 1000;
      let sent = 0;
      for (let s = 0; s < 1200; s++) {
        for (let i = 0; i < 3; i++, sent++) f.series.get('api', i === 0 ? 'canary' : 'stable').window.observe((start + s) * 1000 + i, s % 100 === 0 && i === 0, 1);
        f.set((start + s + 1) * 1000 + 200);
        if (s % 5 === 0) f.feed.pass();
      }
      f.set(f.now() + 1000);
      f.feed.pass();
      expect(f.ledger().counts(f.now(), HOUR)).toEqual({ requests: sent, errors: 12 });
    } finally {
      f.feed.stop();
    }
  });
});

describe('pacing in the rollout machine', () => {
  const spec = validateConfig({
    upstreams: { s: 'http://127.0.0.1:1', c: 'http://127.0.0.1:2' },
    routes: [{ name: 'api', stable: 's', canary: 'c', weight: 0, slo: { objective: 99.9, window: '30d' }, rollout: { stepWeights: [10, 50], threshold: 3 } }],
  }).routes[0].rollout!;
  const t0 = Date.UTC(2026, 11, 1, 9);
  const at = (minutes: number) => new Date(t0 + minutes * MIN);
  const progressing = () => afterInitialization(spec, begin(idleStatus('rev', 0, at(0)), 0, at(0)).status, { confirmed: true, detail: '' }, { ok: true, detail: '' }, at(0)).status;
  const window = (pacing: PacingVerdict): WindowReport => ({ at: at(0).toISOString(), weight: 10, verdict: 'pass', results: [], pacing });
  const GO: PacingVerdict = { action: 'go', window: null, value: null, reason: '90 % of the error budget left' };
  const SLOW: PacingVerdict = { action: 'hold', window: '1d/2h', value: 3.5, reason: 'slow burn: error budget burning at 3.5× over 1d and 3.5× over 2h (threshold 3×)' };

  it('fast burn rolls back and names the window and value', () => {
    const fast: PacingVerdict = { action: 'rollback', window: '1h/5m', value: 20, reason: 'fast burn: error budget burning at 20× over 1h and 20× over 5m (threshold 14.4×)' };
    const next = afterWindow(spec, progressing(), window(fast), null, at(1));
    expect(next.status).toMatchObject({ phase: 'RolledBack', weight: 0, engagedKill: true });
    expect(next.status.message).toBe('rolled back: error budget: fast burn: error budget burning at 20× over 1h and 20× over 5m (threshold 14.4×)');
  });

  it('slow burn holds the step (one event), and the rollout moves on once the burn stops', () => {
    let status = progressing();
    const first = afterWindow(spec, status, window(SLOW), null, at(1));
    expect(first.status).toMatchObject({ phase: 'Progressing', step: 0, weight: 10, failedChecks: 0 });
    expect(first.status.message).toContain('paced at 10 %: slow burn');
    expect(first.effects.map((e) => (e.kind === 'event' ? e.action : e.kind))).toEqual(['rollout.paced']);
    const second = afterWindow(spec, first.status, window(SLOW), null, at(2));
    expect(second.status.step).toBe(0);
    expect(second.effects).toEqual([]);
    status = afterWindow(spec, second.status, window(GO), null, at(3)).status;
    expect(status).toMatchObject({ step: 1, weight: 50 });
  });

  it('below the budget floor no step advances; a pause verdict pauses for an operator', () => {
    const freeze: PacingVerdict = { action: 'freeze', window: 'budget', value: 20, reason: 'error budget 20 % left, below the floor of 25 %: no stage advances' };
    const frozen = afterWindow(spec, progressing(), window(freeze), null, at(1));
    expect(frozen.status).toMatchObject({ step: 0, weight: 10 });
    expect(frozen.status.message).toContain('below the floor of 25 %');
    const paused = afterWindow(spec, progressing(), window({ ...SLOW, action: 'pause' }), null, at(1));
    expect(paused.status).toMatchObject({ phase: 'Paused', pausedBy: 'check' });
  });

  it('slo.sli.prometheus: validated at its path; $window becomes each window as a PromQL duration', () => {
    const route = (sli: unknown) => ({ upstreams: { s: 'http://127.0.0.1:1', c: 'http://127.0.0.1:2' }, routes: [{ name: 'api', stable: 's', canary: 'c', slo: { objective: 99.9, window: '30d', sli } }] });
    const issues = (sli: unknown) => {
      try {
        validateConfig(route(sli));
        return [];
      } catch (error) {
        return (error as ConfigError).issues;
      }
    };
    expect(issues({ prometheus: { address: 'http://127.0.0.1:9090', errorRatio: 'sum(rate(errors[5m]))' } })).toContainEqual({ path: 'routes[0].slo.sli.prometheus.errorRatio', message: 'must use $window (replaced by each window\'s length, e.g. [$window])' });
    expect(issues({ prometheus: { address: 'prometheus:9090', errorRatio: 'x[$window]' } }).map((i) => i.path)).toContain('routes[0].slo.sli.prometheus.address');
    expect(issues({ errors: 'code=~5..', prometheus: { address: 'http://127.0.0.1:9090', errorRatio: 'x[$window]' } })).toContainEqual({ path: 'routes[0].slo.sli', message: 'must set one of errors (splitgate\'s counters) or prometheus' });
    expect(validateConfig(route({ prometheus: { address: 'http://127.0.0.1:9090', errorRatio: 'x[$window]' } })).routes[0].slo!.sli).toEqual({ prometheus: { address: 'http://127.0.0.1:9090', errorRatio: 'x[$window]', timeout: 5000 } });
    expect(budgetSpans(30 * DAY).map(promqlDuration)).toEqual(['1h', '5m', '6h', '30m', '1d', '2h', '3d', '30d']);
    expect(budgetSpans(7 * DAY).map(promqlDuration)).toEqual(['14m', '70s', '84m', '7m', '336m', '28m', '1008m', '7d']);
    expect(promqlDuration(2500)).toBe('2500ms');
  });

  it('pacing without an slo on the route is a ConfigError at its path', () => {
    try {
      validateConfig({ upstreams: { s: 'http://127.0.0.1:1', c: 'http://127.0.0.1:2' }, routes: [{ name: 'api', stable: 's', canary: 'c', rollout: { stepWeights: [10], pacing: { budgetFloor: 10 } } }] });
      throw new Error('expected a ConfigError');
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).issues).toContainEqual({ path: 'routes[0].rollout.pacing', message: 'needs the route to set slo (objective and window)' });
    }
  });
});

describe('pacing in the runner, from the route\'s own counters', () => {
  it('a fast burn in the last hour rolls the rollout back, and the gauges show the burn', async () => {
    let now = Date.parse('2026-12-01T09:00:00Z');
    const harness = await startRolloutHarness(
      {
        upstreams: { s: 'http://127.0.0.1:1', c: 'http://127.0.0.1:2' },
        routes: [{ name: 'api', stable: 's', canary: 'c', weight: 0, slo: { objective: 99.9, window: '30d' }, rollout: { interval: '10m', stepWeights: [10, 50] } }],
      },
      { now: () => now },
    );
    const { manager, series, metrics } = harness;
    try {
      for (let i = 0; i < 400 && manager.get('api')!.status.phase !== 'Progressing'; i++) await new Promise((r) => setTimeout(r, 5));
      expect(manager.get('api')!.status.phase).toBe('Progressing');

      // 200 requests a second for 3 minutes, 5 % of them failing: a burn of 50 in every window that has traffic.
      for (let second = 0; second < 180; second++) {
        for (let i = 0; i < 200; i++) series.get('api', i % 2 === 0 ? 'stable' : 'canary').window.observe(now + second * 1000, i % 20 === 0, 2, true);
      }
      now += 181_000;
      await manager.get('api')!.tick();
      const status = manager.get('api')!.status;
      expect(status.phase).toBe('RolledBack');
      expect(status.message).toContain('fast burn: error budget burning at 50× over 1h and 50× over 5m (threshold 14.4×)');
      const text = await metrics.registry.metrics();
      expect(text).toContain('splitgate_slo_burn_rate{route="api",window="1h"} 50');
      expect(text).toMatch(/splitgate_slo_error_budget_remaining\{route="api"\} -49/);
    } finally {
      await harness.close();
    }
  });
});
