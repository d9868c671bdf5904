/**
 * Fleet-wide window counts on a real redis-server: three members push seeded traffic for the same seconds, and the
 * leader's window equals, exactly, the sum of the members' own windows (requests, failures, every latency bucket,
 * all and weight-placed traffic, mirror comparisons), including counts that reached a member after its second had
 * been flushed once. Only complete seconds are read, and a Redis that cannot be read gives null.
 */
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { FleetCounts } from '../../src/fleet/fleet-counts.js';
import { createMetrics, DURATION_BUCKETS, SeriesBook, type GuardCounts } from '../../src/metrics/metrics.js';
import type { WindowSnapshot, WindowTraffic } from '../../src/metrics/rolling-window.js';
import { MirrorBook } from '../../src/mirror/mirror-records.js';
import type { Version } from '../../src/routing/table.js';
import { redisForFile, type TestRedisClient } from '../helpers/redis.js';
import { seededRandom as seeded } from '../helpers/seeded-random.js';

const silent = { debug() {}, info() {}, warn() {}, error() {} } as never;

const redis = redisForFile();
const client = (): Promise<TestRedisClient> => redis.client();

interface Member {
  readonly series: SeriesBook;
  readonly mirrors: MirrorBook;
  readonly counts: FleetCounts;
  clock: number;
}

/** Routes with no rollout: their window counts and ejections are not pushed. */
const unwatched = new Set(['unwatched']);

/** A member's Redis client, whose commands fail while `failing` is set (a Redis that went away for a flush). */
interface FlakyClient {
  failing: boolean;
  sendCommand(args: string[]): Promise<unknown>;
}

async function flaky(): Promise<FlakyClient> {
  const real = await client();
  const wrapper: FlakyClient = {
    failing: false,
    sendCommand: (args) => (wrapper.failing ? Promise.reject(new Error('redis went away')) : real.sendCommand(args)),
  };
  return wrapper;
}

async function member(fleet: string, guards: GuardCounts[] = [], redisClient?: FlakyClient): Promise<Member> {
  const metrics = createMetrics(new Registry(), { processMetrics: false });
  const series = new SeriesBook(metrics);
  const mirrors = new MirrorBook(metrics);
  const m: Member = { series, mirrors, clock: 0, counts: null as never };
  (m as { counts: FleetCounts }).counts = new FleetCounts({
    client: redisClient ?? (await client()),
    fleet,
    series,
    mirrors,
    logger: silent,
    now: () => m.clock,
    guards: () => guards,
    include: (route) => !unwatched.has(route) && !route.startsWith('experiment'),
    guardrailed: (route) => route.startsWith('experiment'),
  });
  return m;
}

function guard(route: string, ejections = 0, upstream = 'canary'): { -readonly [K in keyof GuardCounts]: GuardCounts[K] } {
  return { route, upstream, retries: { ok: 0, failed: 0, budget_exhausted: 0 }, ejections, ejected: false };
}

/** Seeded traffic for `route` over seconds [from, to]: a few dozen requests a second per version, some failing. */
function traffic(m: Member, route: string, from: number, to: number, random: () => number): void {
  for (let second = from; second <= to; second++) {
    for (const version of ['stable', 'canary'] as const) {
      const n = Math.floor(random() * 40);
      for (let i = 0; i < n; i++) {
        const failed = random() < (version === 'canary' ? 0.2 : 0.05);
        const bucket = Math.floor(random() * (DURATION_BUCKETS.length + 1));
        m.series.get(route, version).window.observe(second * 1000 + Math.floor(random() * 1000), failed, bucket, random() < 0.8);
      }
    }
    const compared = Math.floor(random() * 5);
    const records = m.mirrors.recordsFor(route, 0);
    for (let i = 0; i < compared; i++) records.recordComparison(random() < 0.7 ? [] : [{ field: 'status', primary: 200, shadow: 500 } as never], null);
  }
}

function sum(snapshots: WindowSnapshot[]): Omit<WindowSnapshot, 'seconds'> {
  return {
    requests: snapshots.reduce((total, s) => total + s.requests, 0),
    errors: snapshots.reduce((total, s) => total + s.errors, 0),
    buckets: snapshots[0].buckets.map((_, i) => snapshots.reduce((total, s) => total + s.buckets[i], 0)),
  };
}

describe('fleet counts', () => {
  it("three members' seeded traffic: the leader's window equals the sum of the members' own windows exactly", async () => {
    const fleet = 'sum';
    const route = 'checkout';
    const members = [await member(fleet), await member(fleet), await member(fleet)];
    const t0 = 1_790_000_000;
    const randoms = members.map((_, index) => seeded(1000 + index));
    // Ten seconds of traffic; each member flushes about once a second, at its own offset into the next second.
    for (let second = t0; second <= t0 + 9; second++) {
      for (const [index, m] of members.entries()) {
        traffic(m, route, second, second, randoms[index]);
        m.clock = (second + 1) * 1000 + 100 * index;
        expect(await m.counts.flush()).toBe(true);
      }
    }
    // Late counts for the last two seconds (a supervisor's workers ship theirs about once a second): a second flush
    // adds only the difference.
    for (const [index, m] of members.entries()) {
      traffic(m, route, t0 + 8, t0 + 9, seeded(2000 + index));
      m.clock = (t0 + 11) * 1000 + 50 * index;
      expect(await m.counts.flush()).toBe(true);
    }
    // A flush with nothing new sends nothing more.
    expect(await members[0].counts.flush()).toBe(true);

    const leader = members[1].counts;
    const readAt = (t0 + 12) * 1000 + 1; // newest complete second: t0 + 9
    expect(leader.newestCompleteSecond(readAt)).toBe(t0 + 9);
    let compared = 0;
    for (const seconds of [10, 4, 1]) {
      for (const version of ['stable', 'canary'] as Version[]) {
        for (const mode of ['all', 'weighted'] as WindowTraffic[]) {
          const own = members.map((m) => m.series.get(route, version).window.snapshot((t0 + 9) * 1000 + 999, seconds, mode));
          const fleetWindow = await leader.window(route, version, readAt, seconds, mode);
          expect(fleetWindow, `${version} ${mode} ${seconds}s`).toEqual({ seconds, ...sum(own) });
          compared += fleetWindow!.requests;
        }
      }
    }
    expect(compared).toBeGreaterThan(1000);
    // Mirror comparisons carry no second of their own: each flush books their growth to the last completed second,
    // so the late flush's share sits in t0 + 10. Over t0 .. t0 + 10, each member's cumulative counts.
    const mirror = await leader.mirror(route, readAt + 1000, 11);
    const own = members.map((m) => m.mirrors.get(route)!.counts());
    expect(mirror).toEqual({ compared: own.reduce((t, c) => t + c.compared, 0), matched: own.reduce((t, c) => t + c.matched, 0) });
    expect(mirror!.compared).toBeGreaterThan(0);
  });

  it('the leader reads only complete seconds: the current second and the last flush period plus grace are left out', async () => {
    const fleet = 'complete';
    const route = 'r';
    const m = await member(fleet);
    const t0 = 1_790_000_100;
    for (let second = t0; second <= t0 + 4; second++) m.series.get(route, 'canary').window.observe(second * 1000 + 10, false, 0, false);
    m.clock = (t0 + 5) * 1000;
    await m.counts.flush();
    // At t0+5.0 s, with 1 s flushes and 1 s grace: seconds up to t0+2 are complete.
    expect(m.counts.newestCompleteSecond((t0 + 5) * 1000)).toBe(t0 + 2);
    expect(await m.counts.window(route, 'canary', (t0 + 5) * 1000, 10, 'all')).toMatchObject({ seconds: 10, requests: 3 });
    expect(await m.counts.window(route, 'canary', (t0 + 7) * 1000, 10, 'all')).toMatchObject({ requests: 5 });
    expect(await m.counts.window(route, 'canary', (t0 + 7) * 1000, 10, 'weighted')).toMatchObject({ requests: 0 });
    expect(await m.counts.window(route, 'stable', (t0 + 7) * 1000, 10, 'all')).toMatchObject({ requests: 0, errors: 0 });
    // The still-filling second is never pushed.
    m.series.get(route, 'canary').window.observe((t0 + 5) * 1000 + 500, true, 1, false);
    m.clock = (t0 + 5) * 1000 + 600;
    await m.counts.flush();
    expect(await m.counts.window(route, 'canary', (t0 + 8) * 1000, 10, 'all')).toMatchObject({ requests: 5, errors: 0 });
    m.clock = (t0 + 6) * 1000 + 1;
    await m.counts.flush();
    expect(await m.counts.window(route, 'canary', (t0 + 8) * 1000, 10, 'all')).toMatchObject({ requests: 6, errors: 1 });
  });

  it("every member's canary ejections reach the leader's window, booked to the second before each flush", async () => {
    const fleet = 'ejections';
    // Member a has two guards for the route for a while (its canary renamed by a reload, the old one still draining).
    const aGuards = [guard('api', 2, 'v1'), guard('api', 0, 'v2'), guard('unwatched', 4)];
    const bGuards = [guard('api')];
    const a = await member(fleet, aGuards);
    const b = await member(fleet, bGuards);
    const t0 = 1_790_000_300;
    a.clock = t0 * 1000 + 10; // the 2 ejections a had before its first flush: booked to t0 - 1
    await a.counts.flush();
    bGuards[0].ejections = 1;
    b.clock = (t0 + 2) * 1000 + 10; // to t0 + 1
    await b.counts.flush();
    aGuards[1].ejections = 3;
    a.clock = (t0 + 4) * 1000 + 10; // to t0 + 3
    await a.counts.flush();
    // The old guard dropped: a's total falls from 5 to 3, its 2 already pushed. Then one more ejection: 1 new.
    aGuards.splice(0, 1);
    a.clock = (t0 + 5) * 1000 + 10;
    await a.counts.flush();
    aGuards[0].ejections = 4;
    a.clock = (t0 + 6) * 1000 + 10; // to t0 + 5
    await a.counts.flush();
    const readAt = (newest: number) => (t0 + newest + 3) * 1000; // newest complete second: t0 + newest
    expect(b.counts.newestCompleteSecond(readAt(5))).toBe(t0 + 5);
    expect(await b.counts.ejections('api', readAt(5), 7)).toEqual({ count: 2 + 1 + 3 + 1, throughSecond: t0 + 5 });
    expect(await b.counts.ejections('api', readAt(1), 2)).toEqual({ count: 1, throughSecond: t0 + 1 }); // t0, t0 + 1
    expect(await b.counts.ejections('api', readAt(4), 2)).toEqual({ count: 3, throughSecond: t0 + 4 }); // t0 + 3, t0 + 4
    expect(await b.counts.ejections('api', readAt(5), 1)).toEqual({ count: 1, throughSecond: t0 + 5 }); // t0 + 5
    // Windows overlap: a window counts only the seconds after the newest one the previous window counted.
    expect(await b.counts.ejections('api', readAt(5), 7, t0 + 1)).toEqual({ count: 3 + 1, throughSecond: t0 + 5 });
    expect(await b.counts.ejections('api', readAt(5), 7, t0 + 5)).toEqual({ count: 0, throughSecond: t0 + 5 });
    expect(await b.counts.ejections('unwatched', readAt(5), 7)).toMatchObject({ count: 0 }); // no rollout: not pushed
  });

  it('ejections: a renamed canary\'s first one counts when the old guard goes in the same period; a route that gains a rollout pushes only later ones; a failed flush loses none', async () => {
    const fleet = 'ejections-edges';
    const redis = await flaky();
    const guards = [guard('api', 5, 'v1'), guard('late', 3)];
    unwatched.add('late');
    const m = await member(fleet, guards, redis);
    const t0 = 1_790_000_400;
    const flushAt = async (second: number) => {
      m.clock = second * 1000 + 10;
      return m.counts.flush();
    };
    await flushAt(t0); // api's 5 to t0 - 1; late's 3 only noted
    // Within one flush period the old canary's guard goes and the new one ejects: the sum falls 5 -> 1, yet 1 is new.
    guards.splice(0, 1, guard('api', 1, 'v2'));
    await flushAt(t0 + 2); // to t0 + 1
    // `late` gains a rollout, then ejects twice more: 2, not 5.
    unwatched.delete('late');
    guards[1]!.ejections = 5;
    await flushAt(t0 + 4); // to t0 + 3
    // Redis goes away for one flush: the ejection in it goes out with the next.
    guards[0]!.ejections = 2;
    redis.failing = true;
    expect(await flushAt(t0 + 6)).toBe(false);
    redis.failing = false;
    expect(await flushAt(t0 + 8)).toBe(true); // to t0 + 7
    const readAt = (t0 + 10) * 1000; // newest complete second: t0 + 7
    expect(await m.counts.ejections('api', readAt, 9)).toEqual({ count: 5 + 1 + 1, throughSecond: t0 + 7 });
    expect(await m.counts.ejections('api', readAt, 2)).toEqual({ count: 1, throughSecond: t0 + 7 }); // the retried one
    expect(await m.counts.ejections('late', readAt, 9)).toEqual({ count: 2, throughSecond: t0 + 7 });
  });

  it("an experiment route's per-minute counts: the fleet's guardrail window is the members' own windows summed", async () => {
    const fleet = 'guardrails';
    const route = 'experiment-checkout';
    const members = [await member(fleet), await member(fleet)];
    const randoms = members.map((_, index) => seeded(3000 + index));
    const minute0 = 29_833_340; // a whole minute: t0 below is its first second
    const t0 = minute0 * 60;
    // 150 s of traffic over three minutes, flushed every second by each member, as FlushLoop does.
    for (let second = t0; second < t0 + 150; second++) {
      for (const [index, m] of members.entries()) {
        traffic(m, route, second, second, randoms[index]);
        traffic(m, 'plain', second, second, randoms[index]);
        m.clock = (second + 1) * 1000 + 100 * index;
        expect(await m.counts.flush()).toBe(true);
      }
    }
    const nowMs = (t0 + 150) * 1000 + 500;
    for (const version of ['stable', 'canary'] as const) {
      const fleetWindow = await members[0].counts.guardrailWindow(route, version, nowMs, 140);
      // The minutes holding the last 140 s: from t0 (its minute's start) to now.
      const own = members.map((m) => m.series.get(route, version).window.snapshot(nowMs, 151, 'all'));
      expect(fleetWindow).toEqual({ seconds: 151, ...sum(own) });
      expect(fleetWindow!.requests).toBeGreaterThan(1000);
      // Only the last minute: from t0 + 120 s.
      const last = await members[1].counts.guardrailWindow(route, version, nowMs, 10);
      const ownLast = members.map((m) => m.series.get(route, version).window.snapshot(nowMs, 31, 'all'));
      expect(last).toEqual({ seconds: 31, ...sum(ownLast) });
    }
    // Kept for the ten minutes and more, not the per-second windows' 120 s; a route without an experiment has none.
    const probe = await client();
    const ttl = await probe.ttl(`sg:{${fleet}}:g:${route}:${minute0 + 2}`);
    expect(ttl).toBeGreaterThan(800);
    expect(ttl).toBeLessThanOrEqual(900);
    expect(await probe.exists(`sg:{${fleet}}:w:${route}:${t0}`)).toBe(0);
    expect(await members[0].counts.guardrailWindow('plain', 'stable', nowMs, 140)).toMatchObject({ requests: 0 });
    expect(await members[0].counts.window('plain', 'stable', nowMs, 5)).toMatchObject({ requests: expect.any(Number) });
  });

  it('keys expire after retainSeconds, and a Redis that cannot be read gives null', async () => {
    const fleet = 'expiry';
    const m = await member(fleet);
    const t0 = 1_790_000_200;
    m.series.get('r', 'stable').window.observe(t0 * 1000, false, 0, false);
    m.clock = (t0 + 1) * 1000;
    await m.counts.flush();
    const probe = await client();
    const ttl = await probe.ttl(`sg:{${fleet}}:w:r:${t0}`);
    expect(ttl).toBeGreaterThan(100);
    expect(ttl).toBeLessThanOrEqual(120);

    const broken = await client();
    const reader = new FleetCounts({ client: broken, fleet, series: m.series, logger: silent });
    expect(await reader.window('r', 'stable', (t0 + 4) * 1000, 5)).toMatchObject({ requests: 1 });
    broken.destroy();
    expect(await reader.window('r', 'stable', (t0 + 4) * 1000, 5)).toBeNull();
    expect(await reader.mirror('r', (t0 + 4) * 1000, 5)).toBeNull();
  });
});
