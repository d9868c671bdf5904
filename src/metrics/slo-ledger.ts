/**
 * A route's requests and errors over an SLO window (days to weeks), in one-minute buckets: what burn rates and the
 * error budget are computed from. Fixed memory (one bucket per minute of the window, two counters each); a bucket is
 * reused when its minute comes round again. Fed by SloFeed (slo-feed.ts) from the one-second rolling windows. With a
 * state file, the book is saved next to it (`<file>.slo`) about once a minute and on stop, so a restart keeps the
 * window's budget (the seconds while it was down are not counted).
 *
 * The file holds each ledger's buckets as they sit in memory: a one-line JSON header (routes, windows, array sizes,
 * byte order), then the typed arrays' bytes. A save copies them into one buffer (about 1 ms for 30 days × 2
 * routes), instead of a sorted JSON array of every minute (7–52 ms measured, on the event loop of the process that
 * proxies); loadtest/slo-ledger-save.mjs measures it. A version-1 file (that JSON) still loads.
 */
import { readFileSync } from 'node:fs';
import { endianness } from 'node:os';
import { resolve } from 'node:path';
import type { Counts } from '../rollout/error-budget.js';
import { writeAtomically } from '../control/state-file.js';

const MINUTE = 60_000;
/** The first line of a version-2 file. */
const MAGIC = 'splitgate-slo 2\n';
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

  /** Bytes of the three arrays (minutes, requests, errors), each copied (a save in flight never sees a later add). */
  get byteLength(): number {
    return this.#minutes.byteLength + this.#requests.byteLength + this.#errors.byteLength;
  }

  /** Copies the buckets into `target` at `offset` (byteLength bytes), in this machine's byte order. */
  copyInto(target: Uint8Array, offset: number): void {
    for (const array of [this.#minutes, this.#requests, this.#errors]) {
      target.set(new Uint8Array(array.buffer, array.byteOffset, array.byteLength), offset);
      offset += array.byteLength;
    }
  }

  /**
   * A ledger of `spanMs` from copyInto()'s bytes (exactly byteLength of them, else thrown); a bucket with a negative
   * or non-finite count is left out.
   */
  static fromBytes(spanMs: number, bytes: Uint8Array): SloLedger {
    const ledger = new SloLedger(spanMs);
    if (bytes.length !== ledger.byteLength) throw new Error(`${bytes.length} bytes, not the ${ledger.byteLength} of a ${spanMs} ms window`);
    const size = ledger.#minutes.length;
    // Copied: the file's bytes need not be aligned for typed-array views.
    const minutes = new Int32Array(size);
    const requests = new Float64Array(size);
    const errors = new Float64Array(size);
    let offset = 0;
    for (const array of [minutes, requests, errors]) {
      new Uint8Array(array.buffer).set(bytes.subarray(offset, offset + array.byteLength));
      offset += array.byteLength;
    }
    // A minute ahead of the clock would hold its bucket against every later add (add keeps the newer minute).
    const nowMinute = Math.floor(Date.now() / MINUTE);
    for (let index = 0; index < size; index++) {
      if (minutes[index] < 0 || minutes[index] > nowMinute || !isCount(requests[index]) || !isCount(errors[index])) continue;
      ledger.add(minutes[index] * MINUTE, requests[index], errors[index]);
    }
    return ledger;
  }
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
    const bytes = this.#bytes();
    const write = this.#queue.then(() => writeAtomically(file, bytes)).catch((error: unknown) => this.#options.onError?.(`cannot save the SLO ledger ${file}: ${(error as Error).message}`));
    this.#queue = write;
    return write;
  }

  /** The file: MAGIC, a JSON header line, then each route's buckets in the header's order. */
  #bytes(): Buffer {
    const routes = [...this.#entries].map(([route, entry]) => ({ route, spanMs: entry.ledger.spanMs, fedThroughSecond: entry.fedThroughSecond, bytes: entry.ledger.byteLength }));
    const head = Buffer.from(`${MAGIC}${JSON.stringify({ endianness: endianness(), routes })}\n`);
    const file = Buffer.allocUnsafe(head.length + routes.reduce((sum, route) => sum + route.bytes, 0));
    head.copy(file, 0);
    let offset = head.length;
    for (const entry of this.#entries.values()) {
      entry.ledger.copyInto(file, offset);
      offset += entry.ledger.byteLength;
    }
    return file;
  }

  /**
   * Reads a saved book. Nothing in the file can stop the process: a file that cannot be read or parsed, or is not
   * a book, is reported and the book starts empty; a route whose entry is damaged (a window outside the config's
   * 1h..90d, arrays of the wrong size) is reported and starts empty, the others load.
   */
  #load(file: string): void {
    let entries: Array<[string, () => SloLedgerEntry]>;
    try {
      entries = parseBook(readFileSync(file));
      this.#held = true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') this.#options.onError?.(`SLO ledger ${file} not loaded, starting empty: ${(error as Error).message}`);
      return;
    }
    for (const [route, load] of entries) {
      try {
        this.#entries.set(route, load());
      } catch (error) {
        this.#options.onError?.(`SLO ledger ${file}: route ${JSON.stringify(route)} not loaded, its budget starts empty: ${(error as Error).message}`);
      }
    }
  }
}

/** A saved book's routes, each with how to load its entry (which throws when that entry is damaged). */
function parseBook(file: Buffer): Array<[string, () => SloLedgerEntry]> {
  if (file.subarray(0, MAGIC.length).toString('latin1') !== MAGIC) {
    const saved: unknown = JSON.parse(file.toString('utf8'));
    if (!isObject(saved) || !isObject(saved.routes)) throw new Error('not an SLO ledger (no routes object)');
    return Object.entries(saved.routes).map(([route, entry]) => [route, () => loadVersion1(entry)]);
  }
  const end = file.indexOf(0x0a, MAGIC.length);
  if (end < 0) throw new Error('no header line');
  const head: unknown = JSON.parse(file.subarray(MAGIC.length, end).toString('utf8'));
  if (!isObject(head) || !Array.isArray(head.routes)) throw new Error('not an SLO ledger (no routes list)');
  if (head.endianness !== endianness()) throw new Error(`saved on a ${String(head.endianness)} machine, this one is ${endianness()}`);
  const out: Array<[string, () => SloLedgerEntry]> = [];
  let offset = end + 1;
  for (const [index, entry] of head.routes.entries()) {
    // The sizes place every route's bytes: one without a size leaves the rest unplaceable.
    if (!isObject(entry) || typeof entry.bytes !== 'number' || !Number.isSafeInteger(entry.bytes) || entry.bytes < 0) throw new Error(`route entry ${index} has no byte count`);
    const bytes = file.subarray(offset, offset + entry.bytes);
    offset += entry.bytes;
    out.push([String(entry.route), () => ({ ledger: SloLedger.fromBytes(savedWindow(entry.spanMs), bytes), fedThroughSecond: savedSecond(entry.fedThroughSecond) })]);
  }
  return out;
}

/** A version-1 entry: `{ spanMs, fedThroughSecond, minutes: [[minute, requests, errors], ...] }`. */
function loadVersion1(saved: unknown): SloLedgerEntry {
  if (!isObject(saved) || !Array.isArray(saved.minutes)) throw new Error('no minutes list');
  const ledger = new SloLedger(savedWindow(saved.spanMs));
  const nowMinute = Math.floor(Date.now() / MINUTE);
  for (const minute of saved.minutes) if (Array.isArray(minute) && minute.length === 3 && minute.every(isCount) && minute[0] <= nowMinute) ledger.add(minute[0] * MINUTE, minute[1], minute[2]);
  return { ledger, fedThroughSecond: savedSecond(saved.fedThroughSecond) };
}

/** A saved window, within the config's limits (a damaged one could ask for any size of memory). */
function savedWindow(spanMs: unknown): number {
  if (typeof spanMs !== 'number' || !Number.isInteger(spanMs) || spanMs < MIN_SLO_WINDOW_MS || spanMs > MAX_SLO_WINDOW_MS) throw new Error(`window ${String(spanMs)} ms is not between 1h and 90d`);
  return spanMs;
}

function savedSecond(second: unknown): number {
  return typeof second === 'number' && Number.isFinite(second) ? second : -1;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
