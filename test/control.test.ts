import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { Registry } from 'prom-client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { validateConfig } from '../src/config/load.js';
import { Controller } from '../src/control/controller.js';
import { EventLog } from '../src/control/event-log.js';
import { StateFile } from '../src/control/state-file.js';
import { createLogger } from '../src/log.js';
import { createMetrics } from '../src/metrics/metrics.js';
import { DURATION_BUCKETS } from '../src/metrics/metrics.js';
import { bucketIndex, quantileOf, RollingWindow } from '../src/metrics/rolling-window.js';
import { createFleet, type Fleet } from '../src/fleet/fleet.js';
import type { StateAuthority } from '../src/fleet/state-authority.js';
import { startRedis, type TestRedis } from './helpers/redis.js';
import { closeControllers, startController, type ControllerOptions } from './helpers/controller.js';

const RAW = {
  upstreams: { s: 'http://127.0.0.1:1', c: 'http://127.0.0.1:2' },
  routes: [
    { name: 'api', stable: 's', canary: 'c', weight: 5 },
    { name: 'plain', stable: 's' },
  ],
};

afterEach(closeControllers);

function setup(options: ControllerOptions & { raw?: Record<string, unknown> } = {}) {
  return startController(options.raw ?? RAW, options);
}

describe('Controller', () => {
  it('applies a weight by swapping the table, records the event and updates the gauge', async () => {
    const { controller, store, events, metrics } = await setup();
    const before = store.current;
    const result = await controller.setWeight('api', 20, 'alice');
    expect(result).toMatchObject({ route: 'api', weight: 20, weightSource: 'operator', killed: false, generation: 2 });
    expect(store.current).not.toBe(before);
    expect(before.table.routes[0].weight).toBe(5);
    expect(store.current.table.routes[0]).toMatchObject({ weight: 20, buckets: 2000, weightSource: 'operator' });
    expect(events.list()[0]).toMatchObject({ actor: 'alice', action: 'weight.set', route: 'api', before: { weight: 5 }, after: { weight: 20 } });
    expect((await metrics.routeWeight.get()).values.find((v) => v.labels.route === 'api')?.value).toBe(20);
  });

  it('validates weights and routes', async () => {
    const { controller } = await setup();
    expect(() => controller.setWeight('api', 101, 'a')).toThrow(expect.objectContaining({ code: 'SG_INVALID', status: 400 }));
    expect(() => controller.setWeight('api', '20', 'a')).toThrow(expect.objectContaining({ status: 400 }));
    expect(() => controller.setWeight('api', 0.001, 'a')).toThrow(/two decimals/);
    expect(() => controller.setWeight('nope', 1, 'a')).toThrow(expect.objectContaining({ code: 'SG_UNKNOWN_ROUTE', status: 404 }));
    expect(() => controller.kill('plain', 'a')).toThrow(expect.objectContaining({ code: 'SG_CONFLICT', status: 409 }));
  });

  it('kill wins until resume; resume restores the weight; promote needs the kill lifted', async () => {
    const { controller, store, metrics } = await setup();
    await controller.setWeight('api', 30, 'a');
    await controller.kill('api', 'a');
    expect(store.current.table.routes[0]).toMatchObject({ killed: true, weight: 30 });
    expect((await metrics.routeWeight.get()).values.find((v) => v.labels.route === 'api')?.value).toBe(0);
    expect(() => controller.promote('api', 'a')).toThrow(expect.objectContaining({ status: 409 }));
    await controller.resume('api', 'a');
    expect(store.current.table.routes[0]).toMatchObject({ killed: false, weight: 30 });
    expect(() => controller.resume('api', 'a')).toThrow(expect.objectContaining({ status: 409 }));
    await controller.promote('api', 'a');
    expect(store.current.table.routes[0].weight).toBe(100);
  });

  it('serializes concurrent changes: the last one wins, every one is recorded, generations increase', async () => {
    const { controller, store, events } = await setup();
    const results = await Promise.all([1, 2, 3, 4, 5].map((w) => controller.setWeight('api', w, `op${w}`)));
    expect(results.map((r) => r.generation)).toEqual([2, 3, 4, 5, 6]);
    expect(store.current.table.routes[0].weight).toBe(5);
    expect(events.list({ route: 'api' })).toHaveLength(5);
  });

  it('persists runtime state and restores it on the next start, so a killed canary stays killed', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'splitgate-state-'));
    const path = join(dir, 'state.json');
    const first = await setup({ stateFile: new StateFile(path) });
    await first.controller.setWeight('api', 40, 'a');
    await first.controller.kill('api', 'a');
    expect(JSON.parse(await readFile(path, 'utf8'))).toEqual({ version: 1, routes: { api: { weight: 40, weightSource: 'operator', killed: true, killedBy: 'operator' } } });
    const second = await setup({ stateFile: new StateFile(path) });
    expect(second.store.current.table.routes[0]).toMatchObject({ weight: 40, killed: true, weightSource: 'operator' });
  });

  it('reports and ignores a corrupt state file instead of crashing', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'splitgate-state-'));
    const path = join(dir, 'state.json');
    await writeFile(path, '{"version":1,"routes":{"api":{"weight":"lots"');
    const { controller, store, events } = await setup({ stateFile: new StateFile(path) });
    expect(controller.stateError).toMatch(/not valid/);
    expect(store.current.table.routes[0].weight).toBe(5);
    expect(events.list()[0]).toMatchObject({ action: 'state.ignored' });
    // The next change replaces the corrupt file with a valid one.
    await controller.setWeight('api', 7, 'a');
    expect(JSON.parse(await readFile(path, 'utf8')).routes.api.weight).toBe(7);
  });

  it('a damaged entry costs only itself: kill switches survive a bad weight next to them', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'splitgate-state-'));
    const path = join(dir, 'state.json');
    await writeFile(path, JSON.stringify({ version: 1, routes: { api: { weight: 'lots', killed: true } } }));
    const { controller, store } = await setup({ stateFile: new StateFile(path) });
    expect(store.current.table.routes[0]).toMatchObject({ killed: true, weight: 5 });
    expect(controller.stateError).toContain('routes.api.weight is not a number');
  });

  it('reads who killed: a rollback\'s kill (also from a file older than killedBy) is the rollout\'s to lift, any other the operator\'s', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'splitgate-state-'));
    const cases: Array<[Record<string, unknown>, 'rollout' | 'operator' | undefined]> = [
      [{ killed: true, killedBy: 'rollout' }, 'rollout'],
      [{ killed: true, killedBy: 'operator' }, 'operator'],
      // An operator's kill after a rollback: the rollout status beside it still says it engaged one.
      [{ killed: true, killedBy: 'operator', rollout: { phase: 'RolledBack', engagedKill: true } }, 'operator'],
      [{ killed: true }, 'operator'],
      [{ killed: true, killedBy: 'someone' }, 'operator'],
      // Files older than killedBy: the rollout status says whose.
      [{ killed: true, rollout: { phase: 'RolledBack', engagedKill: true } }, 'rollout'],
      [{ killed: true, rollout: { phase: 'Progressing', engagedKill: false } }, 'operator'],
      [{ killed: false, killedBy: 'rollout' }, undefined],
    ];
    for (const [index, [entry, expected]] of cases.entries()) {
      const path = join(dir, `state-${index}.json`);
      await writeFile(path, JSON.stringify({ version: 1, routes: { api: entry } }));
      const loaded = await new StateFile(path).load();
      expect(loaded.ok && loaded.state.routes.api.killedBy, JSON.stringify(entry)).toBe(expected);
    }
    // The controller: a rollout's release lifts only its own kill.
    const { controller, store } = await setup();
    await controller.applyRollout('api', { phase: 'RolledBack' }, { weight: 0, kill: true });
    await controller.applyRollout('api', { phase: 'Initializing' }, { releaseKill: true });
    expect(store.current.table.routes[0].killed).toBe(false);
    await controller.kill('api', 'alice');
    await controller.applyRollout('api', { phase: 'RolledBack' }, { weight: 0, kill: true });
    await controller.applyRollout('api', { phase: 'Initializing' }, { releaseKill: true });
    expect(store.current.table.routes[0].killed).toBe(true);
  });

  it('reports a state file that cannot be written, keeping the change in force', async () => {
    const { controller, store } = await setup({ stateFile: new StateFile('/proc/splitgate-cannot-write/state.json') });
    const result = await controller.kill('api', 'a');
    expect(result.warning).toMatch(/in force, but not saved/);
    expect(store.current.table.routes[0].killed).toBe(true);
  });

  it('shows a failed save in stateError and the events until a save succeeds again', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'splitgate-state-'));
    const blocker = join(dir, 'blocker');
    const path = join(blocker, 'state.json');
    const { controller, events } = await setup({ stateFile: new StateFile(path) });
    expect(controller.stateError).toBeNull();
    // A file where the state file's directory should be: every save fails (ENOTDIR), also for root.
    await writeFile(blocker, '');
    await controller.kill('api', 'a');
    expect(controller.stateError).toMatch(new RegExp(`^runtime state NOT saved to ${path} \\(ENOTDIR.*\\): changes since are in force but lost at a restart$`));
    await controller.setWeight('api', 20, 'a');
    expect(events.list({}).filter((e) => e.action === 'state.save_failed')).toHaveLength(1);

    await rm(blocker);
    await controller.setWeight('api', 30, 'a');
    expect(controller.stateError).toBeNull();
    expect(events.list({}).filter((e) => e.action === 'state.saved')).toHaveLength(1);
    expect(JSON.parse(await readFile(path, 'utf8')).routes.api).toMatchObject({ killed: true, weight: 30 });
  });

  it('reloads a good config, rejects a bad or half-written one and keeps the running table', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'splitgate-reload-'));
    const path = join(dir, 'splitgate.yaml');
    await writeFile(path, 'upstreams: { s: "http://127.0.0.1:1", c: "http://127.0.0.1:2" }\nroutes: [{ name: api, stable: s, canary: c, weight: 5 }]\n');
    const { controller, store, metrics, events } = await setup({ configPath: path });
    await writeFile(path, 'upstreams: { s: "http://127.0.0.1:1", c: "http://127.0.0.1:2" }\nroutes: [{ name: api, stable: s, canary: c, weight: 12.5 }]\n');
    const good = await controller.reload('test');
    expect(good).toMatchObject({ ok: true, generation: 2 });
    expect(store.current.table.routes[0].weight).toBe(12.5);

    const running = store.current;
    await writeFile(path, 'upstreams: { s: "http://127.0.0.1:1" }\nroutes: [{ name: api, stable: s, canary: gone, weight: 500 }]\n');
    const bad = await controller.reload('test');
    expect(bad.ok).toBe(false);
    expect(bad.errors).toEqual(expect.arrayContaining(['routes[0].weight: must be between 0 and 100']));
    expect(store.current).toBe(running);
    expect(controller.lastReloadError?.errors).toEqual(bad.errors);

    await writeFile(path, 'upstreams: { s: "http://127.0.0.1:1", c: "http://12');
    expect((await controller.reload('test')).ok).toBe(false);
    expect(store.current).toBe(running);
    expect((await metrics.configReloads.get()).values).toEqual(
      expect.arrayContaining([
        { labels: { result: 'success' }, value: 1 },
        { labels: { result: 'failure' }, value: 2 },
      ]),
    );
    expect(events.list().map((e) => e.action)).toEqual(['config.reload_failed', 'config.reload_failed', 'config.reload']);
  });

  it('keeps operator weights over a reloaded config, and reuses unchanged pools', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'splitgate-reload-'));
    const path = join(dir, 'splitgate.yaml');
    const write = (weight: number, canaryPort: number) =>
      writeFile(path, `upstreams: { s: "http://127.0.0.1:1", c: "http://127.0.0.1:${canaryPort}" }\nroutes: [{ name: api, stable: s, canary: c, weight: ${weight} }]\n`);
    await write(5, 2);
    const { controller, store } = await setup({ configPath: path });
    const stablePool = store.current.bindings[0].stable.upstream.pool;
    const canaryPool = store.current.bindings[0].canary!.upstream.pool;
    await controller.setWeight('api', 50, 'op');
    await write(10, 3);
    await controller.reload('test');
    expect(store.current.table.routes[0]).toMatchObject({ weight: 50, weightSource: 'operator' });
    expect(store.current.bindings[0].stable.upstream.pool).toBe(stablePool);
    expect(store.current.bindings[0].canary!.upstream.pool).not.toBe(canaryPool);
    expect(canaryPool.closed).toBe(true);
  });

  it('says so when a route with runtime state leaves the config, and when it returns with that state in force', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'splitgate-reload-'));
    const path = join(dir, 'splitgate.yaml');
    const api = '{ name: api, stable: s, canary: c, weight: 5 }';
    const write = (routes: string) => writeFile(path, `upstreams: { s: "http://127.0.0.1:1", c: "http://127.0.0.1:2" }\nroutes: [${routes}]\n`);
    await write(`${api}, { name: web, stable: s }`);
    const { controller, store, events } = await setup({ configPath: path });
    await controller.setWeight('api', 12, 'op');
    await controller.kill('api', 'op');

    await write('{ name: web, stable: s }');
    const removed = await controller.reload('test');
    expect(removed).toMatchObject({ ok: true, warnings: ['route api removed: its kill switch on, operator weight 12 kept, in force again if a route named api returns'] });
    expect(events.list()[0]).toMatchObject({ action: 'config.reload', message: removed.warnings![0] });

    await write(`{ name: web, stable: s }, ${api}`);
    const back = await controller.reload('test');
    expect(back.warnings).toEqual(['route api returns with the kill switch on, operator weight 12 it had when removed (config weight 5); to lift: splitgate resume api, splitgate weight api --clear']);
    expect(store.current.table.routes.find((r) => r.name === 'api')).toMatchObject({ killed: true, weight: 12 });
    // A route without runtime state comes and goes without a word.
    await write(api);
    expect((await controller.reload('test')).warnings).toBeUndefined();
  });

  it('says which changed fields wait for a restart, and judges the admin token by the bound address', async () => {
    const bound = { ...RAW, admin: { listen: '0.0.0.0:9901', token: 'one' } };
    const { controller, store, events } = await setup({ raw: bound });
    controller.adminBoundTo({ host: '0.0.0.0', port: 9901 });
    const moved = validateConfig({ ...RAW, listen: '127.0.0.1:8081', admin: { listen: '127.0.0.1:9902', token: 'two' }, state: { file: 'elsewhere.json' }, watch: false });
    expect(controller.applyConfig(moved, 'test')).toMatchObject({
      ok: true,
      warnings: [
        'listen changed: takes effect at the next restart',
        'admin.listen changed: takes effect at the next restart',
        'state.file changed: takes effect at the next restart',
        'watch changed: takes effect at the next restart',
      ],
    });
    expect(controller.config.admin.token).toBe('two');
    expect(controller.adminListen).toEqual({ host: '0.0.0.0', port: 9901 });

    const running = store.current;
    const tokenless = validateConfig({ ...RAW, admin: { listen: '127.0.0.1:9901' } });
    const refused = controller.applyConfig(tokenless, 'test');
    expect(refused.ok).toBe(false);
    expect(refused.errors).toEqual([expect.stringMatching(/^admin\.token: is required: the admin listener is bound to 0\.0\.0\.0:9901, not a loopback address/)]);
    expect(store.current).toBe(running);
    expect(controller.config.admin.token).toBe('two');
    expect(controller.lastReloadError?.errors).toEqual(refused.errors);
    expect(events.list()[0].action).toBe('config.reload_failed');

    // Bound to loopback, the same file is fine.
    controller.adminBoundTo({ host: '127.0.0.1', port: 9901 });
    expect(controller.applyConfig(tokenless, 'test').ok).toBe(true);
  });
});

describe('EventLog', () => {
  it('is bounded and lists newest first with filters', () => {
    const log = new EventLog(3, () => new Date(0));
    for (let i = 0; i < 5; i++) log.record({ actor: 'a', action: `x${i}`, route: i % 2 ? 'odd' : 'even' });
    expect(log.list().map((e) => e.action)).toEqual(['x4', 'x3', 'x2']);
    expect(log.list({ route: 'even' }).map((e) => e.action)).toEqual(['x4', 'x2']);
    expect(log.list({ since: 3 }).map((e) => e.id)).toEqual([5, 4]);
    expect(log.list({ limit: 1 })).toHaveLength(1);
  });
});

describe('RollingWindow', () => {
  it('sums the last N seconds and forgets older slots', () => {
    const window = new RollingWindow();
    const t0 = 1_000_000_000;
    window.observe(t0, false, bucketIndex(0.002));
    window.observe(t0 + 500, true, bucketIndex(0.2));
    window.observe(t0 + 30_000, false, bucketIndex(0.002));
    expect(window.snapshot(t0 + 30_000, 60)).toMatchObject({ requests: 3, errors: 1 });
    expect(window.snapshot(t0 + 30_000, 10)).toMatchObject({ requests: 1, errors: 0 });
    expect(window.snapshot(t0 + 61_000, 60)).toMatchObject({ requests: 1 });
    // A slot reused a full ring later holds only the new second.
    window.observe(t0 + 600_000, false, bucketIndex(0.002));
    expect(window.snapshot(t0 + 600_000, 1).buckets[bucketIndex(0.002)]).toBe(1);
    expect(window.snapshot(t0 + 600_000, 1)).toMatchObject({ requests: 1 });
  });

  it('quantiles interpolate within buckets like histogram_quantile', () => {
    const buckets = new Array(DURATION_BUCKETS.length + 1).fill(0);
    buckets[0] = 50; // ≤ 1 ms
    buckets[3] = 50; // 5..10 ms
    expect(quantileOf(buckets, 0.5)).toBeCloseTo(0.001);
    expect(quantileOf(buckets, 0.99)).toBeCloseTo(0.005 + 0.005 * (49 / 50));
    expect(quantileOf(new Array(DURATION_BUCKETS.length + 1).fill(0), 0.5)).toBeNull();
  });
});

describe('Controller: a reload while a fleet flag write is in flight', () => {
  const THEME = { state: 'ENABLED', variants: { light: 'light', dark: 'dark' }, defaultVariant: 'light' };
  const BETA = { state: 'ENABLED', variants: { on: true, off: false }, defaultVariant: 'on' };
  let redis: TestRedis;
  const fleets: Fleet[] = [];
  let fleetCount = 0;

  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await Promise.all(fleets.map((fleet) => fleet.stop()));
    await redis?.stop();
  });

  function raw(themeVariants: Record<string, string>): Record<string, unknown> {
    return {
      upstreams: { s: 'http://127.0.0.1:1' },
      routes: [{ name: 'plain', stable: 's' }],
      flags: { definitions: { flags: { beta: BETA, theme: { ...THEME, variants: themeVariants } } } },
      fleet: { name: `race-${++fleetCount}`, memberId: 'a', redis: { url: redis.url, connectTimeout: '1s', commandTimeout: '1s' }, poll: '10s' },
    };
  }

  /**
   * A controller on a real fleet (Redis) whose flag writes wait at `hold()` until `release()`: the gap between the
   * change being worked out and its commit, where a reload can land.
   */
  async function heldFleet(stateFile: StateFile | null = null) {
    const first = raw({ light: 'light', dark: 'dark' });
    const logger = createLogger({ level: 'silent', destination: new Writable({ write: (_c, _e, cb) => cb() }) });
    const fleet = createFleet(validateConfig(first), { metrics: createMetrics(new Registry(), { processMetrics: false }), events: new EventLog(), logger })!;
    fleets.push(fleet);
    let gate: Promise<void> = Promise.resolve();
    let release = () => {};
    let reached = () => {};
    const authority: StateAuthority = {
      shared: true,
      commit: async (...args) => {
        reached();
        await gate;
        return fleet.commit(...args);
      },
      read: (route) => fleet.read(route),
      acknowledgement: (route, version) => fleet.acknowledgement(route, version),
    };
    const replica = await setup({ raw: first, authority, stateFile });
    const before = { overrides: replica.controller.flagOverrides, beta: replica.store.current.table.flagSet!.flags.get('beta')!.enabled };
    await fleet.start(replica.controller);
    const hold = () => {
      const waiting = new Promise<void>((resolve) => (reached = resolve));
      gate = new Promise<void>((resolve) => (release = resolve));
      return waiting;
    };
    const withoutDark = validateConfig({ ...raw({ light: 'light' }), fleet: first.fleet });
    return { ...replica, fleet, hold, release: () => release(), withoutDark, before };
  }

  it('a flag kill whose commit conflicts and whose re-read finds Redis gone is still applied here, pending', async () => {
    const { ConflictError } = await import('../src/control/controller.js');
    const { FleetUnavailableError } = await import('../src/fleet/errors.js');
    const authority: StateAuthority = {
      shared: true,
      commit: () => Promise.reject(new ConflictError('another write came first')),
      read: () => Promise.reject(new FleetUnavailableError()),
      acknowledgement: () => Promise.resolve(null),
    };
    const { controller, store } = await setup({ raw: raw({ light: 'light', dark: 'dark' }), authority });
    const killed = await controller.setFlagOverride('beta', { state: 'DISABLED' }, 'tester');
    expect(killed.fleet).toMatchObject({ pending: true });
    expect(controller.pendingFlagKills).toEqual(['beta']);
    expect(store.current.table.flagSet!.flags.get('beta')!.enabled).toBe(false);
    // A pin in the same spot is refused: only a kill holds without the fleet.
    await expect(controller.setFlagOverride('theme', { defaultVariant: 'dark' }, 'tester')).rejects.toBeInstanceOf(FleetUnavailableError);
  });

  it('a flag kill still pending at a restart is in force from the start and written to the fleet once reached', async () => {
    const path = join(await mkdtemp(join(tmpdir(), 'splitgate-state-')), 'state.json');
    const saved = { version: 1, routes: {}, flags: { theme: { defaultVariant: 'dark' } }, fleet: { versions: { '~flags': 3 }, pendingKills: [], pendingFlagKills: ['beta'] } };
    await writeFile(path, JSON.stringify(saved));
    const { controller, fleet, before, events } = await heldFleet(new StateFile(path));
    expect(before).toEqual({ overrides: { theme: { defaultVariant: 'dark' }, beta: { state: 'DISABLED' } }, beta: false });
    // The fleet (an empty Redis) got the copy held here with the kill on top, as a new version.
    expect(await fleet.read('~flags')).toMatchObject({ version: 4, state: { flags: { theme: { defaultVariant: 'dark' }, beta: { state: 'DISABLED' } } } });
    expect(controller.pendingFlagKills).toEqual([]);
    expect(events.list()[0]).toMatchObject({ action: 'fleet.kill_pushed', after: { document: '~flags', flags: ['beta'], version: 4 } });
    expect(JSON.parse(await readFile(path, 'utf8')).fleet).toEqual({ versions: { '~flags': 4 }, pendingKills: [] });
  });

  it('an override the reload drops stays out of force when another flag\'s write lands after it', async () => {
    const { controller, store, events, fleet, hold, release, withoutDark } = await heldFleet();
    await controller.setFlagOverride('theme', { defaultVariant: 'dark' }, 'alice');
    const reached = hold();
    const kill = controller.setFlagOverride('beta', { state: 'DISABLED' }, 'bob');
    await reached;
    expect(controller.applyConfig(withoutDark, 'deploy').ok).toBe(true);
    release();
    await kill;
    expect(controller.flagOverrides).toEqual({ beta: { state: 'DISABLED' } });
    expect(store.current.table.flagSet!.flags.get('theme')!.defaultVariant).toBe('light');
    expect(events.list().filter((event) => event.action === 'flag.override_dropped').map((event) => event.message)).toEqual(['flag "theme" has no variant "dark" (variants: light)']);
    // The fleet keeps the pin: another replica's file may still have the variant.
    expect((await fleet.read('~flags')).state).toEqual({ flags: { theme: { defaultVariant: 'dark' }, beta: { state: 'DISABLED' } } });
  });

  it('a pin whose variant a reload removes during its own write is stored, not in force here, and says so', async () => {
    const { controller, store, events, hold, release, withoutDark } = await heldFleet();
    const reached = hold();
    const pin = controller.setFlagOverride('theme', { defaultVariant: 'dark' }, 'alice');
    await reached;
    expect(controller.applyConfig(withoutDark, 'deploy').ok).toBe(true);
    release();
    const result = await pin;
    expect(result.warning).toBe('stored, but not in force here: flag "theme" has no variant "dark" (variants: light)');
    expect(controller.flagOverrides).toEqual({});
    expect(store.current.table.flagSet!.flags.get('theme')!.defaultVariant).toBe('light');
    expect(events.list().map((event) => event.action).filter((action) => action.startsWith('flag.'))).toEqual(['flag.override_dropped', 'flag.override_set']);
  });
});
