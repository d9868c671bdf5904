/**
 * Fleet-wide SLO counts on a real redis-server: members add their per-minute requests and errors (both versions)
 * in their window flushes, and the leader's counts over any span equal, exactly, the sum of what the members
 * observed, across midnight (two hour hashes). Hour hashes stay small (Redis's listpack encoding) and expire once
 * the SLO window no longer covers them; an hour that can no longer change is read once; a Redis that cannot be read
 * gives null.
 */
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { FleetCounts } from '../../src/fleet/fleet-counts.js';
import { FleetSloReader, sloKey } from '../../src/fleet/fleet-slo.js';
import { createMetrics, SeriesBook } from '../../src/metrics/metrics.js';
import { redisForFile, type TestRedisClient } from '../helpers/redis.js';
import { seededRandom } from '../helpers/seeded-random.js';
import { startRolloutHarness } from '../helpers/rollout-manager.js';
import type { RolloutFleet } from '../../src/rollout/rollout-runner.js';

const silent = { debug() {}, info() {}, warn() {}, error() {} } as never;
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

const redis = redisForFile();
const client = (): Promise<TestRedisClient> => redis.client();

async function member(fleet: string, windowMs: number) {
  const series = new SeriesBook(createMetrics(new Registry(), { processMetrics: false }));
  const m = { series, clock: 0, counts: null as unknown as FleetCounts, requests: new Map<number, [number, number]>() };
  m.counts = new FleetCounts({ client: await client(), fleet, series, logger: silent, now: () => m.clock, sloWindow: (route) => (route === 'api' ? windowMs : null) });
  return m;
}

describe('fleet SLO counts', () => {
  it("three members' traffic across midnight: the leader's counts over every span are the exact sum", async () => {
    const fleet = 'slo-sum';
    const members = [await member(fleet, 30 * DAY), await member(fleet, 30 * DAY), await member(fleet, 30 * DAY)];
    // From 23:58:30 to 00:02:30 UTC, 20 seconds of traffic every minute (the flush looks back only 5 s, so seconds
    // are flushed as they complete, as the timer does).
    const midnight = Date.parse('2026-12-02T00:00:00Z');
    const random = seededRandom(7);
    const observed: Array<{ at: number; sloError: boolean }> = [];
    for (let minute = -2; minute <= 2; minute++) {
      for (let s = 0; s < 20; s++) {
        const second = (midnight + minute * MINUTE) / 1000 + 30 + s;
        for (const [index, m] of members.entries()) {
          const n = Math.floor(random() * 12);
          for (let i = 0; i < n; i++) {
            const failed = random() < 0.1 * (index + 1);
            // What the SLO counts (slo.sli.errors) need not be what the checks count: the fleet sums the former.
            const sloError = failed !== (i % 5 === 0);
            m.series.get('api', i % 3 === 0 ? 'canary' : 'stable').window.observe(second * 1000 + i, failed, 1, true, sloError);
            observed.push({ at: second * 1000, sloError });
          }
          // Another route, without an SLO: nothing of it goes to the SLO hashes.
          m.series.get('other', 'stable').window.observe(second * 1000, true, 1, true);
          m.clock = (second + 1) * 1000 + 100 * index;
          expect(await m.counts.flush()).toBe(true);
        }
      }
    }
    const nowMs = midnight + 2 * MINUTE + 59_000;
    const reader = new FleetSloReader({ client: await client(), fleet, logger: silent });
    const countsOver = await reader.countsOver('api', nowMs, 30 * DAY);
    expect(countsOver).not.toBeNull();
    for (const span of [30 * DAY, HOUR, 3 * MINUTE, 2 * MINUTE, MINUTE]) {
      // The ledger's rule: every minute that overlaps (now − span, now].
      const from = (Math.floor((nowMs - span) / MINUTE) + 1) * MINUTE;
      const inSpan = observed.filter((o) => o.at >= from);
      expect(countsOver!(span), `span ${span}`).toEqual({ requests: inSpan.length, errors: inSpan.filter((o) => o.sloError).length });
    }
    expect(countsOver!(30 * DAY).requests).toBeGreaterThan(1000);
    const probe = await client();
    const hour = Math.floor(midnight / HOUR);
    expect(await probe.exists([sloKey(fleet, 'api', hour - 1), sloKey(fleet, 'api', hour)])).toBe(2);
    expect(await probe.exists(sloKey(fleet, 'other', hour))).toBe(0);
    expect(await probe.sendCommand(['OBJECT', 'ENCODING', sloKey(fleet, 'api', hour)])).toBe('listpack');
    // Kept for the window and two hours more.
    const ttl = await probe.ttl(sloKey(fleet, 'api', hour));
    expect(ttl).toBeGreaterThan(30 * 86_400 + 7200 - 60);
    expect(ttl).toBeLessThanOrEqual(30 * 86_400 + 7200);
  });

  // Before: `include` (routes with a rollout) held back a route's SLO counts too; without a rollout it had none.
  it('a route with slo: and no rollout: its SLO counts are pushed, its window counts are not', async () => {
    const fleet = 'slo-no-rollout';
    const series = new SeriesBook(createMetrics(new Registry(), { processMetrics: false }));
    let clock = Date.parse('2026-12-03T10:00:00Z');
    const counts = new FleetCounts({
      client: await client(),
      fleet,
      series,
      logger: silent,
      now: () => clock,
      include: (route) => route === 'canaried',
      sloWindow: (route) => (route === 'idle' || route === 'canaried' ? DAY : null),
    });
    for (let s = 0; s < 3; s++) {
      // A worker's late share of a second: its delta goes out on the next flush, once.
      for (const route of ['idle', 'canaried', 'plain']) for (let i = 0; i < 4; i++) series.get(route, 'stable').window.observe(clock + i, i === 0, 1, true, i === 0);
      clock += 1000;
      expect(await counts.flush()).toBe(true);
      series.get('idle', 'stable').window.observe(clock - 1000 + 500, false, 1, true, false);
    }
    clock += 1000;
    expect(await counts.flush()).toBe(true);
    const reader = new FleetSloReader({ client: await client(), fleet, logger: silent });
    expect((await reader.countsOver('idle', clock, DAY))!(DAY)).toEqual({ requests: 15, errors: 3 });
    expect((await reader.countsOver('canaried', clock, DAY))!(DAY)).toEqual({ requests: 12, errors: 3 });
    const probe = await client();
    expect(await probe.keys(`sg:{${fleet}}:slo:plain:*`)).toEqual([]);
    expect(await probe.keys(`sg:{${fleet}}:w:idle:*`)).toEqual([]);
    expect(await probe.keys(`sg:{${fleet}}:w:plain:*`)).toEqual([]);
    expect((await probe.keys(`sg:{${fleet}}:w:canaried:*`)).length).toBe(3);
  });

  it('a finished hour is read once; the current hour is read again; an unreadable Redis gives null', async () => {
    const fleet = 'slo-cache';
    const m = await member(fleet, 7 * DAY);
    const today = Date.parse('2026-12-03T00:00:00Z');
    for (const at of [today - HOUR, today + MINUTE]) {
      m.series.get('api', 'stable').window.observe(at, true, 1, true);
      m.clock = at + 1500;
      await m.counts.flush();
    }
    const reader = new FleetSloReader({ client: await client(), fleet, logger: silent });
    const nowMs = today + 10 * MINUTE; // the hour before ended more than FINAL_AFTER_MS ago
    expect((await reader.countsOver('api', nowMs, 7 * DAY))!(7 * DAY)).toEqual({ requests: 2, errors: 2 });
    const probe = await client();
    await probe.del([sloKey(fleet, 'api', Math.floor(today / HOUR) - 1), sloKey(fleet, 'api', Math.floor(today / HOUR))]);
    // The finished hour's counts come from the first read; the current hour's hash is read again (now gone).
    expect((await reader.countsOver('api', nowMs, 7 * DAY))!(7 * DAY)).toEqual({ requests: 1, errors: 1 });

    const broken = await client();
    const unreadable = new FleetSloReader({ client: broken, fleet, logger: silent });
    broken.destroy();
    expect(await unreadable.countsOver('api', nowMs, 7 * DAY)).toBeNull();
  });

  it('kept hours of a route that left the config are dropped (read again, not kept forever)', async () => {
    const fleet = 'slo-prune';
    const inForce = new Set(['api', 'old']);
    const c = await client();
    const reads: string[] = [];
    const counting = { sendCommand: (args: string[]) => (args[0] === 'HGETALL' && reads.push(args[1]), c.sendCommand(args)) };
    const reader = new FleetSloReader({ client: counting, fleet, logger: silent, sloWindow: (route) => (inForce.has(route) ? DAY : null) });
    const nowMs = Date.parse('2026-12-05T12:10:00Z');
    const readsOf = async (route: string) => {
      reads.length = 0;
      expect(await reader.countsOver(route, nowMs, DAY)).not.toBeNull();
      return reads.length;
    };
    expect(await readsOf('old')).toBe(25);
    expect(await readsOf('old')).toBe(1); // the 24 finished hours are kept
    inForce.delete('old');
    await readsOf('api');
    inForce.add('old');
    expect(await readsOf('old')).toBe(25); // dropped while it was out of the config
  });

  it('while the fleet SLO counts cannot be read the leader paces by its own, with one event each way', async () => {
    const fleet = 'slo-fallback';
    let now = Date.parse('2026-12-04T10:00:30Z');
    let counts: FleetCounts | null = null;
    let reader = new FleetSloReader({ client: await client(), fleet, logger: silent });
    const leader: RolloutFleet = {
      leading: () => true,
      epoch: () => 1,
      maxStalenessMs: 10 * DAY,
      window: (route, version, nowMs, seconds, traffic) => counts!.window(route, version, nowMs, seconds, traffic),
      slo: (route, nowMs, windowMs) => reader.countsOver(route, nowMs, windowMs),
    };
    const harness = await startRolloutHarness(
      {
        upstreams: { s: 'http://127.0.0.1:1', c: 'http://127.0.0.1:2' },
        routes: [{ name: 'api', stable: 's', canary: 'c', weight: 0, slo: { objective: 99.9, window: '30d' }, rollout: { interval: '10m', stages: [{ name: 'ring', weight: 10, bake: '1d' }], pacing: { fastBurn: 'hold' } } }],
      },
      { now: () => now, fleet: leader },
    );
    counts = new FleetCounts({ client: await client(), fleet, series: harness.series, logger: silent, now: () => now });
    try {
      for (let i = 0; i < 400 && harness.runner('api').status.phase !== 'Progressing'; i++) await new Promise((r) => setTimeout(r, 5));
      expect(harness.runner('api').status.phase).toBe('Progressing');
      // This member's own traffic: 5 % failing, a burn of 50.
      for (let i = 0; i < 200; i++) harness.series.get('api', 'stable').window.observe(now - 3000 + i, i % 20 === 0, 1, true);
      // The fleet's: 1 of 1000 failing, a burn of 1.
      const probe = await client();
      const minute = Math.floor(now / MINUTE);
      await probe.hSet(sloKey(fleet, 'api', Math.floor(now / HOUR)), { [`${minute}:r`]: '1000', [`${minute}:e`]: '1' });
      const broken = await client();
      reader = new FleetSloReader({ client: broken, fleet, logger: silent });
      broken.destroy();
      const burn1h = async () => /splitgate_slo_burn_rate\{route="api",window="1h"\} (\S+)/.exec(await harness.metrics.registry.metrics())?.[1];
      const sloEvents = () => harness.events.list({ route: 'api' }).filter((e) => e.action.startsWith('slo.')).map((e) => e.action);

      now += 1000;
      await harness.runner('api').tick();
      expect(await burn1h()).toBe('50');
      expect(harness.runner('api').status.message).toContain('paced at 10 %: fast burn: error budget burning at 50×');
      now += 1000;
      await harness.runner('api').tick();
      expect(sloEvents()).toEqual(['slo.local_counts']);

      reader = new FleetSloReader({ client: await client(), fleet, logger: silent });
      now += 1000;
      await harness.runner('api').tick();
      expect(await burn1h()).toBe('1');
      expect(sloEvents().sort()).toEqual(['slo.fleet_counts', 'slo.local_counts']);
    } finally {
      await harness.close();
    }
  });
});
