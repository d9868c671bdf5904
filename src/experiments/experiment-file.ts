/**
 * Running experiments across restarts, without `fleet:` (with it, Redis holds the totals and the users): the state
 * authority (the single process, or the supervisor with `workers: N`) saves its additive totals and the keyed users
 * it remembers next to the state file, `<state file>.experiments`, about every 15 s and on stop, and reads them back
 * at start. A returning user is then neither exposed nor counted again; a new one is.
 *
 * The file: MAGIC, one JSON header line (per experiment its totals, a fingerprint of its arms and conversions, how
 * many users and bytes follow), then each experiment's users, least recently seen first, USER_BYTES each (19):
 * 8 bytes of their key's SHA-256, the exposure time (float64 epoch ms), the arm (uint8) and the conversions counted
 * (uint16 mask by conversion bit). A supervisor's users also carry, per conversion counted, its time and value
 * (2 float64), which its merge of workers' events reorders by. Little-endian throughout.
 *
 * A save takes a snapshot of each LRU's order (a few ms for 100 000 users), and encodes and hashes the users SLICE
 * per event-loop turn (see snapshotBook), so a request never waits for a whole save. Nothing in the file can stop a
 * start: a damaged file is reported and ignored; an experiment whose entry is damaged, or whose arms or conversions
 * changed since the save (fingerprint), starts empty, reported, and the others are restored.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { writeAtomically } from '../control/state-file.js';
import type { ArmIndex, CompiledExperiment } from './plan.js';
import { readTotals, type RunningTotals } from './experiment-stop.js';
import { isSavedUserKey, keyDigest, type ExperimentBook, type ExperimentRecord, type RestoreRunning, type RestoredUsers } from './experiment-book.js';
import type { UserState } from './user-state.js';
import type { MergedUser } from './worker-events.js';
import type { RecencySnapshot, UserLru } from './user-lru.js';

const MAGIC = 'splitgate experiments 1\n';
const DIGEST_BYTES = 8;
export const USER_BYTES = DIGEST_BYTES + 8 + 1 + 2;
const DETAIL_BYTES = 16;
/** Keys hashed per event-loop turn while saving (1–3 ms here; 1 000 per turn held it 5–7 ms on a busy day). */
const SLICE = 250;

/** Which users the process remembers: its own (a single process) or those merged from its workers (a supervisor). */
export type UsersKind = 'users' | 'merged';

interface SavedHeader extends RunningTotals {
  readonly key: string;
  readonly fingerprint: string;
  readonly merged: boolean;
  readonly users: number;
  readonly bytes: number;
}

export interface ExperimentFileOptions {
  readonly file: string;
  readonly book: ExperimentBook;
  readonly kind: UsersKind;
  /** Default 15 s. */
  readonly saveEveryMs?: number;
  /** A load or save that failed, or an experiment not restored: the experiments keep counting in memory. */
  readonly onWarning: (message: string) => void;
}

export class ExperimentFile {
  readonly #options: ExperimentFileOptions;
  #timer: NodeJS.Timeout | null = null;
  /** Saves in the order they were asked for: the stop's, asked last, lands last. */
  #queue: Promise<void> = Promise.resolve();
  #saving = false;
  /** A file was read or written: saves go on (an empty one clears it); until then a process with no experiments writes none. */
  #held = false;

  /** The file of a process with `state.file`, or null (`state.file: false`, or `fleet:`, where Redis keeps all). */
  static forStateFile(stateFile: string | false, fleet: boolean, options: Omit<ExperimentFileOptions, 'file'>): ExperimentFile | null {
    return stateFile === false || fleet ? null : new ExperimentFile({ ...options, file: `${resolve(stateFile)}.experiments` });
  }

  constructor(options: ExperimentFileOptions) {
    this.#options = options;
  }

  /** Reads the file (synchronously, at start) and hands its experiments to the book. */
  restore(): void {
    let bytes: Buffer;
    try {
      bytes = readFileSync(this.#options.file);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') this.#options.onWarning(`experiments file ${this.#options.file} not read: ${(error as Error).message}`);
      return;
    }
    this.#held = true;
    try {
      this.#options.book.restoreRunning(parseExperimentFile(bytes, this.#options.kind, this.#options.onWarning));
    } catch (error) {
      this.#options.onWarning(`experiments file ${this.#options.file} not restored, running experiments start from zero: ${(error as Error).message}`);
    }
  }

  /**
   * Saves every `saveEveryMs` from now on, when anything was counted since the last save (an idle experiment costs no
   * pass over its users); a save still running skips its turn.
   */
  start(): void {
    let saved = countsMark(this.#options.book);
    this.#timer ??= setInterval(() => {
      const mark = countsMark(this.#options.book);
      if (this.#saving || mark === saved) return;
      saved = mark;
      this.#saving = true;
      void this.save().finally(() => (this.#saving = false));
    }, this.#options.saveEveryMs ?? 15_000).unref();
  }

  /** The last save (the process is stopping: counts are final, after the drain). */
  async stop(): Promise<void> {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
    await this.save();
  }

  /** Saves now, after any save in flight. Never rejects: a failure is a warning. */
  save(): Promise<void> {
    const snapshot = snapshotBook(this.#options.book);
    const file = this.#options.file;
    if (snapshot.experiments === 0 && !this.#held) return this.#queue;
    this.#held = true;
    const write = this.#queue
      .then(async () => writeAtomically(file, await snapshot.finish()))
      .catch((error: unknown) => this.#options.onWarning(`cannot save the experiments file ${file}: ${(error as Error).message}`));
    this.#queue = write;
    return write;
  }
}

/** What a save holds: the header and users encoded now, their digests to fill in over the next turns. */
export interface Snapshot {
  /** Running experiments in it. */
  readonly experiments: number;
  finish(): Promise<Buffer>;
}

/** One experiment's users as taken from its LRU (least recently seen first), to encode over the next turns. */
interface TakenUsers {
  readonly experiment: CompiledExperiment;
  readonly merged: boolean;
  readonly users: RecencySnapshot<UserState | MergedUser>;
}

/**
 * Takes every running experiment's totals and users (a snapshot of each LRU's order: a few ms for 100 000 users,
 * see user-lru.ts and loadtest/experiment-file.mjs); `finish` encodes and hashes them SLICE per event-loop turn.
 * A single process's user states are immutable, so its file is the book at the snapshot; a supervisor's merged
 * users are read as they are when encoded, a few hundred ms later at most (a conversion merged in between is then in
 * the user's entry and not in the totals: lost if the process is killed before the next save, which has it).
 */
export function snapshotBook(book: ExperimentBook): Snapshot {
  const headers: Array<Omit<SavedHeader, 'users' | 'bytes'>> = [];
  const taken: TakenUsers[] = [];
  for (const experiment of book.plan?.all ?? []) {
    const record = book.record(experiment.key);
    if (record === undefined || record.stopped !== null) continue;
    const merged = record.merged !== null && record.merged.size > 0;
    const lru: UserLru<UserState | MergedUser> = merged ? record.merged! : record.users;
    headers.push({ key: experiment.key, fingerprint: fingerprintOf(experiment), ...totalsOf(record), merged });
    taken.push({ experiment, merged, users: lru.snapshot() });
  }
  return {
    experiments: taken.length,
    async finish() {
      const bodies: Buffer[] = [];
      const saved: SavedHeader[] = [];
      let done = 0;
      for (const [index, { experiment, merged, users }] of taken.entries()) {
        const body = Buffer.alloc(users.length * (USER_BYTES + (merged ? DETAIL_BYTES * experiment.conversions.length : 0)));
        let offset = 0;
        let count = 0;
        for (let i = 0; i < users.length; i++) {
          if (++done % SLICE === 0) await nextTurn();
          const next = merged ? writeMergedUser(body, offset, experiment, users.valueAt(i) as MergedUser) : writeUser(body, offset, users.valueAt(i) as UserState);
          if (next === offset) continue;
          writeDigest(body, offset, users.keyAt(i));
          offset = next;
          count++;
        }
        bodies.push(body.subarray(0, offset));
        saved.push({ ...headers[index], users: count, bytes: offset });
      }
      return Buffer.concat([Buffer.from(`${MAGIC}${JSON.stringify({ experiments: saved })}\n`), ...bodies]);
    },
  };
}

function writeDigest(body: Buffer, offset: number, key: string): void {
  if (isSavedUserKey(key)) body.write(key.slice(1), offset, DIGEST_BYTES, 'latin1');
  else keyDigest(key).copy(body, offset, 0, DIGEST_BYTES);
}

function writeUser(body: Buffer, offset: number, state: UserState): number {
  return writeFields(body, offset + DIGEST_BYTES, state.exposedAt * 1000, state.arm, state.converted);
}

/** A supervisor's user with its counted conversions' times and values; one with no exposure yet is left out. */
function writeMergedUser(body: Buffer, offset: number, experiment: CompiledExperiment, user: MergedUser): number {
  if (user.exposedAt === null) return offset;
  let mask = 0;
  for (const conversion of experiment.conversions) if (user.converted.has(conversion.name)) mask |= 1 << conversion.bit;
  let at = writeFields(body, offset + DIGEST_BYTES, user.exposedAt, user.arm, mask);
  for (const conversion of experiment.conversions) {
    const counted = user.converted.get(conversion.name);
    if (counted === undefined) continue;
    body.writeDoubleLE(counted.at, at);
    body.writeDoubleLE(counted.value, at + 8);
    at += DETAIL_BYTES;
  }
  return at;
}

function writeFields(body: Buffer, offset: number, exposedAtMs: number, arm: ArmIndex, mask: number): number {
  body.writeDoubleLE(exposedAtMs, offset);
  body.writeUInt8(arm, offset + 8);
  body.writeUInt16LE(mask, offset + 9);
  return offset + 11;
}

/**
 * The experiments in a saved file, each as how to restore its record; throws when the file is not one (then nothing
 * is restored). An entry's own damage, or a changed experiment, is found when it is restored: a warning, that
 * experiment starts from zero.
 */
export function parseExperimentFile(file: Buffer, kind: UsersKind, onWarning: (message: string) => void): Map<string, RestoreRunning> {
  if (file.subarray(0, MAGIC.length).toString('latin1') !== MAGIC) throw new Error('not an experiments file');
  const end = file.indexOf(0x0a, MAGIC.length);
  if (end < 0) throw new Error('no header line');
  const head: unknown = JSON.parse(file.subarray(MAGIC.length, end).toString('utf8'));
  const entries = (head as { experiments?: unknown } | null)?.experiments;
  if (!Array.isArray(entries)) throw new Error('no experiments list');
  const out = new Map<string, RestoreRunning>();
  let offset = end + 1;
  for (const [index, entry] of entries.entries()) {
    // The byte counts place every experiment's users: one without leaves the rest unplaceable.
    const e = entry as Partial<SavedHeader> | null;
    if (e === null || typeof e !== 'object' || !Number.isSafeInteger(e.bytes) || e.bytes! < 0) throw new Error(`experiment entry ${index} has no byte count`);
    const bytes = file.subarray(offset, offset + e.bytes!);
    offset += e.bytes!;
    if (typeof e.key !== 'string') continue;
    const key = e.key;
    out.set(key, (experiment, record) => {
      const totals = readTotals(e);
      if (e.fingerprint !== fingerprintOf(experiment)) {
        onWarning(`experiment ${key}: its arms or conversions changed since it was saved; it starts from zero`);
        return;
      }
      try {
        if (totals === null) throw new Error('its totals are not counts');
        if (bytes.length !== e.bytes) throw new Error('the file ends before its users');
        const users = decodeUsers(experiment, bytes, e.users, e.merged === true, kind);
        record.restoreRunning(totals, users);
      } catch (error) {
        onWarning(`experiment ${key}: saved entry damaged (${(error as Error).message}); it starts from zero`);
      }
    });
  }
  return out;
}

function decodeUsers(experiment: CompiledExperiment, bytes: Buffer, count: unknown, details: boolean, kind: UsersKind): RestoredUsers {
  if (!Number.isSafeInteger(count) || (count as number) < 0) throw new Error('no user count');
  const allBits = (1 << experiment.conversions.length) - 1;
  const states: Array<[string, UserState]> = [];
  const merged: Array<[string, MergedUser]> = [];
  let offset = 0;
  for (let i = 0; i < (count as number); i++) {
    if (offset + USER_BYTES > bytes.length) throw new Error(`user ${i} is cut short`);
    const key = `\0${bytes.toString('latin1', offset, offset + DIGEST_BYTES)}`;
    const exposedAt = bytes.readDoubleLE(offset + DIGEST_BYTES);
    const arm = bytes.readUInt8(offset + DIGEST_BYTES + 8);
    const mask = bytes.readUInt16LE(offset + DIGEST_BYTES + 9);
    offset += USER_BYTES;
    if (!Number.isFinite(exposedAt) || exposedAt < 0 || arm > 1 || (mask & ~allBits) !== 0) throw new Error(`user ${i} is not a user`);
    const converted = new Map<string, { at: number; value: number }>();
    for (const conversion of experiment.conversions) {
      if ((mask & (1 << conversion.bit)) === 0) continue;
      if (!details) {
        converted.set(conversion.name, { at: exposedAt, value: 0 });
        continue;
      }
      if (offset + DETAIL_BYTES > bytes.length) throw new Error(`user ${i} is cut short`);
      converted.set(conversion.name, { at: bytes.readDoubleLE(offset), value: bytes.readDoubleLE(offset + 8) });
      offset += DETAIL_BYTES;
    }
    if (kind === 'users') states.push([key, { arm: arm as ArmIndex, exposedAt: Math.floor(exposedAt / 1000), converted: mask }]);
    else merged.push([key, { arm: arm as ArmIndex, exposedAt, converted, pending: null }]);
  }
  if (offset !== bytes.length) throw new Error('bytes left after its users');
  return kind === 'users' ? { into: 'users', entries: states } : { into: 'merged', entries: merged };
}

/** Changes when anything is counted or a user remembered or forgotten. */
function countsMark(book: ExperimentBook): string {
  return JSON.stringify((book.plan?.all ?? []).map((e) => {
    const record = book.record(e.key);
    return record === undefined ? null : [totalsOf(record), record.trackedUsers, record.stopped !== null];
  }));
}

function totalsOf(record: ExperimentRecord): RunningTotals {
  return {
    arms: record.arms.map((arm) => ({ users: arm.users, conversions: Object.fromEntries(arm.conversions) })),
    minimumPValues: Object.fromEntries(record.minimumPValues),
    evictions: record.evictions,
  };
}

/** What must not change for saved users to mean the same: the arms, and the conversions in their bit order. */
export function fingerprintOf(experiment: CompiledExperiment): string {
  const arms = experiment.flag === null ? [experiment.arms, experiment.route] : [experiment.arms, experiment.flag.key, ...experiment.flag.variants];
  return JSON.stringify([...arms, experiment.conversions.map((c) => c.name)]);
}
