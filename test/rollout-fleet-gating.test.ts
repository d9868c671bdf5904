/**
 * Rollout gating in a fleet, with a fake fleet (the lease and counts are tested on Redis elsewhere) and two members
 * sharing one Controller, as two replicas share the stored status: only the leader steps, a follower follows the
 * stored status, a takeover continues from the stored step and weight, each step is fenced with the leader's epoch
 * and a fenced write stops the runner at once, no step while the fleet counts are unreadable, and a rollout nobody
 * moved for longer than maxStaleness falls back to stable on every member.
 */
import { Writable } from 'node:stream';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { validateConfig } from '../src/config/load.js';
import type { Config } from '../src/config/schema.js';
import { Controller, type ChangeResult } from '../src/control/controller.js';
import { EventLog } from '../src/control/event-log.js';
import { FencedError } from '../src/fleet/errors.js';
import { createLogger } from '../src/log.js';
import { createMetrics, DURATION_BUCKETS, SeriesBook } from '../src/metrics/metrics.js';
import type { WindowSnapshot } from '../src/metrics/rolling-window.js';
import { MirrorBook } from '../src/mirror/mirror-records.js';
import { UpstreamPools } from '../src/proxy/upstream-pools.js';
import { RolloutManager } from '../src/rollout/rollout-manager.js';
import type { RolloutFleet } from '../src/rollout/rollout-runner.js';
import { TableStore } from '../src/state/table-store.js';

const RAW = {
  upstreams: { s: 'http://127.0.0.1:1', c: 'http://127.0.0.1:2' },
  routes: [
    {
      name: 'api',
      stable: 's',
      canary: 'c',
      weight: 0,
      // A 10 min interval: the runners' own timers never fire during a test; the test ticks them.
      rollout: { interval: '10m', stepWeights: [10, 30, 60], threshold: 2, minRequests: 10, analysis: { traffic: 'all' }, checks: [{ metric: 'success-rate', min: 95 }] },
    },
  ],
};

/** The fleet's current epoch, as the store's fencing script sees it. */
let fleetEpoch = 1;
const writes: Array<{ fenceEpoch: number | undefined; weight: number | undefined }> = [];
/** Each store write waits for the next of these, when one is queued: a slow Redis, released write by write. */
const storeGates: Array<Promise<void>> = [];
/** Redis is down: every store write fails once its gate opens. */
let storeDown = false;

/** Queues a gate for the next store write; returns its release. */
function holdNextWrite(): () => void {
  let release!: () => void;
  storeGates.push(new Promise<void>((resolve) => (release = resolve)));
  return release;
}

/** The store's side of the contract: a write carrying an epoch other than the fleet's is refused with SG_FENCED. */
class FencingController extends Controller {
  override async applyRollout(route: string, rollout: unknown, change: { weight?: number; kill?: boolean; releaseKill?: boolean }, options?: { fenceEpoch?: number }): Promise<ChangeResult> {
    writes.push({ fenceEpoch: options?.fenceEpoch, weight: change.weight });
    const gate = storeGates.shift();
    if (gate !== undefined) await gate;
    if (storeDown) throw new Error('the store is unreachable');
    if (options?.fenceEpoch !== undefined && options.fenceEpoch !== fleetEpoch) throw new FencedError(options.fenceEpoch, fleetEpoch);
    return super.applyRollout(route, rollout, change);
  }
}

const logger = createLogger({ level: 'silent', destination: new Writable({ write: (_c, _e, cb) => cb() }) });
const opened: Array<{ pools: UpstreamPools; managers: RolloutManager[] }> = [];

afterEach(async () => {
  for (const { pools, managers } of opened.splice(0)) {
    for (const manager of managers) manager.stop();
    await pools.close();
  }
  writes.length = 0;
  fleetEpoch = 1;
  storeGates.length = 0;
  storeDown = false;
});

function good(seconds: number): WindowSnapshot {
  const buckets = new Array<number>(DURATION_BUCKETS.length + 1).fill(0);
  buckets[2] = 200;
  return { seconds, requests: 200, errors: 0, buckets };
}

interface FakeFleet extends RolloutFleet {
  isLeading: boolean;
  myEpoch: number | null;
  readable: boolean;
  readonly fallbacks: Array<{ route: string; stale: boolean }>;
  readonly fencedAt: number[];
}

function fakeFleet(): FakeFleet {
  const fleet: FakeFleet = {
    isLeading: false,
    myEpoch: null,
    readable: true,
    fallbacks: [],
    fencedAt: [],
    maxStalenessMs: 60_000,
    leading: () => fleet.isLeading,
    epoch: () => (fleet.isLeading ? fleet.myEpoch : null),
    window: async (_route, _version, _now, seconds) => (fleet.readable ? good(seconds) : null),
    fallBack: (route, stale) => fleet.fallbacks.push({ route, stale }),
    fenced: (epoch) => fleet.fencedAt.push(epoch),
  };
  return fleet;
}

/** A fake fleet in which this member leads under epoch 1. */
function leaderFleet(): FakeFleet {
  const fleet = fakeFleet();
  fleet.isLeading = true;
  fleet.myEpoch = 1;
  return fleet;
}

async function shared(raw: unknown = RAW) {
  const config: Config = validateConfig(raw);
  const metrics = createMetrics(new Registry(), { processMetrics: false });
  const pools = new UpstreamPools();
  pools.update(config);
  const series = new SeriesBook(metrics);
  const mirrors = new MirrorBook(metrics);
  const controller = new FencingController({ config, configPath: null, pools, metrics, series, mirror: { book: mirrors, logger, random: Math.random }, events: new EventLog(), stateFile: null, logger });
  const store = new TableStore(await controller.initialTable());
  controller.attach(store);
  const clock = { now: Date.parse('2026-12-01T10:00:00Z') };
  const entry = { pools, managers: [] as RolloutManager[] };
  opened.push(entry);
  const member = async (fleet: FakeFleet) => {
    const events = new EventLog();
    const manager = new RolloutManager({ controller, store, series, mirrors, metrics, events, logger, now: () => new Date(clock.now), fleet });
    entry.managers.push(manager);
    await manager.sync(config);
    return { manager, events, runner: () => manager.get('api')! };
  };
  const weight = () => store.current.table.routes.find((r) => r.name === 'api')!.weight;
  return { controller, store, clock, member, weight };
}

async function until(what: string, accept: () => boolean): Promise<void> {
  for (let i = 0; i < 400 && !accept(); i++) await new Promise((resolve) => setTimeout(resolve, 5));
  if (!accept()) throw new Error(`timed out waiting for ${what}`);
}

describe('rollout gating in a fleet', () => {
  it('only the leader steps; the follower follows the stored status; a takeover continues from the stored step and weight', async () => {
    const { clock, member, weight } = await shared();
    const fleetA = leaderFleet();
    const fleetB = fakeFleet();
    const a = await member(fleetA);
    const b = await member(fleetB);
    // The leader begins the rollout and passes initialization (no hooks) on its own first ticks.
    await until('step 1 on the leader', () => a.runner().status.phase === 'Progressing');
    expect(a.runner().status).toMatchObject({ step: 0, weight: 10 });
    expect(weight()).toBe(10);

    // The follower: its ticks take no step, and it reports the stored status.
    for (let i = 0; i < 3; i++) {
      clock.now += 60_000;
      await b.runner().tick();
    }
    expect(b.runner().status).toMatchObject({ phase: 'Progressing', step: 0, weight: 10 });
    expect(b.events.list()).toEqual([]);
    expect(writes.every((w) => w.fenceEpoch === 1)).toBe(true);
    const leaderWrites = writes.length;

    clock.now += 600_000;
    await a.runner().tick();
    expect(a.runner().status).toMatchObject({ step: 1, weight: 30 });
    expect(weight()).toBe(30);
    expect(b.runner().status).toMatchObject({ step: 1, weight: 30 });
    expect(writes.length).toBe(leaderWrites + 1);
    const step = a.events.list({ route: 'api' }).find((e) => e.action === 'rollout.step' && (e.after as { step: number }).step === 2);
    expect(step?.after).toMatchObject({ weight: 30, epoch: 1 });

    // The leader dies; B acquires the lease with a higher epoch.
    a.manager.stop();
    fleetA.isLeading = false;
    fleetEpoch = 2;
    fleetB.isLeading = true;
    fleetB.myEpoch = 2;
    b.manager.leadershipChanged(true);
    expect(b.runner().status).toMatchObject({ phase: 'Progressing', step: 1, weight: 30 });
    expect(weight()).toBe(30);

    // No step while the fleet counts cannot be read: not above the weight reached.
    fleetB.readable = false;
    clock.now += 300_000;
    await b.runner().tick();
    expect(b.runner().status).toMatchObject({ step: 1, weight: 30 });
    expect(weight()).toBe(30);

    fleetB.readable = true;
    clock.now += 300_000;
    await b.runner().tick();
    expect(b.runner().status).toMatchObject({ step: 2, weight: 60 });
    expect(weight()).toBe(60);
    expect(writes.at(-1)).toEqual({ fenceEpoch: 2, weight: 60 });
    const takeoverStep = b.events.list({ route: 'api' }).find((e) => e.action === 'rollout.step');
    expect(takeoverStep?.after).toEqual({ phase: 'Progressing', weight: 60, step: 3, epoch: 2 });
    expect(fleetB.fallbacks).toEqual([]);
  });

  it('reports a phase only once it is stored and its event is in the log (a poller reading /events next finds it)', async () => {
    const { member } = await shared();
    const a = await member(leaderFleet());
    await until('step 1', () => a.runner().status.phase === 'Progressing');
    const release = holdNextWrite();
    const rollback = a.runner().act('abort');
    await until('the rollback write', () => writes.at(-1)?.weight === 0);
    // The write is in flight: still Progressing, and no rollback event yet.
    expect(a.runner().status.phase).toBe('Progressing');
    // What a manual weight must not fight is the decided phase, stored or not.
    expect(a.runner().decidedStatus.phase).toBe('RolledBack');
    expect(a.events.list({ route: 'api' }).some((e) => e.action === 'rollout.rolled_back')).toBe(false);
    release();
    await rollback;
    expect(a.runner().status.phase).toBe('RolledBack');
    expect(a.events.list({ route: 'api' }).some((e) => e.action === 'rollout.rolled_back')).toBe(true);
  });

  it("an operator's command stored while a tick's step is: each shows once stored, and the status never sticks", async () => {
    const { clock, member } = await shared();
    const a = await member(leaderFleet());
    await until('step 1', () => a.runner().status.phase === 'Progressing');
    const releaseStep = holdNextWrite();
    const releaseAbort = holdNextWrite();
    clock.now += 600_000;
    const step = a.runner().tick();
    await until('the step write', () => writes.at(-1)?.weight === 30);
    const abort = a.runner().act('abort');
    await until('the abort write', () => writes.at(-1)?.weight === 0);
    expect(a.runner().status).toMatchObject({ phase: 'Progressing', weight: 10 });
    releaseStep();
    await step;
    // The step is stored, the abort not yet: the step shows, not the rollback.
    expect(a.runner().status).toMatchObject({ phase: 'Progressing', weight: 30 });
    releaseAbort();
    await abort;
    expect(a.runner().status).toMatchObject({ phase: 'RolledBack', weight: 0 });
    const events = a.events.list({ route: 'api' });
    expect(events.find((e) => e.action === 'rollout.step' && (e.after as { weight: number }).weight === 30)?.after).toMatchObject({ phase: 'Progressing' });
    // Later commands, back to back with no write held, each show as soon as stored.
    const restart = a.runner().act('restart');
    await restart;
    expect(a.runner().status.phase).not.toBe('RolledBack');
    await Promise.all([a.runner().act('pause'), a.runner().act('resume')]);
    await a.runner().act('pause');
    expect(a.runner().status.phase).toBe('Paused');
  });

  it('two decisions whose stores both fail leave the stored status in force, not the first decision', async () => {
    const { clock, member, weight } = await shared();
    const a = await member(leaderFleet());
    await until('step 1', () => a.runner().status.phase === 'Progressing');
    storeDown = true;
    const releaseStep = holdNextWrite();
    const releaseAbort = holdNextWrite();
    clock.now += 600_000;
    const step = a.runner().tick().catch(() => undefined);
    await until('the step write', () => writes.at(-1)?.weight === 30);
    const abort = a.runner().act('abort').then(
      () => 'stored',
      () => 'failed',
    );
    await until('the abort write', () => writes.at(-1)?.weight === 0);
    releaseStep();
    await step;
    releaseAbort();
    expect(await abort).toBe('failed');
    expect(a.runner().status).toMatchObject({ phase: 'Progressing', step: 0, weight: 10 });
    expect(a.runner().decidedStatus).toMatchObject({ phase: 'Progressing', step: 0, weight: 10 });
    expect(weight()).toBe(10);
  });

  it("a member that does not lead keeps an operator's decision while it is being stored", async () => {
    const { member } = await shared();
    const a = await member(leaderFleet());
    const b = await member(fakeFleet());
    await until('step 1', () => a.runner().status.phase === 'Progressing');
    const release = holdNextWrite();
    const abort = b.runner().act('abort');
    await until('the abort write', () => writes.at(-1)?.weight === 0);
    expect(b.runner().status.phase).toBe('Progressing');
    expect(b.runner().decidedStatus.phase).toBe('RolledBack');
    release();
    await abort;
    expect(b.runner().status.phase).toBe('RolledBack');
  });

  it("counts each fleet ejection in one window: the next window asks only for the seconds after the last one's", async () => {
    const { clock, member } = await shared();
    const fleet = leaderFleet();
    const asked: Array<number | null> = [];
    // One ejection, in second 1000; each read's newest second is the one after the previous read's.
    fleet.ejections = async (_route, _now, _seconds, afterSecond) => {
      asked.push(afterSecond);
      return { count: afterSecond === null || afterSecond < 1000 ? 1 : 0, throughSecond: 1000 + asked.length - 1 };
    };
    const a = await member(fleet);
    await until('step 1', () => a.runner().status.phase === 'Progressing');
    expect(asked).toEqual([]);
    for (let i = 0; i < 2; i++) {
      clock.now += 600_000;
      await a.runner().tick();
    }
    // The first window reads every second of it; the second only those after the first's newest (1000).
    expect(asked).toEqual([null, 1000]);
    const ejectionResults = a.events
      .list({ route: 'api' })
      .flatMap((e) => ((e.before as { checks?: Array<{ check: string; result: string }> } | undefined)?.checks ?? []).filter((c) => c.check === 'outlier-ejection'));
    expect(ejectionResults).toEqual([expect.objectContaining({ result: 'fail' })]);
  });

  it("only the leader shows the error budget left: a follower's reading and a former leader's would be stale", async () => {
    const { clock, member } = await shared({ ...RAW, routes: [{ ...RAW.routes[0], slo: { objective: 99, window: '1h' } }] });
    const fleetA = leaderFleet();
    // The fleet's SLO counts: 1 000 requests, 5 failed, so half the 1 % budget is spent.
    fleetA.slo = async () => () => ({ requests: 1000, errors: 5 });
    const fleetB = fakeFleet();
    const a = await member(fleetA);
    const b = await member(fleetB);
    await until('step 1 on the leader', () => a.runner().status.phase === 'Progressing');
    clock.now += 600_000;
    await a.runner().tick();
    expect(a.runner().budgetRemaining).toBeCloseTo(0.5, 5);
    await b.runner().tick();
    expect(b.runner().budgetRemaining).toBeNull();
    // A loses the lease: its last reading is no longer the fleet's.
    fleetA.isLeading = false;
    a.manager.leadershipChanged(false);
    expect(a.runner().budgetRemaining).toBeNull();
  });

  it('a fenced write stops the runner at once: its step is not stored, no event, no further write under that epoch', async () => {
    const { clock, member, weight } = await shared();
    const fleetA = leaderFleet();
    const a = await member(fleetA);
    await until('step 1', () => a.runner().status.phase === 'Progressing');
    const eventsBefore = a.events.list().length;

    // Another member was elected while A was paused; A's lease has not noticed yet (its clock says it leads).
    fleetEpoch = 2;
    clock.now += 600_000;
    await a.runner().tick();
    expect(writes.at(-1)).toEqual({ fenceEpoch: 1, weight: 30 });
    expect(a.runner().status).toMatchObject({ step: 0, weight: 10 });
    expect(weight()).toBe(10);
    expect(a.events.list().length).toBe(eventsBefore);
    expect(fleetA.fencedAt).toEqual([1]);

    const writesAfterFence = writes.length;
    for (let i = 0; i < 3; i++) {
      clock.now += 600_000;
      await a.runner().tick();
    }
    expect(writes.length).toBe(writesAfterFence);
    expect(weight()).toBe(10);
  });

  it('an automated rollout not updated for longer than maxStaleness falls back to stable on every member, and comes back once it moves', async () => {
    const { clock, member, controller } = await shared();
    const fleetA = leaderFleet();
    const fleetB = fakeFleet();
    const a = await member(fleetA);
    const b = await member(fleetB);
    await until('step 1', () => a.runner().status.phase === 'Progressing');

    // The leader cannot read the counts for a long time: no step, so the stored status ages. The limit is
    // max(maxStaleness 60 s, 2 intervals = 20 min).
    fleetA.readable = false;
    clock.now += 19 * 60_000;
    await a.runner().tick();
    await b.runner().tick();
    expect(fleetA.fallbacks).toEqual([]);
    expect(fleetB.fallbacks).toEqual([]);
    clock.now += 2 * 60_000;
    await a.runner().tick();
    await b.runner().tick();
    expect(fleetA.fallbacks).toEqual([{ route: 'api', stale: true }]);
    expect(fleetB.fallbacks).toEqual([{ route: 'api', stale: true }]);
    expect(b.events.list({ route: 'api' })[0]).toMatchObject({ action: 'rollout.stale_fallback' });

    // Counts readable again: the leader steps, the stored status is fresh, both members lift the fallback.
    fleetA.readable = true;
    await a.runner().tick();
    expect(a.runner().status).toMatchObject({ step: 1, weight: 30 });
    await a.runner().tick();
    await b.runner().tick();
    expect(fleetA.fallbacks.at(-1)).toEqual({ route: 'api', stale: false });
    expect(fleetB.fallbacks.at(-1)).toEqual({ route: 'api', stale: false });

    // A stored kill switch holds the rollout (it ages) but already sends the canary's traffic to stable: no fallback.
    const held = a.runner().status;
    await controller.kill('api', 'alice');
    clock.now += 60 * 60_000;
    await a.runner().tick();
    await b.runner().tick();
    expect(a.runner().status).toMatchObject({ step: held.step, weight: held.weight, seq: held.seq });
    expect(fleetA.fallbacks.at(-1)).toEqual({ route: 'api', stale: false });
    expect(fleetB.fallbacks.at(-1)).toEqual({ route: 'api', stale: false });
    await controller.resume('api', 'alice');

    // An operator's pause is not automated: however old, no fallback.
    await b.manager.act('api', 'pause');
    clock.now += 60 * 60_000;
    await a.runner().tick();
    await b.runner().tick();
    expect(a.runner().status).toMatchObject({ phase: 'Paused', pausedBy: 'operator' });
    expect(fleetB.fallbacks.at(-1)).toEqual({ route: 'api', stale: false });
    expect(fleetA.fallbacks.at(-1)).toEqual({ route: 'api', stale: false });
  });
});
