/**
 * Mirror comparisons off the event loop: one diff worker thread per instance (shared by every route), started on
 * the first comparison, unref'd so it never keeps the process alive, started again after it dies, terminated on
 * stop. A comparison of a 14 MB JSON document costs about half a second of CPU; on the proxy's thread that would
 * delay every client for as long (loadtest/bench-mirror.mjs, "large JSON").
 *
 * Bounded: at most MAX_PENDING comparisons (and MAX_PENDING_BYTES of bodies) wait for the worker; beyond that a
 * comparison is dropped and answered `dropped` (counted `compare_dropped`), so a shadow flood cannot queue
 * unbounded memory. Bodies are transferred to the worker, not copied, when their memory is theirs alone.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker, type WorkerOptions } from 'node:worker_threads';
import type { ComparisonJob, ComparisonResult, DiffSpec } from '../diff/compare.js';
import type { CapturedResponse } from '../diff/response-diff.js';

export interface DiffRequest {
  readonly id: number;
  readonly job: ComparisonJob;
  readonly spec: DiffSpec;
}

export type DiffReply = { readonly id: number; readonly result: ComparisonResult } | { readonly id: number; readonly error: string };

export type ComparisonAnswer =
  | { readonly ok: true; readonly result: ComparisonResult }
  /** `dropped`: not compared because the queue was full or the instance is stopping. */
  | { readonly ok: false; readonly dropped: boolean; readonly error: string };

export const MAX_PENDING = 32;
export const MAX_PENDING_BYTES = 64 * 1024 * 1024;
/** After the worker dies, comparisons fail (compare_error) for this long instead of respawning it in a loop. */
const RESTART_DELAY_MS = 1_000;
/**
 * The worker's heap limit: a comparison needing more (a huge JSON body under a high `diff.maxBodyBytes`) ends the
 * worker with ERR_WORKER_OUT_OF_MEMORY, which fails the pending comparisons, instead of the whole process.
 */
const WORKER_HEAP_MB = 1_024;

interface Pending {
  readonly resolve: (answer: ComparisonAnswer) => void;
  readonly bytes: number;
}

export interface ComparisonsOptions {
  readonly maxPending?: number;
  readonly maxPendingBytes?: number;
}

export class Comparisons {
  readonly #maxPending: number;
  readonly #maxPendingBytes: number;
  readonly #pending = new Map<number, Pending>();
  #pendingBytes = 0;
  #worker: Worker | null = null;
  #nextId = 1;
  #restartAt = 0;
  #closed = false;

  constructor(options: ComparisonsOptions = {}) {
    this.#maxPending = options.maxPending ?? MAX_PENDING;
    this.#maxPendingBytes = options.maxPendingBytes ?? MAX_PENDING_BYTES;
  }

  /** Comparisons sent to the worker and not answered yet. */
  get pending(): number {
    return this.#pending.size;
  }

  /** The job's bodies are transferred: the caller must not use them afterwards. Never rejects. */
  compare(job: ComparisonJob, spec: DiffSpec): Promise<ComparisonAnswer> {
    if (this.#closed) return Promise.resolve({ ok: false, dropped: true, error: 'splitgate is stopping' });
    const bytes = bodyBytes(job.primary) + bodyBytes(job.shadow) + bodyBytes(job.secondary);
    const full = this.#pending.size >= this.#maxPending || (this.#pending.size > 0 && this.#pendingBytes + bytes > this.#maxPendingBytes);
    if (full) return Promise.resolve({ ok: false, dropped: true, error: 'comparison queue full' });
    const worker = this.#ensureWorker();
    if (worker === null) return Promise.resolve({ ok: false, dropped: false, error: 'diff worker restarting after a failure' });
    const id = this.#nextId++;
    const request: DiffRequest = { id, job, spec };
    return new Promise((resolve) => {
      this.#pending.set(id, { resolve, bytes });
      this.#pendingBytes += bytes;
      try {
        worker.postMessage(request, transferables(job));
      } catch (error) {
        this.#settle(id, { ok: false, dropped: false, error: error instanceof Error ? error.message : String(error) });
      }
    });
  }

  /**
   * Starts the worker if it is not running, when a copy leaves: it boots while the shadow answers, so the first
   * comparison does not wait for it. Still lazy: an instance that never compares never starts a thread.
   */
  warm(): void {
    if (!this.#closed) this.#ensureWorker();
  }

  /** Ends the worker; comparisons still pending are answered `dropped`, later ones too. */
  async close(): Promise<void> {
    this.#closed = true;
    const worker = this.#worker;
    this.#worker = null;
    this.#failAll(true, 'splitgate is stopping');
    if (worker !== null) await worker.terminate();
  }

  #ensureWorker(): Worker | null {
    if (this.#worker !== null) return this.#worker;
    if (performance.now() < this.#restartAt) return null;
    const { entry, options } = workerEntry();
    const worker = new Worker(entry, { ...options, resourceLimits: { maxOldGenerationSizeMb: WORKER_HEAP_MB } });
    worker.unref();
    worker.on('message', (reply: DiffReply) => {
      if ('result' in reply) this.#settle(reply.id, { ok: true, result: reply.result });
      else this.#settle(reply.id, { ok: false, dropped: false, error: reply.error });
    });
    // An uncaught error or running out of memory ends the worker; 'exit' follows and fails what was pending.
    worker.on('error', () => undefined);
    worker.on('exit', (code) => {
      if (this.#worker !== worker) return;
      this.#worker = null;
      this.#restartAt = performance.now() + RESTART_DELAY_MS;
      this.#failAll(false, `diff worker exited with code ${code}`);
    });
    this.#worker = worker;
    return worker;
  }

  #settle(id: number, answer: ComparisonAnswer): void {
    const pending = this.#pending.get(id);
    if (pending === undefined) return;
    this.#pending.delete(id);
    this.#pendingBytes -= pending.bytes;
    pending.resolve(answer);
  }

  #failAll(dropped: boolean, error: string): void {
    for (const id of [...this.#pending.keys()]) this.#settle(id, { ok: false, dropped, error });
  }
}

function bodyBytes(response: CapturedResponse | null): number {
  return response?.body?.length ?? 0;
}

/**
 * The bodies' ArrayBuffers, when each is owned by its body alone: a small Buffer may be a slice of Node's shared
 * allocation pool, and transferring that would detach memory other Buffers still use. Those few are copied.
 */
function transferables(job: ComparisonJob): ArrayBuffer[] {
  const out: ArrayBuffer[] = [];
  for (const response of [job.primary, job.shadow, job.secondary]) {
    const body = response?.body;
    if (body === null || body === undefined) continue;
    const buffer = body.buffer;
    if (buffer instanceof ArrayBuffer && body.byteOffset === 0 && body.byteLength === buffer.byteLength && !out.includes(buffer)) out.push(buffer);
  }
  return out;
}

/**
 * The compiled worker next to this module (dist/mirror/diff-worker.js). Run from the TypeScript sources (vitest),
 * there is none: the worker then loads diff-worker.ts through ts-source-hooks.mjs, which strips the types.
 */
function workerEntry(): { entry: URL | string; options: WorkerOptions } {
  const compiled = new URL('./diff-worker.js', import.meta.url);
  if (!import.meta.url.endsWith('.ts') || existsSync(fileURLToPath(compiled))) return { entry: compiled, options: {} };
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
