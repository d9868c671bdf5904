/**
 * `workers` > 1: this process is the supervisor, the machine's only state authority. It owns the admin listener,
 * the config file and its watcher, the state file, the controller, the rollout runners and the event log; its
 * workers (worker.ts) own the proxy listener and the data path. Every table the controller builds is pushed to
 * the workers through the WorkerPool, and a change returns once each live worker confirmed it.
 */
import cluster from 'node:cluster';
import { createServer, type Server } from 'node:http';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { Registry } from 'prom-client';
import { createAdminHandler } from '../admin/admin-server.js';
import { chartedRoutesOf, SeriesHistory } from '../metrics/series-history.js';
import type { Config } from '../config/schema.js';
import { ConfigWatcher, filesNamedBy } from '../control/config-watcher.js';
import { logFlagNotes } from '../flags/flag-notes.js';
import { Controller, type ReloadOutcome } from '../control/controller.js';
import { EventLog } from '../control/event-log.js';
import { StateFile } from '../control/state-file.js';
import { createLogger, type Logger } from '../log.js';
import { createMetrics, SeriesBook } from '../metrics/metrics.js';
import { registerListenerMetrics } from '../metrics/listener-metrics.js';
import { ProxyTotals } from '../metrics/proxy-deltas.js';
import { applyDeltas, WorkerShare } from '../metrics/series-delta.js';
import { MirrorBook } from '../mirror/mirror-records.js';
import { listenOn } from '../proxy/proxy-listener.js';
import { UpstreamPools } from '../proxy/upstream-pools.js';
import type { GuardStateOf } from '../proxy/canary-guard.js';
import { RolloutManager } from '../rollout/rollout-manager.js';
import { TableStore } from '../state/table-store.js';
import type { Fleet } from '../fleet/fleet.js';
import type { FleetKit } from '../fleet/fleet-kit.js';
import { SloLedgerBook } from '../metrics/slo-ledger.js';
import type { FleetLeadership } from '../fleet/rollout-fleet.js';
import { supportsReusePort } from './ipc.js';
import { WorkerPool } from './worker-pool.js';
import { ExperimentBook } from '../experiments/experiment-book.js';
import { createExperimentsView, keepFleetStop, registerExperimentMetrics } from '../experiments/experiments-view.js';
import type { FleetExperiments } from '../experiments/fleet-experiments.js';
import { ExperimentFile } from '../experiments/experiment-file.js';
import { ConnectionRateWatch, optimizingCompilers, releaseOptimizingCompilers } from '../process-footprint.js';

export interface SupervisorOptions {
  readonly config: Config;
  readonly configPath: string;
  readonly workers: number;
  /** Worker entry point and its arguments (the CLI passes worker-main.js, which loads the data path alone). */
  readonly exec: string;
  readonly args: readonly string[];
}

export class Supervisor {
  readonly logger: Logger;
  readonly controller: Controller;
  readonly events: EventLog;
  readonly workers: WorkerPool;
  readonly #rollouts: RolloutManager;
  readonly #leadership: FleetLeadership | null;
  readonly #fleetExperiments: FleetExperiments | null;
  readonly #experimentFile: ExperimentFile | null;
  readonly #pools: UpstreamPools;
  readonly #mirrors: MirrorBook;
  readonly #admin: Server;
  readonly #store: TableStore;
  /** With `fleet:`: the machine's one link to the shared state (workers never talk to Redis). */
  readonly fleet: Fleet | null;
  #watcher: ConfigWatcher | null = null;
  #connectionRate: NodeJS.Timeout | null = null;
  #strandedHandoffs: NodeJS.Timeout | null = null;
  #ready = false;
  #stopping: Promise<void> | null = null;

  private constructor(parts: {
    logger: Logger;
    controller: Controller;
    events: EventLog;
    workers: WorkerPool;
    rollouts: RolloutManager;
    leadership: FleetLeadership | null;
    fleetExperiments: FleetExperiments | null;
    experimentFile: ExperimentFile | null;
    pools: UpstreamPools;
    mirrors: MirrorBook;
    admin: Server;
    store: TableStore;
    fleet: Fleet | null;
  }) {
    this.fleet = parts.fleet;
    this.#leadership = parts.leadership;
    this.#fleetExperiments = parts.fleetExperiments;
    this.#experimentFile = parts.experimentFile;
    this.logger = parts.logger;
    this.controller = parts.controller;
    this.events = parts.events;
    this.workers = parts.workers;
    this.#rollouts = parts.rollouts;
    this.#pools = parts.pools;
    this.#mirrors = parts.mirrors;
    this.#admin = parts.admin;
    this.#store = parts.store;
  }

  static async start(options: SupervisorOptions): Promise<Supervisor> {
    const config = options.config;
    const logger = createLogger({ level: config.log.level, sharedStdout: true }).child({ role: 'supervisor' });
    const metrics = createMetrics(new Registry());
    // The supervisor compiles every table too (for /status and the rollout runners) but sends no request: inert
    // stand-ins instead of pools.
    const pools = new UpstreamPools({ dispatching: false });
    pools.update(config);
    const mirrors = new MirrorBook(metrics);
    const series = new SeriesBook(metrics);
    const events = new EventLog();
    const kit: FleetKit | null = config.fleet === undefined ? null : await import('../fleet/fleet-kit.js');
    const fleet = kit?.createFleet(config, { metrics, events, logger }) ?? null;
    const reusePort = supportsReusePort();
    keepCompilersFor(config);
    let controller: Controller | null = null;
    // The supervisor's books are the machine's: every worker's deltas are added in, one exposition, one window.
    const shares = Array.from({ length: options.workers }, () => new WorkerShare());
    // Retries, ejections and the listener's counts, summed over the workers the same way.
    const proxyTotals = new ProxyTotals(metrics.jwtCounts);
    metrics.guardBooks.push({ all: () => proxyTotals.guards() });
    registerListenerMetrics(metrics.registry, proxyTotals.listener);
    // Experiment users are deduplicated here, across workers, from the events they ship (experiments/worker-events.ts).
    const experiments = new ExperimentBook();
    registerExperimentMetrics(metrics.registry, experiments);
    const workers = new WorkerPool({
      count: options.workers,
      listen: { host: config.listen.host, port: config.listen.port, reusePort },
      current: () => controller!.tableGeneration,
      events,
      logger,
      onDeltas: (slot, deltas) => {
        try {
          applyDeltas(series, mirrors, metrics, deltas);
          shares[slot].note(deltas);
          if (deltas.proxy !== undefined) proxyTotals.apply(slot, deltas.proxy);
          if (deltas.experiments !== undefined) experiments.applyEvents(deltas.experiments);
        } catch (error) {
          logger.error({ err: error, slot }, 'worker counters rejected');
        }
      },
      onExit: (slot) => {
        shares[slot].withdraw(mirrors);
        proxyTotals.withdraw(slot);
      },
      onCrossingEjection: (slot, route) => proxyTotals.discountEjection(slot, route),
    });
    controller = new Controller({
      config,
      configPath: options.configPath,
      pools,
      metrics,
      series,
      mirror: { book: mirrors, logger, random: Math.random },
      events,
      stateFile: config.state.file === false ? null : new StateFile(resolve(config.state.file)),
      logger,
      publisher: workers,
      ...(fleet === null ? {} : { authority: fleet }),
    });
    const store = new TableStore(await controller.initialTable());
    logFlagNotes(logger, store.current.table);
    controller.onConfigApplied(() => logFlagNotes(logger, store.current.table));
    controller.attach(store);
    experiments.planOf(store.current.config);
    controller.onConfigApplied((next) => {
      experiments.planOf(next);
      keepCompilersFor(next);
    });
    // Without `fleet:`, running experiments (the users merged here) come back from the file saved at the last stop.
    const experimentFile = ExperimentFile.forStateFile(config.state.file, fleet !== null, { book: experiments, kind: 'merged', onWarning: (message) => logger.warn(message) });
    experimentFile?.restore();
    experimentFile?.start();
    // Before the workers start: they get the table in force at start, the fleet's if Redis answered in time.
    await fleet?.start(controller);
    // The supervisor holds the machine's counts (its workers ship theirs to it), so it pushes them and leads.
    const leadership =
      fleet === null || kit === null
        ? null
        : kit.createFleetLeadership({
            client: fleet.client,
            fleet: fleet.name,
            memberId: fleet.memberId,
            maxStalenessMs: config.fleet!.maxStaleness,
            leaseMs: config.fleet!.lease,
            series,
            mirrors,
            logger,
            collect: () => workers.collect(),
            guards: () => proxyTotals.guards(),
            guardrailed: (route) => kit.hasGuardrails(controller.config, route),
            timeoutMs: config.fleet!.redis.commandTimeout,
            include: (route) => controller.config.routes.some((r) => r.name === route && r.rollout !== undefined),
            sloWindow: (route) => kit.sloWindowOf(controller.config, route),
            onLeader: (leading) => fleet.setLeader(leading),
            fallBack: (route, stale) => controller.setStaleFallback(route, stale),
          });
    // Experiment totals through Redis: the supervisor holds this machine's (deduplicated over its workers).
    const fleetExperiments =
      fleet === null || kit === null
        ? null
        : new kit.FleetExperiments({ client: fleet.client, fleet: fleet.name, book: experiments, logger, collect: () => workers.collect(), onStopped: (key, frozen) => keepFleetStop({ controller, events }, key, frozen) });
    fleetExperiments?.start();
    // The outlier view for /status and the rollouts' ejection check is the workers': they eject, this process does not.
    const guardState: GuardStateOf = (route) => (route.guard === null ? null : proxyTotals.guardState(route.name, route.guard));
    const rollouts = new RolloutManager({ controller, store, series, mirrors, metrics, events, logger, guardState, now: () => new Date(), sloLedgers: SloLedgerBook.forStateFile(config.state.file, (message) => logger.warn(message)), collect: () => workers.collect(), ...(leadership ? { fleet: leadership.rolloutFleet } : {}) });
    leadership?.start(rollouts);
    controller.onConfigApplied((next) => {
      logger.level = next.log.level;
      rollouts.sync(next).catch((error: unknown) => logger.error({ err: error }, 'rollout sync failed'));
    });
    let instance: Supervisor | null = null;
    // The dashboard's charts: 15 minutes of 10 s steps, sampled while the admin listener is open.
    const history = new SeriesHistory(series, () => chartedRoutesOf(store.current.table.routes));
    const admin = createServer(
      createAdminHandler({
        metrics,
        store,
        mirrors,
        events,
        controller,
        series,
        history,
        rollouts,
        guardState,
        // The supervisor's own checks (each worker runs its own too): the ones its rollouts judge the canary by.
        health: () => pools.health(),
        ...(fleet === null ? {} : { fleet }),
        experiments: createExperimentsView(experiments, store, { series, controller, events, fleet: fleetExperiments, fleetCounts: leadership?.counts ?? null }),
        ready: () => instance !== null && instance.#ready,
        startedAt: Date.now(),
        workers: { listening: workers.listening, port: () => workers.port, collect: () => workers.collect(), status: () => workers.status(), sparePid: () => workers.sparePid },
      }),
    );
    admin.on('listening', () => history.start()).on('close', () => history.stop());
    instance = new Supervisor({ logger, controller, events, workers, rollouts, leadership, fleetExperiments, experimentFile, pools, mirrors, admin, store, fleet });
    cluster.setupPrimary({ exec: options.exec, args: [...options.args], serialization: 'advanced' });
    try {
      if (reusePort && config.listen.port !== 0) await assertPortUnclaimed(config.listen.host, config.listen.port);
      await workers.start();
      await listenOn(admin, { host: config.admin.listen.host, port: config.admin.listen.port });
      controller.adminBoundTo(boundAddress(admin));
    } catch (error) {
      admin.close();
      await leadership?.stop();
      await fleetExperiments?.stop();
      await experimentFile?.stop();
      await fleet?.stop();
      await workers.drain(0);
      await pools.close();
      throw error;
    }
    instance.#ready = true;
    if (!reusePort) {
      instance.#connectionRate = watchConnectionRate(() => proxyTotals.acceptedConnections, logger);
      instance.#strandedHandoffs = closeStrandedHandoffs(logger);
    }
    await rollouts.sync(config);
    if (config.watch) {
      const configPath = options.configPath;
      const watcher = new ConfigWatcher(configPath, () => {
        instance.reload('file-watch').catch(() => undefined);
      });
      // The flags file is watched with the config, and follows it when a reload names another.
      watcher.watchFiles([configPath, ...filesNamedBy(config)]);
      controller.onConfigApplied((next) => watcher.watchFiles([configPath, ...filesNamedBy(next)]));
      instance.#watcher = watcher;
    }
    events.record({ actor: 'splitgate', action: 'start', after: { generation: store.current.generation, hash: controller.configHash, workers: options.workers } });
    const host = config.listen.host === '0.0.0.0' ? '127.0.0.1' : config.listen.host.includes(':') ? `[${config.listen.host === '::' ? '::1' : config.listen.host}]` : config.listen.host;
    logger.info(
      {
        listen: `http://${host}:${workers.port}`,
        admin: boundAddress(admin).url,
        workers: options.workers,
        listening: workers.listening,
        generation: store.current.generation,
        hash: controller.configHash,
      },
      'splitgate listening',
    );
    return instance;
  }

  reload(actor: string): Promise<ReloadOutcome> {
    return this.controller.reload(actor);
  }

  /** Every worker drains (bounded by the drain timeout), then the admin listener closes. */
  stop(drainTimeoutMs = this.#store.current.config.shutdown.drainTimeout): Promise<void> {
    this.#stopping ??= this.#stop(drainTimeoutMs);
    return this.#stopping;
  }

  async #stop(drainTimeoutMs: number): Promise<void> {
    this.#ready = false;
    this.#watcher?.close();
    if (this.#connectionRate !== null) clearInterval(this.#connectionRate);
    if (this.#strandedHandoffs !== null) clearInterval(this.#strandedHandoffs);
    await this.#rollouts.stop();
    await this.#leadership?.stop();
    await this.#fleetExperiments?.stop();
    await this.fleet?.stop();
    await this.workers.drain(drainTimeoutMs);
    // After the drain: the workers' last events are in.
    await this.#experimentFile?.stop();
    await this.#pools.close();
    await this.#mirrors.close();
    this.#admin.closeAllConnections();
    await new Promise<void>((resolve) => this.#admin.close(() => resolve()));
    this.logger.info('splitgate stopped');
  }
}

/**
 * With reusePort the kernel lets any process of the same user bind the port beside the workers, and shares the
 * connections with it: a second splitgate (or an old one still running) would take part of the traffic, unseen by
 * this one's weights and kill switch. A plain bind first fails when anything holds the port, as it does for a single
 * process and under node:cluster. Afterwards this supervisor's workers hold it, so a second one fails here.
 */
async function assertPortUnclaimed(host: string, port: number): Promise<void> {
  const probe = createNetServer();
  await new Promise<void>((resolve, reject) => {
    probe.once('error', (error: NodeJS.ErrnoException) =>
      reject(error.code === 'EADDRINUSE' ? new Error(`cannot listen on ${host}:${port}: another process holds it (EADDRINUSE); with reusePort it would otherwise share the connections unseen`) : error),
    );
    probe.listen({ host, port, exclusive: true }, () => resolve());
  });
  await new Promise<void>((resolve) => probe.close(() => resolve()));
}

function boundAddress(server: Server): { host: string; port: number; url: string } {
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const clientHost = host === '0.0.0.0' ? '127.0.0.1' : host === '[::]' ? '[::1]' : host;
  return { host: address.address, port: address.port, url: `http://${clientHost}:${address.port}` };
}

/**
 * The supervisor starts without V8's optimizing compilers (bin.js, process-footprint.ts) and gets them back, for good,
 * when it has experiments (it merges every user's events and saves them): from the start, or from the reload that
 * adds the first experiment. (Under node:cluster, also once connections come fast: see watchConnectionRate.)
 */
function keepCompilersFor(config: Config): void {
  if (config.experiments.length > 0) releaseOptimizingCompilers();
}

/** A handoff takes a millisecond; a worker that has not taken a connection in this long has died with it (or hangs). */
export const STRANDED_HANDOFF_MS = 5_000;

/**
 * node:cluster (Node 20's listening mode) accepts each connection in the supervisor and sends it to a worker; it
 * closes its copy when the worker says it took it. A worker that dies first never says so, and node:cluster neither
 * sends the connection elsewhere nor closes it (nodejs/node#21746): the client would wait for ever. Those
 * connections are the only bare TCP handles a supervisor holds (every socket of its own has a net.Socket or
 * net.Server around it), so one still there after STRANDED_HANDOFF_MS is closed: the client sees the connection
 * close instead of hanging. Once a second, through process._getActiveHandles (no other view of node:cluster's).
 */
function closeStrandedHandoffs(logger: Logger): NodeJS.Timeout {
  const firstSeen = new WeakMap<object, number>();
  const listHandles = (process as unknown as { _getActiveHandles?: () => unknown[] })._getActiveHandles;
  const timer = setInterval(() => {
    if (typeof listHandles !== 'function') return;
    const now = Date.now();
    let closed = 0;
    for (const handle of listHandles.call(process)) {
      if (handle === null || typeof handle !== 'object' || handle.constructor?.name !== 'TCP') continue;
      const seen = firstSeen.get(handle);
      if (seen === undefined) firstSeen.set(handle, now);
      else if (now - seen >= STRANDED_HANDOFF_MS) {
        (handle as { close(): void }).close();
        closed++;
      }
    }
    if (closed > 0) logger.warn({ connections: closed }, 'closed client connections node:cluster was handing to a worker that died with them (never delivered)');
  }, 1_000);
  return timer.unref();
}

/**
 * Under node:cluster every client connection passes through the supervisor: once they come fast (ConnectionRateWatch),
 * it gets its optimizing compilers back. Read from the workers' accepted counts, which their deltas bring.
 */
function watchConnectionRate(accepted: () => number, logger: Logger): NodeJS.Timeout {
  const watch = new ConnectionRateWatch();
  const timer: NodeJS.Timeout = setInterval(() => {
    if (optimizingCompilers()) {
      clearInterval(timer);
    } else if (watch.observe(performance.now(), accepted())) {
      clearInterval(timer);
      releaseOptimizingCompilers();
      logger.info({ perSecond: Math.round(watch.rate), threshold: watch.perSecond }, 'client connections come fast: the supervisor, which hands each to a worker, optimizes its code again');
    }
  }, ConnectionRateWatch.EVERY_MS);
  return timer.unref();
}
