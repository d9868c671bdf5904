/**
 * The fleet's experiment scripts on a real redis-server (fleet-experiments.ts): two replicas' books flush, in either
 * order, what each saw of the same users; the totals are those one process seeing every request would count.
 */
import { describe, expect, it } from 'vitest';
import { validateConfig } from '../src/config/load.js';
import { ExperimentBook } from '../src/experiments/experiment-book.js';
import { STOP_SCRIPT } from '../src/experiments/fleet-experiment-stop.js';
import { experimentKeys, FleetExperiments } from '../src/experiments/fleet-experiments.js';
import { redisForFile } from './helpers/redis.js';

const silent = { debug() {}, info() {}, warn() {}, error() {} } as never;

const config = validateConfig({
  upstreams: { stable: 'http://127.0.0.1:3001', canary: 'http://127.0.0.1:3002' },
  routes: [{ name: 'shop', stable: 'stable', canary: 'canary', weight: 50, sticky: { key: ['header:x-user-id'] } }],
  experiments: [{ key: 'checkout', route: 'shop', exposure: { match: { pathPrefix: '/shop' } }, conversionWindow: '1h', conversions: [{ name: 'order', match: { method: 'POST', path: '/orders' } }, { name: 'purchase', header: true }] }],
});

const redis = redisForFile();
let fleetCount = 0;

interface Replica {
  readonly book: ExperimentBook;
  readonly fleet: FleetExperiments;
  readonly fleetName: string;
  /** Keys of experiments this replica read stopped from the fleet (onStopped). */
  readonly adopted: string[];
  clock: number;
}

async function replicas(n: number): Promise<Replica[]> {
  const fleet = `unit-${++fleetCount}`;
  const out: Replica[] = [];
  for (let i = 0; i < n; i++) {
    const client = await redis.client();
    const replica = { clock: 0, fleetName: fleet, adopted: [] as string[] } as Replica;
    (replica as { book: ExperimentBook }).book = new ExperimentBook({ now: () => replica.clock });
    replica.book.planOf(config);
    (replica as { fleet: FleetExperiments }).fleet = new FleetExperiments({ client, fleet, book: replica.book, logger: silent, onStopped: (key) => replica.adopted.push(key) });
    out.push(replica);
  }
  return out;
}

function see(replica: Replica, atMs: number, user: string, version: 'stable' | 'canary', method: string, url: string, reported?: string): void {
  replica.clock = atMs;
  const headers = reported === undefined ? [] : ['x-splitgate-conversion', reported];
  replica.book.begin(config, 'shop', version, user, method, url, undefined)!.responded(200, headers);
}

function totals(replica: Replica) {
  return replica.book.record('checkout')!.totals.map((arm) => ({
    users: arm.users,
    order: arm.conversions.get('order')!.converters,
    purchase: arm.conversions.get('purchase')!.converters,
    purchaseSum: arm.conversions.get('purchase')!.valueSum,
  }));
}

describe('fleet experiment totals in Redis', () => {
  for (const order of ['exposure first', 'conversion first'] as const) {
    it(`counts a user exposed on one replica and converting on another (${order} to reach Redis)`, async () => {
      const [a, b] = await replicas(2);
      see(a, 10_000, 'u1', 'canary', 'GET', '/shop');
      see(b, 20_000, 'u1', 'canary', 'POST', '/orders');
      see(b, 21_000, 'u1', 'canary', 'GET', '/thanks', 'purchase;value=4');
      // Before u2's exposure: no conversion, whichever replica saw it.
      see(b, 5_000, 'u2', 'stable', 'POST', '/orders');
      see(a, 6_000, 'u2', 'stable', 'GET', '/shop');
      // Outside the one-hour window.
      see(a, 7_000, 'u3', 'stable', 'GET', '/shop');
      see(b, 7_000 + 3_700_000, 'u3', 'stable', 'POST', '/orders');
      // Seen exposed and converting on both: counted once.
      for (const r of [a, b]) {
        see(r, 30_000, 'u4', 'stable', 'GET', '/shop/x');
        see(r, 31_000, 'u4', 'stable', 'GET', '/thanks', 'purchase;value=2');
      }
      const flushes = order === 'exposure first' ? [a, b] : [b, a];
      for (const r of flushes) expect(await r.fleet.flush()).toBe(true);
      // Each replica reads the totals back on its next flush.
      for (const r of [a, b]) await r.fleet.flush();
      const expected = [
        { users: 3, order: 0, purchase: 1, purchaseSum: 2 },
        { users: 1, order: 1, purchase: 1, purchaseSum: 4 },
      ];
      expect({ a: totals(a), b: totals(b) }).toEqual({ a: expected, b: expected });
    });
  }

  it('a stop freezes the fleet totals this replica last read, and it sends nothing more for that key', async () => {
    const [a, b] = await replicas(2);
    see(a, 1_000, 'u1', 'canary', 'GET', '/shop');
    await a.fleet.flush();
    const record = a.book.record('checkout')!;
    record.stop({ at: '2026-12-02T06:00:00.000Z', actor: 'ops' }, null);
    expect(record.freeze().arms.map((arm) => arm.users)).toEqual([0, 1]);
    see(a, 2_000, 'u2', 'canary', 'GET', '/shop');
    await a.fleet.flush();
    await b.fleet.flush();
    expect(totals(b).map((arm) => arm.users)).toEqual([0, 1]);
  });

  it('deduplicates an anonymous user by their cookie id: a pre-conversion cookie replayed on another replica converts no more', async () => {
    const anonymous = validateConfig({
      upstreams: { stable: 'http://127.0.0.1:3001', canary: 'http://127.0.0.1:3002' },
      routes: [{ name: 'shop', stable: 'stable', canary: 'canary', weight: 50, sticky: { key: ['header:x-user-id'], cookie: false } }],
      experimentSettings: { cookie: { secret: 'sixteen-chars-at-least' } },
      experiments: [{ key: 'checkout', route: 'shop', exposure: { match: { pathPrefix: '/shop' } }, conversions: [{ name: 'order', match: { method: 'POST', path: '/orders' } }, { name: 'purchase', header: true }] }],
    });
    const [a, b] = await replicas(2);
    const visit = (r: Replica, atMs: number, method: string, url: string, cookie?: string) => {
      r.clock = atMs;
      r.book.planOf(anonymous);
      return r.book.begin(anonymous, 'shop', 'canary', null, method, url, cookie)!.responded(200, [])?.split(';')[0];
    };
    const old = visit(a, 10_000, 'GET', '/shop')!;
    expect(visit(a, 11_000, 'POST', '/orders', old)).toMatch(/^sg_exp=@/);
    visit(b, 12_000, 'POST', '/orders', old);
    for (const r of [a, b, a, b]) expect(await r.fleet.flush()).toBe(true);
    expect(totals(b).map((arm) => [arm.users, arm.order])).toEqual([
      [0, 0],
      [1, 1],
    ]);
  });
});

const experimentKeysOf = (r: Replica) => experimentKeys(r.fleetName, 'checkout');

/** What a stopping replica adds to the fleet's totals, as the experiments view takes it. */
function look(actor: string, at = '2026-12-02T06:00:00.000Z') {
  return () => ({ stopped: { at, actor }, guardrails: null, treatmentPercent: 50, minimumPValues: {}, evictions: 0, trackedUsers: 1 });
}

describe('a stop shared by the fleet (fleet-experiment-stop.ts)', () => {
  const experimentOf = (r: Replica) => r.book.plan!.all.find((e) => e.key === 'checkout')!;

  it('freezes the fleet totals at the stop on every replica, and later events from a replica not yet told count nothing', async () => {
    const [a, b] = await replicas(2);
    see(a, 1_000, 'u1', 'canary', 'GET', '/shop');
    see(b, 1_000, 'u2', 'stable', 'GET', '/shop');
    await b.fleet.flush();
    // A hands in u1 as part of the stop: the frozen totals are the fleet's, u1 and u2.
    const outcome = await a.fleet.stopExperiment(experimentOf(a), look('ops'));
    expect(outcome.won).toBe(true);
    expect(outcome.frozen.arms.map((arm) => arm.users)).toEqual([1, 1]);
    expect(a.book.record('checkout')!.stopped).toEqual({ at: '2026-12-02T06:00:00.000Z', actor: 'ops' });
    // B has not read the stop yet and counts on; Redis refuses its events (the stop is in the same slot).
    see(b, 2_000, 'u3', 'canary', 'GET', '/shop');
    see(b, 2_500, 'u2', 'stable', 'POST', '/orders');
    expect(await b.fleet.flush()).toBe(true);
    // Told once, to keep it in B's state file.
    expect(b.adopted).toEqual(['checkout']);
    expect(a.adopted).toEqual([]);
    const record = b.book.record('checkout')!;
    expect(record.stopped).toEqual({ at: '2026-12-02T06:00:00.000Z', actor: 'ops' });
    expect(record.freeze()).toEqual(a.book.record('checkout')!.freeze());
    expect(totals(b)).toEqual(totals(a));
    expect(totals(b).map((arm) => [arm.users, arm.order])).toEqual([
      [1, 0],
      [1, 0],
    ]);
    // The users are let go in Redis; only the stop (no expiry) remains.
    const client = await redis.client();
    const keys = experimentKeysOf(a);
    expect(await client.exists([keys.users, keys.counted, keys.totals])).toBe(0);
    expect(await client.pTTL(keys.stop)).toBe(-1);
  });

  it('a replica that starts after the stop reads it on its first flush', async () => {
    const [a, , late] = await replicas(3);
    see(a, 1_000, 'u1', 'canary', 'GET', '/shop');
    await a.fleet.stopExperiment(experimentOf(a), look('ops'));
    expect(late.book.record('checkout')!.stopped).toBeNull();
    await late.fleet.flush();
    expect(late.book.record('checkout')!.freeze()).toEqual(a.book.record('checkout')!.freeze());
  });

  it('a replica reads the stop as it starts, not a flush interval later', async () => {
    const [a, late] = await replicas(2);
    see(a, 1_000, 'u1', 'canary', 'GET', '/shop');
    await a.fleet.stopExperiment(experimentOf(a), look('ops'));
    const starting = new FleetExperiments({ client: await redis.client(), fleet: late.fleetName, book: late.book, logger: silent, flushEveryMs: 60_000 });
    starting.start();
    try {
      const deadline = Date.now() + 5_000;
      while (late.book.record('checkout')!.stopped === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      expect(late.book.record('checkout')!.freeze()).toEqual(a.book.record('checkout')!.freeze());
    } finally {
      await starting.stop();
    }
  });

  it('two replicas stopping at once: one stop is stored, the other replica gets that record back', async () => {
    const [a, b] = await replicas(2);
    see(a, 1_000, 'u1', 'canary', 'GET', '/shop');
    see(b, 1_000, 'u2', 'stable', 'GET', '/shop');
    const outcomes = await Promise.all([a.fleet.stopExperiment(experimentOf(a), look('alice', '2026-12-02T06:00:00.000Z')), b.fleet.stopExperiment(experimentOf(b), look('bob', '2026-12-02T06:00:00.001Z'))]);
    expect(outcomes.map((o) => o.won).sort()).toEqual([false, true]);
    expect(outcomes[0].frozen).toEqual(outcomes[1].frozen);
    expect(a.book.record('checkout')!.freeze()).toEqual(b.book.record('checkout')!.freeze());
  });

  it('Redis back empty: a replica holding the stop writes it again, and a replica started then reads it', async () => {
    const [a, , late] = await replicas(3);
    see(a, 1_000, 'u1', 'canary', 'GET', '/shop');
    await a.fleet.stopExperiment(experimentOf(a), look('ops'));
    const client = await redis.client();
    await client.flushAll();
    await a.fleet.flush();
    expect(await client.exists(experimentKeysOf(a).stop)).toBe(1);
    see(late, 2_000, 'u9', 'stable', 'GET', '/shop');
    await late.fleet.flush();
    expect(late.book.record('checkout')!.freeze()).toEqual(a.book.record('checkout')!.freeze());
    expect(late.adopted).toEqual(['checkout']);
    // Once: the same stop is not taken again at the next flush.
    await late.fleet.flush();
    expect(late.adopted).toEqual(['checkout']);
  });

  it('stops made on two replicas alone (before stops were shared) converge on the one written first', async () => {
    const [a, b] = await replicas(2);
    see(a, 1_000, 'u1', 'canary', 'GET', '/shop');
    await a.fleet.flush();
    await b.fleet.flush();
    a.book.record('checkout')!.stop({ at: '2026-12-01T00:00:00.000Z', actor: 'alice' }, null);
    see(b, 2_000, 'u2', 'stable', 'GET', '/shop');
    b.book.record('checkout')!.stop({ at: '2026-12-01T00:00:01.000Z', actor: 'bob' }, null);
    await a.fleet.flush();
    await b.fleet.flush();
    expect(b.book.record('checkout')!.stopped).toEqual({ at: '2026-12-01T00:00:00.000Z', actor: 'alice' });
    expect(totals(b)).toEqual(totals(a));
    expect(b.adopted).toEqual(['checkout']);
    expect(a.adopted).toEqual([]);
  });

  it('Redis unreachable at the stop: FleetUnavailableError (503 SG_FLEET_UNAVAILABLE), and nothing is stopped', async () => {
    const [a] = await replicas(1);
    const broken = new FleetExperiments({ client: { sendCommand: () => Promise.reject(new Error('ECONNREFUSED')) }, fleet: 'nowhere', book: a.book, logger: silent });
    const error = await broken.stopExperiment(experimentOf(a), look('ops')).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'SG_FLEET_UNAVAILABLE', status: 503 });
    expect(a.book.record('checkout')!.stopped).toBeNull();
  });

  it('a stop that reaches Redis after its deadline is refused there (the caller answered 503 already)', async () => {
    const [a] = await replicas(1);
    const client = await redis.client();
    const keys = experimentKeysOf(a);
    const reply = await client.sendCommand(['EVAL', STOP_SCRIPT, '5', keys.users, keys.counted, keys.pending, keys.totals, keys.stop, '{}', String(Date.now() - 1_000)]);
    expect(reply).toEqual(['expired']);
    expect(await client.exists(keys.stop)).toBe(0);
  });
});
