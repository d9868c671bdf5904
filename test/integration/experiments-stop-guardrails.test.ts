/**
 * Stopping an A/B experiment and its guardrails, through a running splitgate with real upstreams on 127.0.0.1:
 * `POST /experiments/{key}/stop` (token as other changes, CLI `experiment stop`) freezes the totals, records an event,
 * and a restart on the same state file serves the same frozen report and counts nothing more. A canary that fails a
 * quarter of its requests breaches the error-rate guardrail: the verdict says so and names no winner.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runControl, type ControlOptions } from '../../src/cli-control.js';
import { armCounts, armOf, checkoutExperiment, experimentReport, shopRoute, startShop, type Shop } from '../helpers/experiments.js';
import { inParallel, send } from '../helpers/http.js';
import { createTempDir, type TempDir } from '../helpers/process.js';
import { startSplitgate, type StartedSplitgate } from '../helpers/splitgate.js';

const TOKEN = 'experiment-admin-token-0123456789';

let shop: Shop;
let dir: TempDir;
let sg: StartedSplitgate | undefined;

function config(): Record<string, unknown> {
  return {
    admin: { listen: '127.0.0.1:0', token: TOKEN },
    state: { file: `${dir.path}/state.json` },
    upstreams: shop.upstreams,
    routes: [shopRoute()],
    // p99 of a few dozen requests on a loaded test machine is noise: a wide ratio keeps this test about the stop.
    experiments: [checkoutExperiment({ minUsersPerArm: 5, guardrails: { minRequests: 10, maxP99Ratio: 100 } })],
  };
}

function cli(adminUrl: string, token: string | undefined) {
  const out: string[] = [];
  const err: string[] = [];
  const options: ControlOptions = { admin: adminUrl, token, json: false, actor: 'tester', out: (t) => out.push(t), err: (t) => err.push(t) };
  return { options, out, err };
}

/** `count` new users from `from` on: each exposed, every other one ordering. Returns the users per arm. */
async function visit(url: string, from: number, count: number): Promise<[number, number]> {
  const users: [number, number] = [0, 0];
  await inParallel(count, 8, async (i) => {
    const headers = { 'x-user-id': `user-${from + i}` };
    users[armOf(await send(url, '/shop/item', { headers }))]++;
    if (i % 2 === 0) expect((await send(url, '/orders', { method: 'POST', headers })).status).toBe(201);
  });
  return users;
}

beforeAll(async () => {
  shop = await startShop();
  dir = createTempDir();
  sg = await startSplitgate(config());
});

afterAll(async () => {
  await sg?.stop();
  await shop?.close();
  dir?.remove();
});

describe('POST /experiments/{key}/stop', () => {
  it('freezes the totals, keeps serving them marked stopped, and keeps them across a restart', async () => {
    const users = await visit(sg!.url, 0, 60);
    const before = await experimentReport(sg!.adminUrl, 'checkout', TOKEN);
    expect(before.arms.map((a: any) => a.users)).toEqual(users);
    expect(before.stopped).toBeNull();
    // Identical healthy versions: the guardrails are judged and pass.
    expect(before.guardrails.breached).toBe(false);
    expect(before.guardrails.checks.map((c: any) => [c.check, c.result])).toEqual([
      ['error-rate', 'pass'],
      ['latency-p99', 'pass'],
    ]);

    // Same auth as every other change.
    const refused = await send(sg!.adminUrl, '/experiments/checkout/stop', { method: 'POST' });
    expect(refused.status).toBe(401);

    const stop = cli(sg!.adminUrl, TOKEN);
    expect(await runControl('experiment', ['stop', 'checkout'], stop.options)).toBe(0);
    expect(stop.err).toEqual([]);
    expect(stop.out.join('')).toMatch(/stopped at \d{4}-\d\d-\d\dT[\d:.]+Z by tester@127\.0\.0\.1: totals frozen/);

    // New users and conversions after the stop count for nothing.
    await visit(sg!.url, 1000, 30);
    for (let i = 1; i < 60; i += 2) await send(sg!.url, '/orders', { method: 'POST', headers: { 'x-user-id': `user-${i}` } });
    const frozen = await experimentReport(sg!.adminUrl, 'checkout', TOKEN);
    expect(frozen.arms.map((a: any) => a.users)).toEqual(users);
    expect(armCounts(frozen, 'order')).toEqual(armCounts(before, 'order'));
    expect(frozen.stopped.actor).toBe('tester@127.0.0.1');
    expect(frozen.verdict).toBe(`stopped ${frozen.stopped.at}: ${before.verdict}`);

    const events = (await send(sg!.adminUrl, '/events?route=shop', { headers: { authorization: `Bearer ${TOKEN}` } })).json().events;
    const event = events.find((e: any) => e.action === 'experiment.stopped');
    expect(event).toMatchObject({ actor: 'tester@127.0.0.1', route: 'shop', after: { experiment: 'checkout', users } });

    const again = await send(sg!.adminUrl, '/experiments/checkout/stop', { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` } });
    expect(again.status).toBe(409);
    const unknown = await send(sg!.adminUrl, '/experiments/nope/stop', { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` } });
    expect(unknown.status).toBe(404);
    expect(unknown.json().error.code).toBe('SG_UNKNOWN_EXPERIMENT');

    // The winner shipped: the route's weight moves on, and the frozen split keeps the report as it was (no SRM).
    const shipped = await send(sg!.adminUrl, '/routes/shop/weight', { method: 'PUT', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify({ weight: 100 }) });
    expect(shipped.status).toBe(200);
    const afterShipping = await experimentReport(sg!.adminUrl, 'checkout', TOKEN);
    expect(afterShipping.verdict).toBe(frozen.verdict);
    expect(afterShipping.arms.map((a: any) => a.expectedShare)).toEqual([0.5, 0.5]);

    // A restart on the same state file: the same frozen report, and still nothing more counted.
    await sg!.stop();
    sg = await startSplitgate(config());
    await visit(sg.url, 2000, 20);
    const restored = await experimentReport(sg.adminUrl, 'checkout', TOKEN);
    expect(restored.stopped).toEqual(frozen.stopped);
    expect(restored.arms.map((a: any) => a.users)).toEqual(users);
    expect(restored.conversions.map((c: any) => c.arms)).toEqual(frozen.conversions.map((c: any) => c.arms));
    expect(restored.tracking).toEqual(frozen.tracking);
    expect(restored.guardrails).toEqual(frozen.guardrails);
    expect(restored.verdict).toBe(frozen.verdict);
  });

  it('refuses a state file entry it cannot read without losing the others, and without crashing', async () => {
    await sg!.stop();
    sg = undefined;
    dir.writeConfig('state.json', JSON.stringify({ version: 1, routes: {}, experiments: { checkout: { stopped: { at: 'not a time' } } } }));
    sg = await startSplitgate(config());
    const report = await experimentReport(sg.adminUrl, 'checkout', TOKEN);
    expect(report.stopped).toBeNull();
    const events = (await send(sg.adminUrl, '/events', { headers: { authorization: `Bearer ${TOKEN}` } })).json().events;
    expect(events.some((e: any) => e.action === 'state.partly_ignored' && /experiments\.checkout/.test(e.message))).toBe(true);
  });
});

describe('guardrails', () => {
  let broken: Shop;
  let guarded: StartedSplitgate;

  beforeAll(async () => {
    broken = await startShop({ failOnHeader: true });
    guarded = await startSplitgate({
      upstreams: broken.upstreams,
      routes: [shopRoute()],
      experiments: [checkoutExperiment({ minUsersPerArm: 5, guardrails: { minRequests: 20, maxP99Ratio: 100 } })],
    });
  });

  afterAll(async () => {
    await guarded?.stop();
    await broken?.close();
  });

  it('shows a breach of the error rate in the report, the verdict and the CLI, and declares no winner', async () => {
    // Every user orders on B and none on A would be a clear win for B: the guardrail must hold it back.
    await inParallel(160, 8, async (i) => {
      const headers = { 'x-user-id': `g-${i}`, ...(i % 4 === 0 ? { 'x-fail': '1' } : {}) };
      const arm = armOf(await send(guarded.url, '/shop/item', { headers }));
      if (arm === 1) await send(guarded.url, '/orders', { method: 'POST', headers: { 'x-user-id': `g-${i}` } });
    });
    const report = await experimentReport(guarded.adminUrl, 'checkout');
    expect(report.guardrails.breached).toBe(true);
    const errorRate = report.guardrails.checks.find((c: any) => c.check === 'error-rate');
    expect(errorRate.result).toBe('fail');
    expect(errorRate.control).toBe(0);
    expect(errorRate.treatment).toBeGreaterThan(10);
    expect(report.verdict).toMatch(/^guardrail: error rate \d+(\.\d)? % vs 0 % \(B vs A\); no winner is declared$/);
    expect(report.conversions.every((c: any) => c.verdict.startsWith('guardrail: error rate'))).toBe(true);

    const status = cli(guarded.adminUrl, undefined);
    expect(await runControl('experiment', ['status', 'checkout'], status.options)).toBe(0);
    expect(status.out.join('')).toMatch(/guardrail error-rate: B [\d.]+ % vs A 0 % \(B ≤ A \+ 1 pp\): BREACHED/);
  });
});
