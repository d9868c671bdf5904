/**
 * The control plane: the only code that changes what the data path does. Every change (operator weight, kill
 * switch, promote, config reload, rollout step) follows one path: validate → new runtime state → compile and bind
 * a new table → swap → audit event → persist. A change is in force for every request that starts after the call
 * returns; a failed change leaves the table in force untouched.
 */
import { hashConfig, stableStringify } from './config-hash.js';
import { isLoopback, type ListenAddress } from '../config/listen.js';
import { loadConfigFile } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { ConfigError, SplitgateError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Metrics, SeriesBook } from '../metrics/metrics.js';
import type { UpstreamPools } from '../proxy/upstream-pools.js';
import type { RuntimeOverrides, WeightSource } from '../routing/table.js';
import { activateTable, type ActiveTable, type MirrorDeps, type TableStore } from '../state/table-store.js';
import { FleetUnavailableError } from '../fleet/errors.js';
import { LocalStateAuthority, type FleetAcknowledgement, type StateAuthority } from '../fleet/state-authority.js';
import type { StoredDocument } from '../fleet/redis-state.js';
import type { EventLog } from './event-log.js';
import { emptyState, mergeHeldState, type RouteRuntimeState, type RuntimeState, type StateFile } from './state-file.js';
import { checkFlagOverride, FLAGS_DOCUMENT, flagsDocument, parseFlagOverride, parseStoredFlagOverrides, staleFlagOverrides, type FlagOverride, type FlagOverrides } from '../flags/flag-overrides.js';

export { hashConfig } from './config-hash.js';

export class UnknownRouteError extends SplitgateError {
  constructor(route: string) {
    super('SG_UNKNOWN_ROUTE', `no route named "${route}"`, 404);
  }
}

export class InvalidRequestError extends SplitgateError {
  constructor(message: string) {
    super('SG_INVALID', message, 400);
  }
}

export class ConflictError extends SplitgateError {
  constructor(message: string) {
    super('SG_CONFLICT', message, 409);
  }
}

export interface ControllerDeps {
  readonly config: Config;
  readonly configPath: string | null;
  readonly pools: UpstreamPools;
  readonly metrics: Metrics;
  readonly series: SeriesBook;
  readonly mirror: MirrorDeps;
  readonly events: EventLog;
  readonly stateFile: StateFile | null;
  readonly logger: Logger;
  /**
   * Where a new table goes besides this process's store: with `workers` > 1, the supervisor's channel to its
   * workers. A change returns only once the publisher says every live worker has it in force.
   */
  readonly publisher?: TablePublisher;
  /**
   * Where a change is decided before it is applied here: this process alone (default), or the fleet's shared
   * documents in Redis (`fleet:`), which may refuse it (409 conflict, 409 fenced, 503 unavailable).
   */
  readonly authority?: StateAuthority;
}

/** What an operator call may add: the state version it was based on (409 if the fleet has moved on since). */
export interface ChangeOptions {
  readonly expectedVersion?: number;
}

/** With `fleet:`: the shared version the change got and how many members have it, or that it is pending here. */
export type FleetChange = FleetAcknowledgement | { readonly version: number; readonly pending: true; readonly message: string };

/** Everything a worker needs to compile the same table with `activateTable`. */
export interface TableGeneration {
  readonly generation: number;
  readonly config: Config;
  readonly runtime: RuntimeOverrides;
}

export interface Delivery {
  /** Workers that have the generation in force. */
  readonly acknowledged: number;
  /** Workers that did not confirm it in time; they are being restarted (and get the table in force at start). */
  readonly unacknowledged: ReadonlyArray<{ readonly worker: number; readonly pid: number | null }>;
}

export interface TablePublisher {
  publish(generation: TableGeneration): Promise<Delivery>;
}

export interface ChangeResult {
  readonly route: string;
  readonly weight: number;
  readonly weightSource: WeightSource;
  readonly killed: boolean;
  readonly generation: number;
  /** Set when the change is in force but could not be written to the state file. */
  readonly warning?: string;
  /** With workers: which of them confirmed the new table. */
  readonly workers?: Delivery;
  readonly fleet?: FleetChange;
}

/** What `PUT`/`DELETE /flags/{key}` answers: the override now in force (null: the file's definition). */
export interface FlagChangeResult {
  readonly flag: string;
  readonly override: FlagOverride | null;
  readonly generation: number;
  readonly warning?: string;
  readonly workers?: Delivery;
  /** With `fleet:`: the shared version and its acknowledgements, or (a kill while Redis is unreachable) pending. */
  readonly fleet?: FleetChange;
}

export interface ReloadOutcome {
  readonly ok: boolean;
  readonly generation: number;
  readonly hash: string;
  readonly errors?: readonly string[];
  readonly warnings?: readonly string[];
  readonly workers?: Delivery;
}

export class Controller {
  readonly #deps: ControllerDeps;
  #store: TableStore | null = null;
  #config: Config;
  #configHash: string;
  #state: RuntimeState = emptyState();
  #generation = 0;
  #runtime: RuntimeOverrides = { weights: {}, killed: new Set() };
  readonly #staleFallback = new Set<string>();
  #lastReloadError: { time: string; errors: readonly string[] } | null = null;
  #stateError: string | null = null;
  /** The last save's failure, until a save succeeds: a change in force that a restart would lose. */
  #saveError: string | null = null;
  /**
   * Set while the state file exists but cannot be read: nothing is written over it (it may hold the only record of
   * a kill switch). `base` is the state held when that began, so that what changed here since can be told apart
   * from what the file holds once it reads again (mergeHeldState).
   */
  #stateHold: { base: RuntimeState; error: string } | null = null;
  #adminBound: ListenAddress | null = null;
  readonly #configListeners: Array<(config: Config) => void> = [];
  readonly #appliedListeners: Array<(route: string) => void> = [];
  readonly #authority: StateAuthority;
  /** Runtime changes one at a time: each reads the version the previous one left (fleet writes are CAS on it). */
  #serial: Promise<unknown> = Promise.resolve();

  constructor(deps: ControllerDeps) {
    this.#deps = deps;
    this.#authority = deps.authority ?? new LocalStateAuthority();
    this.#config = deps.config;
    this.#configHash = hashConfig(deps.config);
  }

  get config(): Config {
    return this.#config;
  }

  get configHash(): string {
    return this.#configHash;
  }

  get generation(): number {
    return this.#generation;
  }

  /**
   * Where the admin listener is actually bound: it stays there until a restart whatever later files say, so the
   * admin rules (token, Host check) are judged against this, not against `config.admin.listen`.
   */
  get adminListen(): ListenAddress {
    return this.#adminBound ?? this.#config.admin.listen;
  }

  /** Called once the admin listener is bound (an IP address, port 0 resolved). */
  adminBoundTo(address: ListenAddress): void {
    this.#adminBound = { host: address.host, port: address.port };
  }

  get lastReloadError(): { time: string; errors: readonly string[] } | null {
    return this.#lastReloadError;
  }

  /**
   * Set when the state file could not be read or parsed at start (the state was ignored; a corrupt file was moved
   * aside, an unreadable one is not written until it reads again), or when some of its entries were ignored; and
   * while the last save failed (cleared by the next that succeeds).
   */
  get stateError(): string | null {
    if (this.#saveError === null) return this.#stateError;
    return this.#stateError === null ? this.#saveError : `${this.#saveError}; ${this.#stateError}`;
  }

  get runtimeState(): Readonly<RuntimeState> {
    return this.#state;
  }

  /** The table in force, as a worker compiles it. */
  get tableGeneration(): TableGeneration {
    return { generation: this.#generation, config: this.#config, runtime: this.#runtime };
  }

  /** Reads the persisted runtime state and builds the first table. */
  async initialTable(): Promise<ActiveTable> {
    const file = this.#deps.stateFile;
    let unreadable: string | null = null;
    if (file !== null) {
      const loaded = await file.load();
      if (loaded.ok) {
        this.#state = loaded.state;
        if (loaded.found) this.#deps.logger.info({ stateFile: file.path, routes: Object.keys(loaded.state.routes) }, 'runtime state restored');
        if (loaded.warnings.length > 0) {
          this.#stateError = `state file ${file.path}: ${loaded.warnings.join('; ')}`;
          this.#deps.logger.warn({ stateFile: file.path, warnings: loaded.warnings }, 'parts of the runtime state ignored');
          this.#deps.events.record({ actor: 'splitgate', action: 'state.partly_ignored', message: loaded.warnings.join('; ') });
        }
      } else {
        // The proxy still starts (from the config alone): an unreadable state must not take it down.
        this.#stateError = loaded.error;
        this.#deps.logger.error({ stateFile: file.path, error: loaded.error }, 'runtime state ignored');
        this.#deps.events.record({ actor: 'splitgate', action: 'state.ignored', message: loaded.error });
      }
      if (!loaded.ok && loaded.reason === 'unreadable') unreadable = loaded.error;
    }
    const dropped = this.#dropStaleFlagOverrides(this.#config);
    if (unreadable !== null) this.#stateHold = { base: structuredClone(this.#state), error: unreadable };
    const table = this.#build();
    if (dropped) void this.#save('flags', 'flag.override_dropped');
    return table;
  }

  /**
   * While the state file is held (unreadable), each runtime change first tries it again. Readable: its state comes
   * into force under the changes made here meanwhile (mergeHeldState) and is saved. Gone (an operator removed it) or
   * found corrupt (moved aside): saving resumes with the state held here. Still unreadable: the hold stays.
   */
  async #retryHeldState(): Promise<void> {
    const hold = this.#stateHold;
    const file = this.#deps.stateFile;
    if (hold === null || file === null) return;
    const loaded = await file.load();
    if (!loaded.ok && loaded.reason === 'unreadable') {
      hold.error = loaded.error;
      this.#stateError = loaded.error;
      return;
    }
    this.#stateHold = null;
    if (!loaded.ok) {
      this.#stateError = loaded.error;
      this.#deps.logger.error({ stateFile: file.path, error: loaded.error }, 'runtime state ignored');
      this.#deps.events.record({ actor: 'splitgate', action: 'state.ignored', message: loaded.error });
      return;
    }
    if (!loaded.found) {
      this.#stateError = null;
      const message = `state file ${file.path} was removed; the runtime state held here is saved from now on`;
      this.#deps.logger.warn({ stateFile: file.path }, message);
      this.#deps.events.record({ actor: 'splitgate', action: 'state.hold_released', message });
      return;
    }
    this.#state = mergeHeldState(loaded.state, hold.base, this.#state);
    this.#stateError = loaded.warnings.length > 0 ? `state file ${file.path}: ${loaded.warnings.join('; ')}` : null;
    const message = `state file ${file.path} can be read again: its state is restored under the changes made since start`;
    this.#deps.logger.warn({ stateFile: file.path, routes: Object.keys(this.#state.routes), warnings: loaded.warnings }, message);
    this.#deps.events.record({ actor: 'splitgate', action: 'state.restored', message });
    void this.#swap(this.#build())?.catch(() => undefined);
    await this.#save('*', 'state.restored');
  }

  attach(store: TableStore): void {
    this.#store = store;
  }

  /** With `fleet:`: route → version of the shared state document applied here. */
  get fleetVersions(): Readonly<Record<string, number>> {
    return this.#state.fleet?.versions ?? {};
  }

  /** With `fleet:`: routes killed here while Redis was unreachable, not yet written to the fleet. */
  get pendingKills(): readonly string[] {
    return this.#state.fleet?.pendingKills ?? [];
  }

  /** Called after any runtime state is applied here (a local change or one from the fleet). */
  onStateApplied(listener: (route: string) => void): void {
    this.#appliedListeners.push(listener);
  }

  /**
   * A route's document from the fleet: applied (table built, swapped, published to the workers, saved) when it is
   * newer than the version held here. A kill made here while Redis was unreachable stays in force over it until it
   * has been written to the fleet. Resolves true when applied.
   */
  async applyFleetState(routeName: string, document: StoredDocument, origin: string): Promise<boolean> {
    const applied = await this.#queued(async () => {
      const delivery = this.#applyRemoteNow(routeName, document, origin);
      return delivery === false ? null : { delivery, saved: this.#save(routeName, 'fleet.applied') };
    });
    if (applied === null) return false;
    await Promise.all([applied.saved, applied.delivery]);
    return true;
  }

  /**
   * Writes this replica's state of a route to the fleet: a kill applied here while Redis was unreachable (on top of
   * the fleet's current document), or, when Redis lost its data (`fleetVersion` below ours), the state held here at
   * its own version. Resolves with the outcome; a conflict means another member wrote first (the caller re-reads).
   */
  async pushLocalState(routeName: string, fleetVersion: number): Promise<'pushed' | 'nothing'> {
    const pushed = await this.#queued(async () => {
      if (routeName === FLAGS_DOCUMENT) {
        const held = this.fleetVersions[FLAGS_DOCUMENT] ?? 0;
        const pending = this.pendingFlagKills;
        if (pending.length === 0 && held <= fleetVersion) return null;
        // The caller applied the fleet's latest document first: pending kills are written on top of it (or, when
        // Redis lost its data, on top of the copy held here).
        const flags = this.#flagsInForce();
        const version = held > fleetVersion && pending.length === 0 ? held : Math.max(held, fleetVersion) + 1;
        const stored = await this.#authority.commit(FLAGS_DOCUMENT, flagsDocument(flags), fleetVersion, { version });
        const delivery = pending.length > 0 ? this.#applyFlags(flags, stored, []) : null;
        if (pending.length > 0) {
          this.#deps.events.record({ actor: 'splitgate', action: 'fleet.kill_pushed', after: { document: FLAGS_DOCUMENT, flags: [...pending], version: stored } });
          this.#deps.logger.info({ document: FLAGS_DOCUMENT, flags: pending, version: stored }, 'flag kills applied while Redis was unreachable are now the fleet\'s');
        } else this.#deps.events.record({ actor: 'splitgate', action: 'fleet.reseeded', after: { document: FLAGS_DOCUMENT, version: stored } });
        return { delivery, saved: this.#save(FLAGS_DOCUMENT, 'fleet.push') };
      }
      const pending = this.pendingKills.includes(routeName);
      const held = this.fleetVersions[routeName] ?? 0;
      if (!pending && held <= fleetVersion) return null;
      const entry: RouteRuntimeState = structuredClone(this.#state.routes[routeName] ?? {});
      if (pending) {
        entry.killed = true;
        entry.killedBy = 'operator';
      }
      // Re-seeding keeps our version number (the content is that version's); a pending kill is a new version.
      const version = held > fleetVersion && !pending ? held : Math.max(held, fleetVersion) + 1;
      const stored = await this.#authority.commit(routeName, entry, fleetVersion, { version });
      const delivery = this.#applyEntry(routeName, entry, stored, 'clear');
      if (pending) {
        this.#deps.events.record({ actor: 'splitgate', action: 'fleet.kill_pushed', route: routeName, after: { version: stored } });
        this.#deps.logger.info({ route: routeName, version: stored }, 'kill switch applied while Redis was unreachable is now the fleet\'s');
      } else this.#deps.events.record({ actor: 'splitgate', action: 'fleet.reseeded', route: routeName, after: { version: stored } });
      return { delivery, saved: this.#save(routeName, 'fleet.push') };
    });
    if (pushed === null) return 'nothing';
    await Promise.all([pushed.saved, pushed.delivery]);
    return 'pushed';
  }

  /** Called after a new config is in force (not for runtime changes), e.g. to apply log settings. */
  onConfigApplied(listener: (config: Config) => void): void {
    this.#configListeners.push(listener);
  }

  // operator actions ----------------------------------------------------------------------------------------

  /**
   * Operator overrides in force here, by flag key (flags/flag-overrides.ts): the stored ones with any kill still
   * pending for the fleet, less those this flag file cannot support (they are kept, but not compiled).
   */
  get flagOverrides(): FlagOverrides {
    const inForce = this.#flagsInForce();
    for (const { key } of staleFlagOverrides(this.#config.flags?.definitions, inForce)) delete inForce[key];
    return inForce;
  }

  /** With `fleet:`: flags killed here while Redis was unreachable, not yet written to the fleet's flags document. */
  get pendingFlagKills(): readonly string[] {
    return this.#state.fleet?.pendingFlagKills ?? [];
  }

  /**
   * Kills, enables or pins a flag (`body` as `PUT /flags/{key}` takes it). Like a weight change: stored in the
   * fleet first (with `fleet:`), in force here at once, and the call returns once every live worker has the table;
   * saved in the state file.
   */
  setFlagOverride(key: string, body: unknown, actor: string): Promise<FlagChangeResult> {
    const override = parseFlagOverride(body);
    return this.#changeFlag(key, override, actor);
  }

  /** Back to the file's definition of the flag. */
  clearFlagOverride(key: string, actor: string): Promise<FlagChangeResult> {
    return this.#changeFlag(key, null, actor);
  }

  /**
   * With `fleet:`, the overrides are one shared document (FLAGS_DOCUMENT), written by compare-and-set like a route's
   * state: the change is made on top of the stored copy of the fleet's document, whole (also the overrides this flag
   * file cannot support: another replica's file may), re-read after a conflict (3 tries). While Redis is
   * unreachable a kill is applied here as pending, like a route's kill switch, and written to the fleet when it
   * returns (pushLocalState); other flag changes are refused with 503.
   */
  #changeFlag(key: string, override: FlagOverride | null, actor: string): Promise<FlagChangeResult> {
    const authority = this.#authority;
    const decided = this.#queued(async () => {
      // Clearing an override the file no longer knows is allowed: it may still be in force on other replicas.
      if (override !== null || !Object.hasOwn(this.#flagsInForce(), key)) checkFlagOverride(this.#config.flags?.definitions, key, override);
      let version: number | null = null;
      let pendingMessage: string | null = null;
      let before: FlagOverride | null = null;
      let flags: Record<string, FlagOverride> = {};
      for (let attempt = 1; ; attempt++) {
        flags = this.#flagsInForce();
        before = flags[key] ?? null;
        if (override === null) delete flags[key];
        else flags[key] = override;
        if (!authority.shared || (override === null && before === null)) break;
        try {
          version = await authority.commit(FLAGS_DOCUMENT, flagsDocument(flags), this.fleetVersions[FLAGS_DOCUMENT] ?? 0);
          break;
        } catch (error) {
          if (override?.state === 'DISABLED' && error instanceof FleetUnavailableError) {
            pendingMessage = `applied here only: ${error.message}; written to the fleet when it returns`;
            break;
          }
          if (!(error instanceof ConflictError) || attempt >= 3 || authority.read === undefined) throw error;
          let latest: Awaited<ReturnType<NonNullable<typeof authority.read>>>;
          try {
            latest = await authority.read(FLAGS_DOCUMENT);
          } catch (readError) {
            // Redis gone between the conflict and the re-read: a kill still holds here, as after a failed commit.
            if (override?.state === 'DISABLED' && readError instanceof FleetUnavailableError) {
              pendingMessage = `applied here only: ${readError.message}; written to the fleet when it returns`;
              break;
            }
            throw readError;
          }
          this.#applyRemoteFlags(latest, latest.member ?? 'fleet');
        }
      }
      if (override === null && before === null) return { delivery: null, saved: Promise.resolve(null), generation: this.#generation, version, pendingMessage, notInForce: null, heldVersion: 0 };
      const pending = new Set(this.pendingFlagKills);
      let delivery: Promise<Delivery> | null;
      if (pendingMessage !== null) {
        pending.add(key);
        delivery = this.#applyFlags(this.#state.flags ?? {}, null, [...pending]);
      } else {
        // The commit wrote every pending kill too (flags was built on top of them).
        delivery = this.#applyFlags(flags, version, authority.shared ? [] : [...pending]);
      }
      const action = override === null ? 'flag.override_cleared' : 'flag.override_set';
      const after = { flag: key, override, generation: this.#generation, ...(version === null ? {} : { fleetVersion: version }) };
      this.#deps.events.record({ actor, action, before: { flag: key, override: before }, after, ...(pendingMessage !== null ? { message: pendingMessage } : {}) });
      this.#deps.logger.info({ actor, action, flag: key, before, after, pending: pendingMessage !== null }, 'flag override');
      // The flag file in force now, not the one when the change was worked out: a reload during the commit may
      // have removed the flag or the pinned variant (the fleet keeps the override; it is not compiled here).
      const notInForce = override === null ? null : (staleFlagOverrides(this.#config.flags?.definitions, { [key]: override })[0]?.reason ?? null);
      if (notInForce !== null) {
        this.#deps.events.record({ actor: 'splitgate', action: 'flag.override_dropped', before: { flag: key, override }, after: { flag: key, override: null }, message: notInForce });
        this.#deps.logger.warn({ flag: key, override, reason: notInForce }, 'flag override not in force here: the flag file no longer supports it');
      }
      const heldVersion = this.fleetVersions[FLAGS_DOCUMENT] ?? 0;
      return { delivery, saved: this.#save(`flag:${key}`, action), generation: this.#generation, version, pendingMessage, notInForce, heldVersion };
    });
    return decided.then(async ({ delivery, saved, generation, version, pendingMessage, notInForce, heldVersion }) => {
      const workers = delivery === null ? null : await delivery;
      let fleet: FleetChange | null = null;
      if (pendingMessage !== null) fleet = { version: heldVersion, pending: true, message: pendingMessage };
      else if (version !== null) fleet = (await authority.acknowledgement(FLAGS_DOCUMENT, version).catch(() => null)) ?? { version, acknowledged: 1, members: 1 };
      const saveWarning = await saved;
      const warning = [notInForce === null ? null : `stored, but not in force here: ${notInForce}`, saveWarning].filter((text) => text !== null).join('; ');
      return { flag: key, override, generation, ...(workers === null ? {} : { workers }), ...(fleet === null ? {} : { fleet }), ...(warning === '' ? {} : { warning }) };
    });
  }

  /** The stored overrides with the kills pending here laid over them: what is compiled, and what a change builds on. */
  #flagsInForce(): Record<string, FlagOverride> {
    const flags: Record<string, FlagOverride> = { ...this.#state.flags };
    for (const key of this.pendingFlagKills) flags[key] = { state: 'DISABLED' };
    return flags;
  }

  /**
   * Stores `flags` (with the fleet, the shared document's content at `version`; null keeps the version held) and
   * the kills still pending, and puts them in force: a new table, swapped and published.
   */
  #applyFlags(flags: Record<string, FlagOverride>, version: number | null, pendingKills: readonly string[]): Promise<Delivery> | null {
    const next: RuntimeState = { ...this.#state, flags };
    if (Object.keys(flags).length === 0) delete next.flags;
    if (version !== null || pendingKills.length > 0 || this.pendingFlagKills.length > 0) {
      const fleet = this.#state.fleet;
      next.fleet = {
        versions: { ...fleet?.versions, ...(version === null ? {} : { [FLAGS_DOCUMENT]: version }) },
        pendingKills: [...(fleet?.pendingKills ?? [])],
        ...(pendingKills.length === 0 ? {} : { pendingFlagKills: [...pendingKills] }),
      };
    }
    this.#state = next;
    const delivery = this.#swap(this.#build());
    for (const listener of this.#appliedListeners) listener(FLAGS_DOCUMENT);
    return delivery;
  }

  /**
   * The fleet's flags document, when newer than the one held here: stored exactly as received (an override this
   * flag file cannot support is kept, so a change made here never erases it from the fleet; it is only left out
   * where the flag set is compiled). Kills pending here stay in force over it.
   */
  #applyRemoteFlags(document: StoredDocument, origin: string): Promise<Delivery> | null | false {
    if (document.version <= (this.fleetVersions[FLAGS_DOCUMENT] ?? 0)) return false;
    const warnings: string[] = [];
    const flags = parseStoredFlagOverrides((document.state as { flags?: unknown }).flags ?? {}, warnings);
    const unsupported = staleFlagOverrides(this.#config.flags?.definitions, flags);
    const before = this.#state.flags ?? {};
    const delivery = this.#applyFlags(flags, document.version, this.pendingFlagKills);
    this.#deps.events.record({ actor: origin, action: 'fleet.applied', before: { flags: before }, after: { flags, fleetVersion: document.version } });
    this.#deps.logger.info({ document: FLAGS_DOCUMENT, version: document.version, origin, flags, unsupported, warnings }, 'fleet flag overrides applied');
    return delivery;
  }

  /**
   * Overrides whose flag or pinned variant left the file (`config`) are out of force, each with an event (only
   * those that were in force under `previous`, when given). Without the fleet they are dropped from the state
   * (true when any was, so the caller saves); with it the stored document stays whole: another replica's file
   * may support them, and only an explicit clear takes an override out of the fleet.
   */
  #dropStaleFlagOverrides(config: Config, previous?: Config): boolean {
    const overrides = this.#flagsInForce();
    const stale = staleFlagOverrides(config.flags?.definitions, overrides);
    const wasInForce = (key: string) => previous === undefined || staleFlagOverrides(previous.flags?.definitions, { [key]: overrides[key] }).length === 0;
    for (const { key, reason } of stale) {
      if (!wasInForce(key)) continue;
      this.#deps.events.record({ actor: 'splitgate', action: 'flag.override_dropped', before: { flag: key, override: overrides[key] }, after: { flag: key, override: null }, message: reason });
      this.#deps.logger.warn({ flag: key, override: overrides[key], reason }, 'flag override dropped: the flag file no longer supports it');
    }
    if (stale.length === 0 || this.#authority.shared || this.#state.flags === undefined) return false;
    const flags = { ...this.#state.flags };
    for (const { key } of stale) delete flags[key];
    this.#state = { ...this.#state, flags };
    if (Object.keys(flags).length === 0) delete this.#state.flags;
    return true;
  }

  setWeight(routeName: string, weight: unknown, actor: string, source: WeightSource = 'operator', options: ChangeOptions = {}): Promise<ChangeResult> {
    if (typeof weight !== 'number' || !Number.isFinite(weight) || weight < 0 || weight > 100) {
      throw new InvalidRequestError('weight must be a number between 0 and 100');
    }
    // The config schema's rule: 0.01 % steps (one bucket), within 1e-6 for binary fractions such as 0.29 * 100.
    const buckets = Math.round(weight * 100);
    if (!(Math.abs(weight * 100 - buckets) < 1e-6)) throw new InvalidRequestError('weight must have at most two decimals (0.01 % steps)');
    // Stored, shown and exported as the step routing uses (Math.round(w * 100) buckets), not as sent: 50.000000001
    // is 50, 1e-9 is 0.
    const stepped = buckets / 100;
    this.#requireCanary(routeName);
    return this.#change(
      routeName,
      actor,
      'weight.set',
      (entry) => {
        entry.weight = stepped;
        entry.weightSource = source;
      },
      true,
      options,
    );
  }

  /**
   * Drops the operator's weight: the route goes back to its config's (kept across reloads otherwise, so a config
   * weight edited meanwhile would never take effect).
   */
  clearWeight(routeName: string, actor: string, options: ChangeOptions = {}): Promise<ChangeResult> {
    this.#requireCanary(routeName);
    if (this.#state.routes[routeName]?.weight === undefined) throw new ConflictError(`route "${routeName}" has no operator weight: it runs at its config's`);
    return this.#change(
      routeName,
      actor,
      'weight.cleared',
      (entry) => {
        delete entry.weight;
        delete entry.weightSource;
      },
      true,
      options,
    );
  }

  /**
   * With `fleet:` and Redis unreachable, the kill switch still works: it only moves traffic to stable, so it is
   * applied here at once, shown as pending, and written to the fleet when Redis returns.
   */
  kill(routeName: string, actor: string, options: ChangeOptions = {}): Promise<ChangeResult> {
    this.#requireCanary(routeName);
    return this.#change(
      routeName,
      actor,
      'kill',
      (entry) => {
        entry.killed = true;
        // The operator's now, even where a rollback had killed first: no rollout lifts it.
        entry.killedBy = 'operator';
      },
      true,
      { ...options, localFallback: true },
    );
  }

  resume(routeName: string, actor: string, options: ChangeOptions = {}): Promise<ChangeResult> {
    this.#requireCanary(routeName);
    if (!this.#state.routes[routeName]?.killed) throw new ConflictError(`route "${routeName}" is not killed`);
    return this.#change(
      routeName,
      actor,
      'resume',
      (entry) => {
        delete entry.killed;
        delete entry.killedBy;
      },
      true,
      options,
    );
  }

  /** What makes promote refuse, for a caller that must know before it changes anything else (experiment ship). */
  assertPromotable(routeName: string): void {
    this.#requireCanary(routeName);
    if (this.#state.routes[routeName]?.killed) throw new ConflictError(`route "${routeName}" is killed; resume it before promoting`);
  }

  /** What makes setFlagOverride refuse `body` for `key` (unknown flag or variant, a bad body), changing nothing. */
  assertFlagOverride(key: string, body: unknown): void {
    checkFlagOverride(this.#config.flags?.definitions, key, parseFlagOverride(body));
  }

  promote(routeName: string, actor: string, source: WeightSource = 'operator', options: ChangeOptions = {}): Promise<ChangeResult> {
    this.assertPromotable(routeName);
    return this.#change(
      routeName,
      actor,
      'promote',
      (entry) => {
        entry.weight = 100;
        entry.weightSource = source;
      },
      true,
      options,
    );
  }

  /**
   * The rollout controller's one way to act: its status (persisted with the route's runtime state) plus any
   * weight or kill switch change, applied together. The rollout records its own, richer events. With `fleet:`,
   * `fenceEpoch` (the rollout leader's) is checked in the same script as the write: a former leader's write is
   * refused with FencedError.
   */
  applyRollout(
    routeName: string,
    rollout: unknown,
    change: { weight?: number; kill?: boolean; releaseKill?: boolean; stage?: number },
    options: { fenceEpoch?: number } = {},
  ): Promise<ChangeResult> {
    this.#requireCanary(routeName);
    return this.#change(
      routeName,
      'rollout',
      'rollout',
      (entry) => {
        entry.rollout = rollout;
        if (change.weight !== undefined) {
          entry.weight = change.weight;
          entry.weightSource = 'rollout';
        }
        // A rollout lifts only the kill its rollback engaged: an operator's kill (made after that rollback, or before
        // the rollout's own) stays until an operator resumes, and holds the rollout meanwhile.
        if (change.kill && entry.killed !== true) {
          entry.killed = true;
          entry.killedBy = 'rollout';
        }
        if (change.releaseKill && entry.killedBy === 'rollout') {
          delete entry.killed;
          delete entry.killedBy;
        }
        if (change.stage !== undefined) {
          if (change.stage < 0) delete entry.stage;
          else entry.stage = change.stage;
        }
      },
      false,
      options.fenceEpoch === undefined ? {} : { fenceEpoch: options.fenceEpoch },
    );
  }

  /** Persisted rollout status of a route, if any. */
  rolloutState(routeName: string): unknown {
    return this.#state.routes[routeName]?.rollout;
  }

  /** Re-reads the config file. Never throws for a bad file: the outcome says what was wrong. */
  async reload(actor: string): Promise<ReloadOutcome> {
    const path = this.#deps.configPath;
    if (path === null) throw new ConflictError('splitgate was started without a config file; nothing to reload');
    let next: Config;
    try {
      next = await loadConfigFile(path);
    } catch (error) {
      const errors = error instanceof ConfigError ? error.issues.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message)) : [(error as Error).message];
      return this.#rejectReload(actor, errors);
    }
    const { outcome, delivery } = this.#applyConfig(next, actor);
    return delivery === null ? outcome : { ...outcome, workers: await delivery };
  }

  applyConfig(next: Config, actor: string): ReloadOutcome {
    return this.#applyConfig(next, actor).outcome;
  }

  #applyConfig(next: Config, actor: string): { outcome: ReloadOutcome; delivery: Promise<Delivery> | null } {
    const previous = this.#config;
    const weakened = weakenedAdminRules(this.adminListen, next);
    if (weakened.length > 0) return { outcome: this.#rejectReload(actor, weakened), delivery: null };
    const warnings = [...restartOnlyChanges(previous, next), ...this.#shadowedWeights(previous, next), ...this.#keptRouteState(previous, next)];
    const hash = hashConfig(next);
    if (hash === this.#configHash) {
      // A valid file clears the last rejection even when it is the config in force (a bad edit put back).
      this.#lastReloadError = null;
      return { outcome: { ok: true, generation: this.#generation, hash, warnings: ['config unchanged'] }, delivery: null };
    }
    const retired = this.#deps.pools.update(next);
    this.#config = next;
    this.#configHash = hash;
    const droppedFlags = this.#dropStaleFlagOverrides(next, previous);
    const delivery = this.#swap(this.#build());
    if (droppedFlags) void this.#save('flags', 'flag.override_dropped');
    this.#lastReloadError = null;
    for (const listener of this.#configListeners) listener(next);
    // Pools that left finish their in-flight requests, then close (undici's close waits for them).
    for (const upstream of retired) upstream.pool.close().catch(() => undefined);
    this.#deps.metrics.configReloads.inc({ result: 'success' });
    this.#deps.events.record({
      actor,
      action: 'config.reload',
      before: { hash: hashConfig(previous) },
      after: { hash, generation: this.#generation },
      ...(warnings.length ? { message: warnings.join('; ') } : {}),
    });
    this.#deps.logger.info({ generation: this.#generation, hash, warnings }, 'config reloaded');
    return { outcome: { ok: true, generation: this.#generation, hash, ...(warnings.length ? { warnings } : {}) }, delivery };
  }

  // internals -------------------------------------------------------------------------------------------------

  /** A config weight the reload changed that a runtime weight keeps out of force: said, so the edit is not a mystery. */
  /**
   * A route's runtime state outlives the route (a kill switch must not be lost to an edit that drops the route for a
   * while): said when the route leaves, and when a route of that name comes back with it in force.
   */
  #keptRouteState(previous: Config, next: Config): string[] {
    const warnings: string[] = [];
    for (const [name, entry] of Object.entries(this.#state.routes)) {
      const was = previous.routes.some((r) => r.name === name);
      const route = next.routes.find((r) => r.name === name);
      const parts = [entry.killed ? 'kill switch on' : null, entry.weight === undefined ? null : `${entry.weightSource ?? 'operator'} weight ${entry.weight}`].filter((p) => p !== null);
      if (parts.length === 0) continue;
      if (was && route === undefined) warnings.push(`route ${name} removed: its ${parts.join(', ')} kept, in force again if a route named ${name} returns`);
      else if (!was && route !== undefined) {
        const lift = [entry.killed ? `splitgate resume ${name}` : null, entry.weight !== undefined && entry.weightSource !== 'rollout' ? `splitgate weight ${name} --clear` : null].filter((p) => p !== null);
        warnings.push(`route ${name} returns with the ${parts.join(', ')} it had when removed (config weight ${route.weight})${lift.length > 0 ? `; to lift: ${lift.join(', ')}` : ''}`);
      }
    }
    return warnings;
  }

  #shadowedWeights(previous: Config, next: Config): string[] {
    const warnings: string[] = [];
    for (const route of next.routes) {
      const runtime = this.#state.routes[route.name];
      if (runtime?.weight === undefined || route.canary === undefined) continue;
      const before = previous.routes.find((r) => r.name === route.name)?.weight;
      if (before === undefined || before === route.weight) continue;
      const by = runtime.weightSource === 'rollout' ? 'the rollout' : 'an operator';
      const clear = runtime.weightSource === 'rollout' ? '' : ` (DELETE /routes/${route.name}/weight, or splitgate weight ${route.name} --clear, returns it to the config's)`;
      warnings.push(`route ${route.name}: config weight ${before} -> ${route.weight} not in force: ${by} set ${runtime.weight}${clear}`);
    }
    return warnings;
  }

  #rejectReload(actor: string, errors: readonly string[]): ReloadOutcome {
    this.#lastReloadError = { time: new Date().toISOString(), errors };
    this.#deps.metrics.configReloads.inc({ result: 'failure' });
    this.#deps.events.record({ actor, action: 'config.reload_failed', message: errors.join('; ') });
    this.#deps.logger.error({ errors }, 'config reload rejected; the running config stays');
    return { ok: false, generation: this.#generation, hash: this.#configHash, errors };
  }

  #requireCanary(routeName: string): void {
    const route = this.#config.routes.find((r) => r.name === routeName);
    if (!route) throw new UnknownRouteError(routeName);
    if (route.canary === undefined) throw new ConflictError(`route "${routeName}" has no canary`);
  }

  /** Persists a stopped experiment's record (opaque here: experiments/experiment-stop.ts owns it); null or a warning. */
  saveExperimentStop(key: string, stopped: unknown): Promise<string | null> {
    return this.#queued(async () => {
      const next = structuredClone(this.#state);
      (next.experiments ??= {})[key] = stopped;
      this.#state = next;
      return this.#save(`experiment ${key}`, 'experiment.stop');
    });
  }

  #queued<T>(work: () => Promise<T>): Promise<T> {
    const retried = this.#serial.then(() => this.#retryHeldState()).catch((error: unknown) => this.#deps.logger.error({ err: error }, 'state file retry failed'));
    const run = retried.then(work);
    this.#serial = run.catch(() => undefined);
    return run;
  }

  #change(
    routeName: string,
    actor: string,
    action: string,
    mutate: (entry: RouteRuntimeState) => void,
    audit = true,
    options: ChangeOptions & { fenceEpoch?: number; localFallback?: boolean } = {},
  ): Promise<ChangeResult> {
    // Only the decision is serialized (commit, apply, start the save); the waits for the workers, the disk and the
    // acknowledgements are not, so a kill switch never queues behind a slow worker.
    return this.#queued(() => this.#decide(routeName, actor, action, mutate, audit, options)).then((decided) => decided());
  }

  async #decide(
    routeName: string,
    actor: string,
    action: string,
    mutate: (entry: RouteRuntimeState) => void,
    audit: boolean,
    options: ChangeOptions & { fenceEpoch?: number; localFallback?: boolean },
  ): Promise<() => Promise<ChangeResult>> {
    const before = this.#routeView(routeName);
    const authority = this.#authority;
    let entry: RouteRuntimeState = {};
    let version: number | null = null;
    let pendingMessage: string | null = null;
    // A kill without an expected version is applied on top of whatever the fleet holds (it is idempotent and only
    // moves traffic to stable); other writes are judged against the version they were based on.
    const attempts = options.localFallback && options.expectedVersion === undefined ? 3 : 1;
    for (let attempt = 1; ; attempt++) {
      entry = structuredClone(this.#state.routes[routeName] ?? {});
      mutate(entry);
      if (!authority.shared) break;
      const expected = options.expectedVersion ?? this.fleetVersions[routeName] ?? 0;
      try {
        version = await authority.commit(routeName, entry, expected, options.fenceEpoch === undefined ? {} : { fenceEpoch: options.fenceEpoch });
        break;
      } catch (error) {
        if (options.localFallback && error instanceof FleetUnavailableError) {
          pendingMessage = `applied here only: ${error.message}; written to the fleet when it returns`;
          break;
        }
        if (!(error instanceof ConflictError) || attempt >= attempts || authority.read === undefined) throw error;
        const latest = await authority.read(routeName);
        this.#applyRemoteNow(routeName, latest, latest.member ?? 'fleet');
      }
    }
    const delivery = this.#applyEntry(routeName, entry, version, pendingMessage !== null ? 'add' : version !== null ? 'clear' : 'keep');
    const after = this.#routeView(routeName);
    if (audit) {
      this.#deps.events.record({
        actor,
        action,
        route: routeName,
        before,
        after: version === null ? after : { ...after, fleetVersion: version },
        ...(pendingMessage !== null ? { message: pendingMessage } : {}),
      });
      this.#deps.logger.info({ actor, action, route: routeName, before, after, fleetVersion: version, pending: pendingMessage !== null }, 'runtime change');
    }
    const generation = this.#generation;
    const heldVersion = this.fleetVersions[routeName] ?? 0;
    // Saved while the workers take the table; the call answers once both are done.
    const saved = this.#save(routeName, action);
    return async () => {
      const workers = delivery === null ? null : await delivery;
      let fleet: FleetChange | null = null;
      if (pendingMessage !== null) fleet = { version: heldVersion, pending: true, message: pendingMessage };
      else if (version !== null) fleet = (await authority.acknowledgement(routeName, version).catch(() => null)) ?? { version, acknowledged: 1, members: 1 };
      const result: ChangeResult = { route: routeName, ...after, generation, ...(workers === null ? {} : { workers }), ...(fleet === null ? {} : { fleet }) };
      const warning = await saved;
      return warning === null ? result : { ...result, warning };
    };
  }

  /**
   * Puts a route's next runtime state (and, with the fleet, its version and pending kill) in place; builds and
   * swaps a table only when routing changed. Returns the workers' delivery (null when nothing was published).
   */
  #applyEntry(routeName: string, entry: RouteRuntimeState, version: number | null, pendingKill: 'add' | 'clear' | 'keep'): Promise<Delivery> | null {
    const next: RuntimeState = structuredClone(this.#state);
    const prior = next.routes[routeName] ?? {};
    const routingBefore = JSON.stringify([prior.weight, prior.weightSource, prior.killed, prior.stage]);
    if (Object.keys(entry).length === 0) delete next.routes[routeName];
    else next.routes[routeName] = entry;
    if (version !== null || pendingKill === 'add') {
      const fleet = (next.fleet ??= { versions: {}, pendingKills: [] });
      if (version !== null) fleet.versions[routeName] = version;
      const pending = new Set(fleet.pendingKills);
      if (pendingKill === 'add') pending.add(routeName);
      if (pendingKill === 'clear') pending.delete(routeName);
      fleet.pendingKills = [...pending];
    }
    const routingChanged = JSON.stringify([entry.weight, entry.weightSource, entry.killed, entry.stage]) !== routingBefore;
    this.#state = next;
    // State that does not change routing (a rollout's bookkeeping) is saved without building a new table.
    const delivery = routingChanged ? this.#swap(this.#build()) : null;
    for (const listener of this.#appliedListeners) listener(routeName);
    return delivery;
  }

  /** false when the document is not newer than what is held here; else the delivery as #applyEntry. */
  #applyRemoteNow(routeName: string, document: StoredDocument, origin: string): Promise<Delivery> | null | false {
    if (routeName === FLAGS_DOCUMENT) return this.#applyRemoteFlags(document, origin);
    const held = this.fleetVersions[routeName] ?? 0;
    if (document.version <= held) return false;
    const entry: RouteRuntimeState = structuredClone(document.state);
    if (this.pendingKills.includes(routeName)) {
      entry.killed = true;
      entry.killedBy = 'operator';
    }
    const before = this.#routeView(routeName);
    const delivery = this.#applyEntry(routeName, entry, document.version, 'keep');
    const after = this.#routeView(routeName);
    this.#deps.events.record({ actor: origin, action: 'fleet.applied', route: routeName, before, after: { ...after, fleetVersion: document.version } });
    this.#deps.logger.info({ route: routeName, version: document.version, origin, before, after }, 'fleet state applied');
    return delivery;
  }

  /** Persists the runtime state; a failure is a warning (the change is in force), not an error. */
  async #save(routeName: string, action: string): Promise<string | null> {
    const file = this.#deps.stateFile;
    if (file === null) return null;
    if (this.#stateHold !== null) {
      this.#deps.logger.error({ route: routeName, action, stateFile: file.path, error: this.#stateHold.error }, 'runtime state not saved: the state file cannot be read');
      return `in force, but NOT saved: ${this.#stateHold.error}`;
    }
    try {
      await file.save(this.#state);
      if (this.#saveError !== null) {
        this.#saveError = null;
        const message = `state file ${file.path} saved again: the runtime state in force is on disk`;
        this.#deps.logger.warn({ stateFile: file.path }, message);
        this.#deps.events.record({ actor: 'splitgate', action: 'state.saved', message });
      }
      return null;
    } catch (error) {
      const problem = `runtime state NOT saved to ${file.path} (${(error as Error).message}): changes since are in force but lost at a restart`;
      this.#deps.logger.error({ route: routeName, action, error: (error as Error).message }, 'runtime state not saved');
      // Once per failing spell, not once per change.
      if (this.#saveError === null) this.#deps.events.record({ actor: 'splitgate', action: 'state.save_failed', message: problem });
      this.#saveError = problem;
      return `in force, but not saved to ${file.path}: ${(error as Error).message}`;
    }
  }

  #routeView(routeName: string): { weight: number; weightSource: WeightSource; killed: boolean } {
    const route = this.#store?.current.table.routes.find((r) => r.name === routeName);
    return route ? { weight: route.weight, weightSource: route.weightSource, killed: route.killed } : { weight: 0, weightSource: 'config', killed: false };
  }

  /**
   * A fleet rollout nobody is watching (its stored status older than fleet.maxStaleness): its canary traffic goes to
   * stable here, through the kill path, without storing anything (not the fleet document, not the state file).
   */
  setStaleFallback(routeName: string, on: boolean): void {
    if (on === this.#staleFallback.has(routeName)) return;
    if (on) this.#staleFallback.add(routeName);
    else this.#staleFallback.delete(routeName);
    void this.#swap(this.#build());
  }

  get staleFallbacks(): ReadonlySet<string> {
    return this.#staleFallback;
  }

  #build(): ActiveTable {
    this.#generation++;
    const weights: Record<string, { weight: number; source: WeightSource }> = {};
    const killed = new Set<string>(this.#staleFallback);
    const stages: Record<string, number> = {};
    for (const [name, entry] of Object.entries(this.#state.routes)) {
      if (entry.weight !== undefined) weights[name] = { weight: entry.weight, source: entry.weightSource ?? 'operator' };
      if (entry.killed) killed.add(name);
      if (entry.stage !== undefined) stages[name] = entry.stage;
    }
    const flags = this.#flagsInForce();
    const runtime: RuntimeOverrides = { weights, killed, stages, ...(Object.keys(flags).length === 0 ? {} : { flags }) };
    this.#runtime = runtime;
    const table = activateTable(this.#config, this.#generation, runtime, this.#deps.pools, this.#deps.metrics, this.#deps.mirror, this.#deps.series);
    this.#deps.metrics.configInfo.reset();
    this.#deps.metrics.configInfo.set({ generation: String(this.#generation), hash: this.#configHash }, 1);
    return table;
  }

  /** In force here at once; the publisher's delivery (null without workers) says when the workers have it. */
  #swap(next: ActiveTable): Promise<Delivery> | null {
    if (this.#store === null) throw new Error('controller is not attached to a table store');
    this.#store.swap(next);
    return this.#deps.publisher?.publish({ generation: next.generation, config: next.config, runtime: this.#runtime }) ?? null;
  }
}

function sameAddress(a: ListenAddress, b: ListenAddress): boolean {
  return a.host === b.host && a.port === b.port;
}

/**
 * The loader checks the admin rules against the file's `admin.listen`, but the listener stays where it was bound
 * until a restart: a file that moves it to loopback and drops the token would otherwise leave a listener on
 * 0.0.0.0 with no authentication. Changing or rotating the token stays allowed.
 */
function weakenedAdminRules(bound: ListenAddress, next: Config): string[] {
  if (isLoopback(bound.host) || next.admin.token) return [];
  const address = bound.host.includes(':') ? `[${bound.host}]:${bound.port}` : `${bound.host}:${bound.port}`;
  return [
    `admin.token: is required: the admin listener is bound to ${address}, not a loopback address, ` +
      'until the next restart (admin.listen changes take effect only then)',
  ];
}

/** Fields read once at start; a reload applies the rest and says these wait for a restart. */
function restartOnlyChanges(previous: Config, next: Config): string[] {
  const warnings: string[] = [];
  if (!sameAddress(previous.listen, next.listen)) warnings.push('listen changed: takes effect at the next restart');
  if (!sameAddress(previous.admin.listen, next.admin.listen)) warnings.push('admin.listen changed: takes effect at the next restart');
  if (previous.state.file !== next.state.file) warnings.push('state.file changed: takes effect at the next restart');
  if (previous.watch !== next.watch) warnings.push('watch changed: takes effect at the next restart');
  if (previous.workers !== next.workers) warnings.push('workers changed: takes effect at the next restart');
  if (stableStringify(previous.fleet ?? null) !== stableStringify(next.fleet ?? null)) warnings.push('fleet changed: takes effect at the next restart');
  return warnings;
}
