/**
 * Runtime state that must survive a restart (operator weights, kill switches, and later rollout progress), in a
 * small JSON file. Written atomically: a temporary file in the same directory, fsync'd, then renamed over the old
 * one, then the directory fsync'd (the rename is a change to the directory: until the directory is on disk, a crash
 * can bring back the old file), so a crash leaves either the old state or the new, never half of one. Writes are
 * serialized.
 *
 * A file that exists is never overwritten unseen: one that cannot be parsed is renamed aside before anything is
 * written (`<file>.corrupt-<ISO time>`), and one that cannot be read (EACCES, EIO, ...) is reported as such, so the
 * controller holds every save until it can be read again (it may hold the only record of a kill switch).
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, unlink } from 'node:fs/promises';
import { stableStringify } from './config-hash.js';
import { dirname } from 'node:path';
import type { WeightSource } from '../routing/table.js';
import { parseStoredFlagOverrides, type FlagOverride } from '../flags/flag-overrides.js';

export interface RouteRuntimeState {
  weight?: number;
  weightSource?: WeightSource;
  killed?: boolean;
  /**
   * Whose kill is in force: a rollback's ('rollout'), which the next rollout (a new revision, a restart) lifts, or an
   * operator's, which only an operator lifts. Absent only in files written before it existed.
   */
  killedBy?: 'rollout' | 'operator';
  /** The release plan's stage in force (its audiences route to the canary); set by the rollout controller. */
  stage?: number;
  /** Opaque to this module: owned by the rollout controller. */
  rollout?: unknown;
}

export interface RuntimeState {
  version: 1;
  routes: Record<string, RouteRuntimeState>;
  /**
   * With `fleet:`, this file is the replica's last known good copy of the fleet's state: the version of each route's
   * shared document it holds, and kill switches applied here while Redis was unreachable (pushed when it returns).
   */
  fleet?: FleetBookkeeping;
  /**
   * Operator overrides of flags (`PUT /flags/{key}`), by flag key. With `fleet:`, the shared document's overrides
   * exactly as received, including ones this replica's flag file cannot support (left out only where compiled).
   */
  flags?: Record<string, FlagOverride>;
  /** Stopped A/B experiments by key, with their frozen totals: opaque here, read by experiments/experiment-stop.ts. */
  experiments?: Record<string, unknown>;
}

export interface FleetBookkeeping {
  versions: Record<string, number>;
  pendingKills: string[];
  /** Flags killed here while Redis was unreachable, not yet written to the fleet's flags document. */
  pendingFlagKills?: string[];
}

export function emptyState(): RuntimeState {
  return { version: 1, routes: {} };
}

export type LoadResult =
  | { readonly ok: true; readonly state: RuntimeState; readonly found: boolean; readonly warnings: readonly string[] }
  /** Could not be parsed: moved to `preservedAs` (null when even that failed: then it is held like an unreadable one). */
  | { readonly ok: false; readonly reason: 'corrupt'; readonly error: string; readonly preservedAs: string | null }
  /** Exists but could not be read: nothing may be written over it while this is so. */
  | { readonly ok: false; readonly reason: 'unreadable'; readonly error: string };

export class StateFile {
  readonly path: string;
  #queue: Promise<void> = Promise.resolve();

  constructor(path: string) {
    this.path = path;
  }

  /** `now` names the copy a corrupt file is moved to. */
  async load(now: () => Date = () => new Date()): Promise<LoadResult> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { ok: true, state: emptyState(), found: false, warnings: [] };
      return {
        ok: false,
        reason: 'unreadable',
        error: `cannot read state file ${this.path}: ${(error as Error).message}; it is not overwritten until it can be read or is removed`,
      };
    }
    const warnings: string[] = [];
    let state: RuntimeState;
    try {
      state = parseState(JSON.parse(text), warnings);
    } catch (error) {
      const problem = `state file ${this.path} is not valid (${(error as Error).message})`;
      const aside = `${this.path}.corrupt-${now().toISOString()}`;
      try {
        await rename(this.path, aside);
        await syncDirectory(dirname(this.path));
      } catch (renameError) {
        return {
          ok: false,
          reason: 'unreadable',
          error: `${problem}; cannot move it aside (${(renameError as Error).message}), so it is not overwritten until it can be or is removed`,
        };
      }
      return { ok: false, reason: 'corrupt', error: `${problem}; ignored, kept as ${aside}`, preservedAs: aside };
    }
    return { ok: true, state, found: true, warnings };
  }

  /** Resolves when this state (or a later one) is on disk. */
  save(state: RuntimeState): Promise<void> {
    const text = `${JSON.stringify(state, null, 2)}\n`;
    const write = this.#queue.then(() => writeAtomically(this.path, text));
    this.#queue = write.catch(() => undefined);
    return write;
  }
}

/**
 * Creates missing parent directories one level at a time. Not `mkdir({ recursive: true })`: on Node 20 that never
 * settles on file systems that answer ENOENT to every mkdir (seen on /proc), which would hang the admin call.
 */
async function ensureDirectory(dir: string): Promise<void> {
  try {
    await mkdir(dir);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return;
    if (code !== 'ENOENT' || dirname(dir) === dir) throw error;
    await ensureDirectory(dirname(dir));
    await mkdir(dir);
  }
}

export async function writeAtomically(path: string, text: string | Uint8Array): Promise<void> {
  await ensureDirectory(dirname(path));
  const temporary = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  const handle = await open(temporary, 'w', 0o600);
  try {
    await handle.writeFile(text);
    await handle.sync();
  } catch (error) {
    // A full disk must not fill up further with half-written copies, one per save.
    await handle.close().catch(() => undefined);
    await unlink(temporary).catch(() => undefined);
    throw error;
  }
  await handle.close();
  try {
    await rename(temporary, path);
  } catch (error) {
    await unlink(temporary).catch(() => undefined);
    throw error;
  }
  await syncDirectory(dirname(path));
}

/**
 * fsync(2) on the directory makes the rename durable (POSIX leaves it to the directory's own sync). Some file
 * systems refuse to sync a directory (EINVAL, EISDIR, EPERM on a few FUSE and network mounts): the state is then as
 * durable as that file system allows, which is not worth failing an operator's change over.
 */
export async function syncDirectory(dir: string): Promise<void> {
  let handle;
  try {
    handle = await open(dir, 'r');
  } catch {
    return;
  }
  try {
    await handle.sync();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'EINVAL' && code !== 'EISDIR' && code !== 'EPERM' && code !== 'ENOTSUP') throw error;
  } finally {
    await handle.close();
  }
}

const WEIGHT_SOURCES = new Set(['config', 'operator', 'rollout']);

/**
 * A bad entry costs only itself: one unreadable weight must not drop every kill switch in the file (a killed
 * canary would come back to life). Problems are collected as warnings; only an unreadable whole file is an error.
 */
function parseState(raw: unknown, warnings: string[]): RuntimeState {
  if (raw === null || typeof raw !== 'object') throw new Error('not a JSON object');
  const { version, routes } = raw as { version?: unknown; routes?: unknown };
  if (version !== 1) throw new Error(`unsupported version ${JSON.stringify(version)}`);
  if (routes === null || typeof routes !== 'object' || Array.isArray(routes)) throw new Error('routes must be an object');
  const out: RuntimeState = emptyState();
  for (const [name, value] of Object.entries(routes as Record<string, unknown>)) {
    if (value === null || typeof value !== 'object') {
      warnings.push(`routes.${name} is not an object; ignored`);
      continue;
    }
    const entry = value as Record<string, unknown>;
    const parsed: RouteRuntimeState = {};
    if (entry.killed !== undefined) {
      if (typeof entry.killed === 'boolean') parsed.killed = entry.killed;
      // Anything truthy that is not `false` keeps the canary killed: the safe reading of a damaged flag.
      else if (entry.killed) {
        parsed.killed = true;
        warnings.push(`routes.${name}.killed is not true/false; kept as killed`);
      } else warnings.push(`routes.${name}.killed is not true/false; ignored`);
    }
    if (parsed.killed === true) parsed.killedBy = killedBy(entry);
    if (entry.weight !== undefined) {
      if (typeof entry.weight === 'number' && entry.weight >= 0 && entry.weight <= 100) {
        parsed.weight = entry.weight;
        parsed.weightSource = WEIGHT_SOURCES.has(entry.weightSource as string) ? (entry.weightSource as WeightSource) : 'operator';
      } else warnings.push(`routes.${name}.weight is not a number from 0 to 100; ignored`);
    }
    if (entry.stage !== undefined) {
      if (Number.isInteger(entry.stage) && (entry.stage as number) >= -1) parsed.stage = entry.stage as number;
      else warnings.push(`routes.${name}.stage is not a stage index; ignored`);
    }
    if (entry.rollout !== undefined) parsed.rollout = entry.rollout;
    if (Object.keys(parsed).length > 0) out.routes[name] = parsed;
  }
  const fleet = (raw as { fleet?: unknown }).fleet;
  if (fleet !== undefined) out.fleet = parseFleetBookkeeping(fleet, warnings);
  const flags = (raw as { flags?: unknown }).flags;
  if (flags !== undefined) {
    const overrides = parseStoredFlagOverrides(flags, warnings);
    if (Object.keys(overrides).length > 0) out.flags = overrides;
  }
  const experiments = (raw as { experiments?: unknown }).experiments;
  if (experiments !== null && typeof experiments === 'object' && !Array.isArray(experiments)) out.experiments = experiments as Record<string, unknown>;
  else if (experiments !== undefined) warnings.push('experiments is not an object; ignored');
  return out;
}

/**
 * Files written before `killedBy` existed say who killed only through the rollout status beside the kill (it
 * engaged one): read so, the next rollout lifts its own kill as it did then. Anything unclear is an operator's kill.
 */
function killedBy(entry: Record<string, unknown>): 'rollout' | 'operator' {
  if (entry.killedBy !== undefined) return entry.killedBy === 'rollout' ? 'rollout' : 'operator';
  const rollout = entry.rollout as { engagedKill?: unknown } | null | undefined;
  return typeof rollout === 'object' && rollout !== null && rollout.engagedKill === true ? 'rollout' : 'operator';
}

/** A damaged version only costs a catch-up from the fleet; a pending kill is kept whenever it can be read. */
function parseFleetBookkeeping(raw: unknown, warnings: string[]): FleetBookkeeping {
  const out: FleetBookkeeping = { versions: {}, pendingKills: [] };
  if (raw === null || typeof raw !== 'object') {
    warnings.push('fleet is not an object; ignored');
    return out;
  }
  const { versions, pendingKills, pendingFlagKills } = raw as { versions?: unknown; pendingKills?: unknown; pendingFlagKills?: unknown };
  if (versions !== null && typeof versions === 'object') {
    for (const [name, value] of Object.entries(versions)) {
      if (Number.isSafeInteger(value) && (value as number) >= 0) out.versions[name] = value as number;
      else warnings.push(`fleet.versions.${name} is not a whole number; ignored`);
    }
  }
  if (Array.isArray(pendingKills)) out.pendingKills = pendingKills.filter((name): name is string => typeof name === 'string');
  if (Array.isArray(pendingFlagKills)) {
    const keys = pendingFlagKills.filter((key): key is string => typeof key === 'string');
    if (keys.length > 0) out.pendingFlagKills = keys;
  }
  return out;
}

/**
 * What to save once a state file that could not be read at start (or since) reads again: the file's state with the
 * changes made here meanwhile laid over it. `base` is the state this process held when the file became unreadable,
 * `current` the state held now; a route, flag or experiment that differs between the two was changed here and
 * keeps its new value, the rest come from the file. A kill switch set in either stays set: the file may hold the
 * only record of one, and nobody here could have lifted it (it was never in force here).
 */
export function mergeHeldState(file: RuntimeState, base: RuntimeState, current: RuntimeState): RuntimeState {
  const changed = <T>(name: string, before: Record<string, T> | undefined, after: Record<string, T> | undefined): boolean =>
    stableStringify(before?.[name] ?? null) !== stableStringify(after?.[name] ?? null);
  const merged: RuntimeState = structuredClone(file);
  for (const name of new Set([...Object.keys(base.routes), ...Object.keys(current.routes)])) {
    if (!changed(name, base.routes, current.routes)) continue;
    const killed = merged.routes[name]?.killed === true;
    const entry: RouteRuntimeState = structuredClone(current.routes[name] ?? {});
    if (killed) entry.killed = true;
    if (Object.keys(entry).length === 0) delete merged.routes[name];
    else merged.routes[name] = entry;
  }
  const flags: Record<string, FlagOverride> = { ...merged.flags };
  for (const key of new Set([...Object.keys(base.flags ?? {}), ...Object.keys(current.flags ?? {})])) {
    if (!changed(key, base.flags, current.flags)) continue;
    if (flags[key]?.state === 'DISABLED') continue;
    if (current.flags?.[key] === undefined) delete flags[key];
    else flags[key] = structuredClone(current.flags[key]);
  }
  if (Object.keys(flags).length > 0) merged.flags = flags;
  else delete merged.flags;
  const experiments: Record<string, unknown> = { ...merged.experiments };
  for (const [key, value] of Object.entries(current.experiments ?? {})) {
    if (changed(key, base.experiments, current.experiments)) experiments[key] = structuredClone(value);
  }
  if (Object.keys(experiments).length > 0) merged.experiments = experiments;
  if (current.fleet !== undefined || merged.fleet !== undefined) {
    const fileFleet = merged.fleet ?? { versions: {}, pendingKills: [] };
    const pendingFlagKills = [...new Set([...(fileFleet.pendingFlagKills ?? []), ...(current.fleet?.pendingFlagKills ?? [])])];
    merged.fleet = {
      versions: { ...fileFleet.versions, ...current.fleet?.versions },
      pendingKills: [...new Set([...fileFleet.pendingKills, ...(current.fleet?.pendingKills ?? [])])],
      ...(pendingFlagKills.length > 0 ? { pendingFlagKills } : {}),
    };
  }
  return merged;
}
