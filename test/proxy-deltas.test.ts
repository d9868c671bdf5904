/**
 * The proxy's own counts from workers to the supervisor: deltas add up to the workers' totals exactly, however
 * often they are taken; gauges are each worker's latest and leave with it; counters stay when a worker exits.
 */
import { describe, expect, it } from 'vitest';
import type { UpgradeTotals } from '../src/metrics/listener-metrics.js';
import { isProxyDelta, ProxyDeltaTaker, ProxyTotals, type ShippedGuard } from '../src/metrics/proxy-deltas.js';
import type { GuardPhase, GuardState } from '../src/proxy/canary-guard.js';
import { REJECTION_REASONS } from '../src/proxy/client-limits.js';

function fakeWorker() {
  const guard = { route: 'api', retries: { ok: 0, failed: 0, budget_exhausted: 0 }, ejections: 0, ejected: false, phase: 'closed' as GuardPhase, unhealthy: false, ejectedUntil: 0 };
  const rejections = new Map<string, number>([['header_too_large', 0]]);
  const upgrade = { route: 'api', version: 'canary', open: 0, closed: 0, bytesIn: 0, bytesOut: 0, seconds: 0 };
  const jwt = new Map<string, number>();
  const listener = { accepted: 0 };
  const taker = new ProxyDeltaTaker({
    guards: () => [guard as ShippedGuard],
    listener: { connections: () => 0, rejections: () => rejections, upgrades: () => [upgrade as UpgradeTotals] },
    jwt: () => jwt,
    accepted: () => listener.accepted,
  });
  return { guard, rejections, upgrade, jwt, listener, taker };
}

describe('proxy deltas', () => {
  it('add up to every worker\'s totals, taken at any moments', () => {
    const jwtTotals = new Map<string, number>();
    const totals = new ProxyTotals(jwtTotals);
    const workers = [fakeWorker(), fakeWorker()];
    let seed = 7;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    for (let step = 0; step < 500; step++) {
      const index = random() < 0.5 ? 0 : 1;
      const w = workers[index]!;
      w.guard.retries.ok += Math.floor(random() * 3);
      w.guard.retries.budget_exhausted += random() < 0.1 ? 1 : 0;
      w.guard.ejections += random() < 0.05 ? 1 : 0;
      w.rejections.set('header_too_large', w.rejections.get('header_too_large')! + (random() < 0.2 ? 1 : 0));
      w.upgrade.closed += random() < 0.1 ? 1 : 0;
      w.upgrade.bytesIn += Math.floor(random() * 100);
      w.listener.accepted += random() < 0.2 ? 1 : 0;
      const result = random() < 0.8 ? 'valid' : 'expired';
      if (random() < 0.3) w.jwt.set(result, (w.jwt.get(result) ?? 0) + 1);
      if (random() < 0.3) {
        const delta = w.taker.take(Math.floor(random() * 10));
        if (delta !== null) {
          expect(isProxyDelta(JSON.parse(JSON.stringify(delta)))).toBe(true);
          totals.apply(index, delta);
        }
      }
    }
    workers.forEach((w, index) => {
      const delta = w.taker.take(0);
      if (delta !== null) totals.apply(index, delta);
    });
    const [guard] = [...totals.guards()];
    const sum = (pick: (w: ReturnType<typeof fakeWorker>) => number) => workers.reduce((total, w) => total + pick(w), 0);
    expect(guard!.retries).toEqual({ ok: sum((w) => w.guard.retries.ok), failed: 0, budget_exhausted: sum((w) => w.guard.retries.budget_exhausted) });
    expect(guard!.ejections).toBe(sum((w) => w.guard.ejections));
    // Every reason, as a single process lists them (0 where no worker refused anything).
    expect(new Map(totals.listener.rejections())).toEqual(new Map(REJECTION_REASONS.map((r) => [r, r === 'header_too_large' ? sum((w) => w.rejections.get(r)!) : 0])));
    const [upgrade] = [...totals.listener.upgrades()];
    expect(upgrade).toMatchObject({ closed: sum((w) => w.upgrade.closed), bytesIn: sum((w) => w.upgrade.bytesIn) });
    expect(Object.fromEntries(jwtTotals)).toEqual({ valid: sum((w) => w.jwt.get('valid') ?? 0), expired: sum((w) => w.jwt.get('expired') ?? 0) });
    expect(jwtTotals.get('valid')).toBeGreaterThan(0);
    expect(totals.acceptedConnections).toBe(sum((w) => w.listener.accepted));
    expect(totals.acceptedConnections).toBeGreaterThan(0);
  });

  it('takes nothing when nothing changed; gauges leave with their worker, counters stay', () => {
    const totals = new ProxyTotals();
    const [a, b] = [fakeWorker(), fakeWorker()];
    a.guard.retries.ok = 5;
    a.guard.ejected = true;
    a.upgrade.open = 2;
    totals.apply(0, a.taker.take(3)!);
    expect(a.taker.take(3)).toBeNull();
    b.upgrade.open = 1;
    totals.apply(1, b.taker.take(4)!);
    expect(totals.listener.connections()).toBe(7);
    expect([...totals.listener.upgrades()][0]!.open).toBe(3);
    expect([...totals.guards()][0]).toMatchObject({ ejected: true, retries: { ok: 5 } });
    totals.withdraw(0);
    expect(totals.listener.connections()).toBe(4);
    expect([...totals.listener.upgrades()][0]!.open).toBe(1);
    expect([...totals.guards()][0]).toMatchObject({ ejected: false, retries: { ok: 5 } });
  });

  it("gives the supervisor the machine's guard: ejected while any worker has it ejected, counts summed", () => {
    const totals = new ProxyTotals();
    const [a, b] = [fakeWorker(), fakeWorker()];
    // The supervisor's own guard: it proxies nothing, but its health checks may hold the canary unhealthy.
    const own: GuardState = { phase: 'closed', ejected: false, unhealthy: false, ejections: 0, ejectedUntil: 0, retries: { ok: 0, failed: 0, budget_exhausted: 0 } };
    expect(totals.guardState('api', own)).toEqual({ ...own, workers: { ejected: 0, reporting: 0 } });

    Object.assign(a.guard, { ejected: true, phase: 'ejected', ejections: 2, ejectedUntil: 5_000, retries: { ok: 3, failed: 0, budget_exhausted: 1 } });
    Object.assign(b.guard, { phase: 'probing', ejections: 1, retries: { ok: 4, failed: 1, budget_exhausted: 0 } });
    totals.apply(0, a.taker.take(0)!);
    totals.apply(1, b.taker.take(0)!);
    expect(totals.guardState('api', own)).toEqual({
      phase: 'ejected',
      ejected: true,
      unhealthy: false,
      ejections: 3,
      ejectedUntil: 5_000,
      retries: { ok: 7, failed: 1, budget_exhausted: 1 },
      workers: { ejected: 1, reporting: 2 },
    });

    // Worker a restored the canary; b still probes it. The ejections stay counted.
    Object.assign(a.guard, { ejected: false, phase: 'closed', ejectedUntil: 0 });
    totals.apply(0, a.taker.take(0)!);
    expect(totals.guardState('api', own)).toMatchObject({ phase: 'probing', ejected: false, ejections: 3, ejectedUntil: 0, workers: { ejected: 0, reporting: 2 } });

    // Failing health checks (seen by the supervisor's own checker) eject the canary whatever the workers said yet.
    expect(totals.guardState('api', { ...own, ejected: true, unhealthy: true })).toMatchObject({ ejected: true, unhealthy: true, workers: { ejected: 0 } });
    // A worker that exits takes its gauges along; a route no worker reported shows the supervisor's own guard.
    totals.withdraw(1);
    expect(totals.guardState('api', own)).toMatchObject({ phase: 'closed', workers: { ejected: 0, reporting: 1 } });
    expect(totals.guardState('other', own)).toEqual({ ...own, workers: { ejected: 0, reporting: 0 } });
  });

  it("leaves out a worker's ejection that crossed another worker's, from that worker's next counts only", () => {
    const totals = new ProxyTotals();
    const [a, b] = [fakeWorker(), fakeWorker()];
    const own: GuardState = { phase: 'closed', ejected: false, unhealthy: false, ejections: 0, ejectedUntil: 0, retries: { ok: 0, failed: 0, budget_exhausted: 0 } };
    // Both ejected on the same failures; b's event reached the supervisor second, before b's counts did.
    totals.discountEjection(1, 'api');
    Object.assign(a.guard, { ejected: true, phase: 'ejected', ejections: 1 });
    Object.assign(b.guard, { ejected: true, phase: 'ejected', ejections: 1 });
    totals.apply(0, a.taker.take(0)!);
    expect(totals.guardState('api', own).ejections).toBe(1);
    totals.apply(1, b.taker.take(0)!);
    expect(totals.guardState('api', own).ejections).toBe(1);
    // Used up: b's next ejection of its own (a failed probe, say) counts.
    b.guard.ejections = 2;
    totals.apply(1, b.taker.take(0)!);
    expect(totals.guardState('api', own).ejections).toBe(2);
    // A crossing ejection whose guard a reload dropped before it was shipped never comes: the worker's next deltas
    // settle the discount all the same, and a later real ejection counts.
    totals.discountEjection(1, 'api');
    b.guard.retries.ok++;
    totals.apply(1, b.taker.take(0)!);
    b.guard.ejections = 3;
    totals.apply(1, b.taker.take(0)!);
    expect(totals.guardState('api', own).ejections).toBe(3);
    // A worker killed before it shipped the crossing ejection takes that discount with it.
    totals.discountEjection(1, 'api');
    totals.withdraw(1);
    const replacement = fakeWorker();
    replacement.guard.ejections = 1;
    totals.apply(1, replacement.taker.take(0)!);
    expect(totals.guardState('api', own).ejections).toBe(4);
    expect([...totals.guards()][0].ejections).toBe(4);
  });

  it("counts each of a route's guards from its own 0 when a reload renamed the canary, however often it is taken", () => {
    const zero = () => ({ ok: 0, failed: 0, budget_exhausted: 0 });
    type Mutable = { -readonly [K in keyof ShippedGuard]: ShippedGuard[K] } & { retries: { ok: number; failed: number; budget_exhausted: number } };
    const shipped = (overrides: Partial<ShippedGuard>): Mutable => ({ route: 'api', retries: zero(), ejections: 0, ejected: false, phase: 'closed', unhealthy: false, ejectedUntil: 0, ...overrides });
    // The old canary's guard (ejected 3 times, still finishing requests) and the new canary's.
    const old = shipped({ ejections: 3, retries: { ok: 6, failed: 0, budget_exhausted: 1 }, ejected: true, phase: 'ejected' });
    const current = shipped({});
    const guards = [old, current];
    const taker = new ProxyDeltaTaker({ guards: () => guards, listener: { connections: () => 0, rejections: () => [], upgrades: () => [] } });
    const totals = new ProxyTotals();
    for (let take = 0; take < 5; take++) {
      const delta = taker.take(0);
      if (delta !== null) totals.apply(0, delta);
    }
    expect([...totals.guards()]).toEqual([{ route: 'api', retries: { ok: 6, failed: 0, budget_exhausted: 1 }, ejections: 3, ejected: false }]);
    // The current table's guard (listed last) gives the route's state, not the old one's.
    const own = { phase: 'closed', ejected: false, unhealthy: false, ejections: 0, ejectedUntil: 0, retries: zero() } as const;
    expect(totals.guardState('api', own)).toMatchObject({ phase: 'closed', ejected: false, ejections: 3 });

    current.ejections = 1;
    current.retries.ok = 2;
    totals.apply(0, taker.take(0)!);
    // The old guard dropped: nothing more from it, nothing taken back.
    guards.splice(0, 1);
    expect(taker.take(0)).toBeNull();
    // A guard made again for the route (the canary renamed back) counts from its own 0.
    guards.push(shipped({ ejections: 1 }));
    totals.apply(0, taker.take(0)!);
    expect([...totals.guards()][0]).toMatchObject({ ejections: 3 + 1 + 1, retries: { ok: 8 } });
  });

  it("takes a route's state from the guard the table in force uses, wherever the book lists it", () => {
    const zero = () => ({ ok: 0, failed: 0, budget_exhausted: 0 });
    // The canary renamed A -> B -> A while B still drains: the book lists A (made first) before B.
    const a = { route: 'api', retries: zero(), ejections: 0, ejected: false, phase: 'closed', unhealthy: false, ejectedUntil: 0 } as ShippedGuard;
    const b = { route: 'api', retries: zero(), ejections: 1, ejected: true, phase: 'ejected', unhealthy: false, ejectedUntil: 9_000 } as ShippedGuard;
    const taker = new ProxyDeltaTaker({ guards: () => [a, b], current: () => new Set([a]), listener: { connections: () => 0, rejections: () => [], upgrades: () => [] } });
    const delta = taker.take(0)!;
    expect(delta.ejected).toEqual([['api', false, 'closed', false, 0]]);
    expect(delta.ejections).toEqual([['api', 1]]);
  });

  it('refuses malformed messages', () => {
    expect(isProxyDelta(null)).toBe(false);
    expect(isProxyDelta({ retries: [], ejections: [], rejections: [], upgrades: [], ejected: [], upgradesOpen: [], connections: Number.NaN })).toBe(false);
    expect(isProxyDelta({ retries: [], ejections: [], rejections: [], upgrades: [], ejected: [], upgradesOpen: [], connections: 0 })).toBe(true);
    expect(isProxyDelta({ retries: [], ejections: [], rejections: [], upgrades: [], jwt: [['valid', 'x']], ejected: [], upgradesOpen: [], connections: 0 })).toBe(false);
    expect(isProxyDelta({ retries: [], ejections: [], rejections: [], upgrades: [], ejected: [['api', true, 'ejected', false, 1]], upgradesOpen: [], connections: 0 })).toBe(true);
    expect(isProxyDelta({ retries: [], ejections: [], rejections: [], upgrades: [], ejected: [['api', true]], upgradesOpen: [], connections: 0 })).toBe(false);
    expect(isProxyDelta({ retries: [], ejections: [], rejections: [], upgrades: [], ejected: [['api', true, 'gone', false, 1]], upgradesOpen: [], connections: 0 })).toBe(false);
    expect(isProxyDelta({ retries: [], ejections: [], rejections: [], upgrades: [], ejected: [], upgradesOpen: [], connections: 0, accepted: 3 })).toBe(true);
    expect(isProxyDelta({ retries: [], ejections: [], rejections: [], upgrades: [], ejected: [], upgradesOpen: [], connections: 0, accepted: -1 })).toBe(false);
  });
});
