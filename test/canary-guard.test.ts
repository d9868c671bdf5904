/**
 * The canary guard on its own, with an injected clock and vitest's fake timers: consecutive failures eject, the
 * ejection time grows with each ejection (base × n, capped) and shrinks back after quiet intervals, probing lets
 * a share of buckets through, and the retry budget is Envoy's max(min concurrency, budget % of active requests).
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { parseConfigText, validateConfig } from '../src/config/load.js';
import { compileRetryPolicy, GuardBook, Outcome, type CanaryGuard, type GuardEvent, type OutlierSettings } from '../src/proxy/canary-guard.js';
import { decideRoute } from '../src/routing/decide.js';
import { compileTable } from '../src/routing/table.js';
import type { RequestContext } from '../src/routing/context.js';
import { configProblems } from './helpers/config-problems.js';

const SETTINGS: OutlierSettings = { consecutive5xx: 3, consecutiveConnectFailures: 2, interval: 10_000, baseEjectionTime: 1_000, maxEjectionTime: 2_500, probePercent: 10 };

let now = 0;
let events: GuardEvent[];
let guard: CanaryGuard;

beforeEach(() => {
  vi.useFakeTimers();
  now = 0;
  events = [];
  guard = new GuardBook((event) => events.push(event), () => now).guardFor('api', 'canary', SETTINGS);
});

afterEach(() => {
  guard.close();
  vi.useRealTimers();
});

function advance(ms: number): void {
  now += ms;
  vi.advanceTimersByTime(ms);
}

function fail(times: number, outcome = Outcome.Failure): void {
  for (let i = 0; i < times; i++) guard.record(outcome);
}

describe('passive outlier ejection', () => {
  it('ejects after consecutive5xx failures in a row, not when a success breaks the run', () => {
    fail(2);
    guard.record(Outcome.Success);
    fail(2);
    expect(guard.phase).toBe('closed');
    expect(guard.admitPercent).toBe(100);
    fail(1);
    expect(guard.phase).toBe('ejected');
    expect(guard.admitPercent).toBe(0);
    expect(events).toMatchObject([{ action: 'upstream.ejected', route: 'api', upstream: 'canary', ejectionMs: 1_000, ejections: 1 }]);
  });

  it('ejects after consecutiveConnectFailures connect failures in a row; connect failures count as 5xx too', () => {
    fail(2, Outcome.ConnectFailure);
    expect(guard.phase).toBe('ejected');
    expect(events[0].reason).toBe('2 connect failures in a row');
  });

  it('counts connect failures mixed with other failures towards consecutive5xx (Envoy without split local errors)', () => {
    fail(1, Outcome.ConnectFailure);
    fail(1);
    expect(guard.phase).toBe('closed');
    fail(1, Outcome.ConnectFailure);
    expect(guard.phase).toBe('ejected');
  });

  it('probes after the ejection time; a failed probe re-ejects for longer (base × n, capped at max)', () => {
    fail(3);
    advance(999);
    expect(guard.phase).toBe('ejected');
    advance(1);
    expect(guard.phase).toBe('probing');
    expect(guard.admitPercent).toBe(10);
    guard.record(Outcome.Failure);
    expect(guard.phase).toBe('ejected');
    expect(events.at(-1)).toMatchObject({ action: 'upstream.ejected', ejectionMs: 2_000 });
    advance(2_000);
    guard.record(Outcome.Failure);
    expect(events.at(-1)).toMatchObject({ action: 'upstream.ejected', ejectionMs: 2_500 });
  });

  it('a successful probe restores the canary; quiet intervals shrink the next ejection time again', () => {
    fail(3);
    advance(1_000);
    guard.record(Outcome.Failure);
    advance(2_000);
    guard.record(Outcome.Success);
    expect(guard.phase).toBe('closed');
    expect(guard.admitPercent).toBe(100);
    expect(events.at(-1)).toMatchObject({ action: 'upstream.restored' });
    // Two ejections so far; one quiet interval takes one off, so the next is the second: 2 × base.
    advance(10_000);
    fail(3);
    expect(events.at(-1)).toMatchObject({ action: 'upstream.ejected', ejectionMs: 2_000 });
  });

  it('failures while ejected do not extend the ejection', () => {
    fail(3);
    fail(10);
    expect(guard.ejections).toBe(1);
  });

  it('an unhealthy canary admits nothing, whatever the passive state', () => {
    guard.setUnhealthy(true, 'checks failing');
    expect(guard.admitPercent).toBe(0);
    expect(guard.ejections).toBe(0);
    guard.setUnhealthy(false, 'checks passing');
    expect(guard.admitPercent).toBe(100);
    expect(events.map((e) => [e.action, e.reason])).toEqual([
      ['upstream.ejected', 'checks failing'],
      ['upstream.restored', 'checks passing'],
    ]);
  });

  it('with outlier detection off, failures never eject', () => {
    guard.configure(null);
    fail(100);
    expect(guard.phase).toBe('closed');
  });

  it("holds another worker's ejection until its end without counting it, then probes; a longer own ejection is kept", () => {
    fail(2);
    // The other worker's second ejection in a row: base 1 000 ms × 2.
    guard.holdEjected(now + 1_500, 2_000);
    expect(guard).toMatchObject({ phase: 'ejected', admitPercent: 0, ejections: 0, ejectedUntil: 1_500 });
    expect(events).toEqual([]);
    advance(1_499);
    expect(guard.phase).toBe('ejected');
    advance(1);
    expect(guard.phase).toBe('probing');
    // The run of failures before the hold was reset: one failed probe re-ejects (its own, counted), as the third
    // ejection in a row: base × 3, capped at 2 500 ms (its own first would have been 1 000 ms).
    guard.record(Outcome.Failure);
    expect(guard).toMatchObject({ phase: 'ejected', ejections: 1, ejectedUntil: now + 2_500 });
    const own = guard.ejectedUntil;
    guard.holdEjected(own - 100, 1_000);
    expect(guard.ejectedUntil).toBe(own);
    guard.holdEjected(now, 1_000);
    expect(guard.ejectedUntil).toBe(own);
    guard.configure(null);
    guard.holdEjected(now + 5_000, 5_000);
    expect(guard.phase).toBe('closed');
  });

  it('counts quiet intervals before taking on a held ejection: a long-past run of ejections is forgotten', () => {
    // Two ejections in a row (1 000, then 2 000 ms), then restored, then ten quiet intervals.
    fail(3);
    advance(1_000);
    guard.record(Outcome.Failure);
    expect(guard.ejectedUntil).toBe(now + 2_000);
    advance(2_000);
    guard.record(Outcome.Success);
    expect(guard.phase).toBe('closed');
    advance(100_000);
    // Another worker's first ejection is held; a failed probe here is then the second in a row: base × 2.
    guard.holdEjected(now + 1_000, 1_000);
    advance(1_000);
    guard.record(Outcome.Failure);
    expect(guard.ejectedUntil).toBe(now + 2_000);
  });
});

describe('retry budget', () => {
  const policy = compileRetryPolicy({ on: ['503'], methods: ['GET'], budget: 20, minRetryConcurrency: 3, burst: 0 })!;

  it('allows max(minRetryConcurrency, budget % of active) retries at once', () => {
    guard.active = 40;
    const taken = Array.from({ length: 12 }, () => guard.takeRetry(policy)).filter(Boolean).length;
    expect(taken).toBe(8);
    expect(guard.retries.budget_exhausted).toBe(4);
    guard.retryEnded(true);
    expect(guard.takeRetry(policy)).toBe(true);
    guard.active = 2;
    guard.activeRetries = 2;
    expect(guard.takeRetry(policy)).toBe(true);
    expect(guard.takeRetry(policy)).toBe(false);
  });

  it('past the concurrent budget spends burst credits, which only canary successes earn back (one per 10)', () => {
    const burst = compileRetryPolicy({ on: ['503'], methods: ['GET'], budget: 20, minRetryConcurrency: 3, burst: 2 })!;
    guard.active = 10;
    // 3 from the concurrent budget, 2 from the credit, then refused.
    expect(Array.from({ length: 6 }, () => guard.takeRetry(burst))).toEqual([true, true, true, true, true, false]);
    expect(guard.retryCreditSpent).toBe(2);
    for (let i = 0; i < 5; i++) guard.retryEnded(true);
    // Retries ending give no credit back: a canary failing everywhere stays bounded.
    guard.activeRetries = 3;
    expect(guard.takeRetry(burst)).toBe(false);
    for (let i = 0; i < 10; i++) guard.earnRetryCredit();
    // Exactly one credit back after 10 successes (in tenths, 1 - 10 × 0.1 left 1.4e-16 and refused the next burst).
    expect(guard.retryCreditSpent).toBe(1);
    expect(guard.takeRetry(burst)).toBe(true);
    expect(guard.takeRetry(burst)).toBe(false);
    for (let i = 0; i < 100; i++) guard.earnRetryCredit();
    expect(guard.retryCreditSpent).toBe(0);
    // burst: 1: one replay past the budget, and another after exactly 10 successes.
    const one = compileRetryPolicy({ on: ['503'], methods: ['GET'], budget: 20, minRetryConcurrency: 3, burst: 1 })!;
    guard.activeRetries = 3;
    expect([guard.takeRetry(one), guard.takeRetry(one)]).toEqual([true, false]);
    guard.activeRetries = 3;
    for (let i = 0; i < 10; i++) guard.earnRetryCredit();
    expect(guard.takeRetry(one)).toBe(true);
  });

  it('burst: auto holds as many credits as the route has requests in flight, at least 10', () => {
    const auto = compileRetryPolicy({ on: ['503'], methods: ['GET'], budget: 20, minRetryConcurrency: 3, burst: 'auto' })!;
    expect(auto.burst).toBeNull();
    // 16 in flight, all on a canary that crashes: 3 at once from the concurrent budget (20 % of 16 is 3), 13 credits.
    guard.active = 16;
    expect(Array.from({ length: 16 }, () => guard.takeRetry(auto)).every(Boolean)).toBe(true);
    expect(guard.retryCreditSpent).toBe(13);
    // 16 credits in all while 16 are in flight: 3 more, then refused.
    expect(Array.from({ length: 4 }, () => guard.takeRetry(auto))).toEqual([true, true, true, false]);
    expect(guard.retries.budget_exhausted).toBe(1);
    // A busier route holds more: at 40 in flight, 8 at once and 40 credits, of which 16 are spent.
    guard.active = 40;
    guard.activeRetries = 8;
    expect(Array.from({ length: 28 }, () => guard.takeRetry(auto)).filter(Boolean)).toHaveLength(24);
    expect(guard.retryCreditSpent).toBe(40);
    // Spent at 40 in flight, owed back at most as the burst stands at 2 in flight (10 credits, 100 successes): 10
    // successes give one replay back, not one four-hundredth of the debt.
    guard.active = 2;
    guard.activeRetries = 3;
    expect(guard.takeRetry(auto)).toBe(false);
    for (let i = 0; i < 10; i++) guard.earnRetryCredit();
    expect([guard.takeRetry(auto), guard.takeRetry(auto)]).toEqual([true, false]);
    // A quiet one has 10 in all: 2 in flight, 3 at once.
    for (let i = 0; i < 400; i++) guard.earnRetryCredit();
    guard.active = 2;
    guard.activeRetries = 3;
    expect(Array.from({ length: 11 }, () => guard.takeRetry(auto)).filter(Boolean)).toHaveLength(10);
  });
});

describe('decideRoute with an ejected canary', () => {
  const config = validateConfig({
    listen: '127.0.0.1:0',
    upstreams: { s: 'http://127.0.0.1:1', c: 'http://127.0.0.1:2' },
    routes: [{ name: 'api', stable: 's', canary: 'c', weight: 100, outlier: { probePercent: 10 } }],
  });

  function context(bucket: number): RequestContext {
    return { bucket, headers: {}, cookies: {}, overridesAllowed: true } as unknown as RequestContext;
  }

  it('sends canary decisions to stable with reason canary_ejected, and lets probePercent of buckets through while probing', () => {
    const book = new GuardBook(() => undefined, () => now);
    const route = compileTable(config, 1, {}, book).routes[0];
    expect(decideRoute(route, context(4321))).toMatchObject({ version: 'canary', reason: 'weight' });
    for (let i = 0; i < 5; i++) route.guard!.record(Outcome.Failure);
    expect(decideRoute(route, context(4321))).toMatchObject({ version: 'stable', reason: 'canary_ejected' });
    vi.advanceTimersByTime(30_000);
    expect(route.guard!.phase).toBe('probing');
    expect(decideRoute(route, context(4305))).toMatchObject({ version: 'canary', reason: 'weight' });
    expect(decideRoute(route, context(4321))).toMatchObject({ version: 'stable', reason: 'canary_ejected' });
    // The guard outlasts the table: a recompiled table reads the same state.
    expect(compileTable(config, 2, {}, book).routes[0].guard).toBe(route.guard);
    book.close();
  });
});

describe('retry, outlier and health config', () => {
  const base = {
    upstreams: { stable: 'http://127.0.0.1:3001', canary: 'http://127.0.0.1:3002' },
    routes: [{ name: 'api', stable: 'stable', canary: 'canary', weight: 10 }],
  };

  function problems(raw: unknown): string[] {
    return configProblems(raw);
  }

  it('turns retry and outlier detection on by default, with Envoy-like values', () => {
    const route = validateConfig(base).routes[0];
    expect(route.retry).toEqual({
      on: ['connect-failure', 'refused-stream', 'reset-before-response', 'headers-timeout', '503'],
      methods: ['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE'],
      budget: 20,
      minRetryConcurrency: 3,
      burst: 'auto',
    });
    expect(route.outlier).toEqual({ consecutive5xx: 5, consecutiveConnectFailures: 5, interval: 10_000, baseEjectionTime: 30_000, maxEjectionTime: 300_000, probePercent: 10 });
  });

  it('reads an unquoted 503 in YAML, and false for off', () => {
    const config = parseConfigText(
      'upstreams: { s: "http://127.0.0.1:1", c: "http://127.0.0.1:2" }\nroutes:\n  - { name: a, stable: s, canary: c, retry: { on: [503, connect-failure] }, outlier: false }\n',
    );
    expect(config.routes[0].retry).toMatchObject({ on: ['503', 'connect-failure'] });
    expect(config.routes[0].outlier).toBe(false);
  });

  it('reports bad values with their paths', () => {
    const route = {
      ...base.routes[0],
      retry: { on: ['5xx'], budget: 150, methods: ['get'] },
      outlier: { consecutive5xx: 0, baseEjectionTime: '1m', maxEjectionTime: '30s' },
    };
    const found = problems({ upstreams: { ...base.upstreams, canary: { url: base.upstreams.canary, health: { path: 'healthz', unhealthy: 0 } } }, routes: [route] });
    expect(found).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^routes\[0\]\.retry\.on\[0\]: /),
        'routes[0].retry.budget: must be between 0 and 100',
        'routes[0].retry.methods[0]: must be an upper-case HTTP method such as GET',
        expect.stringMatching(/^routes\[0\]\.outlier\.consecutive5xx: /),
        expect.stringMatching(/^upstreams\.canary\.health\.path: must start with "\/"/),
        expect.stringMatching(/^upstreams\.canary\.health\.unhealthy: /),
      ]),
    );
  });

  it('rejects a maximum ejection time below the base one', () => {
    expect(problems({ ...base, routes: [{ ...base.routes[0], outlier: { baseEjectionTime: '1m', maxEjectionTime: '30s' } }] })).toEqual([
      'routes[0].outlier.maxEjectionTime: must be at least baseEjectionTime',
    ]);
  });
});
