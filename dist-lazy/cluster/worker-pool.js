import cluster from 'node:cluster';
import { isCounterDeltas } from '../metrics/series-delta.js';
import { isFromWorker } from './ipc.js';
import { residentBytesOf } from '../process-footprint.js';
export const ACK_TIMEOUT_MS = 2_000;
export const COLLECT_TIMEOUT_MS = 200;
const CRASH_LOOP_MS = 1_000;
const START_TIMEOUT_MS = 10_000;
const SPARE_RESTART_MS = 1_000;
export class WorkerPool {
    #options;
    #slots;
    #listen;
    #progress = new Set();
    #collectWaiters = new Map();
    #collectSeq = 0;
    #stopping = false;
    #firstListen = null;
    #spare = null;
    #spareTimer = null;
    #ejections = new Map();
    #ejectedOn = new Map();
    constructor(options) {
        this.#options = options;
        this.#listen = { ...options.listen };
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
        }));
    }
    get listening() {
        return this.#listen.reusePort ? 'reusePort' : 'cluster';
    }
    get sparePid() {
        return this.#spare?.worker.process.pid ?? null;
    }
    get port() {
        return this.#listen.port;
    }
    start() {
        cluster.on('exit', (worker, code, signal) => this.#exited(worker, code, signal));
        return new Promise((resolve, reject) => {
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
            this.#fork(this.#slots[0]);
        });
    }
    async publish(table) {
        for (const [key, ejection] of this.#ejections) {
            const route = table.config.routes.find((r) => r.name === ejection.route);
            if (route === undefined || route.outlier === false || route.canary !== ejection.upstream)
                this.#ejections.delete(key);
        }
        for (const key of this.#ejectedOn.keys()) {
            const [routeName, upstream] = key.split('\n');
            if (!table.config.routes.some((r) => r.name === routeName && r.canary === upstream))
                this.#ejectedOn.delete(key);
        }
        const message = { type: 'table', table };
        const targets = this.#slots.filter((slot) => slot.worker !== null);
        for (const slot of targets)
            this.#send(slot, message);
        const confirmed = (slot) => slot.generation >= table.generation;
        const waiting = () => targets.filter((slot) => slot.worker !== null && !confirmed(slot));
        if (waiting().length > 0) {
            await new Promise((resolve) => {
                const check = () => {
                    if (waiting().length > 0)
                        return;
                    done();
                };
                const done = () => {
                    clearTimeout(timer);
                    this.#progress.delete(check);
                    resolve();
                };
                const timer = setTimeout(done, this.#options.ackTimeoutMs ?? ACK_TIMEOUT_MS);
                this.#progress.add(check);
            });
        }
        const late = waiting();
        for (const slot of late) {
            this.#options.logger.error({ slot: slot.index, pid: slot.pid, generation: table.generation }, 'worker did not confirm the new table: restarting it');
            slot.worker?.process.kill('SIGKILL');
        }
        return {
            acknowledged: targets.filter(confirmed).length,
            unacknowledged: late.map((slot) => ({ worker: slot.index, pid: slot.pid })),
        };
    }
    async collect(timeoutMs = COLLECT_TIMEOUT_MS) {
        const seq = ++this.#collectSeq;
        const asked = this.#slots.filter((slot) => slot.listening);
        if (asked.length === 0)
            return;
        let left = asked.length;
        await new Promise((resolve) => {
            const timer = setTimeout(finish, timeoutMs);
            function finish() {
                clearTimeout(timer);
                resolve();
            }
            this.#collectWaiters.set(seq, () => {
                if (--left === 0)
                    finish();
            });
            for (const slot of asked)
                this.#send(slot, { type: 'collect', seq });
        });
        this.#collectWaiters.delete(seq);
    }
    status() {
        return this.#slots.map((slot) => ({
            slot: slot.index,
            pid: slot.pid,
            generation: slot.generation,
            listening: slot.listening,
            restarts: slot.restarts,
            requests: slot.counters.requests,
            rssBytes: slot.worker === null || slot.pid === null ? null : residentBytesOf(slot.pid),
        }));
    }
    async drain(timeoutMs) {
        this.#stopping = true;
        if (this.#spareTimer !== null)
            clearTimeout(this.#spareTimer);
        const spare = this.#spare?.worker ?? null;
        this.#spare = null;
        const running = this.#slots.filter((slot) => slot.worker !== null);
        for (const slot of this.#slots)
            if (slot.restartTimer !== null)
                clearTimeout(slot.restartTimer);
        const exits = [...running.map((slot) => slot.worker), ...(spare === null ? [] : [spare])].map((worker) => new Promise((resolve) => (worker.isDead() ? resolve() : worker.once('exit', () => resolve()))));
        if (spare !== null && !spare.isDead())
            spare.process.kill('SIGTERM');
        for (const slot of running)
            this.#send(slot, { type: 'drain', timeoutMs });
        let timer;
        const all = Promise.all(exits).then(() => true);
        const inTime = await Promise.race([all, new Promise((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs + 2_000)))]);
        clearTimeout(timer);
        if (!inTime) {
            for (const slot of running)
                if (slot.worker !== null && !slot.worker.isDead())
                    slot.worker.process.kill('SIGKILL');
            await all;
        }
    }
    #fork(slot) {
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
        if (spare?.worker === worker && spare.ready)
            this.#init(slot);
    }
    #forkProcess() {
        const worker = cluster.fork();
        worker.on('message', (message) => {
            if (!isFromWorker(message))
                return;
            const slot = this.#slots.find((s) => s.worker === worker);
            if (slot !== undefined)
                this.#received(slot, worker, message);
            else if (this.#spare?.worker === worker && message.type === 'ready')
                this.#spare.ready = true;
        });
        worker.on('error', () => undefined);
        return worker;
    }
    #replenish(delayMs = 0) {
        if (this.#options.spare === false || this.#stopping || this.#spare !== null || this.#spareTimer !== null)
            return;
        const fork = () => {
            this.#spareTimer = null;
            if (this.#stopping || this.#spare !== null)
                return;
            this.#spare = { worker: this.#forkProcess(), ready: false };
        };
        if (delayMs > 0)
            this.#spareTimer = setTimeout(fork, delayMs);
        else
            fork();
    }
    #init(slot) {
        const now = Date.now();
        for (const [key, ejection] of this.#ejections)
            if (ejection.untilMs <= now)
                this.#ejections.delete(key);
        const holds = [...this.#ejections.values()];
        for (const hold of holds)
            this.#holding(`${hold.route}\n${hold.upstream}`).add(slot.index);
        this.#send(slot, { type: 'init', table: this.#options.current(), listen: { ...this.#listen }, holds });
    }
    #holding(key) {
        let slots = this.#ejectedOn.get(key);
        if (slots === undefined)
            this.#ejectedOn.set(key, (slots = new Set()));
        return slots;
    }
    #received(slot, worker, message) {
        if (slot.worker !== worker)
            return;
        switch (message.type) {
            case 'ready':
                this.#init(slot);
                return;
            case 'listening': {
                slot.listening = true;
                slot.generation = Math.max(slot.generation, message.generation);
                this.#options.events.record({ actor: 'supervisor', action: 'worker.started', after: { worker: slot.index, pid: slot.pid, generation: message.generation } });
                this.#options.logger.info({ slot: slot.index, pid: slot.pid, port: message.port }, 'worker listening');
                if (this.#firstListen !== null) {
                    if (slot.index === 0)
                        for (const other of this.#slots.slice(1))
                            this.#fork(other);
                    if (this.#slots.every((s) => s.listening)) {
                        this.#firstListen.resolve();
                        this.#firstListen = null;
                    }
                }
                if (this.#firstListen === null && this.#slots.every((s) => s.listening))
                    this.#replenish();
                break;
            }
            case 'ack':
                slot.generation = Math.max(slot.generation, message.generation);
                break;
            case 'collected':
                slot.counters = message.counters;
                if (message.deltas !== null && isCounterDeltas(message.deltas))
                    this.#options.onDeltas(slot.index, message.deltas);
                this.#collectWaiters.get(message.seq)?.();
                return;
            case 'deltas':
                if (isCounterDeltas(message.deltas))
                    this.#options.onDeltas(slot.index, message.deltas);
                return;
            case 'event': {
                const { action, route, message: text, after } = message.event ?? {};
                if (typeof action === 'string' && typeof route === 'string' && typeof text === 'string' && typeof after === 'object' && after !== null) {
                    const details = after;
                    if (this.#newsForMachine(slot, action, `${route}\n${String(details.upstream)}`, details)) {
                        this.#options.events.record({ actor: 'outlier', action, route, message: text, after: { ...after, slot: slot.index } });
                    }
                    this.#shareEjection(slot, action, route, details);
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
        for (const check of [...this.#progress])
            check();
    }
    #exited(worker, code, signal) {
        if (this.#spare?.worker === worker) {
            this.#spare = null;
            this.#options.logger.warn({ pid: worker.process.pid, code, signal }, 'spare worker exited');
            this.#replenish(SPARE_RESTART_MS);
            return;
        }
        const slot = this.#slots.find((s) => s.worker === worker);
        if (slot === undefined)
            return;
        const lived = Date.now() - slot.startedAt;
        slot.worker = null;
        slot.listening = false;
        for (const [key, slots] of this.#ejectedOn)
            if (slots.delete(slot.index) && slots.size === 0)
                this.#ejectedOn.delete(key);
        this.#options.onExit(slot.index);
        for (const check of [...this.#progress])
            check();
        if (this.#stopping)
            return;
        this.#options.events.record({ actor: 'supervisor', action: 'worker.exit', after: { worker: slot.index, pid: slot.pid, code, signal } });
        this.#options.logger.warn({ slot: slot.index, pid: slot.pid, code, signal }, 'worker exited: starting a replacement');
        if (this.#firstListen !== null)
            return;
        slot.restarts++;
        if (lived < CRASH_LOOP_MS)
            slot.restartTimer = setTimeout(() => this.#fork(slot), CRASH_LOOP_MS);
        else
            this.#fork(slot);
    }
    #shareEjection(from, action, route, after) {
        const { upstream, ejectionMs } = after;
        if (action !== 'upstream.ejected' || typeof upstream !== 'string' || typeof ejectionMs !== 'number' || !(ejectionMs > 0))
            return;
        const untilMs = Date.now() + ejectionMs;
        const key = `${route}\n${upstream}`;
        if ((this.#ejections.get(key)?.untilMs ?? 0) < untilMs)
            this.#ejections.set(key, { route, upstream, untilMs, ejectionMs });
        const holding = this.#holding(key);
        for (const slot of this.#slots) {
            if (slot === from || slot.worker === null)
                continue;
            this.#send(slot, { type: 'eject', route, upstream, untilMs, ejectionMs });
            holding.add(slot.index);
        }
    }
    #newsForMachine(from, action, key, after) {
        const slots = this.#ejectedOn.get(key);
        if (action === 'upstream.ejected') {
            const first = slots === undefined || slots.size === 0;
            this.#holding(key).add(from.index);
            return first || typeof after.ejectionMs === 'number';
        }
        if (action !== 'upstream.restored' || slots === undefined)
            return true;
        if (!slots.delete(from.index))
            return slots.size === 0;
        if (slots.size > 0)
            return false;
        this.#ejectedOn.delete(key);
        return true;
    }
    #send(slot, message) {
        const worker = slot.worker;
        if (worker === null || !worker.isConnected())
            return;
        worker.send(message, undefined, () => undefined);
    }
}
//# sourceMappingURL=worker-pool.js.map