/**
 * A route's requests and errors over an SLO window (days to weeks), in one-minute buckets: what burn rates and the
 * error budget are computed from. Fixed memory (one bucket per minute of the window, two counters each); a bucket is
 * reused when its minute comes round again. Fed from the one-second rolling windows (complete seconds only), so a
 * second is counted once whichever tick reads it. With a state file, the book is saved next to it (`<file>.slo`) about
 * once a minute and on stop, so a restart keeps the window's budget (the seconds while it was down are not counted).
 */
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import type { Counts } from '../rollout/error-budget.js';
import { writeAtomically } from '../control/state-file.js';

const MINUTE = 60_000;

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

  /** The minutes that hold counts, oldest first, as `[minute, requests, errors]` (what the book saves). */
  minutes(): Array<[number, number, number]> {
    const out: Array<[number, number, number]> = [];
    for (let index = 0; index < this.#minutes.length; index++) {
      if (this.#minutes[index] >= 0 && this.#requests[index] > 0) out.push([this.#minutes[index], this.#requests[index], this.#errors[index]]);
    }
    return out.sort((a, b) => a[0] - b[0]);
  }
}

interface SavedEntry {
  spanMs: number;
  fedThroughSecond: number;
  minutes: Array<[number, number, number]>;
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
  readonly #entries = new Map<string, { ledger: SloLedger; fedThroughSecond: number }>();
  readonly #options: SloLedgerBookOptions;
  #lastSave: number;
  #saving = false;

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
  entryFor(route: string, spanMs: number): { ledger: SloLedger; fedThroughSecond: number } {
    let entry = this.#entries.get(route);
    if (entry === undefined || entry.ledger.spanMs !== spanMs) {
      entry = { ledger: new SloLedger(spanMs), fedThroughSecond: -1 };
      this.#entries.set(route, entry);
    }
    return entry;
  }

  /** After new counts: saves the book when the last save is older than `saveEveryMs` (off the caller's path). */
  saveSoon(): void {
    const file = this.#options.file;
    const now = (this.#options.now ?? Date.now)();
    if (file === undefined || this.#saving || now - this.#lastSave < (this.#options.saveEveryMs ?? 60_000)) return;
    this.#lastSave = now;
    this.#saving = true;
    writeAtomically(file, this.#text())
      .catch((error: unknown) => this.#options.onError?.(`cannot save the SLO ledger ${file}: ${(error as Error).message}`))
      .finally(() => (this.#saving = false));
  }

  /** Saves now, synchronously (a process stopping). */
  saveNow(): void {
    const file = this.#options.file;
    if (file === undefined || this.#entries.size === 0) return;
    const temporary = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    try {
      const fd = openSync(temporary, 'w', 0o600);
      try {
        writeSync(fd, this.#text());
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      renameSync(temporary, file);
    } catch (error) {
      try {
        unlinkSync(temporary);
      } catch {
        // Never created.
      }
      this.#options.onError?.(`cannot save the SLO ledger ${file}: ${(error as Error).message}`);
    }
  }

  #text(): string {
    const routes: Record<string, SavedEntry> = {};
    for (const [route, entry] of this.#entries) routes[route] = { spanMs: entry.ledger.spanMs, fedThroughSecond: entry.fedThroughSecond, minutes: entry.ledger.minutes() };
    return JSON.stringify({ version: 1, routes });
  }

  #load(file: string): void {
    let saved: { routes?: Record<string, SavedEntry> };
    try {
      saved = JSON.parse(readFileSync(file, 'utf8')) as typeof saved;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') this.#options.onError?.(`SLO ledger ${file} not loaded, starting empty: ${(error as Error).message}`);
      return;
    }
    for (const [route, entry] of Object.entries(saved.routes ?? {})) {
      if (typeof entry?.spanMs !== 'number' || !(entry.spanMs > 0) || !Array.isArray(entry.minutes)) continue;
      const ledger = new SloLedger(entry.spanMs);
      for (const minute of entry.minutes) {
        if (Array.isArray(minute) && minute.every((n) => typeof n === 'number' && Number.isFinite(n) && n >= 0)) ledger.add(minute[0] * 60_000, minute[1], minute[2]);
      }
      this.#entries.set(route, { ledger, fedThroughSecond: typeof entry.fedThroughSecond === 'number' ? entry.fedThroughSecond : -1 });
    }
  }
}
