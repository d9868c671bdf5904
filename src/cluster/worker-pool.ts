/**
 * The supervisor's workers: forks them (node:cluster, for the IPC channel), hands each the table in force and
 * where to listen, pushes every new table and waits for the acks (the TablePublisher behind the Controller),
 * replaces a worker that exits, and drains them all on stop.
 *
 * One spare worker is kept forked and loaded but idle (no table, no listener): a worker that exits is replaced by
 * the spare, which only has to compile the table in force and listen, instead of by a new process that first
 * boots Node and loads the data path (most of the replacement time); a new spare is forked once the replacement
 * listens.
 */
import cluster, { type Worker } from 'node:cluster';
import type { Delivery, TableGeneration, TablePublisher } from '../control/controller.js';
import type { EventLog } from '../control/event-log.js';
import type { Logger } from '../log.js';
import { isCounterDeltas, type CounterDeltas } from '../metrics/series-delta.js';
import { isFromWorker, type EjectionHold, type FromWorker, type ListenPlan, type ToWorker, type WorkerCounters } from './ipc.js';
import { residentBytesOf } from '../process-footprint.js';

/** How long a routing change waits for every worker's ack before it names the laggards and restarts them. */
export const ACK_TIMEOUT_MS = 2_000;
/** How long a scrape waits for the workers' counters; a slow worker is left out, the scrape never fails. */
export const COLLECT_TIMEOUT_MS = 200;
/** A worker that dies sooner than this after its start is restarted after this long, so a crash loop cannot spin. */
const CRASH_LOOP_MS = 1_000;
const START_TIMEOUT_MS = 10_000;
/** A spare that exits (it never served) is forked again after this long. */
const SPARE_RESTART_MS = 1_000;

export interface WorkerPoolOptions {
  readonly count: number;
  readonly listen: ListenPlan;
  /** The table in force, for a worker that starts (or restarts). */
  readonly current: () => TableGeneration;
  readonly events: EventLog;
  readonly logger: Logger;
  readonly ackTimeoutMs?: number;
  /** Keep a loaded spare worker for fast replacement (default true). */
  readonly spare?: boolean;
  /** A worker's counter deltas arrived (unasked or collected). */
  readonly onDeltas: (slot: number, deltas: CounterDeltas) => void;
  /** A worker exited: what it added to gauges is withdrawn. */
  readonly onExit: (slot: number) => void;
  /**
   * A worker's passive ejection of `route`'s canary crossed another worker's (see #newsForMachine): the machine
   * ejected once, so that worker's count of it, in its next deltas, is not added to the machine's.
   */
  readonly onCrossingEjection?: (slot: number, route: string) => void;
}

export interface WorkerStatus {
  readonly slot: number;
  readonly pid: number | null;
  readonly generation: number;
  readonly listening: boolean;
  readonly restarts: number;
  readonly requests: number;
  /** Its resident memory now (null off Linux, or while no process runs in the slot). */
  readonly rssBytes: number | null;
}

interface Slot {
  readonly index: number;
  worker: Worker | null;
  pid: number | null;
  /** Highest generation the worker confirmed (its `listening` counts as confirming the table it started with). */
  generation: number;
  listening: boolean;
  startedAt: number;
  restarts: number;
  counters: WorkerCounters;
  restartTimer: NodeJS.Timeout | null;
  /** Its worker has been sent `init` (its table and the holds in force). */
  initialized: boolean;
}

/** Why one worker has a canary out of rotation (see WorkerPool#outOn). */
interface SlotOut {
  /** Its outlier detector ejected it, or holds another worker's ejection, and no probe has succeeded since. */
  detector: boolean;
  /** When that ejection ends (epoch ms) and probing starts. */
  detectorUntil: number;
  /** How long that ejection lasts (ms). */
  detectorMs: number;
  /**
   * That ejection is another worker's, passed on (or given at start): the only kind an ejection of this worker's own
   * can cross. Its own earlier one never makes its next one (a failed probe) a crossing.
   */
  detectorShared: boolean;
  /** Its health checks fail. */
  checks: boolean;
}

/** A canary's key in #ejections and #outOn: its route and upstream names. */
function canaryKey(route: string, upstream: string): string {
  return `${route}\n${upstream}`;
}

function canaryOf(key: string): { route: string; upstream: string } {
  const at = key.indexOf('\n');
  return { route: key.slice(0, at), upstream: key.slice(at + 1) };
}

/** The route of `config` named `route` whose canary is `upstream`, if there is one. */
function canaryRoute(config: TableGeneration['config'], { route, upstream }: { route: string; upstream: unknown }): TableGeneration['config']['routes'][number] | undefined {
  return config.routes.find((r) => r.name === route && r.canary === upstream);
}

function anyOut(slots: ReadonlyMap<number, SlotOut> | undefined): boolean {
  if (slots === undefined) return false;
  for (const out of slots.values()) if (out.detector || out.checks) return true;
  return false;
}

/**
 * When a worker's passive ejection ends (epoch ms): the end its guard reported (same machine, same clock), else
 * `ejectionMs` from `now` (an event read late would then end late).
 */
function ejectionEnd(after: Record<string, unknown>, now: number): number {
  const { ejectedUntil, ejectionMs } = after;
  if (typeof ejectedUntil === 'number' && Number.isFinite(ejectedUntil)) return ejectedUntil;
  return now + (typeof ejectionMs === 'number' && Number.isFinite(ejectionMs) ? ejectionMs : 0);
}

/** A held ejection that ends sooner than this is not given to a starting worker (see #init). */
const HOLD_MARGIN_MS = 1_000;

export class WorkerPool implements TablePublisher {
  readonly #options: WorkerPoolOptions;
  readonly #slots: Slot[];
  /** What a worker is told to bind. Port 0 (tests, demos) gives way to the port the first worker got, see #bound. */
  readonly #listen: { host: string; port: number; reusePort: boolean; portZeroShared?: boolean };
  /** The port the workers serve: the configured one, or the kernel's pick for the first worker bound to port 0. */
  #port: number;
  /** Called whenever a worker confirms a generation, listens or leaves: pending deliveries re-check. */
  readonly #progress = new Set<() => void>();
  readonly #collectWaiters = new Map<number, () => void>();
  #collectSeq = 0;
  #stopping = false;
  #firstListen: { resolve: () => void; reject: (error: Error) => void } | null = null;
  /** The idle spare, and whether it said `ready` (it listens for messages). */
  #spare: { worker: Worker; ready: boolean } | null = null;
  #spareTimer: NodeJS.Timeout | null = null;
  /** Passive ejections in force, by `route\nupstream`: a worker that starts during one holds it too. */
  readonly #ejections = new Map<string, EjectionHold>();
  /**
   * Why each slot has a canary out of rotation, by `route\nupstream` and slot: its outlier detector (an ejection of its
   * own or a held one, until a probe succeeds) or its health checks. The event log records the machine's view, as
   * one proxy's (see #newsForMachine).
   */
  readonly #outOn = new Map<string, Map<number, SlotOut>>();

  constructor(options: WorkerPoolOptions) {
    this.#options = options;
    this.#listen = { ...options.listen };
    this.#port = options.listen.port;
    this.#slots = Array.from({ length: options.count }, (_, index) => ({
      index,
      worker: null,
      pid: null,
      generation: 0,
      listening: false,
      startedAt: 0,
      restarts: 0,
      counters: { requests: 0 },
      restartTimer: null,
      initialized: false,
    }));
  }

  get listening(): 'reusePort' | 'cluster' {
    return this.#listen.reusePort ? 'reusePort' : 'cluster';
  }

  /** Pid of the idle spare worker, if one is loaded. */
  get sparePid(): number | null {
    return this.#spare?.worker.process.pid ?? null;
  }

  /** The proxy port every worker serves. */
  get port(): number {
    return this.#port;
  }

  /** Forks every worker and resolves once all of them listen; rejects if one cannot (a port in use, say). */
  start(): Promise<void> {
    cluster.on('exit', (worker, code, signal) => this.#exited(worker, code, signal));
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`workers did not listen within ${START_TIMEOUT_MS} ms`)), START_TIMEOUT_MS);
      this.#firstListen = {
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      };
      // One first: a port already in use fails the start once, not N times.
      this.#fork(this.#slots[0]);
    });
  }

  async publish(table: TableGeneration): Promise<Delivery> {
    // An ejection ends with the outlier detection that made it (turned off, the route gone, its canary renamed): a
    // worker started later must not hold it, even if a later table turns detection back on.
    for (const [key, ejection] of this.#ejections) if ((canaryRoute(table.config, ejection)?.outlier ?? false) === false) this.#ejections.delete(key);
    // A route gone or a canary renamed ends its guards without a restoration event: forget why they were out.
    // (Detection turned off restores each worker's guard, with an event.)
    for (const key of this.#outOn.keys()) if (canaryRoute(table.config, canaryOf(key)) === undefined) this.#outOn.delete(key);
    const message: ToWorker = { type: 'table', table };
    // The workers sent this table: a slot's replacement (the spare, put in at once) is not one of them.
    const targets = this.#slots.filter((slot) => slot.worker !== null).map((slot) => ({ slot, worker: slot.worker! }));
    for (const { slot } of targets) this.#send(slot, message);
    const confirmed = ({ slot }: { slot: Slot }): boolean => slot.generation >= table.generation;
    // A worker that exits meanwhile is done: its replacement starts from the table in force.
    const waiting = (): Array<{ slot: Slot; worker: Worker }> => targets.filter((target) => target.slot.worker === target.worker && !confirmed(target));
    if (waiting().length > 0) {
      await new Promise<void>((resolve) => {
        const check = (): void => {
          if (waiting().length > 0) return;
          done();
        };
        const done = (): void => {
          clearTimeout(timer);
          this.#progress.delete(check);
          resolve();
        };
        const timer = setTimeout(done, this.#options.ackTimeoutMs ?? ACK_TIMEOUT_MS);
        this.#progress.add(check);
      });
    }
    const late = waiting();
    for (const { slot, worker } of late) {
      this.#options.logger.error({ slot: slot.index, pid: worker.process.pid, generation: table.generation }, 'worker did not confirm the new table: restarting it');
      worker.process.kill('SIGKILL');
    }
    return {
      acknowledged: targets.filter((target) => target.slot.worker === target.worker && confirmed(target)).length,
      unacknowledged: late.map(({ slot, worker }) => ({ worker: slot.index, pid: worker.process.pid ?? null })),
    };
  }

  /** Asks every listening worker for its counters; resolves when all answered or after `timeoutMs`. */
  async collect(timeoutMs = COLLECT_TIMEOUT_MS): Promise<void> {
    const seq = ++this.#collectSeq;
    const asked = this.#slots.filter((slot) => slot.listening);
    if (asked.length === 0) return;
    let left = asked.length;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(finish, timeoutMs);
      function finish(): void {
        clearTimeout(timer);
        resolve();
      }
      this.#collectWaiters.set(seq, () => {
        if (--left === 0) finish();
      });
      for (const slot of asked) this.#send(slot, { type: 'collect', seq });
    });
    this.#collectWaiters.delete(seq);
  }

  status(): WorkerStatus[] {
    return this.#slots.map((slot) => ({
      slot: slot.index,
      pid: slot.pid,
      generation: slot.generation,
      listening: slot.listening,
      restarts: slot.restarts,
      requests: slot.counters.requests,
      // Not a pid whose process exited (restart backoff): the number may already name another process.
      rssBytes: slot.worker === null || slot.pid === null ? null : residentBytesOf(slot.pid),
    }));
  }

  /** Every worker drains (stops accepting, finishes in flight within `timeoutMs`) and exits; stragglers are killed. */
  async drain(timeoutMs: number): Promise<void> {
    this.#stopping = true;
    if (this.#spareTimer !== null) clearTimeout(this.#spareTimer);
    const spare = this.#spare?.worker ?? null;
    this.#spare = null;
    const running = this.#slots.filter((slot) => slot.worker !== null);
    for (const slot of this.#slots) if (slot.restartTimer !== null) clearTimeout(slot.restartTimer);
    const exits = [...running.map((slot) => slot.worker!), ...(spare === null ? [] : [spare])].map(
      (worker) => new Promise<void>((resolve) => (worker.isDead() ? resolve() : worker.once('exit', () => resolve()))),
    );
    // The spare has nothing to drain, and one still loading would not hear a `drain` message: a signal ends it.
    if (spare !== null && !spare.isDead()) spare.process.kill('SIGTERM');
    for (const slot of running) this.#send(slot, { type: 'drain', timeoutMs });
    let timer: NodeJS.Timeout | undefined;
    const all = Promise.all(exits).then(() => true);
    const inTime = await Promise.race([all, new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs + 2_000)))]);
    clearTimeout(timer);
    if (!inTime) {
      for (const slot of running) if (slot.worker !== null && !slot.worker.isDead()) slot.worker.process.kill('SIGKILL');
      await all;
    }
  }

  /** Puts a worker in `slot`: the spare when one is loaded, a new process otherwise. */
  #fork(slot: Slot): void {
    slot.restartTimer = null;
    const spare = this.#spare;
    this.#spare = null;
    const worker = spare !== null && spare.worker.isConnected() ? spare.worker : this.#forkProcess();
    slot.worker = worker;
    slot.pid = worker.process.pid ?? null;
    slot.generation = 0;
    slot.listening = false;
    slot.startedAt = Date.now();
    slot.counters = { requests: 0 };
    slot.initialized = false;
    // A spare that is ready waits for nothing but its table; one still loading gets it when it says `ready`.
    if (spare?.worker === worker && spare.ready) this.#init(slot);
  }

  #forkProcess(): Worker {
    const worker = cluster.fork();
    worker.on('message', (message: unknown) => {
      if (!isFromWorker(message)) return;
      const slot = this.#slots.find((s) => s.worker === worker);
      if (slot !== undefined) this.#received(slot, worker, message);
      else if (this.#spare?.worker === worker && message.type === 'ready') this.#spare.ready = true;
    });
    // An IPC error (the worker died mid-send) shows up as its exit; nothing to do here.
    worker.on('error', () => undefined);
    return worker;
  }

  /** Forks the next spare (after `delayMs`), unless one is loaded or the pool is stopping. */
  #replenish(delayMs = 0): void {
    if (this.#options.spare === false || this.#stopping || this.#spare !== null || this.#spareTimer !== null) return;
    const fork = (): void => {
      this.#spareTimer = null;
      if (this.#stopping || this.#spare !== null) return;
      this.#spare = { worker: this.#forkProcess(), ready: false };
    };
    if (delayMs > 0) this.#spareTimer = setTimeout(fork, delayMs);
    else fork();
  }

  #init(slot: Slot): void {
    // Not one about to end: the worker could find it over by the time it has built its table, and never hold it.
    const soon = Date.now() + HOLD_MARGIN_MS;
    for (const [key, ejection] of this.#ejections) if (ejection.untilMs <= soon) this.#ejections.delete(key);
    const holds = [...this.#ejections.values()];
    // A new worker's guards start closed: whatever was noted for its slot before (a share it never got) is void.
    for (const slots of this.#outOn.values()) slots.delete(slot.index);
    for (const hold of holds) this.#markHeld(canaryKey(hold.route, hold.upstream), slot.index, hold.untilMs, hold.ejectionMs);
    // The table in force now: a change published before this worker was ready is in it.
    this.#send(slot, { type: 'init', table: this.#options.current(), listen: { ...this.#listen }, holds });
    slot.initialized = true;
  }

  /**
   * The first worker to bind port 0 fixes the machine's port, atomically (no free port found, closed and bound
   * again, which another process could take in between), and every later worker binds that number: with reusePort
   * beside the others; under node:cluster joining the primary's port-0 listener while one holds it (see
   * ProxyWorker#listen). Only if another process took the number while no worker held it does the port change: said
   * so, and /status follows.
   */
  #bound(port: number): void {
    if (!Number.isInteger(port) || port <= 0 || port === this.#port) return;
    if (this.#port !== 0) this.#options.logger.error({ was: this.#port, now: port }, 'the proxy port changed: another process took it while no worker held it');
    this.#port = port;
    if (this.#options.listen.port !== 0) return;
    this.#listen.port = port;
    this.#listen.portZeroShared = !this.#listen.reusePort;
  }

  #slotOut(key: string, slot: number): SlotOut {
    let slots = this.#outOn.get(key);
    if (slots === undefined) this.#outOn.set(key, (slots = new Map()));
    let out = slots.get(slot);
    if (out === undefined) slots.set(slot, (out = { detector: false, detectorUntil: 0, detectorMs: 0, detectorShared: false, checks: false }));
    return out;
  }

  #markHeld(key: string, slot: number, untilMs: number, ejectionMs: number): void {
    const out = this.#slotOut(key, slot);
    out.detector = true;
    if (untilMs > out.detectorUntil) {
      out.detectorUntil = untilMs;
      out.detectorMs = ejectionMs;
      out.detectorShared = true;
    }
  }

  #received(slot: Slot, worker: Worker, message: FromWorker): void {
    if (slot.worker !== worker) return;
    switch (message.type) {
      case 'ready':
        this.#init(slot);
        return;
      case 'listening': {
        this.#bound(message.port);
        slot.listening = true;
        slot.generation = Math.max(slot.generation, message.generation);
        this.#options.events.record({ actor: 'supervisor', action: 'worker.started', after: { worker: slot.index, pid: slot.pid, generation: message.generation } });
        this.#options.logger.info({ slot: slot.index, pid: slot.pid, port: message.port }, 'worker listening');
        if (this.#firstListen !== null) {
          if (slot.index === 0) for (const other of this.#slots.slice(1)) this.#fork(other);
          if (this.#slots.every((s) => s.listening)) {
            this.#firstListen.resolve();
            this.#firstListen = null;
          }
        }
        // Forked once every slot serves, so that loading it never competes with a start or a replacement.
        if (this.#firstListen === null && this.#slots.every((s) => s.listening)) this.#replenish();
        break;
      }
      case 'ack':
        if (Number.isFinite(message.generation)) slot.generation = Math.max(slot.generation, message.generation);
        break;
      case 'collected':
        if (typeof message.counters?.requests === 'number') slot.counters = message.counters;
        if (message.deltas !== null && isCounterDeltas(message.deltas)) this.#options.onDeltas(slot.index, message.deltas);
        this.#collectWaiters.get(message.seq)?.();
        return;
      case 'deltas':
        if (isCounterDeltas(message.deltas)) this.#options.onDeltas(slot.index, message.deltas);
        return;
      case 'event': {
        const { action, route, message: text, after } = message.event ?? {};
        if (typeof action === 'string' && typeof route === 'string' && typeof text === 'string' && typeof after === 'object' && after !== null) {
          const details = after as Record<string, unknown>;
          if (this.#newsForMachine(slot, action, canaryKey(route, String(details.upstream)), details)) {
            this.#options.events.record({ actor: 'outlier', action, route, message: text, after: { ...after, slot: slot.index } });
          }
          if (this.#detectsOutliers({ route, upstream: details.upstream })) this.#shareEjection(slot, action, route, details);
        }
        return;
      }
      case 'failed':
        this.#options.logger.error({ slot: slot.index, pid: slot.pid, error: message.message }, 'worker failed');
        if (this.#firstListen !== null) {
          this.#firstListen.reject(new Error(message.message));
          this.#firstListen = null;
        }
        return;
    }
    for (const check of [...this.#progress]) check();
  }

  #exited(worker: Worker, code: number | null, signal: string | null): void {
    if (this.#spare?.worker === worker) {
      this.#spare = null;
      this.#options.logger.warn({ pid: worker.process.pid, code, signal }, 'spare worker exited');
      this.#replenish(SPARE_RESTART_MS);
      return;
    }
    const slot = this.#slots.find((s) => s.worker === worker);
    if (slot === undefined) return;
    const lived = Date.now() - slot.startedAt;
    slot.worker = null;
    slot.listening = false;
    // Its replacement starts with fresh guards (holding the passive ejections in force, see #init). If this worker
    // alone had a canary out, the machine has it back: said so, as a restoration would.
    for (const [key, slots] of this.#outOn) {
      const wasOut = anyOut(slots);
      if (!slots.delete(slot.index) || !wasOut || anyOut(slots) || this.#stopping) continue;
      // An ejection still in force goes to the replacement with its table (#init): the canary stays out.
      if ((this.#ejections.get(key)?.untilMs ?? 0) > Date.now() + HOLD_MARGIN_MS) continue;
      this.#ejections.delete(key);
      const { route, upstream } = canaryOf(key);
      this.#options.events.record({ actor: 'outlier', action: 'upstream.restored', route, message: `worker ${slot.index}, the only one with it out, exited`, after: { upstream, slot: slot.index } });
    }
    this.#options.onExit(slot.index);
    for (const check of [...this.#progress]) check();
    if (this.#stopping) return;
    this.#options.events.record({ actor: 'supervisor', action: 'worker.exit', after: { worker: slot.index, pid: slot.pid, code, signal } });
    this.#options.logger.warn({ slot: slot.index, pid: slot.pid, code, signal }, 'worker exited: starting a replacement');
    if (this.#firstListen !== null) return;
    slot.restarts++;
    if (lived < CRASH_LOOP_MS) slot.restartTimer = setTimeout(() => this.#fork(slot), CRASH_LOOP_MS);
    else this.#fork(slot);
  }

  /**
   * One worker's passive ejection of a canary holds on every worker, as in one process: the others stop sending it
   * requests too, instead of each paying its own run of failures first. (A health check's verdict carries no
   * ejection time; every worker runs those checks itself.)
   */
  #shareEjection(from: Slot, action: string, route: string, after: Record<string, unknown>): void {
    const { upstream, ejectionMs } = after;
    if (action !== 'upstream.ejected' || typeof upstream !== 'string' || typeof ejectionMs !== 'number' || !(ejectionMs > 0)) return;
    const untilMs = ejectionEnd(after, Date.now());
    const key = canaryKey(route, upstream);
    if ((this.#ejections.get(key)?.untilMs ?? 0) < untilMs) this.#ejections.set(key, { route, upstream, untilMs, ejectionMs });
    // One still loading drops it, and gets it with its table (#init).
    for (const slot of this.#slots) {
      if (slot === from || slot.worker === null) continue;
      this.#send(slot, { type: 'eject', route, upstream, untilMs, ejectionMs });
      // One still loading has not been given its table: #init notes what it holds.
      if (slot.initialized) this.#markHeld(key, slot.index, untilMs, ejectionMs);
    }
  }

  /**
   * The table in force still runs outlier detection on `route`'s canary `upstream`: an ejection a worker made just
   * before a reload turned it off (or removed the route, or renamed its canary) is not passed on nor kept for later.
   */
  #detectsOutliers(canary: { route: string; upstream: unknown }): boolean {
    return (canaryRoute(this.#options.current().config, canary)?.outlier ?? false) !== false;
  }

  /**
   * Whether a worker's outlier event is news for the machine, whose log reads as one proxy's: a passive ejection
   * unless it crossed another worker's (a failed probe's is news: it tells the longer time), a health-check verdict
   * when no worker had the canary out, and the restoration after which none has it out (#outOn says why each one had
   * it). Workers detect, probe and health-check on their own: without this, a crash that every worker saw was N
   * ejections, and one ejection ended in N restorations.
   */
  #newsForMachine(from: Slot, action: string, key: string, after: Record<string, unknown>): boolean {
    if (action !== 'upstream.ejected' && action !== 'upstream.restored') return true;
    // Sent before the worker applied a table without this route or canary: its guard is gone, nothing to follow.
    if (canaryRoute(this.#options.current().config, canaryOf(key)) === undefined) return true;
    const wasOut = anyOut(this.#outOn.get(key));
    const out = this.#slotOut(key, from.index);
    const byChecks = after.source === 'checks';
    if (action === 'upstream.ejected') {
      // A verdict of the checks is news when nothing had the canary out.
      if (byChecks) {
        out.checks = true;
        return !wasOut;
      }
      // This worker already holds another worker's ejection with most of its time to run, and its own ends about
      // when that one does: both saw the same failures and ejected on their own, the other's share reaching this
      // one after it had. One proxy ejects once. A failed probe comes when the held ejection ends, with none of its
      // time left, and one that ends much later tells the longer time: both are news.
      const now = Date.now();
      const untilMs = ejectionEnd(after, now);
      const crossing =
        out.detector && out.detectorShared && out.detectorUntil - now > out.detectorMs / 2 && untilMs - out.detectorUntil <= out.detectorMs / 2;
      out.detector = true;
      if (untilMs > out.detectorUntil) {
        out.detectorUntil = untilMs;
        out.detectorMs = typeof after.ejectionMs === 'number' ? after.ejectionMs : 0;
        out.detectorShared = false;
      }
      if (crossing) this.#options.onCrossingEjection?.(from.index, canaryOf(key).route);
      return !crossing;
    }
    if (byChecks) {
      out.checks = false;
    } else if (!this.#detectsOutliers(canaryOf(key))) {
      // Detection turned off: every worker's guard restores.
      for (const slotOut of this.#outOn.get(key)!.values()) slotOut.detector = false;
      this.#ejections.delete(key);
    } else {
      // A probe succeeded here: the machine's detector is done with the ejections that have ended, as one proxy's
      // would be; the other workers still probing no longer keep it out. One that has not ended (a failed probe's,
      // crossing this success) still does, and is still given to a worker that starts.
      const now = Date.now();
      for (const slotOut of this.#outOn.get(key)!.values()) if (slotOut.detectorUntil <= now) slotOut.detector = false;
      if ((this.#ejections.get(key)?.untilMs ?? 0) <= now) this.#ejections.delete(key);
    }
    return wasOut && !anyOut(this.#outOn.get(key));
  }

  #send(slot: Slot, message: ToWorker): void {
    const worker = slot.worker;
    if (worker === null || !worker.isConnected()) return;
    worker.send(message, undefined, () => undefined);
  }
}
