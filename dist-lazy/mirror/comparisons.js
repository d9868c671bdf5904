import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
export const MAX_PENDING = 32;
export const MAX_PENDING_BYTES = 64 * 1024 * 1024;
const RESTART_DELAY_MS = 1_000;
const WORKER_HEAP_MB = 1_024;
export class Comparisons {
    #maxPending;
    #maxPendingBytes;
    #pending = new Map();
    #pendingBytes = 0;
    #worker = null;
    #nextId = 1;
    #restartAt = 0;
    #closed = false;
    constructor(options = {}) {
        this.#maxPending = options.maxPending ?? MAX_PENDING;
        this.#maxPendingBytes = options.maxPendingBytes ?? MAX_PENDING_BYTES;
    }
    get pending() {
        return this.#pending.size;
    }
    compare(job, spec) {
        if (this.#closed)
            return Promise.resolve({ ok: false, dropped: true, error: 'splitgate is stopping' });
        const bytes = bodyBytes(job.primary) + bodyBytes(job.shadow) + bodyBytes(job.secondary);
        const full = this.#pending.size >= this.#maxPending || (this.#pending.size > 0 && this.#pendingBytes + bytes > this.#maxPendingBytes);
        if (full)
            return Promise.resolve({ ok: false, dropped: true, error: 'comparison queue full' });
        const worker = this.#ensureWorker();
        if (worker === null)
            return Promise.resolve({ ok: false, dropped: false, error: 'diff worker restarting after a failure' });
        const id = this.#nextId++;
        const request = { id, job, spec };
        return new Promise((resolve) => {
            this.#pending.set(id, { resolve, bytes });
            this.#pendingBytes += bytes;
            try {
                worker.postMessage(request, transferables(job));
            }
            catch (error) {
                this.#settle(id, { ok: false, dropped: false, error: error instanceof Error ? error.message : String(error) });
            }
        });
    }
    warm() {
        if (!this.#closed)
            this.#ensureWorker();
    }
    async close() {
        this.#closed = true;
        const worker = this.#worker;
        this.#worker = null;
        this.#failAll(true, 'splitgate is stopping');
        if (worker !== null)
            await worker.terminate();
    }
    #ensureWorker() {
        if (this.#worker !== null)
            return this.#worker;
        if (performance.now() < this.#restartAt)
            return null;
        const { entry, options } = workerEntry();
        const worker = new Worker(entry, { ...options, resourceLimits: { maxOldGenerationSizeMb: WORKER_HEAP_MB } });
        worker.unref();
        worker.on('message', (reply) => {
            if ('result' in reply)
                this.#settle(reply.id, { ok: true, result: reply.result });
            else
                this.#settle(reply.id, { ok: false, dropped: false, error: reply.error });
        });
        worker.on('error', () => undefined);
        worker.on('exit', (code) => {
            if (this.#worker !== worker)
                return;
            this.#worker = null;
            this.#restartAt = performance.now() + RESTART_DELAY_MS;
            this.#failAll(false, `diff worker exited with code ${code}`);
        });
        this.#worker = worker;
        return worker;
    }
    #settle(id, answer) {
        const pending = this.#pending.get(id);
        if (pending === undefined)
            return;
        this.#pending.delete(id);
        this.#pendingBytes -= pending.bytes;
        pending.resolve(answer);
    }
    #failAll(dropped, error) {
        for (const id of [...this.#pending.keys()])
            this.#settle(id, { ok: false, dropped, error });
    }
}
function bodyBytes(response) {
    return response?.body?.length ?? 0;
}
function transferables(job) {
    const out = [];
    for (const response of [job.primary, job.shadow, job.secondary]) {
        const body = response?.body;
        if (body === null || body === undefined)
            continue;
        const buffer = body.buffer;
        if (buffer instanceof ArrayBuffer && body.byteOffset === 0 && body.byteLength === buffer.byteLength && !out.includes(buffer))
            out.push(buffer);
    }
    return out;
}
function workerEntry() {
    const compiled = new URL('./diff-worker.js', import.meta.url);
    if (!import.meta.url.endsWith('.ts') || existsSync(fileURLToPath(compiled)))
        return { entry: compiled, options: {} };
    return {
        entry: SOURCE_BOOTSTRAP,
        options: {
            eval: true,
            workerData: {
                hooks: new URL('./ts-source-hooks.mjs', import.meta.url).href,
                base: import.meta.url,
                entry: new URL('./diff-worker.ts', import.meta.url).href,
            },
        },
    };
}
const SOURCE_BOOTSTRAP = `
const { register } = require('node:module');
const { workerData } = require('node:worker_threads');
register(workerData.hooks, { data: { base: workerData.base } });
import(workerData.entry);
`;
//# sourceMappingURL=comparisons.js.map