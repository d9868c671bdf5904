/**
 * A route's memo of flags headers (flags-memo.ts, route-flags.ts `requestFlagsHeader`) never changes a result: a
 * hit is the header a fresh evaluation gives, for random contexts over the bench's flags; the evaluation counts are
 * the same with and without hits; a flag that may read the clock turns the route's memo off (its value follows the
 * clock); contexts that differ only by absent vs "", or a number vs its string, get their own results; the
 * memo stays within its size and stores a context from its second sight; `flags.memo.size` is validated with its
 * path.
 */
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { validateConfig } from '../src/config/load.js';
import { targetingReadsClock } from '../src/flags/clock-reads.js';
import type { FlagDefinitions } from '../src/flags/definitions.js';
import { FlagCountBook } from '../src/flags/flag-counts.js';
import { compileFlagSet } from '../src/flags/flag-set.js';
import { FlagsMemo, MemoizedFlags } from '../src/flags/flags-memo.js';
import { buildFlagContext, compileRouteFlags, flagsHeaderValue, requestFlagsHeader, type FlagAttributeSource, type RouteFlags, type VerifiedClaims } from '../src/flags/route-flags.js';
import { RequestContext } from '../src/routing/context.js';
import { compileTable } from '../src/routing/table.js';
import { configProblems } from './helpers/config-problems.js';

const BENCH = JSON.parse(readFileSync(new URL('../loadtest/flags-bench.flagd.json', import.meta.url), 'utf8')) as FlagDefinitions;

const BENCH_CONTEXT: Record<string, FlagAttributeSource> = {
  email: { kind: 'header', name: 'x-user-email' },
  appVersion: { kind: 'header', name: 'x-app-version' },
  country: { kind: 'header', name: 'x-country' },
  platform: { kind: 'header', name: 'x-platform' },
};

function routeOf(definitions: FlagDefinitions, context: Record<string, FlagAttributeSource>, memoSize?: number, counts = new FlagCountBook(), select: 'all' | string[] = 'all'): RouteFlags {
  return compileRouteFlags(compileFlagSet(definitions, counts), { header: 'x-splitgate-flags', select, context, ...(memoSize === undefined ? {} : { memoSize }) });
}

function request(stickyKey: string | null, headers: Record<string, string | string[]> = {}): RequestContext {
  return new RequestContext(headers, {}, undefined, 0, stickyKey, null);
}

/** What the route's flags evaluate to without any memo: the context built and every flag evaluated. */
function evaluatedAfresh(route: RouteFlags, req: RequestContext, claims?: VerifiedClaims): string {
  return flagsHeaderValue(route, buildFlagContext(route, req, claims));
}

function countsOf(book: FlagCountBook): Record<string, number> {
  const out: Record<string, number> = {};
  for (const cell of book.all()) out[`${cell.labels.flag}/${cell.labels.variant}/${cell.labels.reason}`] = cell.value;
  return out;
}

const word = fc.constantFrom('', 'de', 'us', 'fr', 'ios-17.2', 'android-14', 'web', '2.3.0', '1.0.0', '2.4.1', 'a@example.com', 'b@mail.test');
const benchRequest = fc.record({
  user: fc.oneof(fc.constant(null), fc.constantFrom('u1', 'u2', 'u3', 'u4', ''), fc.string({ maxLength: 6 })),
  email: fc.option(word, { nil: undefined }),
  appVersion: fc.option(word, { nil: undefined }),
  country: fc.option(word, { nil: undefined }),
  platform: fc.option(fc.oneof(word, fc.array(word, { minLength: 2, maxLength: 2 })), { nil: undefined }),
});

function benchHeaders(r: { email?: string; appVersion?: string; country?: string; platform?: string | string[] }): Record<string, string | string[]> {
  const headers: Record<string, string | string[]> = {};
  if (r.email !== undefined) headers['x-user-email'] = r.email;
  if (r.appVersion !== undefined) headers['x-app-version'] = r.appVersion;
  if (r.country !== undefined) headers['x-country'] = r.country;
  if (r.platform !== undefined) headers['x-platform'] = r.platform;
  return headers;
}

describe('a memoized flags header', () => {
  it('is the header a fresh evaluation gives, for random contexts over the bench flags, repeats included', () => {
    const memoized = routeOf(BENCH, BENCH_CONTEXT);
    const plain = routeOf(BENCH, BENCH_CONTEXT, 0);
    expect(memoized.memo).not.toBeNull();
    expect(plain.memo).toBeNull();
    let requests = 0;
    fc.assert(
      fc.property(fc.array(benchRequest, { minLength: 1, maxLength: 30 }), (batch) => {
        // Each context twice in a row, then the batch again: the second and later ones are hits.
        for (const r of [...batch.flatMap((x) => [x, x]), ...batch]) {
          const req = request(r.user, benchHeaders(r));
          const header = requestFlagsHeader(memoized, req, undefined);
          requests++;
          expect(header).toBe(evaluatedAfresh(plain, req));
        }
      }),
      { numRuns: 300 },
    );
    // Repeats were answered from the memo: it holds far fewer entries than requests were made.
    expect(memoized.memo!.held).toBeLessThan(requests / 2);
  });

  it('counts every flag on a hit exactly as an evaluation does (splitgate_flag_evaluations_total)', () => {
    const withMemo = new FlagCountBook();
    const without = new FlagCountBook();
    const memoized = routeOf(BENCH, BENCH_CONTEXT, undefined, withMemo);
    const plain = routeOf(BENCH, BENCH_CONTEXT, 0, without);
    const users = Array.from({ length: 50 }, (_, i) => request(`user-${i}`, { 'x-user-email': i % 5 === 0 ? `u${i}@example.com` : `u${i}@mail.test`, 'x-app-version': `2.${i % 6}.0`, 'x-country': ['de', 'us', 'jp'][i % 3], 'x-platform': ['ios-17.2', 'web'][i % 2] }));
    for (let i = 0; i < 1000; i++) {
      requestFlagsHeader(memoized, users[i % 50], undefined);
      requestFlagsHeader(plain, users[i % 50], undefined);
    }
    expect(memoized.memo!.held).toBe(50);
    const counted = countsOf(withMemo);
    expect(counted).toEqual(countsOf(without));
    // Every request counted each of the 10 flags once (the disabled one as DISABLED).
    expect(Object.values(counted).reduce((a, b) => a + b, 0)).toBe(10_000);
  });

  it('keeps absent and "" apart, a number and its string, and reads the claims of the request', () => {
    const definitions = {
      flags: {
        country: {
          state: 'ENABLED',
          variants: { absent: 'absent', empty: 'empty', other: 'other' },
          defaultVariant: 'other',
          targeting: { if: [{ '===': [{ var: ['country', 'ABSENT'] }, 'ABSENT'] }, 'absent', { '===': [{ var: 'country' }, ''] }, 'empty', 'other'] },
        },
        level: { state: 'ENABLED', variants: { number: 'number', other: 'other' }, defaultVariant: 'other', targeting: { if: [{ '===': [{ var: 'level' }, 1] }, 'number', 'other'] } },
      },
    } as unknown as FlagDefinitions;
    const route = routeOf(definitions, { country: { kind: 'header', name: 'x-country' }, level: { kind: 'claim', name: 'level' } });
    const ask = (headers: Record<string, string>, claims: VerifiedClaims) => requestFlagsHeader(route, request('same-user', headers), claims);
    for (let round = 0; round < 2; round++) {
      // Round 2 asks the same contexts again: each must find its own entry, not the previous request's.
      expect(ask({}, { level: 1 })).toBe('country="absent", level="number"');
      expect(ask({ 'x-country': '' }, { level: 1 })).toBe('country="empty", level="number"');
      expect(ask({ 'x-country': '' }, { level: '1' })).toBe('country="empty", level="other"');
      expect(ask({ 'x-country': 'de' }, { level: true })).toBe('country="other", level="other"');
      expect(ask({ 'x-country': 'de' }, { level: 1 })).toBe('country="other", level="number"');
    }
  });

  it('evaluates, without memoizing, a context with an object claim or longer than the bound', () => {
    const definitions = {
      flags: { plan: { state: 'ENABLED', variants: { pro: 'pro', free: 'free' }, defaultVariant: 'free', targeting: { if: [{ in: ['pro', { var: 'plans' }] }, 'pro', 'free'] } } },
    } as unknown as FlagDefinitions;
    const route = routeOf(definitions, { plans: { kind: 'claim', name: 'plans' } });
    expect(requestFlagsHeader(route, request('u1'), { plans: ['pro'] })).toBe('plan="pro"');
    expect(requestFlagsHeader(route, request('u1'), { plans: ['free'] })).toBe('plan="free"');
    expect(requestFlagsHeader(route, request('x'.repeat(600)), { plans: 'pro' })).toBe('plan="pro"');
    expect(route.memo!.held).toBe(0);
    expect(requestFlagsHeader(route, request('u1'), { plans: 'pro' })).toBe('plan="pro"');
    expect(route.memo!.held).toBe(1);
  });

  it('finds a request without a targeting key by its attributes', () => {
    const route = routeOf(BENCH, BENCH_CONTEXT);
    const de = request(null, { 'x-country': 'de' });
    const us = request(null, { 'x-country': 'us' });
    for (let i = 0; i < 3; i++) {
      expect(requestFlagsHeader(route, de, undefined)).toBe(evaluatedAfresh(route, de));
      expect(requestFlagsHeader(route, us, undefined)).toBe(evaluatedAfresh(route, us));
    }
    expect(route.memo!.held).toBe(2);
    // A targeting key spelled like a keyless lookup finds that entry, whose targeting key differs: evaluated anew.
    const spoof = request('\0undefined\0undefined\0de\0undefined', { 'x-country': 'de' });
    expect(route.memo!.get(spoof.stickyKey!)?.targetingKey).toBeNull();
    expect(requestFlagsHeader(route, spoof, undefined)).toBe(evaluatedAfresh(route, spoof));
    expect(evaluatedAfresh(route, spoof)).not.toBe(evaluatedAfresh(route, de));
  });

  it('stays within its size, and an entry used again survives', () => {
    const route = routeOf(BENCH, BENCH_CONTEXT, 16);
    const kept = request('kept', { 'x-country': 'de' });
    for (let i = 0; i < 1000; i++) {
      const req = request(`user-${i}`, { 'x-country': 'us' });
      expect(requestFlagsHeader(route, req, undefined)).toBe(evaluatedAfresh(route, req));
      requestFlagsHeader(route, kept, undefined);
      expect(route.memo!.held).toBeLessThanOrEqual(16);
    }
    expect(route.memo!.get('kept')?.header).toBe(evaluatedAfresh(route, kept));
  });

  it('is not kept for a route whose header needs no context (a constant, counted per request), or with size 0', () => {
    const staticOnly = { flags: { a: { state: 'ENABLED', variants: { on: true, off: false }, defaultVariant: 'on' }, b: { state: 'DISABLED', variants: { on: true }, defaultVariant: 'on', targeting: { var: 'x' } }, c: { state: 'ENABLED', variants: { x: 'x' }, defaultVariant: 'x' } } } as unknown as FlagDefinitions;
    const counts = new FlagCountBook();
    const constant = routeOf(staticOnly, BENCH_CONTEXT, undefined, counts);
    expect(constant.memo).toBeNull();
    for (let i = 0; i < 3; i++) expect(requestFlagsHeader(constant, request(`u${i}`, { 'x-country': 'de' }), undefined)).toBe('a=?1, c="x"');
    expect(Object.fromEntries(Object.entries(countsOf(counts)).filter(([, n]) => n > 0))).toEqual({ 'a/on/STATIC': 3, 'b//DISABLED': 3, 'c/x/STATIC': 3 });
    expect(routeOf(BENCH, BENCH_CONTEXT, 0).memo).toBeNull();
    expect(routeOf(BENCH, BENCH_CONTEXT).memo!.size).toBe(2048);
  });
});

describe('flags that may read the clock', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  const LAUNCH = Date.UTC(2026, 11, 24) / 1000;
  const CLOCKED = {
    flags: {
      launch: { state: 'ENABLED', variants: { before: 'before', after: 'after' }, defaultVariant: 'before', targeting: { if: [{ '>=': [{ var: '$flagd.timestamp' }, LAUNCH] }, 'after', 'before'] } },
      region: { state: 'ENABLED', variants: { eu: 'eu', other: 'other' }, defaultVariant: 'other', targeting: { if: [{ in: [{ var: 'country' }, ['de', 'fr']] }, 'eu', 'other'] } },
      'staff-launch': { state: 'ENABLED', variants: { on: true, off: false }, defaultVariant: 'off', targeting: { if: [{ $ref: 'launched' }, 'on', 'off'] } },
    },
    $evaluators: { launched: { '>=': [{ var: '$flagd.timestamp' }, LAUNCH] } },
  } as unknown as FlagDefinitions;
  const CONTEXT = { country: { kind: 'header', name: 'x-country' } } as const;

  it('turn the route memo off, so the value follows the clock for the same context', () => {
    vi.useFakeTimers();
    vi.setSystemTime((LAUNCH - 60) * 1000);
    const route = routeOf(CLOCKED, CONTEXT);
    expect(route.memo).toBeNull();
    const req = request('user-1', { 'x-country': 'de' });
    expect(requestFlagsHeader(route, req, undefined)).toBe('launch="before", region="eu", staff-launch=?0');
    expect(requestFlagsHeader(route, req, undefined)).toBe('launch="before", region="eu", staff-launch=?0');
    vi.setSystemTime((LAUNCH + 60) * 1000);
    expect(requestFlagsHeader(route, req, undefined)).toBe('launch="after", region="eu", staff-launch=?1');
  });

  it('through a $ref too; a route selecting only flags that do not read it keeps its memo', () => {
    expect(routeOf(CLOCKED, CONTEXT, undefined, new FlagCountBook(), ['staff-launch']).memo).toBeNull();
    expect(routeOf(CLOCKED, CONTEXT, undefined, new FlagCountBook(), ['region']).memo).not.toBeNull();
  });

  it('are found in every way JsonLogic can reach $flagd.timestamp, and only there', () => {
    const evaluators = { clock: { var: '$flagd.timestamp' }, pure: { var: 'country' }, loop: { $ref: 'loop' } };
    const table: Array<[unknown, boolean]> = [
      [{ var: 'country' }, false],
      [{ var: ['country', 'none'] }, false],
      [{ var: '$flagd.flagKey' }, false],
      [{ val: ['$flagd', 'flagKey'] }, false],
      [{ val: 'country' }, false],
      [{ fractional: [['a', 1], ['b', 1]] }, false],
      [{ if: [{ $ref: 'pure' }, 'a', 'b'] }, false],
      [{ some: [[1, 2], { '>': [{ var: '' }, 1] }] }, true], // the whole data, in or out of an iterator: not proven
      [{ var: '$flagd.timestamp' }, true],
      [{ var: ['$flagd.timestamp', 0] }, true],
      [{ var: '$flagd' }, true],
      [{ var: '' }, true],
      [{ var: null }, true],
      [{ var: [] }, true],
      [{ var: { cat: ['$flagd.', 'timestamp'] } }, true],
      [{ var: { var: 'path' } }, true],
      [{ some: [[1], { var: '../$flagd.timestamp' }] }, true],
      [{ val: ['$flagd', 'timestamp'] }, true],
      [{ val: '$flagd' }, true],
      [{ val: [[1], 'x'] }, true],
      [{ val: [] }, true],
      [{ if: [{ $ref: 'clock' }, 'a', 'b'] }, true],
      [{ $ref: 'loop' }, true],
      [{ $ref: 'missing' }, true],
    ];
    for (const [targeting, reads] of table) expect([targeting, targetingReadsClock(targeting, evaluators)]).toEqual([targeting, reads]);
  });
});

describe('FlagsMemo', () => {
  it('holds at most its size, keeping what was used in the last half of it', () => {
    const memo = new FlagsMemo(4);
    const entry = (n: number) => new MemoizedFlags(`k${n}`, [], `h${n}`, []);
    for (let i = 0; i < 3; i++) memo.set(`k${i}`, entry(i));
    expect(memo.held).toBe(3);
    memo.set('k3', entry(3)); // k0, k1 old; k2, k3 young
    expect(memo.get('k0')?.header).toBe('h0'); // copied to a new young generation: k2, k3 old, k1 dropped
    memo.set('k4', entry(4));
    expect(memo.held).toBeLessThanOrEqual(4);
    expect(memo.get('k1')).toBeUndefined();
    expect(memo.get('k0')?.header).toBe('h0');
  });
});

describe('FlagsMemo admission', () => {
  it('stores a context from its second sight, so users seen once never push out the entries of users who return', () => {
    const route = routeOf(BENCH, BENCH_CONTEXT, 64);
    const regular = Array.from({ length: 20 }, (_, i) => request(`regular-${i}`, { 'x-country': 'de' }));
    for (const req of regular) requestFlagsHeader(route, req, undefined);
    expect(route.memo!.held).toBe(0);
    for (const req of regular) requestFlagsHeader(route, req, undefined);
    expect(route.memo!.held).toBe(20);
    for (let i = 0; i < 10_000; i++) {
      const once = request(`once-${i}`, { 'x-country': 'us' });
      expect(requestFlagsHeader(route, once, undefined)).toBe(evaluatedAfresh(route, once));
    }
    expect(route.memo!.held).toBe(20);
    for (const req of regular) expect(route.memo!.get(req.stickyKey!)?.header).toBe(evaluatedAfresh(route, req));
  });
});

describe('flags.memo in the config', () => {
  const base = {
    upstreams: { stable: 'http://127.0.0.1:3001' },
    routes: [{ name: 'api', stable: 'stable', sticky: { key: ['header:x-user-id'] } }],
  };
  const withMemo = (memo: unknown) => ({ ...base, flags: { definitions: BENCH, context: { country: 'header:x-country' }, memo } });

  function problems(raw: unknown): string[] {
    return configProblems(raw, {});
  }

  it('defaults to 2048 entries per route; 0 turns it off; other sizes are used', () => {
    expect(compileTable(validateConfig({ ...base, flags: { definitions: BENCH, context: { country: 'header:x-country' } } }, {}), 1).routes[0].flags!.memo!.size).toBe(2048);
    expect(compileTable(validateConfig(withMemo({ size: 0 }), {}), 1).routes[0].flags!.memo).toBeNull();
    expect(compileTable(validateConfig(withMemo({ size: 100 }), {}), 1).routes[0].flags!.memo!.size).toBe(100);
  });

  it('refuses a size that is not 0 or 2..65536, and unknown fields, with their paths', () => {
    expect(problems(withMemo({ size: 1 }))).toEqual(['flags.memo.size: must be 0 (no memo) or at least 2']);
    expect(problems(withMemo({ size: -1 }))).toEqual(['flags.memo.size: must be 0 (no memo) or at least 2']);
    expect(problems(withMemo({ size: 2.5 }))).toEqual(['flags.memo.size: must be integer (got float)']);
    expect(problems(withMemo({ size: 70000 }))[0]).toMatch(/^flags\.memo\.size: must be at most 65536/);
    expect(problems(withMemo({ entries: 10 }))[0]).toMatch(/^flags\.memo/);
  });
});
