/**
 * `slo.sli.errors`: the status matcher compiled into its table (PromQL's four operators, anchoring, quoting), its
 * config errors at their paths, and a hand-computed burn rate where 429s count: responses counted in a route's
 * series (a worker's, shipped to the supervisor as the workers do), fed into the SLO ledger as the rollout runner
 * feeds it, read as burn rates. Objective 99.9 %: burn = error ratio × 1000.
 */
import { Registry } from 'prom-client';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { validateConfig } from '../src/config/load.js';
import { ConfigError } from '../src/errors.js';
import { createMetrics, SeriesBook } from '../src/metrics/metrics.js';
import { MirrorBook } from '../src/mirror/mirror-records.js';
import { applyDeltas, takeDeltas } from '../src/metrics/series-delta.js';
import { compileErrorStatuses, isSloError, SERVER_ERROR_STATUSES } from '../src/metrics/sli-errors.js';
import { SloLedger } from '../src/metrics/slo-ledger.js';
import { readBudget } from '../src/rollout/error-budget.js';

const CODES = [200, 204, 404, 408, 429, 499, 500, 502, 503, 504, 599];
const badCodes = (selector: string) => CODES.filter((code) => compileErrorStatuses(selector)[code] === 1);

describe('slo.sli.errors: the matcher', () => {
  it.each([
    ['code=~"5.."', [500, 502, 503, 504, 599]],
    ['code=~"5..|429"', [429, 500, 502, 503, 504, 599]],
    ['code=~5..|429', [429, 500, 502, 503, 504, 599]], // the issue's bare form
    [" code =~ '50[34]' ", [503, 504]],
    ['code=~"5"', []], // anchored: matches no 3-digit code, so refused below
    ['code!~"[1-4].."', [500, 502, 503, 504, 599]],
    ['code="503"', [503]],
    ['code!="200"', CODES.filter((code) => code !== 200)],
    ['code=~"5\\\\d\\\\d|408"', [408, 500, 502, 503, 504, 599]], // PromQL's escaped backslash
  ])('%s', (selector, bad) => {
    if (bad.length === 0) expect(() => compileErrorStatuses(selector)).toThrow('matches no status code (100-999): code=~"5"');
    else expect(badCodes(selector)).toEqual(bad);
  });

  it('defaults to 5xx; a response cut short after a status below 500 is bad whatever the selector', () => {
    expect(CODES.filter((code) => SERVER_ERROR_STATUSES[code] === 1)).toEqual([500, 502, 503, 504, 599]);
    const only429 = compileErrorStatuses('code="429"');
    expect(isSloError(only429, 200, true)).toBe(true);
    expect(isSloError(only429, 429, false)).toBe(true);
    // An upstream reset before any status: splitgate answers 502, judged as a 502.
    expect(isSloError(only429, 502, true)).toBe(false);
    expect(isSloError(SERVER_ERROR_STATUSES, 502, true)).toBe(true);
    expect(isSloError(SERVER_ERROR_STATUSES, 404, false)).toBe(false);
  });

  it('reports bad selectors as config errors at their path; errors and prometheus exclude each other', () => {
    const issues = (sli: unknown) => {
      try {
        validateConfig({ upstreams: { s: 'http://127.0.0.1:1', c: 'http://127.0.0.1:2' }, routes: [{ name: 'api', stable: 's', canary: 'c', slo: { objective: 99.9, window: '30d', sli } }] });
        return [];
      } catch (error) {
        return (error as ConfigError).issues;
      }
    };
    const at = 'routes[0].slo.sli.errors';
    expect(issues({ errors: 'status=~"5.."' })).toEqual([{ path: at, message: 'must be a matcher on the status code such as code=~"5..|429" (got "status=~\\"5..\\"")' }]);
    expect(issues({ errors: 'code=~"5..' })).toEqual([{ path: at, message: expect.stringMatching(/^must be a matcher on the status code/) }]);
    expect(issues({ errors: 'code=~"5(.."' })).toEqual([{ path: at, message: expect.stringMatching(/^invalid regular expression \(RE2 syntax; no lookaround or backreferences\): missing closing \)/) }]);
    expect(issues({ errors: 'code=~"(?=5)..."' })).toEqual([{ path: at, message: expect.stringMatching(/^invalid regular expression/) }]);
    expect(issues({ errors: 'code=~"5..."' })).toEqual([{ path: at, message: 'matches no status code (100-999): code=~"5..."' }]);
    expect(issues({})).toEqual([{ path: 'routes[0].slo.sli', message: 'must set one of errors (splitgate\'s counters) or prometheus' }]);
    expect(issues({ errors: 'code=~"5..|429"' })).toEqual([]);
  });
});

describe('slo.sli.errors: the burn rate (hand-computed)', () => {
  const START = Date.UTC(2026, 0, 1, 12, 0, 0);
  beforeEach(() => {
    vi.useFakeTimers();
    vi.setSystemTime(START);
  });
  afterEach(() => vi.useRealTimers());

  function book() {
    const metrics = createMetrics(new Registry(), { processMetrics: false });
    return { metrics, series: new SeriesBook(metrics), mirrors: new MirrorBook(metrics) };
  }

  /** 1000 responses in one second: 960 × 200, 25 × 429, 10 × 503, 5 × 200 cut short. */
  function serve(selector: string | undefined) {
    const worker = book();
    const supervisor = book();
    const series = worker.series.get('api', 'stable');
    if (selector !== undefined) series.sloErrorStatuses = compileErrorStatuses(selector);
    for (let n = 0; n < 960; n++) series.observeResponse('GET', 200, 0.01);
    for (let n = 0; n < 25; n++) series.observeResponse('GET', 429, 0.01);
    for (let n = 0; n < 10; n++) series.observeResponse('GET', 503, 0.01);
    for (let n = 0; n < 5; n++) series.observeResponse('GET', 200, 0.01, true);
    // Counted in a worker, summed in the supervisor (whose own series keeps the default): the counts travel.
    applyDeltas(supervisor.series, supervisor.mirrors, supervisor.metrics, structuredClone(takeDeltas(worker.series, worker.mirrors, worker.metrics)));
    const second = Math.floor(START / 1000);
    const [slot] = supervisor.series.get('api', 'stable').window.slotsBetween(second, second);
    const ledger = new SloLedger(30 * 86_400_000);
    ledger.add(slot.second * 1000, slot.requests, slot.sloErrors);
    return { slot, reading: readBudget((spanMs) => ledger.counts(START + 2000, spanMs), { objective: 99.9, window: 30 * 86_400_000 }) };
  }

  it('with code=~"5..|429" the 429s burn the budget: (25 + 10 + 5) / 1000 / 0.001 = 40', () => {
    const { slot, reading } = serve('code=~"5..|429"');
    expect(slot).toMatchObject({ requests: 1000, sloErrors: 40, errors: 15 }); // the rollout checks still count 5xx
    expect(reading.pairs[0]).toMatchObject({ windows: '1h/5m', longRate: 40, shortRate: 40, firing: true });
    expect(reading.remaining).toBeCloseTo(1 - 40, 9);
  });

  it('by default they do not: (10 + 5) / 1000 / 0.001 = 15', () => {
    const { slot, reading } = serve(undefined);
    expect(slot).toMatchObject({ requests: 1000, sloErrors: 15, errors: 15 });
    expect(reading.pairs[0]).toMatchObject({ longRate: 15, shortRate: 15, firing: true });
  });
});
