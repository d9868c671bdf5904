import cluster from 'node:cluster';
import { createServer } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import { resolve } from 'node:path';
import { Registry } from 'prom-client';
import { createAdminHandler } from '../admin/admin-server.js';
import { chartedRoutesOf, SeriesHistory } from '../metrics/series-history.js';
import { ConfigWatcher, filesNamedBy } from '../control/config-watcher.js';
import { logFlagNotes } from '../flags/flag-notes.js';
import { Controller } from '../control/controller.js';
import { EventLog } from '../control/event-log.js';
import { StateFile } from '../control/state-file.js';
import { createLogger } from '../log.js';
import { createMetrics, SeriesBook } from '../metrics/metrics.js';
import { registerListenerMetrics } from '../metrics/listener-metrics.js';
import { ProxyTotals } from '../metrics/proxy-deltas.js';
import { applyDeltas, WorkerShare } from '../metrics/series-delta.js';
import { MirrorBook } from '../mirror/mirror-records.js';
import { listenOn } from '../proxy/proxy-listener.js';
import { UpstreamPools } from '../proxy/upstream-pools.js';
import { RolloutManager } from '../rollout/rollout-manager.js';
import { TableStore } from '../state/table-store.js';
import { SloLedgerBook } from '../metrics/slo-ledger.js';
import { supportsReusePort } from './ipc.js';
import { WorkerPool } from './worker-pool.js';
import { ExperimentBook } from '../experiments/experiment-book.js';
import { createExperimentsView, keepFleetStop, registerExperimentMetrics } from '../experiments/experiments-view.js';
import { ExperimentFile } from '../experiments/experiment-file.js';
import { releaseOptimizingCompilers } from '../process-footprint.js';
export class Supervisor {
    logger;
    controller;
    events;
    workers;
    #rollouts;
    #leadership;
    #fleetExperiments;
    #experimentFile;
    #pools;
    #mirrors;
    #admin;
    #store;
    fleet;
    #watcher = null;
    #ready = false;
    #stopping = null;
    constructor(parts) {
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
    static async start(options) {
        const config = options.config;
        const logger = createLogger({ level: config.log.level, sharedStdout: true }).child({ role: 'supervisor' });
        const metrics = createMetrics(new Registry());
        const pools = new UpstreamPools({ dispatching: false });
        pools.update(config);
        const mirrors = new MirrorBook(metrics);
        const series = new SeriesBook(metrics);
        const events = new EventLog();
        const kit = config.fleet === undefined ? null : await import('../fleet/fleet-kit.js');
        const fleet = kit?.createFleet(config, { metrics, events, logger }) ?? null;
        const reusePort = supportsReusePort();
        keepCompilersFor(config, reusePort);
        const port = config.listen.port === 0 ? await freePort(config.listen.host) : config.listen.port;
        let controller = null;
        const shares = Array.from({ length: options.workers }, () => new WorkerShare());
        const proxyTotals = new ProxyTotals(metrics.jwtCounts);
        metrics.guardBooks.push({ all: () => proxyTotals.guards() });
        registerListenerMetrics(metrics.registry, proxyTotals.listener);
        const experiments = new ExperimentBook();
        registerExperimentMetrics(metrics.registry, experiments);
        const workers = new WorkerPool({
            count: options.workers,
            listen: { host: config.listen.host, port, reusePort },
            current: () => controller.tableGeneration,
            events,
            logger,
            onDeltas: (slot, deltas) => {
                try {
                    applyDeltas(series, mirrors, metrics, deltas);
                    shares[slot].note(deltas);
                    if (deltas.proxy !== undefined)
                        proxyTotals.apply(slot, deltas.proxy);
                    if (deltas.experiments !== undefined)
                        experiments.applyEvents(deltas.experiments);
                }
                catch (error) {
                    logger.error({ err: error, slot }, 'worker counters rejected');
                }
            },
            onExit: (slot) => {
                shares[slot].withdraw(mirrors);
                proxyTotals.withdraw(slot);
            },
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
            keepCompilersFor(next, reusePort);
        });
        const experimentFile = ExperimentFile.forStateFile(config.state.file, fleet !== null, { book: experiments, kind: 'merged', onWarning: (message) => logger.warn(message) });
        experimentFile?.restore();
        experimentFile?.start();
        await fleet?.start(controller);
        const leadership = fleet === null || kit === null
            ? null
            : kit.createFleetLeadership({
                client: fleet.client,
                fleet: fleet.name,
                memberId: fleet.memberId,
                maxStalenessMs: config.fleet.maxStaleness,
                leaseMs: config.fleet.lease,
                series,
                mirrors,
                logger,
                collect: () => workers.collect(),
                guards: () => proxyTotals.guards(),
                guardrailed: (route) => kit.hasGuardrails(controller.config, route),
                timeoutMs: config.fleet.redis.commandTimeout,
                include: (route) => controller.config.routes.some((r) => r.name === route && r.rollout !== undefined),
                sloWindow: (route) => kit.sloWindowOf(controller.config, route),
                onLeader: (leading) => fleet.setLeader(leading),
                fallBack: (route, stale) => controller.setStaleFallback(route, stale),
            });
        const fleetExperiments = fleet === null || kit === null
            ? null
            : new kit.FleetExperiments({ client: fleet.client, fleet: fleet.name, book: experiments, logger, collect: () => workers.collect(), onStopped: (key, frozen) => keepFleetStop({ controller, events }, key, frozen) });
        fleetExperiments?.start();
        const guardState = (route) => (route.guard === null ? null : proxyTotals.guardState(route.name, route.guard));
        const rollouts = new RolloutManager({ controller, store, series, mirrors, metrics, events, logger, guardState, now: () => new Date(), sloLedgers: SloLedgerBook.forStateFile(config.state.file, (message) => logger.warn(message)), collect: () => workers.collect(), ...(leadership ? { fleet: leadership.rolloutFleet } : {}) });
        leadership?.start(rollouts);
        controller.onConfigApplied((next) => {
            logger.level = next.log.level;
            rollouts.sync(next).catch((error) => logger.error({ err: error }, 'rollout sync failed'));
        });
        let instance = null;
        const history = new SeriesHistory(series, () => chartedRoutesOf(store.current.table.routes));
        const admin = createServer(createAdminHandler({
            metrics,
            store,
            mirrors,
            events,
            controller,
            series,
            history,
            rollouts,
            guardState,
            health: () => pools.health(),
            ...(fleet === null ? {} : { fleet }),
            experiments: createExperimentsView(experiments, store, { series, controller, events, fleet: fleetExperiments, fleetCounts: leadership?.counts ?? null }),
            ready: () => instance !== null && instance.#ready,
            startedAt: Date.now(),
            workers: { listening: workers.listening, collect: () => workers.collect(), status: () => workers.status(), sparePid: () => workers.sparePid },
        }));
        admin.on('listening', () => history.start()).on('close', () => history.stop());
        instance = new Supervisor({ logger, controller, events, workers, rollouts, leadership, fleetExperiments, experimentFile, pools, mirrors, admin, store, fleet });
        cluster.setupPrimary({ exec: options.exec, args: [...options.args], serialization: 'advanced' });
        try {
            await workers.start();
            await listenOn(admin, { host: config.admin.listen.host, port: config.admin.listen.port });
            controller.adminBoundTo(boundAddress(admin));
        }
        catch (error) {
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
        await rollouts.sync(config);
        if (config.watch) {
            const configPath = options.configPath;
            const watcher = new ConfigWatcher(configPath, () => {
                instance.reload('file-watch').catch(() => undefined);
            });
            watcher.watchFiles([configPath, ...filesNamedBy(config)]);
            controller.onConfigApplied((next) => watcher.watchFiles([configPath, ...filesNamedBy(next)]));
            instance.#watcher = watcher;
        }
        events.record({ actor: 'splitgate', action: 'start', after: { generation: store.current.generation, hash: controller.configHash, workers: options.workers } });
        const host = config.listen.host === '0.0.0.0' ? '127.0.0.1' : config.listen.host.includes(':') ? `[${config.listen.host === '::' ? '::1' : config.listen.host}]` : config.listen.host;
        logger.info({
            listen: `http://${host}:${workers.port}`,
            admin: boundAddress(admin).url,
            workers: options.workers,
            listening: workers.listening,
            generation: store.current.generation,
            hash: controller.configHash,
        }, 'splitgate listening');
        return instance;
    }
    reload(actor) {
        return this.controller.reload(actor);
    }
    stop(drainTimeoutMs = this.#store.current.config.shutdown.drainTimeout) {
        this.#stopping ??= this.#stop(drainTimeoutMs);
        return this.#stopping;
    }
    async #stop(drainTimeoutMs) {
        this.#ready = false;
        this.#watcher?.close();
        await this.#rollouts.stop();
        await this.#leadership?.stop();
        await this.#fleetExperiments?.stop();
        await this.fleet?.stop();
        await this.workers.drain(drainTimeoutMs);
        await this.#experimentFile?.stop();
        await this.#pools.close();
        await this.#mirrors.close();
        this.#admin.closeAllConnections();
        await new Promise((resolve) => this.#admin.close(() => resolve()));
        this.logger.info('splitgate stopped');
    }
}
async function freePort(host) {
    const probe = createNetServer();
    await new Promise((resolve, reject) => {
        probe.once('error', reject);
        probe.listen({ host, port: 0, exclusive: true }, () => resolve());
    });
    const port = probe.address().port;
    await new Promise((resolve) => probe.close(() => resolve()));
    return port;
}
function boundAddress(server) {
    const address = server.address();
    const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    const clientHost = host === '0.0.0.0' ? '127.0.0.1' : host === '[::]' ? '[::1]' : host;
    return { host: address.address, port: address.port, url: `http://${clientHost}:${address.port}` };
}
function keepCompilersFor(config, reusePort) {
    if (!reusePort || config.experiments.length > 0)
        releaseOptimizingCompilers();
}
//# sourceMappingURL=supervisor.js.map