import cluster from 'node:cluster';
import { Registry } from 'prom-client';
import { hashConfig } from '../control/config-hash.js';
import { AccessLog, createLogger } from '../log.js';
import { createMetrics, SeriesBook } from '../metrics/metrics.js';
import { listenerSourceOf } from '../metrics/listener-metrics.js';
import { ProxyDeltaTaker } from '../metrics/proxy-deltas.js';
import { isEmptyDelta, takeDeltas } from '../metrics/series-delta.js';
import { MirrorBook } from '../mirror/mirror-records.js';
import { applyLimits, createProxyServer, drainProxy, listenOn } from '../proxy/proxy-listener.js';
import { ProxyService } from '../proxy/service.js';
import { UpstreamPools } from '../proxy/upstream-pools.js';
import { activateTable, TableStore } from '../state/table-store.js';
import { isToWorker } from './ipc.js';
import { ExperimentBook } from '../experiments/experiment-book.js';
class ProxyWorker {
    #logger;
    #droppedReported = 0;
    #metrics = createMetrics(new Registry(), { processMetrics: false });
    #pools = new UpstreamPools();
    #series;
    #mirrors;
    #mirrorDeps;
    #store;
    #accessLog;
    #service;
    #server;
    #listener;
    #proxyDeltas;
    #experiments = new ExperimentBook({ reportToSupervisor: true });
    #configHash;
    #stopping = null;
    constructor(table, logger) {
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
        this.#listener = listenerSourceOf(this.#server, this.#service);
        this.#proxyDeltas = new ProxyDeltaTaker({
            guards: () => this.#pools.guards.all(),
            current: () => new Set(this.#store.current.table.routes.map((route) => route.guard)),
            listener: this.#listener,
            jwt: () => this.#metrics.jwtCounts,
        });
    }
    onGuardEvent(listener) {
        this.#pools.guards.onEvent(listener);
    }
    holdEjected(route, upstream, untilMs, ejectionMs) {
        this.#pools.guards.find(route, upstream)?.holdEjected(untilMs, ejectionMs);
    }
    get generation() {
        return this.#store.current.generation;
    }
    async listen(plan) {
        await listenOn(this.#server, plan.reusePort ? { host: plan.host, port: plan.port, reusePort: true, exclusive: true } : { host: plan.host, port: plan.port });
        return this.#server.address().port;
    }
    apply(table) {
        if (table.generation <= this.#store.current.generation)
            return;
        const hash = hashConfig(table.config);
        const configChanged = hash !== this.#configHash;
        const retired = configChanged ? this.#pools.update(table.config) : [];
        this.#store.swap(this.#activate(table));
        this.#configHash = hash;
        if (configChanged)
            this.#configure(table.config);
        for (const upstream of retired)
            upstream.pool.close().catch(() => undefined);
    }
    async takeDeltas() {
        const connections = await this.#listener.connections();
        const proxy = this.#proxyDeltas.take(connections);
        const experiments = this.#experiments.takeEvents();
        const dropped = this.#experiments.droppedEvents;
        if (dropped > this.#droppedReported) {
            this.#logger.warn({ dropped: dropped - this.#droppedReported, total: dropped }, 'experiment events dropped: the queue for the supervisor was full');
            this.#droppedReported = dropped;
        }
        const deltas = { ...takeDeltas(this.#series, this.#mirrors, this.#metrics), ...(proxy === null ? {} : { proxy }), ...(experiments === null ? {} : { experiments }) };
        return isEmptyDelta(deltas) ? null : deltas;
    }
    counters() {
        let requests = 0;
        for (const series of this.#series.all())
            requests += series.durationCount;
        return { requests };
    }
    stop(timeoutMs) {
        this.#stopping ??= this.#drain(timeoutMs);
        return this.#stopping;
    }
    async #drain(timeoutMs) {
        const result = await drainProxy(this.#server, this.#service, timeoutMs, this.#logger);
        this.#mirrors.abortCopies();
        await this.#pools.close();
        await this.#mirrors.close();
        this.#accessLog.flush();
        this.#logger.info(result, 'worker stopped');
    }
    #activate(table) {
        return activateTable(table.config, table.generation, table.runtime, this.#pools, this.#metrics, this.#mirrorDeps, this.#series);
    }
    #configure(config) {
        this.#accessLog.configure(config.log.accessLog);
        this.#logger.level = config.log.level;
        applyLimits(this.#server, config.limits);
    }
}
const SHIP_EVERY_MS = 1_000;
function send(message) {
    if (process.connected)
        process.send(message, undefined, undefined, () => undefined);
}
function sendNow(message) {
    if (!process.connected)
        return Promise.resolve();
    return new Promise((resolve) => process.send(message, undefined, undefined, () => resolve()));
}
function shipDeltas(worker) {
    worker.takeDeltas().then((deltas) => {
        if (deltas !== null)
            send({ type: 'deltas', deltas });
    }, () => undefined);
}
export function runWorker() {
    const id = cluster.worker?.id ?? 0;
    const logger = createLogger({ level: 'info', sharedStdout: true }).child({ worker: id });
    let worker = null;
    let defaultDrainMs = 10_000;
    return new Promise((resolve) => {
        const leave = (timeoutMs, why) => {
            if (worker === null) {
                resolve(0);
                return;
            }
            logger.info({ why }, 'worker draining');
            const draining = worker;
            draining.stop(timeoutMs).then(async () => {
                clearInterval(shipping);
                const deltas = await draining.takeDeltas();
                if (deltas !== null)
                    await sendNow({ type: 'deltas', deltas });
                logger.flush();
                resolve(0);
            }, (error) => {
                logger.error({ err: error }, 'worker stop failed');
                resolve(1);
            });
        };
        let shipping;
        const fail = (message) => {
            logger.error({ error: message }, 'worker cannot serve');
            send({ type: 'failed', message });
            logger.flush();
            resolve(1);
        };
        process.on('message', (message) => {
            if (!isToWorker(message))
                return;
            const msg = message;
            switch (msg.type) {
                case 'init': {
                    try {
                        logger.level = msg.table.config.log.level;
                        defaultDrainMs = msg.table.config.shutdown.drainTimeout;
                        const created = new ProxyWorker(msg.table, logger);
                        worker = created;
                        for (const hold of msg.holds)
                            created.holdEjected(hold.route, hold.upstream, hold.untilMs, hold.ejectionMs);
                        created.onGuardEvent((event) => {
                            const { action, route, ...details } = event;
                            logger.warn({ route, upstream: event.upstream, ejections: event.ejections, ejectionMs: event.ejectionMs }, `${action}: ${event.reason}`);
                            send({ type: 'event', event: { action, route, message: event.reason, after: { ...details, worker: id } } });
                        });
                        created.listen(msg.listen).then((port) => {
                            send({ type: 'listening', port, generation: created.generation });
                            shipping = setInterval(shipDeltas, SHIP_EVERY_MS, created).unref();
                        }, (error) => fail(`cannot listen on ${msg.listen.host}:${msg.listen.port}: ${error.message}`));
                    }
                    catch (error) {
                        fail(error.message);
                    }
                    return;
                }
                case 'table':
                    try {
                        worker?.apply(msg.table);
                        defaultDrainMs = msg.table.config.shutdown.drainTimeout;
                        send({ type: 'ack', generation: worker?.generation ?? msg.table.generation });
                    }
                    catch (error) {
                        logger.error({ err: error, generation: msg.table.generation }, 'worker could not apply the table');
                    }
                    return;
                case 'collect':
                    void (worker?.takeDeltas() ?? Promise.resolve(null)).then((deltas) => send({ type: 'collected', seq: msg.seq, counters: worker?.counters() ?? { requests: 0 }, deltas }), () => send({ type: 'collected', seq: msg.seq, counters: worker?.counters() ?? { requests: 0 }, deltas: null }));
                    return;
                case 'drain':
                    leave(msg.timeoutMs, 'supervisor');
                    return;
                case 'eject':
                    worker?.holdEjected(msg.route, msg.upstream, msg.untilMs, msg.ejectionMs);
                    return;
            }
        });
        process.on('disconnect', () => leave(defaultDrainMs, 'supervisor gone'));
        process.once('SIGTERM', () => leave(defaultDrainMs, 'SIGTERM'));
        process.once('SIGINT', () => leave(defaultDrainMs, 'SIGINT'));
        process.on('SIGHUP', () => undefined);
        send({ type: 'ready' });
    });
}
//# sourceMappingURL=worker.js.map