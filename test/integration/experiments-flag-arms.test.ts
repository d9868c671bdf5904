/**
 * An A/B experiment whose arms are a flag's variants, through a running splitgate with real upstreams on 127.0.0.1:
 * each user's arm is the variant the flags header carried upstream (the test reads it back from the app), the
 * expected split is the flag's `fractional` weights (25/75, while the route's version split is 50/50), and a
 * route-split experiment on the same route keeps counting by version alongside it. Shipping (`POST
 * /experiments/{key}/ship`) refuses without a declared winner unless the arm is named, stops the experiment, and
 * puts the arm in force for the next request: the flag pinned to its variant, or the route's weight moved.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runControl } from '../../src/cli-control.js';
import { armCounts, armOf, checkoutExperiment, experimentReport, shopRoute, startShop, type Shop } from '../helpers/experiments.js';
import { inParallel, send } from '../helpers/http.js';
import { adminCall } from '../helpers/rollout.js';
import { startSplitgate, type StartedSplitgate } from '../helpers/splitgate.js';

let shop: Shop;
let sg: StartedSplitgate;

beforeAll(async () => {
  shop = await startShop();
  sg = await startSplitgate({
    upstreams: shop.upstreams,
    flags: {
      definitions: {
        flags: {
          'new-checkout': { state: 'ENABLED', variants: { on: true, off: false }, defaultVariant: 'off', targeting: { fractional: [['on', 25], ['off', 75]] } },
        },
      },
    },
    routes: [shopRoute()],
    experiments: [checkoutExperiment({ key: 'by-flag', flag: 'new-checkout', minUsersPerArm: 5 }), checkoutExperiment({ key: 'by-version', minUsersPerArm: 5 })],
  });
});

afterAll(async () => {
  await sg?.stop();
  await shop?.close();
});

describe('flag arms', () => {
  it('counts users and conversions in the variant the flag gave them, against the flag’s weights', async () => {
    const byFlag = { users: [0, 0], orders: [0, 0] };
    const byVersion = { users: [0, 0], orders: [0, 0] };
    await inParallel(240, 16, async (i) => {
      const headers = { 'x-user-id': `flag-user-${i}` };
      const first = await send(sg.url, '/shop/item', { headers });
      // Control (A) is the default variant, off; B is on.
      const variant = String(first.headers['x-seen-flags']);
      expect(['new-checkout=?1', 'new-checkout=?0']).toContain(variant);
      const flagArm = variant === 'new-checkout=?1' ? 1 : 0;
      const versionArm = armOf(first);
      byFlag.users[flagArm]++;
      byVersion.users[versionArm]++;
      await send(sg.url, '/shop/item', { headers });
      if (i % 3 === 0) {
        for (let k = 0; k < 2; k++) expect((await send(sg.url, '/orders', { method: 'POST', headers })).status).toBe(201);
        byFlag.orders[flagArm]++;
        byVersion.orders[versionArm]++;
      }
    });
    // A real 25/75 split, and independent of the version split.
    expect(byFlag.users[1]).toBeGreaterThan(30);
    expect(byFlag.users[1]).toBeLessThan(100);

    const report = await experimentReport(sg.adminUrl, 'by-flag');
    expect(report.armsFrom).toBe('flag');
    expect(report.flag).toBe('new-checkout');
    expect(report.arms.map((a: any) => [a.arm, a.version, a.users, a.expectedShare])).toEqual([
      ['A', 'off', byFlag.users[0], 0.75],
      ['B', 'on', byFlag.users[1], 0.25],
    ]);
    expect(armCounts(report, 'order')).toEqual([
      [byFlag.users[0], byFlag.orders[0]],
      [byFlag.users[1], byFlag.orders[1]],
    ]);
    // Against the flag's 25/75, not the route's 50/50.
    expect(report.sampleRatio.mismatch).toBe(false);
    expect(report.guardrails.checks).toEqual([]);
    expect(report.guardrails.note).toMatch(/guardrails cover route-split \(stable\/canary\) arms only/);

    const versions = await experimentReport(sg.adminUrl, 'by-version');
    expect(versions.armsFrom).toBe('route-split');
    expect(armCounts(versions, 'order')).toEqual([
      [byVersion.users[0], byVersion.orders[0]],
      [byVersion.users[1], byVersion.orders[1]],
    ]);

    const out: string[] = [];
    expect(await runControl('experiment', ['status', 'by-flag'], { admin: sg.adminUrl, token: undefined, json: false, actor: undefined, out: (t) => out.push(t), err: () => undefined })).toBe(0);
    expect(out.join('')).toContain(`by-flag (route shop, flag new-checkout): `);
    expect(out.join('')).toContain(`users: A (off) ${byFlag.users[0]}, expected 75 %; B (on) ${byFlag.users[1]}, expected 25 %`);
  });

  it('ships an arm: no winner, no ship unless named; then the flag is pinned, or the weight moved, for the next request', async () => {
    const unnamed = await adminCall(sg.adminUrl, 'POST', '/experiments/by-flag/ship', {});
    expect(unnamed.status).toBe(409);
    expect(unnamed.body.error.message).toMatch(/^experiment "by-flag" declares no winner \(no difference so far/);
    expect((await adminCall(sg.adminUrl, 'POST', '/experiments/by-flag/ship', { arm: 'C' })).status).toBe(400);
    expect((await adminCall(sg.adminUrl, 'POST', '/experiments/nope/ship', { arm: 'B' })).status).toBe(404);

    const shipped = await adminCall(sg.adminUrl, 'POST', '/experiments/by-flag/ship', { arm: 'B' });
    expect(shipped.status).toBe(200);
    expect(shipped.body).toMatchObject({ experiment: 'by-flag', arm: 'B', shipped: { flag: 'new-checkout', variant: 'on' }, change: { flag: 'new-checkout', override: { defaultVariant: 'on' } } });
    expect(shipped.body.report.stopped).not.toBeNull();
    // Every user gets the shipped variant on the next request, those the 25 % did not pick included.
    for (let i = 0; i < 20; i++) {
      const reply = await send(sg.url, '/shop/item', { headers: { 'x-user-id': `after-ship-${i}` } });
      expect(reply.headers['x-seen-flags']).toBe('new-checkout=?1');
    }
    const flags = (await adminCall(sg.adminUrl, 'GET', '/flags')).body.flags;
    expect(flags[0]).toMatchObject({ key: 'new-checkout', effective: { pinned: 'on' } });
    const events = (await adminCall(sg.adminUrl, 'GET', '/events')).body.events;
    expect(events.find((e: any) => e.action === 'experiment.shipped')).toMatchObject({ route: 'shop', after: { experiment: 'by-flag', arm: 'B', flag: 'new-checkout', variant: 'on' } });

    // A ship that is refused changes nothing: the experiment is not stopped (a stop is final).
    expect((await adminCall(sg.adminUrl, 'POST', '/routes/shop/kill')).status).toBe(200);
    const refused = await adminCall(sg.adminUrl, 'POST', '/experiments/by-version/ship', { arm: 'B' });
    expect(refused).toMatchObject({ status: 409, body: { error: { code: 'SG_CONFLICT', message: 'route "shop" is killed; resume it before promoting' } } });
    expect((await experimentReport(sg.adminUrl, 'by-version')).stopped).toBeNull();
    expect((await adminCall(sg.adminUrl, 'POST', '/routes/shop/resume')).status).toBe(200);

    // The route-split experiment ships A through the CLI: weight 0, every next user on stable.
    const out: string[] = [];
    expect(await runControl('experiment', ['ship', 'by-version', 'A'], { admin: sg.adminUrl, token: undefined, json: false, actor: 'tester', out: (t) => out.push(t), err: (t) => out.push(t) })).toBe(0);
    expect(out.join('')).toMatch(/^experiment by-version: arm A shipped \(route shop at 0 %\)\n/);
    for (let i = 0; i < 20; i++) expect((await send(sg.url, '/shop/item', { headers: { 'x-user-id': `after-ship-${i}` } })).headers['x-upstream-version']).toBe('stable');
    expect((await experimentReport(sg.adminUrl, 'by-version')).stopped).toMatchObject({ actor: expect.stringMatching(/^tester@/) });
  });
});
