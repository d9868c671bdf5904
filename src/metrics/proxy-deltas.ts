/**
 * The proxy side's own counts (retries and ejections of the canary guards, the listener's client rejections and
 * upgraded connections) from workers to the supervisor, next to the series deltas (series-delta.ts). A worker
 * ships what its counters grew by since its previous take, and its gauges' current values; the supervisor adds the
 * counters up for good (a worker that exits keeps its share, as a Prometheus counter must) and keeps each worker's
 * gauges until it exits. So `splitgate_retries_total`, `splitgate_upstream_ejections_total`,
 * `splitgate_upstream_ejected`, `splitgate_jwt_verifications_total`, `splitgate_client_*` and `splitgate_websocket_*` on the supervisor's /metrics
 * cover the machine. Taken at most about once a second and on scrape, never per request.
 */
import type { GuardPhase, GuardState } from '../proxy/canary-guard.js';
import { REJECTION_REASONS } from '../proxy/client-limits.js';
import type { ListenerSource, UpgradeTotals } from './listener-metrics.js';
import type { GuardCounts } from './metrics.js';

const RETRY_RESULTS = ['ok', 'failed', 'budget_exhausted'] as const;
type RetryResult = (typeof RETRY_RESULTS)[number];

/** What one worker's proxy counted since its previous take, plus its gauges now. Plain data for IPC. */
export interface ProxyDelta {
  readonly retries: ReadonlyArray<readonly [route: string, result: RetryResult, count: number]>;
  readonly ejections: ReadonlyArray<readonly [route: string, count: number]>;
  readonly rejections: ReadonlyArray<readonly [reason: string, count: number]>;
  readonly upgrades: ReadonlyArray<readonly [route: string, version: string, closed: number, bytesIn: number, bytesOut: number, seconds: number]>;
  /** JWT verifications by result (absent from a worker that predates them). */
  readonly jwt?: ReadonlyArray<readonly [result: string, count: number]>;
  /** Gauges: replace what the same worker said before. */
  readonly ejected: ReadonlyArray<readonly [route: string, ejected: boolean, phase: GuardPhase, unhealthy: boolean, ejectedUntil: number]>;
  readonly connections: number;
  readonly upgradesOpen: ReadonlyArray<readonly [route: string, version: string, open: number]>;
  /** Client connections accepted since the previous take (absent from a worker that predates it). */
  readonly accepted?: number;
}

/** What a worker ships of one canary guard: its counts, and its state for the supervisor's /status and rollouts. */
export type ShippedGuard = GuardCounts & Pick<GuardState, 'phase' | 'unhealthy' | 'ejectedUntil'>;

interface GuardShipped {
  readonly ok: number;
  readonly failed: number;
  readonly budget_exhausted: number;
  readonly ejections: number;
}

/** Where a worker reads its counts: its canary guards and its listener. */
export interface ProxyCountSources {
  guards(): Iterable<ShippedGuard>;
  listener: ListenerSource;
  /** Token verifications by result, totals since start. */
  jwt?: () => Iterable<readonly [string, number]>;
  /** The guards the table in force routes by: a route's state is its current guard's, not a draining one's. */
  current?: () => ReadonlySet<unknown>;
  /** Client connections the listener accepted since start. */
  accepted?: () => number;
}

/** In a worker: takes what grew since the previous take. */
export class ProxyDeltaTaker {
  readonly #sources: ProxyCountSources;
  readonly #shipped = new Map<string, number>();
  /**
   * What was shipped of each guard, by the guard itself: a route has two for a while when a reload renames its
   * canary (the old one kept until its requests finish), and each counts from its own 0.
   */
  #guardsShipped = new Map<ShippedGuard, GuardShipped>();
  #gauges = '';

  constructor(sources: ProxyCountSources) {
    this.#sources = sources;
  }

  /**
   * The counts since the previous take, or null when no counter grew and no gauge changed. Synchronous, so that two
   * takes never interleave; the open connection count (an asynchronous read) is passed in.
   */
  take(connections: number): ProxyDelta | null {
    const retries: Array<readonly [string, RetryResult, number]> = [];
    const ejections: Array<readonly [string, number]> = [];
    // Per route: the state of the guard the table in force uses (else the last listed); counts are each guard's
    // growth, added up.
    const current = this.#sources.current?.();
    const states = new Map<string, ProxyDelta['ejected'][number]>();
    const fromCurrent = new Set<string>();
    const shipped = new Map<ShippedGuard, GuardShipped>();
    for (const guard of this.#sources.guards()) {
      const before = this.#guardsShipped.get(guard) ?? { ok: 0, failed: 0, budget_exhausted: 0, ejections: 0 };
      for (const result of RETRY_RESULTS) {
        const grown = guard.retries[result] - before[result];
        if (grown > 0) retries.push([guard.route, result, grown]);
      }
      const grown = guard.ejections - before.ejections;
      if (grown > 0) ejections.push([guard.route, grown]);
      shipped.set(guard, { ...guard.retries, ejections: guard.ejections });
      if (fromCurrent.has(guard.route)) continue;
      states.set(guard.route, [guard.route, guard.ejected, guard.phase, guard.unhealthy, guard.ejectedUntil]);
      if (current?.has(guard) === true) fromCurrent.add(guard.route);
    }
    // Guards no longer listed are gone for good (a guard made again for the same route starts at 0).
    this.#guardsShipped = shipped;
    const ejected = [...states.values()];
    const rejections: Array<readonly [string, number]> = [];
    for (const [reason, count] of this.#sources.listener.rejections()) {
      const grown = this.#grow(`x\n${reason}`, count);
      if (grown > 0) rejections.push([reason, grown]);
    }
    const upgrades: Array<readonly [string, string, number, number, number, number]> = [];
    const upgradesOpen: Array<readonly [string, string, number]> = [];
    for (const u of this.#sources.listener.upgrades()) {
      const key = `u\n${u.route}\n${u.version}`;
      const closed = this.#grow(`${key}\nclosed`, u.closed);
      const bytesIn = this.#grow(`${key}\nin`, u.bytesIn);
      const bytesOut = this.#grow(`${key}\nout`, u.bytesOut);
      const seconds = this.#grow(`${key}\nseconds`, u.seconds);
      if (closed + bytesIn + bytesOut + seconds > 0) upgrades.push([u.route, u.version, closed, bytesIn, bytesOut, seconds]);
      upgradesOpen.push([u.route, u.version, u.open]);
    }
    const jwt: Array<readonly [string, number]> = [];
    for (const [result, count] of this.#sources.jwt?.() ?? []) {
      const grown = this.#grow(`j\n${result}`, count);
      if (grown > 0) jwt.push([result, grown]);
    }
    const accepted = this.#grow('a', this.#sources.accepted?.() ?? 0);
    const gauges = JSON.stringify([ejected, connections, upgradesOpen]);
    const gaugesChanged = gauges !== this.#gauges;
    this.#gauges = gauges;
    if (!gaugesChanged && retries.length + ejections.length + rejections.length + upgrades.length + jwt.length + accepted === 0) return null;
    return { retries, ejections, rejections, upgrades, jwt, ejected, connections, upgradesOpen, accepted };
  }

  #grow(key: string, total: number): number {
    const before = this.#shipped.get(key) ?? 0;
    this.#shipped.set(key, total);
    // A total below what was shipped (a guard dropped and made again by a reload) starts over from 0.
    return total >= before ? total - before : total;
  }
}

interface WorkerGuard {
  readonly ejected: boolean;
  readonly phase: GuardPhase;
  readonly unhealthy: boolean;
  readonly ejectedUntil: number;
}

/** Worst first: a machine's canary is as far from closed as its furthest worker. */
const PHASE_RANK: Record<GuardPhase, number> = { closed: 0, probing: 1, ejected: 2 };

interface WorkerGauges {
  readonly guards: ReadonlyMap<string, WorkerGuard>;
  readonly connections: number;
  readonly upgradesOpen: ReadonlyMap<string, number>;
}

interface MutableUpgrade {
  route: string;
  version: string;
  closed: number;
  bytesIn: number;
  bytesOut: number;
  seconds: number;
}

/** In the supervisor: every worker's proxy counts added up, read by the metrics at scrape time. */
export class ProxyTotals {
  readonly #retries = new Map<string, { ok: number; failed: number; budget_exhausted: number }>();
  readonly #ejections = new Map<string, number>();
  /** Every reason at 0 from the start, as a single process exposes them: a first rejection is an increase. */
  readonly #rejections = new Map<string, number>(REJECTION_REASONS.map((reason) => [reason, 0]));
  readonly #upgrades = new Map<string, MutableUpgrade>();
  readonly #gauges = new Map<number, WorkerGauges>();
  /** Per slot and route: ejections that worker made which the machine had already made (see discountEjection). */
  readonly #crossings = new Map<number, Map<string, number>>();
  /** The supervisor's token verification counts (Metrics.jwtCounts), which only the workers' grow. */
  readonly #jwt: Map<string, number>;

  #accepted = 0;

  constructor(jwtCounts = new Map<string, number>()) {
    this.#jwt = jwtCounts;
  }

  /** Client connections the workers accepted, all together, since the supervisor started. */
  get acceptedConnections(): number {
    return this.#accepted;
  }

  apply(slot: number, delta: ProxyDelta): void {
    this.#accepted += delta.accepted ?? 0;
    for (const [result, count] of delta.jwt ?? []) this.#jwt.set(result, (this.#jwt.get(result) ?? 0) + count);
    for (const [route, result, count] of delta.retries) {
      if (!RETRY_RESULTS.includes(result)) continue;
      this.#retriesOf(route)[result] += count;
    }
    // Settled by this delta, whether it carries the crossing ejection or not: one it does not carry never comes
    // (its guard went with a reload before it was shipped), and must not take a later real ejection with it.
    const crossings = this.#crossings.get(slot);
    this.#crossings.delete(slot);
    for (const [route, count] of delta.ejections) {
      this.#retriesOf(route);
      const crossed = Math.min(count, crossings?.get(route) ?? 0);
      this.#ejections.set(route, (this.#ejections.get(route) ?? 0) + count - crossed);
    }
    for (const [reason, count] of delta.rejections) this.#rejections.set(reason, (this.#rejections.get(reason) ?? 0) + count);
    for (const [route, version, closed, bytesIn, bytesOut, seconds] of delta.upgrades) {
      const entry = this.#upgradeOf(route, version);
      entry.closed += closed;
      entry.bytesIn += bytesIn;
      entry.bytesOut += bytesOut;
      entry.seconds += seconds;
    }
    for (const [route] of delta.ejected) this.#retriesOf(route);
    for (const [route, version] of delta.upgradesOpen) this.#upgradeOf(route, version);
    this.#gauges.set(slot, {
      guards: new Map(delta.ejected.map(([route, ejected, phase, unhealthy, ejectedUntil]) => [route, { ejected, phase, unhealthy, ejectedUntil }])),
      connections: delta.connections,
      upgradesOpen: new Map(delta.upgradesOpen.map(([route, version, open]) => [`${route}\n${version}`, open])),
    });
  }

  /**
   * Worker `slot` ejected `route`'s canary on its own while another worker's ejection of it was already in force (both
   * saw the same failures): one ejection for the machine, as the event log says, so this one is left out of the
   * worker's next deltas, which carry it: the worker sends the event as it ejects, and takes and sends its deltas in
   * one go, over the same channel.
   */
  discountEjection(slot: number, route: string): void {
    let crossings = this.#crossings.get(slot);
    if (crossings === undefined) this.#crossings.set(slot, (crossings = new Map()));
    crossings.set(route, (crossings.get(route) ?? 0) + 1);
  }

  /** A worker exited: its gauges go (its connections and ejections went with it); its counts stay. */
  withdraw(slot: number): void {
    this.#gauges.delete(slot);
    // What it had not shipped is lost with it, the ejection to leave out included.
    this.#crossings.delete(slot);
  }

  /** One entry per route a worker reported a canary guard for; `ejected` while any worker has it ejected. */
  *guards(): Generator<GuardCounts> {
    for (const [route, retries] of this.#retries) {
      let ejected = false;
      for (const gauges of this.#gauges.values()) ejected ||= gauges.guards.get(route)?.ejected === true;
      yield { route, retries, ejections: this.#ejections.get(route) ?? 0, ejected };
    }
  }

  /**
   * `route`'s canary guard over the machine: the workers' (each ejects on its own share of the failures) and the
   * supervisor's own, whose health checks may hold the canary unhealthy. Ejected while any of them has it ejected;
   * ejections and retries summed, as /metrics shows them.
   */
  guardState(route: string, own: GuardState): GuardState {
    let phase = own.phase;
    let unhealthy = own.unhealthy;
    let ejectedUntil = own.ejectedUntil;
    let ejected = 0;
    let reporting = 0;
    for (const gauges of this.#gauges.values()) {
      const guard = gauges.guards.get(route);
      if (guard === undefined) continue;
      reporting++;
      if (guard.ejected) ejected++;
      if (PHASE_RANK[guard.phase] > PHASE_RANK[phase]) phase = guard.phase;
      unhealthy ||= guard.unhealthy;
      ejectedUntil = Math.max(ejectedUntil, guard.ejectedUntil);
    }
    return {
      phase,
      ejected: own.ejected || ejected > 0,
      unhealthy,
      ejections: own.ejections + (this.#ejections.get(route) ?? 0),
      ejectedUntil,
      retries: this.#retries.get(route) ?? own.retries,
      workers: { ejected, reporting },
    };
  }

  /** The machine's listener, for the splitgate_client_* and splitgate_websocket_* metrics. */
  readonly listener: ListenerSource = {
    connections: () => {
      let total = 0;
      for (const gauges of this.#gauges.values()) total += gauges.connections;
      return total;
    },
    rejections: () => this.#rejections,
    upgrades: () => this.#upgradeTotals(),
  };

  *#upgradeTotals(): Generator<UpgradeTotals> {
    for (const [key, entry] of this.#upgrades) {
      let open = 0;
      for (const gauges of this.#gauges.values()) open += gauges.upgradesOpen.get(key) ?? 0;
      yield { ...entry, open };
    }
  }

  #retriesOf(route: string): { ok: number; failed: number; budget_exhausted: number } {
    let entry = this.#retries.get(route);
    if (entry === undefined) {
      entry = { ok: 0, failed: 0, budget_exhausted: 0 };
      this.#retries.set(route, entry);
    }
    return entry;
  }

  #upgradeOf(route: string, version: string): MutableUpgrade {
    const key = `${route}\n${version}`;
    let entry = this.#upgrades.get(key);
    if (entry === undefined) {
      entry = { route, version, closed: 0, bytesIn: 0, bytesOut: 0, seconds: 0 };
      this.#upgrades.set(key, entry);
    }
    return entry;
  }
}

/** A shallow check of a message received over IPC, before ProxyTotals trusts it. */
export function isProxyDelta(value: unknown): value is ProxyDelta {
  if (typeof value !== 'object' || value === null) return false;
  const d = value as Partial<ProxyDelta>;
  return (
    Array.isArray(d.retries) && Array.isArray(d.ejections) && Array.isArray(d.rejections) && Array.isArray(d.upgrades) &&
    Array.isArray(d.ejected) && d.ejected.every(isShippedGuardState) && Array.isArray(d.upgradesOpen) && typeof d.connections === 'number' && Number.isFinite(d.connections) &&
    (d.accepted === undefined || (Number.isFinite(d.accepted) && d.accepted >= 0)) &&
    (d.jwt === undefined || (Array.isArray(d.jwt) && d.jwt.every((entry) => Array.isArray(entry) && typeof entry[0] === 'string' && Number.isFinite(entry[1]))))
  );
}

function isShippedGuardState(entry: unknown): boolean {
  if (!Array.isArray(entry)) return false;
  const [route, ejected, phase, unhealthy, ejectedUntil] = entry as unknown[];
  return typeof route === 'string' && typeof ejected === 'boolean' && typeof phase === 'string' && Object.hasOwn(PHASE_RANK, phase) && typeof unhealthy === 'boolean' && Number.isFinite(ejectedUntil);
}
