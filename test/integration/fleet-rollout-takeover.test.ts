/**
 * The lease, the fleet counts and the rollout runners together on a real redis-server: two members whose traffic
 * is counted apart, one stored status (one Controller, standing in for the fleet's shared document) whose rollout
 * writes are checked against the fleet's epoch. The leader steps on fleet windows; its Redis connection dies
 * mid-rollout; the other member takes over within the lease, continues from the stored step with a higher epoch,
 * and promotes. One leader acts at a time: every event of the first precedes every event of the second.
 */
import { Writable } from 'node:stream';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { validateConfig } from '../../src/config/load.js';
import { Controller, type ChangeResult } from '../../src/control/controller.js';
import { EventLog, type ControlEvent } from '../../src/control/event-log.js';
import { FencedError } from '../../src/fleet/errors.js';
import { createFleetLeadership } from '../../src/fleet/rollout-fleet.js';
import { createLogger } from '../../src/log.js';
import { createMetrics, SeriesBook } from '../../src/metrics/metrics.js';
import { MirrorBook } from '../../src/mirror/mirror-records.js';
import { UpstreamPools } from '../../src/proxy/upstream-pools.js';
import { RolloutManager } from '../../src/rollout/rollout-manager.js';
import type { RolloutStatus } from '../../src/rollout/machine.js';
import { TableStore } from '../../src/state/table-store.js';
import { redisForFile, type TestRedisClient } from '../helpers/redis.js';

const FLEET = 'takeover-rollout';
const RAW = {
  upstreams: { s: 'http://127.0.0.1:1', c: 'http://127.0.0.1:2' },
  routes: [
    {
      name: 'api',
      stable: 's',
      canary: 'c',
      weight: 0,
      rollout: { interval: '1s', stepWeights: [20, 50, 80], threshold: 2, minRequests: 20, analysis: { traffic: 'all' }, checks: [{ metric: 'success-rate', min: 95 }] },
    },
  ],
};
// With the lease's defaults for it, a leader renews every 1 s and stops acting 2.4 s after a renewal it sent, so
// only an event-loop stall of 1.4 s between renewals makes it give up early (with a 1 s lease, 467 ms did), which
// a.leaderFlags below would show. Once its Redis connection is gone, a cannot read the fleet windows, so it takes no
// step in the 2.4 s it still leads.
const LEASE_MS = 3_000;
const CHECK_EPOCH = `if tonumber(redis.call('GET', KEYS[1]) or '0') ~= tonumber(ARGV[1]) then return 'fenced' end return 'ok'`;

const redis = redisForFile();
const client = (): Promise<TestRedisClient> => redis.client();

async function until(what: string, accept: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!accept()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('fleet rollout takeover', () => {
  it('the leader dies mid-rollout: the other member continues from the stored step with a higher epoch and promotes', async () => {
    const logger = createLogger({ level: 'silent', destination: new Writable({ write: (_c, _e, cb) => cb() }) });
    const config = validateConfig(RAW);
    const metrics = createMetrics(new Registry(), { processMetrics: false });
    const pools = new UpstreamPools();
    pools.update(config);
    const checker = await client();
    const writes: Array<{ epoch: number | undefined; weight: number | undefined }> = [];
    class FencedController extends Controller {
      override async applyRollout(route: string, rollout: unknown, change: { weight?: number }, options?: { fenceEpoch?: number }): Promise<ChangeResult> {
        if (options?.fenceEpoch !== undefined) {
          const verdict = await checker.sendCommand(['EVAL', CHECK_EPOCH, '1', `sg:{${FLEET}}:epoch`, String(options.fenceEpoch)]);
          if (String(verdict) !== 'ok') throw new FencedError(options.fenceEpoch, null);
        }
        writes.push({ epoch: options?.fenceEpoch, weight: change.weight });
        return super.applyRollout(route, rollout, change);
      }
    }
    const controller = new FencedController({ config, configPath: null, pools, metrics, series: new SeriesBook(metrics), mirror: { book: new MirrorBook(metrics), logger, random: Math.random }, events: new EventLog(), stateFile: null, logger });
    const store = new TableStore(await controller.initialTable());
    controller.attach(store);

    const member = async (id: string) => {
      const redisClient = await client();
      const series = new SeriesBook(metrics);
      const mirrors = new MirrorBook(metrics);
      const events = new EventLog();
      const leaderFlags: boolean[] = [];
      const leadership = createFleetLeadership({ client: redisClient, fleet: FLEET, memberId: id, leaseMs: LEASE_MS, series, mirrors, logger, onLeader: (leading) => leaderFlags.push(leading) });
      const { lease, counts } = leadership;
      const manager = new RolloutManager({ controller, store, series, mirrors, metrics, events, logger, now: () => new Date(), fleet: leadership.rolloutFleet });
      // This member's share of the traffic: healthy on both versions.
      const traffic = setInterval(() => {
        for (let i = 0; i < 10; i++) {
          series.get('api', 'stable').window.observe(Date.now(), false, 2, true);
          series.get('api', 'canary').window.observe(Date.now(), false, 2, true);
        }
      }, 50);
      counts.start();
      return { id, redisClient, leadership, lease, counts, manager, events, traffic, leaderFlags };
    };
    const a = await member('a');
    const b = await member('b');
    try {
      // Counts first (the leader reads seconds at least two old), then the lease: a leads.
      await new Promise((resolve) => setTimeout(resolve, 3_000));
      a.leadership.start(a.manager);
      await until('a leading', () => a.lease.leading(), 3_000);
      b.leadership.start(b.manager);
      await a.manager.sync(config);
      await b.manager.sync(config);
      const stored = () => controller.rolloutState('api') as RolloutStatus | undefined;
      await until('step 2 (50 %) by a', () => (stored()?.step ?? -1) >= 1, 8_000);
      expect(b.lease.leading()).toBe(false);

      // a's Redis connection dies (a partition, or the process gone): its lease stops acting on its own clock,
      // and b takes over as the key expires.
      const killedAt = Date.now();
      a.redisClient.destroy();
      clearInterval(a.traffic);
      await until('b leading', () => b.lease.leading(), LEASE_MS + 3_000);
      const takeoverMs = Date.now() - killedAt;
      console.log(`fleet rollout takeover: ${takeoverMs} ms after the leader's connection died (lease ${LEASE_MS} ms)`);
      // The key outlives a's last renewal by the lease, and b tries again 5 ms after it expires (it polls at the
      // key's remaining time, at most every second): about LEASE_MS + 5 ms and a Redis round trip at worst. The other
      // ~995 ms are for timers that fire late on a loaded 2-core CI machine; a takeover that waited out a second
      // lease, or never came, still fails it.
      expect(takeoverMs).toBeLessThan(LEASE_MS + 1_000);
      expect(a.lease.leading()).toBe(false);
      const takeoverStep = stored()!.step;
      expect(takeoverStep).toBeGreaterThanOrEqual(1);

      await until('promotion by b', () => stored()?.phase === 'Succeeded', 10_000);
      expect(store.current.table.routes[0].weight).toBe(100);

      const stepsOf = (events: EventLog): ControlEvent[] => events.list({ route: 'api' }).reverse().filter((e) => e.action.startsWith('rollout.'));
      const byA = stepsOf(a.events);
      const byB = stepsOf(b.events);
      expect(byA.length).toBeGreaterThan(0);
      expect(byB.length).toBeGreaterThan(0);
      const epochA = (byA[0].after as { epoch: number }).epoch;
      const epochB = (byB[0].after as { epoch: number }).epoch;
      expect(byA.every((e) => (e.after as { epoch: number }).epoch === epochA)).toBe(true);
      expect(byB.every((e) => (e.after as { epoch: number }).epoch === epochB)).toBe(true);
      expect(epochB).toBeGreaterThan(epochA);
      // One leader at a time, and b continued where a stopped: its first step is the one after the stored step.
      expect(Date.parse(byA.at(-1)!.time)).toBeLessThanOrEqual(Date.parse(byB[0].time));
      expect(byB[0]).toMatchObject({ action: 'rollout.step', after: { step: takeoverStep + 2 } });
      // The weights written never went back nor skipped: the start weight, 20, 50, 80, then the promotion's 100.
      expect(writes.map((w) => w.weight).filter((w) => w !== undefined)).toEqual([0, 20, 50, 80, 100]);
      expect(writes.every((w) => w.epoch === epochA || w.epoch === epochB)).toBe(true);
      expect(a.leaderFlags).toEqual([true, false]);
      expect(b.leaderFlags).toEqual([true]);
    } finally {
      for (const m of [a, b]) {
        clearInterval(m.traffic);
        m.manager.stop();
        await m.leadership.stop();
      }
      await pools.close();
    }
  });
});
