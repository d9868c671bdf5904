import { createServer } from 'node:http';
import { resolve } from 'node:path';
import { Registry } from 'prom-client';
import { createAdminHandler } from './admin/admin-server.js';
import { chartedRoutesOf, SeriesHistory } from './metrics/series-history.js';
import { ConfigWatcher, filesNamedBy } from './control/config-watcher.js';
import { logFlagNotes } from './flags/flag-notes.js';
import { Controller } from './control/controller.js';
import { EventLog } from './control/event-log.js';
import { StateFile } from './control/state-file.js';
import { AccessLog, createLogger } from './log.js';
import { createMetrics, SeriesBook } from './metrics/metrics.js';
import { MirrorBook } from './mirror/mirror-records.js';
import { ProxyService } from './proxy/service.js';
import { applyLimits, createProxyServer, drainProxy } from './proxy/proxy-listener.js';
import { listenerSourceOf, registerListenerMetrics } from './metrics/listener-metrics.js';
import { UpstreamPools } from './proxy/upstream-pools.js';
import { RolloutManager } from './rollout/rollout-manager.js';
import { TableStore } from './state/table-store.js';
import { SloLedgerBook } from './metrics/slo-ledger.js';
import { ExperimentBook } from './experiments/experiment-book.js';
import { createExperimentsView, keepFleetStop, registerExperimentMetrics } from './experiments/experiments-view.js';
import { ExperimentFile } from './experiments/experiment-file.js';
export class Splitgate {
    logger;
    metrics;
    store;
    pools;
    service;
    mirrors;
    series;
    events;
    controller;
    rollouts;
    experiments = new ExperimentBook();
    #proxyServer;
    #adminServer;
    #ready = false;
    #accessLog;
    #watcher = null;
    #stopping = null;
    #leadership;
    #fleetExperiments;
    #experimentFile;
    fleet;
    constructor(options, logger, metrics, pools, mirrors, series, events, controller, store, fleet, kit) {
        this.fleet = fleet;
        this.logger = logger;
        this.metrics = metrics;
        this.pools = pools;
        this.mirrors = mirrors;
        this.series = series;
        this.events = events;
        this.controller = controller;
        this.store = store;
        const config = options.config;
        this.#leadership =
            fleet === null || kit === null
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
                    guards: () => pools.guards.all(),
                    guardrailed: (route) => kit.hasGuardrails(controller.config, route),
                    timeoutMs: config.fleet.redis.commandTimeout,
                    include: (route) => controller.config.routes.some((r) => r.name === route && r.rollout !== undefined),
                    sloWindow: (route) => kit.sloWindowOf(controller.config, route),
                    onLeader: (leading) => fleet.setLeader(leading),
                    fallBack: (route, stale) => controller.setStaleFallback(route, stale),
                });
        this.rollouts = new RolloutManager({ controller, store, series, mirrors, metrics, events, logger, now: () => new Date(), sloLedgers: SloLedgerBook.forStateFile(config.state.file, (message) => logger.warn(message)), ...(this.#leadership ? { fleet: this.#leadership.rolloutFleet } : {}) });
        this.#leadership?.start(this.rollouts);
        const rollouts = this.rollouts;
        const accessLog = new AccessLog(logger, options.config.log.accessLog);
        this.#accessLog = accessLog;
        controller.onConfigApplied((config) => {
            accessLog.configure(config.log.accessLog);
            logger.level = config.log.level;
            rollouts.sync(config).catch((error) => logger.error({ err: error }, 'rollout sync failed'));
        });
        const experiments = this.experiments;
        experiments.planOf(store.current.config);
        controller.onConfigApplied((config) => experiments.planOf(config));
        registerExperimentMetrics(metrics.registry, experiments);
        this.#experimentFile = ExperimentFile.forStateFile(config.state.file, fleet !== null, { book: experiments, kind: 'users', onWarning: (message) => logger.warn(message) });
        this.#experimentFile?.restore();
        this.#experimentFile?.start();
        this.#fleetExperiments =
            fleet === null || kit === null ? null : new kit.FleetExperiments({ client: fleet.client, fleet: fleet.name, book: experiments, logger, onStopped: (key, frozen) => keepFleetStop({ controller, events }, key, frozen) });
        this.#fleetExperiments?.start();
        this.service = new ProxyService({ store, accessLog, entropy: options.entropy, experiments });
        const service = this.service;
        this.#proxyServer = createProxyServer(service, options.config.limits);
        const proxyServer = this.#proxyServer;
        controller.onConfigApplied((config) => applyLimits(proxyServer, config.limits));
        registerListenerMetrics(metrics.registry, listenerSourceOf(proxyServer, service));
        const history = new SeriesHistory(series, () => chartedRoutesOf(store.current.table.routes));
        this.#adminServer = createServer(createAdminHandler({
            metrics,
            store,
            mirrors,
            events,
            controller,
            series,
            history,
            rollouts,
            health: () => pools.health(),
            ...(fleet === null ? {} : { fleet }),
            experiments: createExperimentsView(experiments, store, { series, controller, events, fleet: this.#fleetExperiments, fleetCounts: this.#leadership?.counts ?? null }),
            ready: () => this.#ready && !service.draining,
            startedAt: Date.now(),
        }));
        this.#adminServer.on('listening', () => history.start()).on('close', () => history.stop());
    }
    static async start(options) {
        const config = options.config;
        const logger = options.logger ?? createLogger({ level: config.log.level });
        const metrics = createMetrics(options.registry ?? new Registry());
        const pools = new UpstreamPools();
        pools.update(config);
        const mirrors = new MirrorBook(metrics);
        const series = new SeriesBook(metrics);
        const events = new EventLog();
        metrics.guardBooks.push(pools.guards);
        pools.guards.onEvent((event) => {
            const { action, route, ...details } = event;
            events.record({ actor: 'outlier', action, route, message: event.reason, after: details });
            logger.warn({ route, upstream: event.upstream, ejections: event.ejections, ejectionMs: event.ejectionMs }, `${action}: ${event.reason}`);
        });
        const kit = config.fleet === undefined ? null : await import('./fleet/fleet-kit.js');
        const fleet = kit?.createFleet(config, { metrics, events, logger }) ?? null;
        const controller = new Controller({
            config,
            configPath: options.configPath ?? null,
            pools,
            metrics,
            series,
            mirror: { book: mirrors, logger, random: options.entropy?.random ?? Math.random },
            events,
            stateFile: config.state.file === false ? null : new StateFile(resolve(config.state.file)),
            logger,
            ...(fleet === null ? {} : { authority: fleet }),
        });
        const store = new TableStore(await controller.initialTable());
        logFlagNotes(logger, store.current.table);
        controller.onConfigApplied(() => logFlagNotes(logger, store.current.table));
        controller.attach(store);
        await fleet?.start(controller);
        const instance = new Splitgate(options, logger, metrics, pools, mirrors, series, events, controller, store, fleet, kit);
        try {
            await listen(instance.#proxyServer, config.listen.host, config.listen.port);
            await listen(instance.#adminServer, config.admin.listen.host, config.admin.listen.port);
            controller.adminBoundTo(instance.adminAddress);
        }
        catch (error) {
            instance.#proxyServer.close();
            instance.#adminServer.close();
            await fleet?.stop();
            await pools.close();
            throw error;
        }
        instance.#ready = true;
        await instance.rollouts.sync(config);
        if (options.configPath && config.watch) {
            const configPath = options.configPath;
            const watcher = new ConfigWatcher(configPath, () => {
                instance.reload('file-watch').catch(() => undefined);
            });
            watcher.watchFiles([configPath, ...filesNamedBy(config)]);
            controller.onConfigApplied((next) => watcher.watchFiles([configPath, ...filesNamedBy(next)]));
            instance.#watcher = watcher;
        }
        events.record({ actor: 'splitgate', action: 'start', after: { generation: store.current.generation, hash: controller.configHash } });
        logger.info({ listen: instance.proxyAddress.url, admin: instance.adminAddress.url, generation: store.current.generation, hash: controller.configHash }, 'splitgate listening');
        return instance;
    }
    get proxyAddress() {
        return boundAddress(this.#proxyServer);
    }
    get adminAddress() {
        return boundAddress(this.#adminServer);
    }
    reload(actor) {
        return this.controller.reload(actor);
    }
    stop(drainTimeoutMs = this.store.current.config.shutdown.drainTimeout) {
        this.#stopping ??= this.#drainAndClose(drainTimeoutMs);
        return this.#stopping;
    }
    async #drainAndClose(drainTimeoutMs) {
        this.#watcher?.close();
        await this.rollouts.stop();
        await this.#leadership?.stop();
        await this.#fleetExperiments?.stop();
        await this.fleet?.stop();
        const { drained, inFlightAtStop: inFlight } = await drainProxy(this.#proxyServer, this.service, drainTimeoutMs, this.logger);
        await this.#experimentFile?.stop();
        this.mirrors.abortCopies();
        await this.pools.close();
        await this.mirrors.close();
        this.#adminServer.closeAllConnections();
        await new Promise((resolve) => this.#adminServer.close(() => resolve()));
        this.#accessLog.flush();
        this.logger.info({ drained, inFlightAtStop: inFlight }, 'splitgate stopped');
    }
}
function listen(server, host, port) {
    return new Promise((resolve, reject) => {
        const onError = (error) => reject(error);
        server.once('error', onError);
        server.listen(port, host, () => {
            server.off('error', onError);
            resolve();
        });
    });
}
function boundAddress(server) {
    const address = server.address();
    const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    const clientHost = host === '0.0.0.0' ? '127.0.0.1' : host === '[::]' ? '[::1]' : host;
    return { host: address.address, port: address.port, url: `http://${clientHost}:${address.port}` };
}
//# sourceMappingURL=splitgate.js.map