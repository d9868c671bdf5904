/**
 * A/B experiments through a running splitgate, real upstreams on 127.0.0.1: users identified by `x-user-id`, by the
 * issued `sg_uid` cookie, and (on a route that issues none) by the signed experiment cookie; repeated requests and
 * conversions counted once per user; an app-reported conversion counted and its header never reaching the client;
 * a rule that pins extra users to the canary detected as a sample-ratio mismatch; /experiments, /metrics and the
 * CLI agreeing with the truth the test keeps from the responses it saw.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runControl } from '../../src/cli-control.js';
import { QUIET_GUARDRAILS, armCounts, armOf, checkoutExperiment, experimentReport, shopRoute, startShop, type Shop } from '../helpers/experiments.js';
import { inParallel, send } from '../helpers/http.js';
import { startSplitgate, type StartedSplitgate } from '../helpers/splitgate.js';

interface Truth {
  users: [number, number];
  orders: [number, number];
  purchases: [number, number];
  purchaseValues: [number, number];
}

let shop: Shop;
let sg: StartedSplitgate;

beforeAll(async () => {
  shop = await startShop();
  sg = await startSplitgate({
    upstreams: shop.upstreams,
    routes: [
      {
        name: 'anon',
        match: { pathPrefix: '/anon' },
        stable: 'stable',
        canary: 'canary',
        weight: 50,
        sticky: { key: ['header:x-user-id'], cookie: false },
      },
      shopRoute({ rules: [{ match: { headers: { 'x-beta': 'true' } }, version: 'canary' }] }),
    ],
    experimentSettings: { cookie: { secret: 'test-secret-of-some-length' } },
    experiments: [
      checkoutExperiment({ exposure: { match: { pathPrefix: '/shop', methods: ['GET'] } }, minUsersPerArm: 20 }),
      { key: 'landing', route: 'anon', conversions: [{ name: 'purchase', header: true }], minUsersPerArm: 5, guardrails: QUIET_GUARDRAILS },
    ],
  });
});

afterAll(async () => {
  await sg?.stop();
  await shop?.close();
});

describe('A/B experiments end to end', () => {
  const truth: Truth = { users: [0, 0], orders: [0, 0], purchases: [0, 0], purchaseValues: [0, 0] };

  it('counts users with x-user-id and with the issued cookie once, and their conversions once', async () => {
    const leakedHeaders: string[] = [];
    await inParallel(240, 16, async (i) => {
      // Half the users are keyed by x-user-id, half are browsers that keep the sg_uid cookie splitgate issues.
      let headers: Record<string, string> = i % 2 === 0 ? { 'x-user-id': `user-${i}` } : {};
      const first = await send(sg.url, '/shop/item', { headers });
      if (i % 2 === 1) {
        const issued = String(first.headers['set-cookie']).match(/sg_uid=([^;]+)/)![1];
        headers = { cookie: `sg_uid=${issued}` };
      }
      const arm = armOf(first);
      // Not exposed before this one: a conversion before exposure does not count (users 0 mod 10).
      if (i % 10 === 0) {
        const early = await send(sg.url, '/orders', { method: 'POST', headers: { 'x-user-id': `early-${i}` } });
        expect(early.status).toBe(201);
      }
      truth.users[arm]++;
      for (let k = 0; k < 2; k++) expect(armOf(await send(sg.url, '/shop/item', { headers }))).toBe(arm);
      // A failed order is no conversion; two orders count once.
      if (i % 3 === 0) {
        expect((await send(sg.url, '/orders?fail', { method: 'POST', headers })).status).toBe(500);
        expect((await send(sg.url, '/orders', { method: 'POST', headers })).status).toBe(201);
        await send(sg.url, '/orders', { method: 'POST', headers });
        truth.orders[arm]++;
      }
      if (i % 4 === 0) {
        const value = i % 7;
        for (let k = 0; k < 2; k++) {
          const thanks = await send(sg.url, `/thanks?value=${value}`, { headers });
          for (let h = 0; h < thanks.rawHeaders.length; h += 2) if (thanks.rawHeaders[h].toLowerCase().startsWith('x-splitgate')) leakedHeaders.push(thanks.rawHeaders[h]);
        }
        truth.purchases[arm]++;
        truth.purchaseValues[arm] += value;
      }
    });
    expect(leakedHeaders).toEqual([]);
    expect(truth.users[0]).toBeGreaterThan(80);
    expect(truth.users[1]).toBeGreaterThan(80);

    const report = await experimentReport(sg.adminUrl, 'checkout');
    expect(report.arms.map((a: any) => a.users)).toEqual(truth.users);
    expect(armCounts(report, 'order')).toEqual([
      [truth.users[0], truth.orders[0]],
      [truth.users[1], truth.orders[1]],
    ]);
    expect(armCounts(report, 'purchase')).toEqual([
      [truth.users[0], truth.purchases[0]],
      [truth.users[1], truth.purchases[1]],
    ]);
    expect(report.conversions[1].arms.map((a: any) => a.valueSum)).toEqual(truth.purchaseValues);
    expect(report.sampleRatio.mismatch).toBe(false);
    // Identical versions: no winner, and the z-test carries its label.
    expect(report.verdict).toMatch(/^no difference so far /);
    expect(report.conversions[0].fixedHorizon.note).toMatch(/valid only at the planned sample size/);
    // Users who converted without being exposed were never remembered.
    expect(report.tracking).toEqual({ keyedUsers: 240, maxUsers: 100_000, evictions: 0 });

    const list = (await send(sg.adminUrl, '/experiments')).json();
    expect(list.experiments.map((e: any) => e.key)).toEqual(['checkout', 'landing']);

    const metrics = (await send(sg.adminUrl, '/metrics')).text;
    expect(metrics).toContain(`splitgate_experiment_users_total{experiment="checkout",arm="A"} ${truth.users[0]}`);
    expect(metrics).toContain(`splitgate_experiment_users_total{experiment="checkout",arm="B"} ${truth.users[1]}`);
    expect(metrics).toContain(`splitgate_experiment_conversions_total{experiment="checkout",arm="B",conversion="order"} ${truth.orders[1]}`);
    expect(metrics).toContain(`splitgate_experiment_conversions_total{experiment="checkout",arm="A",conversion="purchase"} ${truth.purchases[0]}`);
  });

  it('deduplicates users without a sticky key by the signed cookie and its id (a replayed older cookie converts no more), and ignores a tampered one', async () => {
    const users: [number, number] = [0, 0];
    const converters: [number, number] = [0, 0];
    for (let i = 0; i < 12; i++) {
      const first = await send(sg.url, '/anon/page');
      const cookie = String(first.headers['set-cookie']).split(';')[0];
      expect(cookie).toMatch(/^sg_exp=@[0-9a-f]{32}\|landing:[01]:\d+:0~/);
      const arm = Number(cookie.split(':')[1]) as 0 | 1;
      expect(arm).toBe(armOf(first));
      users[arm]++;
      // Routed at random from here (no key), still counted in the arm of the exposure, once.
      const again = await send(sg.url, '/anon/page', { headers: { cookie } });
      expect(again.headers['set-cookie']).toBeUndefined();
      if (i % 2 === 0) {
        const bought = await send(sg.url, '/anon/thanks', { headers: { cookie } });
        expect(bought.headers['x-splitgate-conversion']).toBeUndefined();
        const updated = String(bought.headers['set-cookie']).split(';')[0];
        expect(updated).toMatch(/^sg_exp=@[0-9a-f]{32}\|landing:[01]:\d+:1~/);
        await send(sg.url, '/anon/thanks', { headers: { cookie: updated } });
        // The cookie from before the purchase, replayed: the server knows its id converted, and says so back.
        const replayed = await send(sg.url, '/anon/thanks', { headers: { cookie } });
        expect(String(replayed.headers['set-cookie']).split(';')[0]).toBe(updated);
        converters[arm]++;
      }
    }
    // A client that edits its cookie is a new user, not a converter.
    const forged = await send(sg.url, '/anon/page', { headers: { cookie: 'sg_exp=landing:1:1:1~AAAA' } });
    users[Number(String(forged.headers['set-cookie']).split(':')[1]) as 0 | 1]++;
    const report = await experimentReport(sg.adminUrl, 'landing');
    expect(armCounts(report, 'purchase')).toEqual([
      [users[0], converters[0]],
      [users[1], converters[1]],
    ]);
  });

  it('detects the sample-ratio mismatch a pinning rule causes, and declares no winner', async () => {
    await inParallel(120, 16, async (i) => {
      const reply = await send(sg.url, '/shop/item', { headers: { 'x-user-id': `beta-${i}`, 'x-beta': 'true' } });
      expect(armOf(reply)).toBe(1);
      // Beta users all buy: without the SRM check this would read as a big win for B.
      await send(sg.url, '/orders', { method: 'POST', headers: { 'x-user-id': `beta-${i}` } });
    });
    const report = await experimentReport(sg.adminUrl, 'checkout');
    expect(report.arms.map((a: any) => a.users)).toEqual([truth.users[0], truth.users[1] + 120]);
    expect(report.sampleRatio.mismatch).toBe(true);
    expect(report.sampleRatio.pValue).toBeLessThan(0.001);
    expect(report.verdict).toMatch(/^SRM detected: users per arm \(A \d+, B \d+\) do not match the configured split/);

    const out: string[] = [];
    const err: string[] = [];
    const code = await runControl('experiment', ['status', 'checkout'], { admin: sg.adminUrl, token: undefined, json: false, actor: undefined, out: (t) => out.push(t), err: (t) => err.push(t) });
    expect(err).toEqual([]);
    expect(code).toBe(0);
    expect(out.join('')).toContain(`checkout (route shop): SRM detected`);
    expect(out.join('')).toContain(`users: A (stable) ${truth.users[0]}, expected 50 %; B (canary) ${truth.users[1] + 120}, expected 50 %`);

    const unknown = await send(sg.adminUrl, '/experiments/nope');
    expect(unknown.status).toBe(404);
    expect(unknown.json().error.code).toBe('SG_UNKNOWN_EXPERIMENT');
  });
});
