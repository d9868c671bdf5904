/**
 * A release plan run by the rollout runner on a controllable clock: 4 rings with bakes of hours and days advance
 * only after each bake, across a restart (a new controller reading the same state file) and a leader change (a
 * second fleet member taking over the stored status). The ring in force is part of the persisted routing state, so
 * a restarted process routes the audience to the canary before its rollout runner has done anything.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { validateConfig } from '../src/config/load.js';
import { VERIFYING_JWT } from './helpers/jwks.js';
import { Controller } from '../src/control/controller.js';
import { EventLog } from '../src/control/event-log.js';
import { StateFile } from '../src/control/state-file.js';
import { createLogger } from '../src/log.js';
import { createMetrics, DURATION_BUCKETS, SeriesBook } from '../src/metrics/metrics.js';
import type { WindowSnapshot } from '../src/metrics/rolling-window.js';
import { MirrorBook } from '../src/mirror/mirror-records.js';
import { UpstreamPools } from '../src/proxy/upstream-pools.js';
import { RolloutManager } from '../src/rollout/rollout-manager.js';
import type { RolloutFleet } from '../src/rollout/rollout-runner.js';
import { buildContext, RequestContext } from '../src/routing/context.js';
import { decideRoute } from '../src/routing/decide.js';
import { TableStore } from '../src/state/table-store.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const START = Date.parse('2026-12-01T09:00:00Z');

const RAW = {
  upstreams: { s: 'http://127.0.0.1:1', c: 'http://127.0.0.1:2' }, jwt: VERIFYING_JWT,
  routes: [
    {
      name: 'api',
      stable: 's',
      canary: 'c',
      weight: 0,
      sticky: { key: ['header:x-user-id'] },
      rollout: {
        // The runners' own timers never fire during the test; the test ticks them.
        interval: '10m',
        minRequests: 10,
        analysis: { traffic: 'all' },
        checks: [{ metric: 'success-rate', min: 95 }],
        stages: [
          { name: 'developers', audience: { header: { 'x-team': 'dev' } }, bake: '2h' },
          { name: 'employees', audience: { claim: { email: '~@example\\.com$' } }, bake: '1d' },
          { name: 'five-percent', weight: 5, bake: '3d' },
          { name: 'everyone', weight: 100, bake: '6h' },
        ],
      },
    },
  ],
};

const logger = createLogger({ level: 'silent', destination: new Writable({ write: (_c, _e, cb) => cb() }) });
const cleanup: Array<() => Promise<void>> = [];

afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

function good(seconds: number): WindowSnapshot {
  const buckets = new Array<number>(DURATION_BUCKETS.length + 1).fill(0);
  buckets[2] = 200;
  return { seconds, requests: 200, errors: 0, buckets };
}

function fakeFleet(leading: boolean, epoch: number): RolloutFleet & { isLeading: boolean } {
  const fleet = {
    isLeading: leading,
    // Days pass between ticks here; the staleness fallback is tested elsewhere.
    maxStalenessMs: 100 * DAY,
    leading: () => fleet.isLeading,
    epoch: () => (fleet.isLeading ? epoch : null),
    window: async (_route: string, _version: string, _now: number, seconds: number) => good(seconds),
  };
  return fleet;
}

/** One splitgate process: a controller on the state file, its table, and one rollout manager per fleet member. */
async function boot(statePath: string, clock: { now: number }) {
  const config = validateConfig(RAW);
  const metrics = createMetrics(new Registry(), { processMetrics: false });
  const pools = new UpstreamPools();
  pools.update(config);
  const series = new SeriesBook(metrics);
  const mirrors = new MirrorBook(metrics);
  const controller = new Controller({ config, configPath: null, pools, metrics, series, mirror: { book: mirrors, logger, random: Math.random }, events: new EventLog(), stateFile: new StateFile(statePath), logger });
  const store = new TableStore(await controller.initialTable());
  controller.attach(store);
  const managers: RolloutManager[] = [];
  cleanup.push(async () => {
    for (const manager of managers) manager.stop();
    await pools.close();
  });
  const member = async (fleet: RolloutFleet) => {
    const manager = new RolloutManager({ controller, store, series, mirrors, metrics, events: new EventLog(), logger, now: () => new Date(clock.now), fleet });
    managers.push(manager);
    await manager.sync(config);
    return { manager, runner: () => manager.get('api')! };
  };
  const route = () => store.current.table.routes[0];
  const versionFor = (headers: Record<string, string>, claims: Record<string, unknown> | null = null) => {
    const built = buildContext(route(), { 'x-user-id': 'someone', ...headers }, '10.0.0.1', { newId: () => 'id', random: () => 0.5 });
    return decideRoute(route(), new RequestContext(built.headers, built.cookies, built.region, built.bucket, built.stickyKey, built.issuedId, built.overridesAllowed, claims)).version;
  };
  return { controller, route, member, versionFor };
}

async function until(what: string, accept: () => boolean): Promise<void> {
  for (let i = 0; i < 400 && !accept(); i++) await new Promise((resolve) => setTimeout(resolve, 5));
  if (!accept()) throw new Error(`timed out waiting for ${what}`);
}

describe('release plan in the runner', () => {
  it('4 rings with bakes of hours and days advance only after each bake, across a restart and a leader change', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sg-plan-'));
    cleanup.push(() => rm(dir, { recursive: true, force: true }));
    const statePath = join(dir, 'state.json');
    const clock = { now: START };
    const employee = { email: 'ada@example.com' };

    // Process 1 leads and starts the plan: ring 1 (developers) is in force.
    const first = await boot(statePath, clock);
    const a = await first.member(fakeFleet(true, 1));
    await until('stage 1', () => a.runner().status.phase === 'Progressing');
    expect(a.runner().status).toMatchObject({ step: 0, weight: 0, stageEnteredAt: new Date(START).toISOString() });
    expect(first.versionFor({ 'x-team': 'dev' })).toBe('canary');
    expect(first.versionFor({}, employee)).toBe('stable');
    clock.now = START + HOUR;
    await a.runner().tick();
    expect(a.runner().status.step).toBe(0);

    // Restart: a new process reads the state file. The ring is routed before its runner ticks.
    a.manager.stop();
    const second = await boot(statePath, clock);
    expect(second.route().audiences.map((x) => x.stage)).toEqual(['developers']);
    expect(second.versionFor({ 'x-team': 'dev' })).toBe('canary');
    const b = await second.member(fakeFleet(true, 2));
    expect(b.runner().status).toMatchObject({ phase: 'Progressing', step: 0, stageEnteredAt: new Date(START).toISOString() });
    // The bake counts from when the stage was entered, not from the restart.
    clock.now = START + 2 * HOUR - 60_000;
    await b.runner().tick();
    expect(b.runner().status.step).toBe(0);
    expect(b.runner().status.message).toContain('1m left of 2h');
    clock.now = START + 2 * HOUR;
    await b.runner().tick();
    expect(b.runner().status).toMatchObject({ step: 1, weight: 0 });
    expect(second.versionFor({}, employee)).toBe('canary');
    expect(second.versionFor({ 'x-team': 'dev' })).toBe('canary');
    const ring2 = START + 2 * HOUR;

    // Leader change: member C of the same fleet takes over from the stored status.
    const cFleet = fakeFleet(false, 3);
    const c = await second.member(cFleet);
    b.manager.stop();
    cFleet.isLeading = true;
    c.manager.leadershipChanged(true);
    expect(c.runner().status).toMatchObject({ step: 1, stageEnteredAt: new Date(ring2).toISOString() });
    clock.now = ring2 + DAY - 60_000;
    await c.runner().tick();
    expect(c.runner().status.step).toBe(1);
    expect(second.route().weight).toBe(0);
    clock.now = ring2 + DAY;
    await c.runner().tick();
    expect(c.runner().status).toMatchObject({ step: 2, weight: 5 });
    expect(second.route().weight).toBe(5);
    const ring3 = ring2 + DAY;

    // Another restart in the middle of the 3-day bake.
    c.manager.stop();
    clock.now = ring3 + 2 * DAY;
    const third = await boot(statePath, clock);
    expect(third.route()).toMatchObject({ weight: 5 });
    expect(third.route().audiences.map((x) => x.stage)).toEqual(['developers', 'employees']);
    const d = await third.member(fakeFleet(true, 4));
    await d.runner().tick();
    expect(d.runner().status).toMatchObject({ step: 2, weight: 5 });
    clock.now = ring3 + 3 * DAY;
    await d.runner().tick();
    expect(d.runner().status).toMatchObject({ step: 3, weight: 100 });
    clock.now = ring3 + 3 * DAY + 6 * HOUR - 1000;
    await d.runner().tick();
    expect(d.runner().status.phase).toBe('Progressing');
    clock.now = ring3 + 3 * DAY + 6 * HOUR;
    await d.runner().tick();
    expect(d.runner().status).toMatchObject({ phase: 'Succeeded', weight: 100 });
    expect(d.runner().status.history!.map((h) => [h.name, h.enteredAt, h.leftAt])).toEqual([
      ['developers', new Date(START).toISOString(), new Date(ring2).toISOString()],
      ['employees', new Date(ring2).toISOString(), new Date(ring3).toISOString()],
      ['five-percent', new Date(ring3).toISOString(), new Date(ring3 + 3 * DAY).toISOString()],
      ['everyone', new Date(ring3 + 3 * DAY).toISOString(), new Date(ring3 + 3 * DAY + 6 * HOUR).toISOString()],
    ]);
  });

  it('a fleet member that applies the stored document routes the ring in it (the stage travels with the route state)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sg-plan-'));
    cleanup.push(() => rm(dir, { recursive: true, force: true }));
    const follower = await boot(join(dir, 'state.json'), { now: START });
    expect(follower.versionFor({ 'x-team': 'dev' })).toBe('stable');
    const applied = await follower.controller.applyFleetState('api', { version: 7, state: { weight: 0, weightSource: 'rollout', stage: 1, rollout: null }, member: 'leader', time: START }, 'leader');
    expect(applied).toBe(true);
    expect(follower.route().audiences.map((x) => x.stage)).toEqual(['developers', 'employees']);
    expect(follower.versionFor({ 'x-team': 'dev' })).toBe('canary');
    expect(follower.versionFor({}, { email: 'ada@example.com' })).toBe('canary');
    expect(follower.versionFor({}, { email: 'eve@example.org' })).toBe('stable');
  });
});
