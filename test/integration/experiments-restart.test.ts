/**
 * A running A/B experiment survives a restart without `fleet:` (experiments/experiment-file.ts): splitgate stopped
 * with SIGTERM saves its totals and keyed users next to the state file, and started again on it counts on from
 * there. A returning user is neither exposed nor converted a second time; a conversion they had not made yet, and a
 * new user, count. One process, and a supervisor with two workers (which holds the users merged from its workers).
 * Real processes (dist/bin.js), real upstreams.
 */
import { existsSync, statSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { armCounts, armOf, checkoutExperiment, experimentReport, shopRoute, startShop, type Shop } from '../helpers/experiments.js';
import { inParallel, send } from '../helpers/http.js';
import { createTempDir, killIfRunning, spawnSplitgate, type SplitgateProcess, type TempDir } from '../helpers/process.js';

let shop: Shop;
let dir: TempDir;
let sg: SplitgateProcess | undefined;

beforeAll(async () => {
  shop = await startShop();
  dir = createTempDir();
});

afterAll(async () => {
  await killIfRunning(sg);
  await shop?.close();
  dir?.remove();
});

function configFile(name: string, workers: number): string {
  return dir.writeConfig(`${name}.yaml`, {
    listen: '127.0.0.1:0',
    admin: { listen: '127.0.0.1:0' },
    ...(workers > 1 ? { workers } : {}),
    watch: false,
    state: { file: `${dir.path}/${name}.state.json` },
    upstreams: shop.upstreams,
    routes: [shopRoute()],
    experiments: [checkoutExperiment({ minUsersPerArm: 5 })],
  });
}

/** Users `from`…`to - 1` each see /shop (their exposure) and, when `orders(i)`, order twice; returns each user's arm. */
async function visit(url: string, from: number, to: number, orders: (i: number) => boolean): Promise<Map<number, 0 | 1>> {
  const arms = new Map<number, 0 | 1>();
  await inParallel(to - from, 6, async (n) => {
    const i = from + n;
    const headers = { 'x-user-id': `returning-user-${i}` };
    arms.set(i, armOf(await send(url, '/shop', { headers })));
    if (orders(i)) for (let k = 0; k < 2; k++) await send(url, '/orders', { method: 'POST', headers });
  });
  return arms;
}

function perArm(arms: Map<number, 0 | 1>, counted: (i: number) => boolean): [number, number] {
  const out: [number, number] = [0, 0];
  for (const [i, arm] of arms) if (counted(i)) out[arm]++;
  return out;
}

describe.each([1, 2])('workers: %i, a running experiment across a restart', (workers) => {
  it('keeps its totals and its users: returning users are not counted again, their new conversions and new users are', async () => {
    const config = configFile(`restart-${workers}`, workers);
    sg = await spawnSplitgate(config);
    const before = await visit(sg.url, 0, 40, (i) => i % 2 === 0);
    const first = await experimentReport(sg.adminUrl, 'checkout');
    expect(first.arms.map((a: any) => a.users)).toEqual(perArm(before, () => true));
    expect(armCounts(first, 'order').map(([, converters]) => converters)).toEqual(perArm(before, (i) => i % 2 === 0));

    expect((await sg.stop()).code).toBe(0);
    const file = `${dir.path}/restart-${workers}.state.json.experiments`;
    expect(existsSync(file)).toBe(true);
    expect(statSync(file).size).toBeLessThan(2_000 + 40 * (19 + 2 * 16));

    sg = await spawnSplitgate(config);
    const restored = await experimentReport(sg.adminUrl, 'checkout');
    expect(restored.arms.map((a: any) => a.users)).toEqual(first.arms.map((a: any) => a.users));
    expect(restored.conversions.map((c: any) => c.arms)).toEqual(first.conversions.map((c: any) => c.arms));
    expect(restored.tracking.keyedUsers).toBe(40);

    // The same 40 users again, every one ordering now, and 20 new ones.
    const after = await visit(sg.url, 0, 60, () => true);
    for (const [i, arm] of before) expect(after.get(i)).toBe(arm);
    const report = await experimentReport(sg.adminUrl, 'checkout');
    expect(report.arms.map((a: any) => a.users)).toEqual(perArm(after, () => true));
    expect(armCounts(report, 'order').map(([, converters]) => converters)).toEqual(perArm(after, () => true));
    expect(report.tracking.keyedUsers).toBe(60);
    expect(sg.logLines.filter((line) => line.level === 'warn' && /experiment/.test(String(line.msg)))).toEqual([]);
    expect((await sg.stop()).code).toBe(0);
    sg = undefined;
  });
});

describe('a damaged experiments file', () => {
  it('costs only the restore: splitgate starts, says so, and counts from zero', async () => {
    const config = configFile('damaged', 1);
    writeFileSync(`${dir.path}/damaged.state.json.experiments`, 'splitgate experiments 1\n{"experiments": [{"key": "checkout"');
    sg = await spawnSplitgate(config);
    expect(sg.logLines.some((line) => line.level === 'warn' && /experiments file .* not restored, running experiments start from zero/.test(String(line.msg)))).toBe(true);
    await visit(sg.url, 0, 4, () => false);
    const report = await experimentReport(sg.adminUrl, 'checkout');
    expect(report.arms[0].users + report.arms[1].users).toBe(4);
    expect((await sg.stop()).code).toBe(0);
    sg = undefined;
  });
});
