/**
 * A route's requests and errors over an SLO window (days to weeks), in one-minute buckets: what burn rates and the
 * error budget are computed from. Fixed memory (one bucket per minute of the window, two counters each); a bucket is
 * reused when its minute comes round again. Fed by SloFeed (slo-feed.ts) from the one-second rolling windows. With a
 * state file, the book is saved next to it (`<file>.slo`) about once a minute and on stop, so a restart keeps the
 * window's budget (the seconds while it was down are not counted).
 *
 * The file holds each ledger's buckets as they sit in memory, base64 of the typed arrays: a save costs one pass of
 * base64 over them (about 1 ms for 30 days × 2 routes), not a sort and a JSON array of every minute (7–52 ms, on the
 * event loop of the process that proxies).
 */
import { resolve } from 'node:path';
import { readFileSync } from 'node:fs';
import type { Counts } from '../rollout/error-budget.js';
import { writeAtomically } from '../control/state-file.js';

const MINUTE = 60_000;
/** The longest SLO window the config accepts; a saved ledger claiming more is damaged. */
export const MAX_SLO_WINDOW_MS = 90 * 86_400_000;
/** The shortest one. */
export const MIN_SLO_WINDOW_MS = 3_600_000;

export class SloLedger {
  readonly spanMs: number;
  readonly #minutes: Int32Array;
  readonly #requests: Float64Array;
  readonly #errors: Float64Array;

  constructor(spanMs: number) {
    this.spanMs = spanMs;
    const size = Math.ceil(spanMs / MINUTE) + 1;
    this.#minutes = new Int32Array(size).fill(-1);
    this.#requests = new Float64Array(size);
    this.#errors = new Float64Array(size);
  }

  /** Counts of the second (or minute) starting at `atMs`. */
  add(atMs: number, requests: number, errors: number): void {
    const minute = Math.floor(atMs / MINUTE);
    const index = minute % this.#minutes.length;
    if (this.#minutes[index] !== minute) {
      if (this.#minutes[index] > minute) return; // older than what the bucket holds: outside the window
      this.#minutes[index] = minute;
      this.#requests[index] = 0;
      this.#errors[index] = 0;
    }
    this.#requests[index] += requests;
    this.#errors[index] += errors;
  }

  /** Requests and errors in the minutes that overlap (nowMs − spanMs, nowMs]. */
  counts(nowMs: number, spanMs: number): Counts {
    const last = Math.floor(nowMs / MINUTE);
    const first = Math.floor((nowMs - Math.min(spanMs, this.spanMs)) / MINUTE) + 1;
    let requests = 0;
    let errors = 0;
    for (let minute = Math.max(first, last - this.#minutes.length + 1); minute <= last; minute++) {
      const index = minute % this.#minutes.length;
      if (this.#minutes[index] !== minute) continue;
      requests += this.#requests[index];
      errors += this.#errors[index];
    }
    return { requests, errors };
  }

  /** The minutes that hold counts, oldest first, as `[minute, requests, errors]`. */
  minutes(): Array<[number, number, number]> {
    const out: Array<[number, number, number]> = [];
    for (let index = 0; index < this.#minutes.length; index++) {
      if (this.#minutes[index] >= 0 && this.#requests[index] > 0) out.push([this.#minutes[index], this.#requests[index], this.#errors[index]]);
    }
    return out.sort((a, b) => a[0] - b[0]);
  }

  /** The buckets as saved: base64 of each typed array (in this machine's byte order, little-endian everywhere Node runs). */
  encode(): { minutes: string; requests: string; errors: string } {
    return { minutes: base64(this.#minutes), requests: base64(this.#requests), errors: base64(this.#errors) };
  }

  /**
   * A ledger of `spanMs` from encode()'s output; a bucket with a negative or non-finite count is left out, and
   * arrays of another length than the window's are refused (thrown).
   */
  static decode(spanMs: number, saved: { minutes: unknown; requests: unknown; errors: unknown }): SloLedger {
    const ledger = new SloLedger(spanMs);
    const size = ledger.#minutes.length;
    const minutes = decodeInto(new Int32Array(size), saved.minutes, 'minutes');
    const requests = decodeInto(new Float64Array(size), saved.requests, 'requests');
    const errors = decodeInto(new Float64Array(size), saved.errors, 'errors');
    for (let index = 0; index < size; index++) {
      if (minutes[index] < 0 || !isCount(requests[index]) || !isCount(errors[index])) continue;
      ledger.add(minutes[index] * MINUTE, requests[index], errors[index]);
    }
    return ledger;
  }
}

function base64(array: Int32Array | Float64Array): string {
  return Buffer.from(array.buffer, array.byteOffset, array.byteLength).toString('base64');
}

function decodeInto<T extends Int32Array | Float64Array>(target: T, text: unknown, name: string): T {
  if (typeof text !== 'string') throw new Error(`${name} is not a string`);
  const bytes = Buffer.from(text, 'base64');
  if (bytes.length !== target.byteLength) throw new Error(`${name} holds ${bytes.length} bytes, not the window's ${target.byteLength}`);
  new Uint8Array(target.buffer).set(bytes);
  return target;
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0;
}

export interface SloLedgerEntry {
  readonly ledger: SloLedger;
  /** The newest second fed into the ledger (SloFeed's mark; -1 before the first). */
  fedThroughSecond: number;
}

export interface SloLedgerBookOptions {
  /** Where the book is saved (`<state file>.slo`); in memory only without it. */
  readonly file?: string;
  /** Saves at most this often. Default 60 s. */
  readonly saveEveryMs?: number;
  readonly now?: () => number;
  /** A save or load that failed (the ledger keeps running in memory). */
  readonly onError?: (message: string) => void;
}

/**
 * One ledger per route, outliving the rollout runners (a reload replaces a runner, not its route's history), with
 * the last second fed into it, so each second of the rolling windows is added once.
 */
export class SloLedgerBook {
  readonly #entries = new Map<string, SloLedgerEntry>();
  readonly #options: SloLedgerBookOptions;
  #lastSave: number;
  #saving = false;
  /** Saves in the order they were asked for: the stop's save, asked last, is written last. */
  #queue: Promise<void> = Promise.resolve();
  /** Something to save: a file was read, or a ledger made (a process that never had one writes no file). */
  #held = false;

  /** The book of a process with `state.file` (saved next to it), or in memory only with `state.file: false`. */
  static forStateFile(stateFile: string | false, onError: (message: string) => void): SloLedgerBook {
    return new SloLedgerBook(stateFile === false ? {} : { file: `${resolve(stateFile)}.slo`, onError });
  }

  constructor(options: SloLedgerBookOptions = {}) {
    this.#options = options;
    this.#lastSave = (options.now ?? Date.now)();
    if (options.file !== undefined) this.#load(options.file);
  }

  /** The route's ledger for a window of `spanMs` (a new, empty one when the window changed). */
  entryFor(route: string, spanMs: number): SloLedgerEntry {
    let entry = this.#entries.get(route);
    if (entry === undefined || entry.ledger.spanMs !== spanMs) {
      entry = { ledger: new SloLedger(spanMs), fedThroughSecond: -1 };
      this.#entries.set(route, entry);
      this.#held = true;
    }
    return entry;
  }

  /** Drops the ledgers of routes not in `routes` (their `slo:` is gone), so they are neither kept nor saved. */
  retain(routes: ReadonlySet<string>): void {
    for (const route of this.#entries.keys()) if (!routes.has(route)) this.#entries.delete(route);
  }

  /** After new counts: saves the book when the last save is older than `saveEveryMs` (off the caller's path). */
  saveSoon(): void {
    const now = (this.#options.now ?? Date.now)();
    if (this.#options.file === undefined || this.#saving || now - this.#lastSave < (this.#options.saveEveryMs ?? 60_000)) return;
    this.#lastSave = now;
    this.#saving = true;
    void this.save().finally(() => (this.#saving = false));
  }

  /**
   * Saves now (a process stopping), after any save in flight, so an older save cannot land over it. Never rejects:
   * a failure goes to onError.
   */
  save(): Promise<void> {
    const file = this.#options.file;
    if (file === undefined || !this.#held) return this.#queue;
    const text = this.#text();
    const write = this.#queue.then(() => writeAtomically(file, text)).catch((error: unknown) => this.#options.onError?.(`cannot save the SLO ledger ${file}: ${(error as Error).message}`));
    this.#queue = write;
    return write;
  }

  #text(): string {
    const routes: Record<string, unknown> = {};
    for (const [route, entry] of this.#entries) routes[route] = { spanMs: entry.ledger.spanMs, fedThroughSecond: entry.fedThroughSecond, ...entry.ledger.encode() };
    return JSON.stringify({ version: 2, routes });
  }

  /**
   * Reads a saved book. Nothing in the file can stop the process: a file that cannot be read or parsed, or is not
   * a book, is reported and the book starts empty; a route whose entry is damaged (a window outside the config's
   * 1h..90d, arrays of the wrong size) is reported and starts empty, the others load.
   */
  #load(file: string): void {
    let routes: Record<string, unknown>;
    try {
      const saved: unknown = JSON.parse(readFileSync(file, 'utf8'));
      if (!isObject(saved) || !isObject(saved.routes)) throw new Error('not an SLO ledger (no routes object)');
      routes = saved.routes;
      this.#held = true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') this.#options.onError?.(`SLO ledger ${file} not loaded, starting empty: ${(error as Error).message}`);
      return;
    }
    for (const [route, saved] of Object.entries(routes)) {
      try {
        this.#entries.set(route, loadEntry(saved));
      } catch (error) {
        this.#options.onError?.(`SLO ledger ${file}: route ${JSON.stringify(route)} not loaded, its budget starts empty: ${(error as Error).message}`);
      }
    }
  }
}

/** One route's saved entry: version 2 (base64 arrays) or version 1 (a `[minute, requests, errors]` list). */
function loadEntry(saved: unknown): SloLedgerEntry {
  if (!isObject(saved)) throw new Error('not an object');
  const spanMs = saved.spanMs;
  if (typeof spanMs !== 'number' || !Number.isInteger(spanMs) || spanMs < MIN_SLO_WINDOW_MS || spanMs > MAX_SLO_WINDOW_MS) throw new Error(`window ${String(spanMs)} ms is not between 1h and 90d`);
  const fedThroughSecond = typeof saved.fedThroughSecond === 'number' && Number.isFinite(saved.fedThroughSecond) ? saved.fedThroughSecond : -1;
  if (Array.isArray(saved.minutes)) {
    const ledger = new SloLedger(spanMs);
    for (const minute of saved.minutes) if (Array.isArray(minute) && minute.length === 3 && minute.every(isCount)) ledger.add(minute[0] * MINUTE, minute[1], minute[2]);
    return { ledger, fedThroughSecond };
  }
  return { ledger: SloLedger.decode(spanMs, { minutes: saved.minutes, requests: saved.requests, errors: saved.errors }), fedThroughSecond };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
