/**
 * Regressions from the admin review (controller and state file, no processes): a reload of a valid file clears the
 * last rejection even when the file is the config in force; operator weights are kept as the 0.01 % step routing
 * uses; a corrupt state file is moved aside before anything is written; an unreadable one is never overwritten, and
 * once it reads again its kill switches come back under the changes made meanwhile (mergeHeldState).
 */
import { chmod, mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { emptyState, mergeHeldState, StateFile, type LoadResult, type RuntimeState } from '../src/control/state-file.js';
import { closeControllers, startController, type ControllerOptions } from './helpers/controller.js';

const RAW = {
  upstreams: { s: 'http://127.0.0.1:1', c: 'http://127.0.0.1:2' },
  routes: [{ name: 'api', stable: 's', canary: 'c', weight: 5 }],
};

afterEach(closeControllers);

function setup(options: ControllerOptions = {}) {
  return startController(RAW, options);
}

/** A StateFile whose reads fail as they do for an unprivileged user while the file is chmod 000. */
class UnreadableWhileLocked extends StateFile {
  locked = true;

  override async load(): Promise<LoadResult> {
    if (this.locked && process.getuid?.() === 0) {
      return { ok: false, reason: 'unreadable', error: `cannot read state file ${this.path}: EACCES: permission denied; it is not overwritten until it can be read or is removed` };
    }
    return super.load();
  }
}

const tempDir = () => mkdtemp(join(tmpdir(), 'splitgate-review-admin-'));

describe('reload: lastReloadError', () => {
  it('is cleared by a reload of a valid file that equals the running config (a bad edit put back)', async () => {
    const dir = await tempDir();
    const path = join(dir, 'config.yaml');
    await writeFile(path, stringify(RAW));
    const { controller } = await setup({ configPath: path });
    await writeFile(path, stringify({ ...RAW, routes: [{ ...RAW.routes[0], weight: 200 }] }));
    expect((await controller.reload('test')).ok).toBe(false);
    expect(controller.lastReloadError?.errors.join()).toMatch(/weight/);
    await writeFile(path, stringify(RAW));
    const outcome = await controller.reload('test');
    expect(outcome).toMatchObject({ ok: true, warnings: ['config unchanged'] });
    expect(controller.lastReloadError).toBeNull();
  });
});

describe('operator weights: the config schema rule, stored as the routed step', () => {
  it('rounds a weight within 1e-6 of a 0.01 step to that step everywhere (table, state file, gauge)', async () => {
    const dir = await tempDir();
    const path = join(dir, 'state.json');
    const { controller, store, metrics } = await setup({ stateFile: new StateFile(path) });
    expect((await controller.setWeight('api', 50.000000001, 'a')).weight).toBe(50);
    expect(store.current.table.routes[0].weight).toBe(50);
    expect(JSON.parse(await readFile(path, 'utf8')).routes.api.weight).toBe(50);
    expect((await metrics.routeWeight.get()).values.find((v) => v.labels.route === 'api')?.value).toBe(50);
    expect((await controller.setWeight('api', 1e-9, 'a')).weight).toBe(0);
    expect(JSON.parse(await readFile(path, 'utf8')).routes.api.weight).toBe(0);
    expect((await controller.setWeight('api', 0.29, 'a')).weight).toBe(0.29);
  });

  it('refuses a weight between steps with 400 SG_INVALID', async () => {
    const { controller } = await setup();
    expect(() => controller.setWeight('api', 50.005, 'a')).toThrow(expect.objectContaining({ code: 'SG_INVALID', status: 400 }));
    expect(() => controller.setWeight('api', 50.0001, 'a')).toThrow(/two decimals/);
  });
});

describe('a state file that cannot be used at start is never lost', () => {
  it('corrupt: moved aside to <file>.corrupt-<ISO time> before the next change writes, and the error names that path', async () => {
    const dir = await tempDir();
    const path = join(dir, 'state.json');
    const damaged = '{\n  "version": 1,\n  "routes": {\n    "api": {\n      "killed": true,\n      "weight": 100';
    await writeFile(path, damaged);
    const { controller, events } = await setup({ stateFile: new StateFile(path) });
    const aside = (await readdir(dir)).find((name) => name.startsWith('state.json.corrupt-'));
    expect(aside).toMatch(/^state\.json\.corrupt-\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(controller.stateError).toContain(join(dir, aside!));
    expect(events.list()[0]).toMatchObject({ action: 'state.ignored' });
    await controller.setWeight('api', 7, 'a');
    expect(await readFile(join(dir, aside!), 'utf8')).toBe(damaged);
    expect(JSON.parse(await readFile(path, 'utf8')).routes.api).toEqual({ weight: 7, weightSource: 'operator' });
  });

  it('unreadable (EACCES): saves are held until it reads again, then its kill comes back under the changes', async () => {
    const dir = await tempDir();
    const path = join(dir, 'state.json');
    const stored = `${JSON.stringify({ version: 1, routes: { api: { killed: true, weight: 100, weightSource: 'operator' } } })}\n`;
    await writeFile(path, stored);
    await chmod(path, 0o000);
    // root reads through chmod 000: the refusal is played by the file's first reads (the process test runs as nobody).
    const file = new UnreadableWhileLocked(path);
    const { controller, store } = await setup({ stateFile: file });
    expect(controller.stateError).toMatch(/cannot read state file .*EACCES.*not overwritten/);
    const held = await controller.setWeight('api', 30, 'a');
    expect(held.warning).toMatch(/in force, but NOT saved: cannot read state file/);
    expect(store.current.table.routes[0]).toMatchObject({ weight: 30, killed: false });
    await chmod(path, 0o600);
    file.locked = false;
    expect(await readFile(path, 'utf8')).toBe(stored);
    const saved = await controller.setWeight('api', 20, 'a');
    expect(saved.warning).toBeUndefined();
    expect(store.current.table.routes[0]).toMatchObject({ weight: 20, killed: true });
    expect(JSON.parse(await readFile(path, 'utf8')).routes.api).toEqual({ killed: true, weight: 20, weightSource: 'operator' });
    expect(controller.stateError).toBeNull();
  });
});

describe('mergeHeldState', () => {
  const state = (routes: RuntimeState['routes'], extra: Partial<RuntimeState> = {}): RuntimeState => ({ ...emptyState(), routes, ...extra });
  const cases: Array<{ name: string; file: RuntimeState; base: RuntimeState; current: RuntimeState; want: RuntimeState }> = [
    { name: 'nothing changed here: the file whole', file: state({ api: { killed: true } }), base: state({}), current: state({}), want: state({ api: { killed: true } }) },
    {
      name: 'a route changed here keeps its change, the file kill stays',
      file: state({ api: { killed: true, weight: 100, weightSource: 'operator' } }),
      base: state({}),
      current: state({ api: { weight: 30, weightSource: 'operator' } }),
      want: state({ api: { killed: true, weight: 30, weightSource: 'operator' } }),
    },
    {
      name: 'a kill made here stays, other routes come from the file',
      file: state({ web: { weight: 40, weightSource: 'operator' } }),
      base: state({}),
      current: state({ api: { killed: true } }),
      want: state({ web: { weight: 40, weightSource: 'operator' }, api: { killed: true } }),
    },
    {
      name: 'a flag killed in the file stays killed over a pin made here; other flag changes are kept',
      file: state({}, { flags: { a: { state: 'DISABLED' } } }),
      base: state({}),
      current: state({}, { flags: { a: { defaultVariant: 'on' }, b: { state: 'ENABLED' } } }),
      want: state({}, { flags: { a: { state: 'DISABLED' }, b: { state: 'ENABLED' } } }),
    },
  ];
  it.each(cases)('$name', ({ file, base, current, want }) => {
    expect(mergeHeldState(file, base, current)).toEqual(want);
  });
});
