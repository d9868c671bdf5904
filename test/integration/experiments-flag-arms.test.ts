/**
 * An A/B experiment whose arms are a flag's variants, through a running splitgate with real upstreams on 127.0.0.1:
 * each user's arm is the variant the flags header carried upstream (the test reads it back from the app), the
 * expected split is the flag's `fractional` weights (25/75, while the route's version split is 50/50), and a
 * route-split experiment on the same route keeps counting by version alongside it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runControl } from '../../src/cli-control.js';
import { armCounts, armOf, checkoutExperiment, experimentReport, shopRoute, startShop, type Shop } from '../helpers/experiments.js';
import { inParallel, send } from '../helpers/http.js';
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
});
