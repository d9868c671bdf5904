/**
 * A worker of a supervisor (`workers` > 1): the proxy listener and the data path, nothing else. It holds a
 * read-only copy of the table the supervisor decided, compiled here with `activateTable` from the generation the
 * supervisor sends, and never decides state. It leaves when told to drain, on SIGTERM/SIGINT, or when the
 * supervisor goes away (the IPC channel disconnects).
 */
import cluster from 'node:cluster';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import type { Config } from '../config/schema.js';
import { hashConfig } from '../control/config-hash.js';
import type { TableGeneration } from '../control/controller.js';
import { AccessLog, createLogger, type Logger } from '../log.js';
import { createMetrics, SeriesBook } from '../metrics/metrics.js';
import { listenerSourceOf, type ListenerSource } from '../metrics/listener-metrics.js';
import { ProxyDeltaTaker } from '../metrics/proxy-deltas.js';
import { isEmptyDelta, takeDeltas, type CounterDeltas } from '../metrics/series-delta.js';
import { MirrorBook } from '../mirror/mirror-records.js';
import { applyLimits, createProxyServer, drainProxy, listenOn } from '../proxy/proxy-listener.js';
import { ProxyService } from '../proxy/service.js';
import { UpstreamPools } from '../proxy/upstream-pools.js';
import { activateTable, TableStore, type MirrorDeps } from '../state/table-store.js';
import { isToWorker, type FromWorker, type ListenPlan, type ToWorker } from './ipc.js';
import { ExperimentBook } from '../experiments/experiment-book.js';

class ProxyWorker {
  readonly #logger: Logger;
  /** Experiment events dropped (queue full) that the log has already told of. */
  #droppedReported = 0;
  // No process metrics: nobody scrapes a worker's registry (the supervisor's /metrics is the machine's), and
  // prom-client's default collectors keep an event-loop delay monitor and a GC observer running.
  readonly #metrics = createMetrics(new Registry(), { processMetrics: false });
  readonly #pools = new UpstreamPools();
  readonly #series: SeriesBook;
  readonly #mirrors: MirrorBook;
  readonly #mirrorDeps: MirrorDeps;
  readonly #store: TableStore;
  readonly #accessLog: AccessLog;
  readonly #service: ProxyService;
  readonly #server: Server;
  readonly #listener: ListenerSource;
  readonly #proxyDeltas: ProxyDeltaTaker;
  /** Reports experiment users to the supervisor, which deduplicates them across workers. */
  readonly #experiments = new ExperimentBook({ reportToSupervisor: true });
  #configHash: string;
  #stopping: Promise<void> | null = null;
  /** Client connections accepted (the supervisor's compilers follow their rate, see process-footprint.ts). */
  #accepted = 0;

  constructor(table: TableGeneration, logger: Logger) {
    this.#logger = logger;
    this.#series = new SeriesBook(this.#metrics);
    this.#mirrors = new MirrorBook(this.#metrics);
    this.#mirrorDeps = { book: this.#mirrors, logger, random: Math.random };
    this.#pools.update(table.config);
    this.#configHash = hashConfig(table.config);
    this.#store = new TableStore(this.#activate(table));
    this.#accessLog = new AccessLog(logger, table.config.log.accessLog);
    this.#service = new ProxyService({ store: this.#store, accessLog: this.#accessLog, experiments: this.#experiments });
    this.#server = createProxyServer(this.#service, table.config.limits);
    this.#server.on('connection', () => this.#accepted++);
    this.#listener = listenerSourceOf(this.#server, this.#service);
    this.#proxyDeltas = new ProxyDeltaTaker({
      guards: () => this.#pools.guards.all(),
      current: () => new Set(this.#store.current.table.routes.map((route) => route.guard)),
      listener: this.#listener,
      jwt: () => this.#metrics.jwtCounts,
      accepted: () => this.#accepted,
    });
  }

  /** The outlier guards' ejections and restorations, for the supervisor's event log. */
  onGuardEvent(listener: Parameters<UpstreamPools['guards']['onEvent']>[0]): void {
    this.#pools.guards.onEvent(listener);
  }

  /** Another worker ejected this canary (the supervisor passes it on): hold it ejected here until `untilMs`. */
  holdEjected(route: string, upstream: string, untilMs: number, ejectionMs: number): void {
    this.#pools.guards.find(route, upstream)?.holdEjected(untilMs, ejectionMs);
  }

  get generation(): number {
    return this.#store.current.generation;
  }

  async listen(plan: ListenPlan): Promise<number> {
    // exclusive: the worker binds the port itself (SO_REUSEPORT) instead of asking the primary for a shared handle.
    if (plan.reusePort) await listenOn(this.#server, { host: plan.host, port: plan.port, reusePort: true, exclusive: true });
    else if (plan.portZeroShared === true) return this.#listenPortZeroShared(plan);
    else await listenOn(this.#server, { host: plan.host, port: plan.port });
    return this.#boundPort();
  }

  /**
   * node:cluster keys the primary's listeners by the port asked for. While a worker holds the port-0 listener that got
   * `plan.port`, a bind by number fails (EADDRINUSE) and a bind to 0 joins it; once every worker left it, it is closed
   * and the number is free again. Tried both ways, a few times, in case it closes between the two.
   */
  async #listenPortZeroShared(plan: ListenPlan): Promise<number> {
    for (let attempt = 1; ; attempt++) {
      try {
        await listenOn(this.#server, { host: plan.host, port: plan.port });
        return this.#boundPort();
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw error;
      }
      await listenOn(this.#server, { host: plan.host, port: 0 });
      const port = this.#boundPort();
      // Another process took the number: the port this one got is reported, and the supervisor says it changed.
      if (port === plan.port || attempt === 3) return port;
      await new Promise<void>((resolve) => this.#server.close(() => resolve()));
    }
  }

  #boundPort(): number {
    return (this.#server.address() as AddressInfo).port;
  }

  /** Puts a newer generation in force; an older or repeated one (a restart's init racing a change) is ignored. */
  apply(table: TableGeneration): void {
    if (table.generation <= this.#store.current.generation) return;
    const hash = hashConfig(table.config);
    const configChanged = hash !== this.#configHash;
    const retired = configChanged ? this.#pools.update(table.config) : [];
    this.#store.swap(this.#activate(table));
    this.#configHash = hash;
    if (configChanged) this.#configure(table.config);
    for (const upstream of retired) upstream.pool.close().catch(() => undefined);
  }

  /** What was counted since the previous take, or null when nothing was. */
  async takeDeltas(): Promise<CounterDeltas | null> {
    const connections = await this.#listener.connections();
    // Synchronous from here on: takes never interleave.
    const proxy = this.#proxyDeltas.take(connections);
    const experiments = this.#experiments.takeEvents();
    const dropped = this.#experiments.droppedEvents;
    if (dropped > this.#droppedReported) {
      // Only when the supervisor stopped collecting for long enough to fill the queue: those users are undercounted.
      this.#logger.warn({ dropped: dropped - this.#droppedReported, total: dropped }, 'experiment events dropped: the queue for the supervisor was full');
      this.#droppedReported = dropped;
    }
    const deltas: CounterDeltas = { ...takeDeltas(this.#series, this.#mirrors, this.#metrics), ...(proxy === null ? {} : { proxy }), ...(experiments === null ? {} : { experiments }) };
    return isEmptyDelta(deltas) ? null : deltas;
  }

  counters(): { requests: number } {
    let requests = 0;
    for (const series of this.#series.all()) requests += series.durationCount;
    return { requests };
  }

  stop(timeoutMs: number): Promise<void> {
    this.#stopping ??= this.#drain(timeoutMs);
    return this.#stopping;
  }

  async #drain(timeoutMs: number): Promise<void> {
    const result = await drainProxy(this.#server, this.#service, timeoutMs, this.#logger);
    this.#mirrors.abortCopies();
    await this.#pools.close();
    await this.#mirrors.close();
    this.#accessLog.flush();
    this.#logger.info(result, 'worker stopped');
  }

  #activate(table: TableGeneration) {
    return activateTable(table.config, table.generation, table.runtime, this.#pools, this.#metrics, this.#mirrorDeps, this.#series);
  }

  #configure(config: Config): void {
    this.#accessLog.configure(config.log.accessLog);
    this.#logger.level = config.log.level;
    applyLimits(this.#server, config.limits);
  }
}

/** How often a worker ships its counters unasked (a scrape or a rollout window asks on top). */
const SHIP_EVERY_MS = 1_000;

function send(message: FromWorker): void {
  // With a callback a failed write (EPIPE: the supervisor went away meanwhile) is handed to it instead of being
  // emitted as an 'error' that would crash the worker; the 'disconnect' handler takes it from there.
  if (process.connected) process.send!(message, undefined, undefined, () => undefined);
}

/** Sends and resolves once the message is handed to the channel, so a worker about to exit does not lose it. */
function sendNow(message: FromWorker): Promise<void> {
  if (!process.connected) return Promise.resolve();
  return new Promise((resolve) => process.send!(message, undefined, undefined, () => resolve()));
}

function shipDeltas(worker: ProxyWorker): void {
  worker.takeDeltas().then(
    (deltas) => {
      if (deltas !== null) send({ type: 'deltas', deltas });
    },
    () => undefined,
  );
}

/** The worker's life: wait for `init`, serve, answer the supervisor, drain. Resolves with the exit code. */
export function runWorker(): Promise<number> {
  const id = cluster.worker?.id ?? 0;
  const logger = createLogger({ level: 'info', sharedStdout: true }).child({ worker: id });
  let worker: ProxyWorker | null = null;
  let defaultDrainMs = 10_000;
  return new Promise<number>((resolve) => {
    let leaving = false;
    const leave = (timeoutMs: number, why: string): void => {
      // One drain: a second signal (Ctrl-C twice reaches the whole process group) or the supervisor's exit during it
      // must not cut it short; the drain timeout bounds it, SIGKILL still ends it.
      if (leaving) return;
      leaving = true;
      if (worker === null) {
        resolve(0);
        return;
      }
      logger.info({ why }, 'worker draining');
      const draining = worker;
      draining.stop(timeoutMs).then(
        async () => {
          clearInterval(shipping);
          // The requests finished during the drain are counted too.
          const deltas = await draining.takeDeltas();
          if (deltas !== null) await sendNow({ type: 'deltas', deltas });
          logger.flush();
          resolve(0);
        },
        (error: unknown) => {
          logger.error({ err: error }, 'worker stop failed');
          resolve(1);
        },
      );
    };
    let shipping: NodeJS.Timeout | undefined;
    const fail = (message: string): void => {
      logger.error({ error: message }, 'worker cannot serve');
      send({ type: 'failed', message });
      logger.flush();
      resolve(1);
    };
    process.on('message', (message: unknown) => {
      if (!isToWorker(message)) return;
      const msg: ToWorker = message;
      switch (msg.type) {
        case 'init': {
          try {
            logger.level = msg.table.config.log.level;
            defaultDrainMs = msg.table.config.shutdown.drainTimeout;
            const created = new ProxyWorker(msg.table, logger);
            worker = created;
            for (const hold of msg.holds) created.holdEjected(hold.route, hold.upstream, hold.untilMs, hold.ejectionMs);
            created.onGuardEvent((event) => {
              const { action, route, ...details } = event;
              logger.warn({ route, upstream: event.upstream, ejections: event.ejections, ejectionMs: event.ejectionMs }, `${action}: ${event.reason}`);
              send({ type: 'event', event: { action, route, message: event.reason, after: { ...details, worker: id } } });
            });
            created.listen(msg.listen).then(
              (port) => {
                send({ type: 'listening', port, generation: created.generation });
                shipping = setInterval(shipDeltas, SHIP_EVERY_MS, created).unref();
              },
              (error: unknown) => fail(`cannot listen on ${msg.listen.host}:${msg.listen.port}: ${(error as Error).message}`),
            );
          } catch (error) {
            fail((error as Error).message);
          }
          return;
        }
        case 'table':
          try {
            worker?.apply(msg.table);
            defaultDrainMs = msg.table.config.shutdown.drainTimeout;
            send({ type: 'ack', generation: worker?.generation ?? msg.table.generation });
          } catch (error) {
            // No ack: the supervisor restarts this worker, which then starts from the table in force.
            logger.error({ err: error, generation: msg.table.generation }, 'worker could not apply the table');
          }
          return;
        case 'collect':
          void (worker?.takeDeltas() ?? Promise.resolve(null)).then(
            (deltas) => send({ type: 'collected', seq: msg.seq, counters: worker?.counters() ?? { requests: 0 }, deltas }),
            () => send({ type: 'collected', seq: msg.seq, counters: worker?.counters() ?? { requests: 0 }, deltas: null }),
          );
          return;
        case 'drain':
          leave(msg.timeoutMs, 'supervisor');
          return;
        case 'eject':
          worker?.holdEjected(msg.route, msg.upstream, msg.untilMs, msg.ejectionMs);
          return;
      }
    });
    // The supervisor is gone (crashed, SIGKILLed): nobody will push tables or restart us; finish and leave. node:cluster
    // exits a worker at once on an unexpected disconnect (lib/internal/cluster/child.js), cutting every request in
    // flight, unless the disconnect counts as expected: it does here, the drain below is the exit.
    if (cluster.worker !== undefined) cluster.worker.exitedAfterDisconnect = true;
    process.on('disconnect', () => leave(defaultDrainMs, 'supervisor gone'));
    process.on('SIGTERM', () => leave(defaultDrainMs, 'SIGTERM'));
    process.on('SIGINT', () => leave(defaultDrainMs, 'SIGINT'));
    // A terminal's SIGHUP reaches the whole process group; reloading is the supervisor's job.
    process.on('SIGHUP', () => undefined);
    send({ type: 'ready' });
  });
}
