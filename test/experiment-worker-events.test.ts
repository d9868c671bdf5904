import { describe, expect, it } from 'vitest';
import { validateConfig } from '../src/config/load.js';
import { ExperimentBook } from '../src/experiments/experiment-book.js';
import type { ExperimentEvent } from '../src/experiments/worker-events.js';

const config = validateConfig({
  upstreams: { stable: 'http://127.0.0.1:3001', canary: 'http://127.0.0.1:3002' },
  routes: [{ name: 'shop', stable: 'stable', canary: 'canary', weight: 50, sticky: { key: ['header:x-user-id'] } }],
  experiments: [
    {
      key: 'checkout',
      route: 'shop',
      exposure: { match: { pathPrefix: '/shop' } },
      conversions: [
        { name: 'order', match: { method: 'POST', path: '/orders', status: '2xx' } },
        { name: 'purchase', header: true },
      ],
      conversionWindow: '1h',
    },
  ],
});

/** Mulberry32: a seeded generator, so a failure replays. */
function seeded(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function totals(book: ExperimentBook) {
  const record = book.record('checkout')!;
  return record.arms.map((arm) => ({ users: arm.users, conversions: Object.fromEntries([...arm.conversions].sort().map(([name, t]) => [name, { ...t }])) }));
}

const REQUESTS: ReadonlyArray<[method: string, url: string, status: number, header?: string]> = [
  ['GET', '/shop/item', 200],
  ['GET', '/other', 200],
  ['POST', '/orders', 201],
  ['POST', '/orders', 500],
  ['GET', '/thanks', 200, 'purchase;value=3'],
  ['GET', '/thanks', 200, 'purchase;value=5'],
];

describe('experiments across workers', () => {
  it.each([1, 2, 3, 4, 5])('the supervisor merging two workers’ events equals one process seeing every request (seed %i)', (seed) => {
    const random = seeded(seed);
    let now = Date.UTC(2026, 0, 1);
    const single = new ExperimentBook({ now: () => now });
    const workers = [0, 1].map(() => new ExperimentBook({ now: () => now, reportToSupervisor: true }));
    const supervisor = new ExperimentBook();
    supervisor.planOf(config);
    const batches: ExperimentEvent[][] = [];
    for (let i = 0; i < 3000; i++) {
      now += Math.floor(random() * 3000); // ~75 minutes in all: some conversions fall outside the 1h window
      const user = `u${Math.floor(random() * 300)}`;
      const arm = Number(user.slice(1)) % 3 === 0 ? 'canary' : 'stable';
      const [method, url, status, header] = REQUESTS[Math.floor(random() * REQUESTS.length)];
      const worker = workers[random() < 0.5 ? 0 : 1];
      for (const book of [single, worker]) {
        const headers = header === undefined ? [] : ['x-splitgate-conversion', header];
        book.begin(config, 'shop', arm, user, method, url, undefined)!.responded(status, headers);
      }
      // Batches are taken now and then and delivered out of order: a worker's exposure may arrive after another's conversion.
      if (random() < 0.02) for (const w of workers) batches.push(w.takeEvents() ?? []);
    }
    for (const w of workers) batches.push(w.takeEvents() ?? []);
    for (let i = batches.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [batches[i], batches[j]] = [batches[j], batches[i]];
    }
    for (const batch of batches) supervisor.applyEvents(batch);
    expect(totals(supervisor)).toEqual(totals(single));
    expect(totals(single)[0].users + totals(single)[1].users).toBeGreaterThan(200);
    expect(totals(single)[1].conversions.purchase.converters).toBeGreaterThan(20);
  });

  it('a worker reports each user at most once per exposure and conversion, however many requests', () => {
    const worker = new ExperimentBook({ reportToSupervisor: true });
    for (let i = 0; i < 50; i++) {
      worker.begin(config, 'shop', 'canary', 'u1', 'GET', '/shop', undefined)!.responded(200, []);
      worker.begin(config, 'shop', 'canary', 'u1', 'POST', '/orders', undefined)!.responded(201, []);
    }
    expect(worker.takeEvents()!.map((e) => [e.user, e.conversion])).toEqual([
      ['u1', null],
      ['u1', 'order'],
    ]);
    expect(worker.takeEvents()).toBeNull();
    // A worker counts nothing itself.
    expect(worker.record('checkout')!.arms[1].users).toBe(0);
  });

  it('the supervisor counts no conversion before the exposure or after the window', () => {
    const supervisor = new ExperimentBook();
    supervisor.planOf(config);
    const at = Date.UTC(2026, 0, 1);
    const event = (user: string, ms: number, conversion: string | null): ExperimentEvent => ({ experiment: 'checkout', user, arm: 1, at: at + ms, conversion, value: 0 });
    supervisor.applyEvents([event('early', 0, 'order'), event('late', 3_601_000, 'order'), event('ok', 5_000, 'order')]);
    supervisor.applyEvents([event('early', 1000, null), event('late', 0, null), event('ok', 0, null), event('ok', 10, null)]);
    expect(totals(supervisor)[1]).toEqual({ users: 3, conversions: { order: { converters: 1, valueSum: 0, valueSquares: 0 } } });
  });

  it('counts a conversion after an exposure seen on another worker, though one before it came first in the same batch', () => {
    let now = Date.UTC(2026, 0, 1);
    const [orders, shop] = [0, 1].map(() => new ExperimentBook({ now: () => now, reportToSupervisor: true }));
    const supervisor = new ExperimentBook();
    supervisor.planOf(config);
    // One batch on each worker: an order before the exposure (not counted), the exposure elsewhere, an order after it.
    orders.begin(config, 'shop', 'canary', 'u1', 'POST', '/orders', undefined)!.responded(201, []);
    now += 100;
    shop.begin(config, 'shop', 'canary', 'u1', 'GET', '/shop', undefined)!.responded(200, []);
    now += 100;
    orders.begin(config, 'shop', 'canary', 'u1', 'POST', '/orders', undefined)!.responded(201, []);
    now += 100;
    orders.begin(config, 'shop', 'canary', 'u1', 'POST', '/orders', undefined)!.responded(201, []);
    const fromOrders = orders.takeEvents()!;
    // The first and the latest of the batch, never one per request.
    expect(fromOrders.map((e) => e.at - Date.UTC(2026, 0, 1))).toEqual([0, 300]);
    supervisor.applyEvents(fromOrders);
    supervisor.applyEvents(shop.takeEvents()!);
    expect(totals(supervisor)[1]).toEqual({ users: 1, conversions: { order: { converters: 1, valueSum: 0, valueSquares: 0 } } });
  });
});
