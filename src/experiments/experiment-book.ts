/**
 * Where one process counts its experiments: additive totals per experiment and arm (users; per conversion the
 * converters, and the sum and sum of squares of reported values), and who has been counted already.
 *
 * Keyed users (the route's sticky key: a header, a cookie, splitgate's own issued `sg_uid`, or the client address)
 * are remembered in one LRU per experiment, bounded by the experiment's `maxUsers`. Beyond the bound the user seen
 * longest ago is forgotten (counted in `evictions`); if that user comes back, they are exposed, and may convert,
 * a second time. Anonymous users (a route with `sticky.cookie: false` and no key on the request) carry their own
 * state in the signed experiment cookie instead.
 *
 * The plan is compiled once per config object (the one the request read from the table store), so a reload never
 * mixes two plans within a request; totals outlive reloads, by experiment key and conversion name.
 */
import { hash } from 'node:crypto';
import type { Config } from '../config/schema.js';
import { compileExperimentPlan, type ArmIndex, type CompiledExperiment, type ExperimentPlan } from './plan.js';
import { newCookieId, readExperimentCookie, signExperimentCookie } from './signed-cookie.js';
import { parseReportedConversions, responseCounts, stepUser, type ObservedResponse, type UserState } from './user-state.js';
import { ExperimentEventQueue, mergeEvent, type ExperimentEvent, type MergedUser } from './worker-events.js';
import type { FrozenExperiment, RunningTotals, StoppedMark } from './experiment-stop.js';
import { resolveFlag, type FlagSet } from '../flags/flag-set.js';
import { buildFlagContext, type RouteFlags, type VerifiedClaims } from '../flags/route-flags.js';
import type { RequestContext } from '../routing/context.js';
import type { GuardrailReport } from './guardrails.js';
import { UserLru, type RemovalReason } from './user-lru.js';

export interface ConversionTotals {
  converters: number;
  valueSum: number;
  valueSquares: number;
}

export interface ArmTotals {
  users: number;
  /** By conversion name. */
  readonly conversions: Map<string, ConversionTotals>;
}

/** Users read back from the experiments file, keyed by savedUserKey: for a single process, or merged (a supervisor). */
export type RestoredUsers =
  | { readonly into: 'users'; readonly entries: Iterable<[string, UserState]> }
  | { readonly into: 'merged'; readonly entries: Iterable<[string, MergedUser]> };

export class ExperimentRecord {
  readonly arms: readonly [ArmTotals, ArmTotals] = [newArm(), newArm()];
  /** The always-valid p-value's running minimum, by conversion name (see analysis.ts). */
  readonly minimumPValues = new Map<string, number>();
  evictions = 0;
  readonly users: UserLru<UserState>;
  /** In a supervisor: users as merged from the workers' events (worker-events.ts); created on the first one. */
  merged: UserLru<MergedUser> | null = null;
  /** With `fleet:`: the fleet's totals as last read from Redis (fleet-experiments.ts); what the report shows. */
  fleet: readonly [ArmTotals, ArmTotals] | null = null;
  /** Set by a stop (experiment-stop.ts): nothing more is counted, the totals stay as they were. */
  stopped: StoppedMark | null = null;
  /** The guardrails and the expected split at the stop, and the users remembered then (the LRUs are let go). */
  frozenGuardrails: GuardrailReport | null = null;
  frozenTreatmentPercent: number | null = null;
  #frozenUsers = 0;
  /** Users restored from the experiments file (experiment-file.ts), still under their digest (see savedUserKey). */
  #restoredUsers = 0;

  constructor(readonly key: string, readonly maxUsers: number) {
    this.users = new UserLru<UserState>(maxUsers, this.#removed);
  }

  /** Keyed users remembered now. */
  get trackedUsers(): number {
    return this.stopped !== null ? this.#frozenUsers : this.users.size + (this.merged?.size ?? 0);
  }

  /** What the report counts: the fleet's totals with `fleet:`, else this process's. */
  get totals(): readonly [ArmTotals, ArmTotals] {
    return this.fleet ?? this.arms;
  }

  /** Freezes the totals (the fleet's, with `fleet:`): the users are forgotten, their number kept. */
  stop(mark: StoppedMark, guardrails: GuardrailReport | null, treatmentPercent: number | null = null): void {
    if (this.fleet !== null) {
      this.fleet.forEach((arm, i) => {
        this.arms[i].users = arm.users;
        this.arms[i].conversions.clear();
        for (const [name, totals] of arm.conversions) this.arms[i].conversions.set(name, { ...totals });
      });
      this.fleet = null;
    }
    this.#frozenUsers = this.trackedUsers;
    this.stopped = mark;
    this.frozenGuardrails = guardrails;
    this.frozenTreatmentPercent = treatmentPercent;
    this.users.clear();
    this.merged = null;
  }

  freeze(): FrozenExperiment {
    return {
      stopped: this.stopped!,
      arms: this.arms.map((arm) => ({ users: arm.users, conversions: Object.fromEntries(arm.conversions) })),
      minimumPValues: Object.fromEntries(this.minimumPValues),
      evictions: this.evictions,
      trackedUsers: this.#frozenUsers,
      guardrails: this.frozenGuardrails,
      treatmentPercent: this.frozenTreatmentPercent,
    };
  }

  /** A stopped experiment's record as the state file (or the fleet's Redis) kept it. */
  thaw(frozen: FrozenExperiment): void {
    // The frozen arms are the report's from now on, not the fleet's running totals last read.
    this.fleet = null;
    frozen.arms.forEach((arm, i) => {
      this.arms[i].users = arm.users;
      this.arms[i].conversions.clear();
      for (const [name, totals] of Object.entries(arm.conversions)) this.arms[i].conversions.set(name, { ...totals });
    });
    this.minimumPValues.clear();
    for (const [name, p] of Object.entries(frozen.minimumPValues)) this.minimumPValues.set(name, p);
    this.evictions = frozen.evictions;
    this.#frozenUsers = frozen.trackedUsers;
    this.stopped = frozen.stopped;
    this.frozenGuardrails = frozen.guardrails;
    this.frozenTreatmentPercent = frozen.treatmentPercent;
    this.users.clear();
    this.merged = null;
  }

  mergedUsers(): UserLru<MergedUser> {
    this.merged ??= new UserLru<MergedUser>(this.maxUsers, this.#removed);
    return this.merged;
  }

  readonly #removed = (key: string, reason: RemovalReason): void => {
    if (reason === 'evict') this.evictions++;
    if (isSavedUserKey(key)) this.#restoredUsers--;
  };

  /**
   * A user's state before `response`; one restored after a restart is found by its key's digest, and from then on
   * by its key. The digest (a SHA-256) is worked out only for a response that can change a state.
   */
  userState(key: string, experiment: CompiledExperiment, response: ObservedResponse): UserState | undefined {
    const known = this.users.get(key);
    if (known !== undefined || this.#restoredUsers === 0 || !responseCounts(experiment, response)) return known;
    return this.#adopt(this.users, key);
  }

  /** In a supervisor: a user as merged so far (restored ones as in userState). */
  mergedUser(key: string): MergedUser | undefined {
    const users = this.mergedUsers();
    return this.#restoredUsers === 0 ? users.get(key) : this.#adopt(users, key);
  }

  #restore<V extends object>(users: UserLru<V>, key: string, user: V): void {
    this.#restoredUsers++;
    users.set(key, user);
  }

  #adopt<V extends object>(users: UserLru<V>, key: string): V | undefined {
    const known = users.get(key);
    if (known !== undefined) return known;
    const saved = savedUserKey(key);
    const restored = users.get(saved);
    if (restored !== undefined) {
      users.delete(saved);
      users.set(key, restored);
    }
    return restored;
  }

  /**
   * A running experiment as the experiments file kept it: its totals, and its users under their digests, least
   * recently seen first (so the LRU order survives), into the single process's LRU or the supervisor's.
   */
  restoreRunning(saved: RunningTotals, users: RestoredUsers): void {
    saved.arms.forEach((arm, i) => {
      this.arms[i].users = arm.users;
      this.arms[i].conversions.clear();
      for (const [name, totals] of Object.entries(arm.conversions)) this.arms[i].conversions.set(name, { ...totals });
    });
    this.minimumPValues.clear();
    for (const [name, p] of Object.entries(saved.minimumPValues)) this.minimumPValues.set(name, p);
    if (users.into === 'users') for (const [key, user] of users.entries) this.#restore(this.users, key, user);
    else for (const [key, user] of users.entries) this.#restore(this.mergedUsers(), key, user);
    this.evictions += saved.evictions;
  }

  conversion(arm: ArmIndex, name: string): ConversionTotals {
    const conversions = this.arms[arm].conversions;
    let totals = conversions.get(name);
    if (totals === undefined) {
      totals = { converters: 0, valueSum: 0, valueSquares: 0 };
      conversions.set(name, totals);
    }
    return totals;
  }
}

function addConversion(record: ExperimentRecord, arm: ArmIndex, name: string, value: number): void {
  const totals = record.conversion(arm, name);
  totals.converters++;
  totals.valueSum += value;
  totals.valueSquares += value * value;
}

/** An anonymous user's steps, as events of the user their cookie id names (deduplicated by it as a keyed user's). */
function pushAnonymous(queue: ExperimentEventQueue, experiment: CompiledExperiment, user: string, step: ReturnType<typeof stepUser>, at: number): void {
  const state = step.state;
  if (state === undefined) return;
  if (step.exposed) queue.push({ experiment: experiment.key, user, arm: state.arm, at, conversion: null, value: 0 });
  for (const { conversion, value } of step.conversions) queue.push({ experiment: experiment.key, user, arm: state.arm, at, conversion: conversion.name, value });
}

/** Where an anonymous user is remembered: by their cookie id, apart from any sticky key (`~` and 32 hex digits). */
export function anonymousUserKey(cookieId: string): string {
  return `~${cookieId}`;
}

function newArm(): ArmTotals {
  return { users: 0, conversions: new Map() };
}

/** Restores one record from what was saved (or declines, with a warning, when the experiment changed since). */
export type RestoreRunning = (experiment: CompiledExperiment, record: ExperimentRecord) => void;

export interface ExperimentBookOptions {
  /** Epoch milliseconds; injected so tests can move through the conversion window. */
  readonly now?: () => number;
  /**
   * In a worker (`workers: N`): keyed users are not counted here but reported to the supervisor as events
   * (worker-events.ts), which deduplicates them across workers; `takeEvents` hands them over.
   */
  readonly reportToSupervisor?: boolean;
}

export class ExperimentBook {
  readonly #records = new Map<string, ExperimentRecord>();
  readonly #plans = new WeakMap<Config, ExperimentPlan>();
  readonly #now: () => number;
  #plan: ExperimentPlan | null = null;
  readonly #queue: ExperimentEventQueue | null;
  /** With `fleet:`: what this replica saw, as events for Redis (fleet-experiments.ts). */
  #fleetQueue: ExperimentEventQueue | null = null;
  /** Stopped experiments read from the state file, applied when their record is created. */
  readonly #frozen = new Map<string, FrozenExperiment>();
  /** Running experiments read from the experiments file, applied when their record is created (unless stopped). */
  readonly #running = new Map<string, RestoreRunning>();

  constructor(options: ExperimentBookOptions = {}) {
    this.#now = options.now ?? Date.now;
    this.#queue = options.reportToSupervisor ? new ExperimentEventQueue() : null;
  }

  /** In a worker: the events since the previous take, or null. */
  takeEvents(): ExperimentEvent[] | null {
    return this.#queue?.take() ?? null;
  }

  /** With `fleet:` (a single process or a supervisor): keep events for the fleet from now on. */
  shareWithFleet(): void {
    this.#fleetQueue ??= new ExperimentEventQueue();
  }

  /** The events for the fleet since the previous take, or null. */
  takeFleetEvents(): ExperimentEvent[] | null {
    return this.#fleetQueue?.take() ?? null;
  }

  /** Events a worker dropped because its queue was full (see worker-events.ts). */
  get droppedEvents(): number {
    return this.#queue?.dropped ?? 0;
  }

  /** In the supervisor: a worker's events, merged into the users and totals (unknown experiments are ignored). */
  applyEvents(events: readonly ExperimentEvent[]): void {
    const plan = this.#plan;
    if (plan === null) return;
    for (const event of events) {
      const experiment = plan.all.find((e) => e.key === event.experiment);
      if (experiment === undefined) continue;
      const record = this.#recordOf(experiment);
      if (record.stopped !== null) continue;
      // Deduplicated across this machine's workers below; across replicas by Redis, from the same events.
      this.#fleetQueue?.push(event);
      if (event.user === null) {
        if (event.conversion === null) record.arms[event.arm].users++;
        else addConversion(record, event.arm, event.conversion, event.value);
        continue;
      }
      let user = record.mergedUser(event.user);
      if (user === undefined) {
        user = { arm: event.arm, exposedAt: null, converted: new Map(), pending: null };
        record.mergedUsers().set(event.user, user);
      }
      const step = mergeEvent(experiment, user, event);
      if (step.exposed) record.arms[step.arm].users++;
      for (const change of step.changes) {
        if (change.previous === undefined && change.removed === undefined) {
          addConversion(record, step.arm, change.name, change.value);
          continue;
        }
        const totals = record.conversion(step.arm, change.name);
        if (change.removed) {
          totals.converters--;
          totals.valueSum -= change.value;
          totals.valueSquares -= change.value * change.value;
          continue;
        }
        const previous = change.previous ?? 0;
        totals.valueSum += change.value - previous;
        totals.valueSquares += change.value * change.value - previous * previous;
      }
    }
  }

  /** The plan of `config`, compiled on first use; the latest one is what the admin API reports on. */
  planOf(config: Config): ExperimentPlan {
    let plan = this.#plans.get(config);
    if (plan === undefined) {
      plan = compileExperimentPlan(config);
      this.#plans.set(config, plan);
      for (const experiment of plan.all) this.#recordOf(experiment);
    }
    this.#plan = plan;
    return plan;
  }

  get plan(): ExperimentPlan | null {
    return this.#plan;
  }

  record(key: string): ExperimentRecord | undefined {
    return this.#records.get(key);
  }

  /** Stopped experiments from the state file: their totals replace any counted here, now or when first configured. */
  restoreStopped(frozen: ReadonlyMap<string, FrozenExperiment>): void {
    for (const [key, value] of frozen) {
      this.#frozen.set(key, value);
      this.#records.get(key)?.thaw(value);
    }
  }

  /**
   * Running experiments from the experiments file (experiment-file.ts), by key: each restores its record, now or when
   * the experiment is first configured, unless the state file holds it stopped (a stop is final).
   */
  restoreRunning(saved: ReadonlyMap<string, RestoreRunning>): void {
    for (const [key, restore] of saved) {
      const experiment = this.#plan?.all.find((e) => e.key === key);
      const record = this.#records.get(key);
      if (experiment === undefined || record === undefined) this.#running.set(key, restore);
      else if (record.stopped === null && !this.#frozen.has(key)) restore(experiment, record);
    }
  }

  /**
   * A request on `route` was decided: null when the route is in no experiment, otherwise the visit that counts its
   * response. A route-split arm is the version the request goes to; a flag arm is the variant the route's flag
   * evaluation gives this request (`flagSet` and `routed`: the table's flags and the request as the flags header saw them).
   */
  begin(
    config: Config,
    route: string,
    version: 'stable' | 'canary',
    stickyKey: string | null,
    method: string,
    url: string,
    cookieHeader: string | undefined,
    flagSet: FlagSet | null = null,
    routed: FlagEvaluationInput | null = null,
  ): ExperimentVisit | null {
    if (config.experiments.length === 0) return null;
    const plan = this.planOf(config);
    const experiments = plan.byRoute.get(route);
    if (experiments === undefined) return null;
    const byVersion = plan.versionArms.get(route)![version === 'canary' ? 1 : 0];
    const arms = plan.flagRoutes.has(route) ? flagArms(experiments, byVersion, flagSet, routed) : byVersion;
    const query = url.indexOf('?');
    return new ExperimentVisit(this, plan, experiments, arms, boundedUserKey(stickyKey), method, query === -1 ? url : url.slice(0, query), cookieHeader);
  }

  /** Counts one response of a keyed user. */
  observeKeyed(experiment: CompiledExperiment, userKey: string, arm: ArmIndex, response: ObservedResponse): void {
    if (this.#queue !== null) {
      this.#queue.observeKeyed(experiment, userKey, arm, response, this.#now());
      return;
    }
    const record = this.#recordOf(experiment);
    if (record.stopped !== null) return;
    const before = record.userState(userKey, experiment, response);
    const step = stepUser(experiment, before, arm, response, Math.floor(this.#now() / 1000));
    if (step.state !== before && step.state !== undefined) record.users.set(userKey, step.state);
    this.#apply(record, step.state, step.exposed, step.conversions);
    this.#fleetQueue?.observeKeyed(experiment, userKey, arm, response, this.#now());
  }

  /**
   * Counts one response of an anonymous user; returns the state to sign back into the cookie. The user is also
   * remembered by their cookie id (in the same LRU as keyed users), and what is remembered wins over the cookie: a
   * replayed older cookie does not count a conversion twice. In a worker the steps go to the supervisor as events of
   * that id, deduplicated there (and by Redis with `fleet:`) as a keyed user's.
   */
  observeAnonymous(experiment: CompiledExperiment, before: UserState | undefined, arm: ArmIndex, response: ObservedResponse, cookieId: string): UserState | undefined {
    const record = this.#recordOf(experiment);
    if (record.stopped !== null) return before;
    const user = anonymousUserKey(cookieId);
    if (this.#queue !== null) {
      const step = stepUser(experiment, before, arm, response, Math.floor(this.#now() / 1000));
      pushAnonymous(this.#queue, experiment, user, step, this.#now());
      return step.state;
    }
    const remembered = record.userState(user, experiment, response);
    const step = stepUser(experiment, remembered ?? before, arm, response, Math.floor(this.#now() / 1000));
    if (step.state !== undefined && step.state !== remembered) record.users.set(user, step.state);
    this.#apply(record, step.state, step.exposed, step.conversions);
    if (this.#fleetQueue !== null) pushAnonymous(this.#fleetQueue, experiment, user, step, this.#now());
    return step.state;
  }

  #apply(record: ExperimentRecord, state: UserState | undefined, exposed: boolean, conversions: ReturnType<typeof stepUser>['conversions']): void {
    if (state === undefined) return;
    if (exposed) record.arms[state.arm].users++;
    for (const { conversion, value } of conversions) addConversion(record, state.arm, conversion.name, value);
  }

  #recordOf(experiment: CompiledExperiment): ExperimentRecord {
    let record = this.#records.get(experiment.key);
    if (record === undefined) {
      record = new ExperimentRecord(experiment.key, experiment.maxUsers);
      const frozen = this.#frozen.get(experiment.key);
      if (frozen !== undefined) record.thaw(frozen);
      this.#records.set(experiment.key, record);
      const running = this.#running.get(experiment.key);
      this.#running.delete(experiment.key);
      if (running !== undefined && frozen === undefined) running(experiment, record);
    }
    return record;
  }
}

/**
 * One request on a route in an experiment, from its decision to its response head: the exchange hands it the
 * status and the upstream's header list, and it counts, strips the conversion header, and (for an anonymous user
 * whose state changed) gives back the signed cookie to set.
 */
export class ExperimentVisit {
  constructor(
    readonly book: ExperimentBook,
    readonly plan: ExperimentPlan,
    readonly experiments: readonly CompiledExperiment[],
    /** Per experiment (same order): its arm for this request; null: this request is in no arm of it. */
    readonly arms: readonly (ArmIndex | null)[],
    readonly userKey: string | null,
    readonly method: string,
    readonly path: string,
    readonly cookieHeader: string | undefined,
  ) {}

  /**
   * `headers` is the client's header list (name, value, …) about to be written: the conversion header is read out
   * of it and removed. Returns a Set-Cookie value to add, or null.
   */
  responded(status: number, headers: string[]): string | null {
    const reported = takeConversionHeader(headers, this.plan.conversionHeader);
    const response: ObservedResponse = { method: this.method, path: this.path, status, reported };
    if (this.userKey !== null) {
      for (let i = 0; i < this.experiments.length; i++) {
        const arm = this.arms[i];
        if (arm !== null) this.book.observeKeyed(this.experiments[i], this.userKey, arm, response);
      }
      return null;
    }
    const secret = this.plan.cookieSecret;
    if (secret === null) return null;
    const cookie = readExperimentCookie(cookieValue(this.cookieHeader, this.plan.cookieName), secret);
    const states = cookie.states;
    // A cookie without an id (none yet, or set before ids) gets one now; it is sent only if the state changes.
    const id = cookie.id ?? newCookieId();
    // One from before ids is given one now, so that the server remembers its user from this response on.
    let changed = cookie.id === null && states.size > 0;
    for (let i = 0; i < this.experiments.length; i++) {
      const experiment = this.experiments[i];
      const arm = this.arms[i];
      if (arm === null) continue;
      const before = states.get(experiment.key);
      const after = this.book.observeAnonymous(experiment, before, arm, response, id);
      // By value: the server's copy of an unchanged state is another object than the cookie's.
      if (after !== undefined && (before === undefined || after.converted !== before.converted || after.exposedAt !== before.exposedAt || after.arm !== before.arm)) {
        states.set(experiment.key, after);
        changed = true;
      }
    }
    if (!changed) return null;
    // Entries of experiments no longer configured are dropped, so the cookie does not grow with history.
    for (const key of states.keys()) if (!this.plan.all.some((e) => e.key === key)) states.delete(key);
    return `${this.plan.cookieName}=${signExperimentCookie(states, secret, id)}; Max-Age=${this.plan.cookieMaxAgeSeconds}; Path=/; HttpOnly; SameSite=Lax`;
  }
}

/** What a flag evaluation reads of a routed request (proxy/service.ts `Routed` is one). */
export interface FlagEvaluationInput {
  readonly route: { readonly flags: RouteFlags | null };
  readonly context: RequestContext;
  readonly claims: VerifiedClaims | undefined;
}

/**
 * The arms of a request on a route with flag experiments: each flag resolved as the flags header resolved it (same
 * context, so the same variant; not counted again in the flag metrics). Only a split outcome is an arm: a user
 * without a targeting key gets the default variant, and is in no arm.
 */
function flagArms(experiments: readonly CompiledExperiment[], byVersion: readonly ArmIndex[], flagSet: FlagSet | null, routed: FlagEvaluationInput | null): (ArmIndex | null)[] {
  const routeFlags = routed?.route.flags ?? null;
  const context = routeFlags === null ? null : buildFlagContext(routeFlags, routed!.context, routed!.claims);
  return experiments.map((experiment, i) => {
    if (experiment.flag === null) return byVersion[i];
    const flag = flagSet?.flags.get(experiment.flag.key);
    if (flag === undefined || context === null) return null;
    const outcome = resolveFlag(flag, context);
    if (outcome.reason !== 'SPLIT') return null;
    return outcome.variant === experiment.flag.variants[0] ? 0 : outcome.variant === experiment.flag.variants[1] ? 1 : null;
  });
}

/** Removes every `name` field from the header list; their values joined, parsed, or null when there was none. */
function takeConversionHeader(headers: string[], name: string): Map<string, number> | null {
  let joined: string | null = null;
  for (let i = headers.length - 2; i >= 0; i -= 2) {
    if (headers[i].length !== name.length || headers[i].toLowerCase() !== name) continue;
    joined = joined === null ? headers[i + 1] : `${headers[i + 1]},${joined}`;
    headers.splice(i, 2);
  }
  return joined === null ? null : parseReportedConversions(joined);
}

/** One cookie's raw value from a Cookie header (no percent-decoding: the signed value uses cookie-octets only). */
function cookieValue(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq !== -1 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** Keys up to this many characters are remembered as they are; longer ones by a digest. */
export const MAX_STORED_KEY_LENGTH = 64;

/**
 * The sticky key comes from a client header or cookie (up to `limits.maxHeaderBytes`): remembered as sent, a client
 * sending a fresh 16 KB key per request would fill `maxUsers` entries with 1.6 GB. A SHA-256 digest (43 characters)
 * bounds every entry, across workers too (events carry the same key), with no practical chance of two users meeting.
 */
export function boundedUserKey(key: string | null): string | null {
  if (key === null || key.length <= MAX_STORED_KEY_LENGTH) return key;
  return `#${keyDigest(key).toString('base64url')}`;
}

/**
 * A restored user is keyed by the first 8 bytes of its key's SHA-256 (as the experiments file stores it), behind a
 * NUL that no sticky key can hold (HTTP field values and addresses exclude it), until its key is seen again.
 */
export function savedUserKey(key: string): string {
  return `\0${keyDigest(key).toString('latin1', 0, 8)}`;
}

/**
 * SHA-256 of a key's latin1 bytes, in one call: a hash object per key (a native object with a weak handle) made
 * every scavenge during a save of 100 000 users take ~30 ms, the event loop held meanwhile.
 */
export function keyDigest(key: string): Buffer {
  return hash('sha256', Buffer.from(key, 'latin1'), 'buffer') as unknown as Buffer;
}

export function isSavedUserKey(key: string): boolean {
  return key.charCodeAt(0) === 0;
}
