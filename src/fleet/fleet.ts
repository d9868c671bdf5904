/**
 * One replica's membership in a fleet (`fleet:`): the StateAuthority the controller commits through, propagation
 * of other members' changes (pub/sub for speed, a periodic poll for what pub/sub lost while disconnected),
 * heartbeats, and reconciliation when Redis returns. Wired into both process shapes the same way: the single
 * process (splitgate.ts) and the supervisor (cluster/supervisor.ts), where it is the machine's only link to Redis.
 *
 * Failure semantics: nothing here is on the per-request path. Redis unreachable → the table in force stays (fail
 * static), commits reject with FleetUnavailableError (503) except a kill (a route's kill switch, a flag's
 * `DISABLED`), which the controller applies locally as pending; when Redis is back, newer fleet versions are
 * applied, pending kills are written on top, and state the fleet lost (a Redis restarted empty) is re-seeded from
 * this replica's copy.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import type { Config, FleetConfig } from '../config/schema.js';
import { ConflictError, type Controller } from '../control/controller.js';
import type { EventLog } from '../control/event-log.js';
import type { RouteRuntimeState } from '../control/state-file.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics/metrics.js';
import { FencedError, FleetUnavailableError } from './errors.js';
import { bounded, ConnectionWatch, createFleetRedis, type FleetRedis } from './redis-client.js';
import {
  beatAndList,
  fleetKeys,
  leave,
  parseAnnouncement,
  readDocument,
  writeDocument,
  type FleetKeys,
  type MemberHeartbeat,
  type StoredDocument,
} from './redis-state.js';
import type { CommitOptions, FleetAcknowledgement, StateAuthority } from './state-authority.js';
import { FLAGS_DOCUMENT } from '../flags/flag-overrides.js';

export interface FleetOptions {
  readonly config: FleetConfig;
  readonly metrics: Metrics;
  readonly events: EventLog;
  readonly logger: Logger;
  /** splitgate's own version (package.json), shown in heartbeats. */
  readonly splitgateVersion: string;
  readonly env?: Readonly<Record<string, string | undefined>>;
}

/** `fleet.memberId`, else env SPLITGATE_MEMBER_ID, else `${hostname}-${pid}-${4 random hex}` (FLEET-CONTRACT.md). */
export function resolveMemberId(config: FleetConfig, env: Readonly<Record<string, string | undefined>> = process.env): string {
  const chosen = config.memberId ?? (env.SPLITGATE_MEMBER_ID || `${hostname()}-${process.pid}-${randomBytes(2).toString('hex')}`);
  // Part of a Redis key and shown by /fleet: the same characters fleet.memberId allows, whatever env or host say.
  return chosen.replace(/[^A-Za-z0-9_.:-]/g, '_').slice(0, 128);
}

/** The Fleet for a config with `fleet:`, else null (a single splitgate needs no Redis at all). */
export function createFleet(config: Config, parts: { metrics: Metrics; events: EventLog; logger: Logger }): Fleet | null {
  if (config.fleet === undefined) return null;
  return new Fleet({ config: config.fleet, ...parts, splitgateVersion: packageVersion() });
}

function packageVersion(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

export interface FleetMemberView extends MemberHeartbeat {
  readonly self: boolean;
  readonly ageSeconds: number;
  /** Routes where this member holds an older version than the fleet's. */
  readonly lagging: ReadonlyArray<{ readonly route: string; readonly applied: number; readonly fleet: number }>;
}

export interface FleetView {
  readonly fleet: string;
  readonly member: string;
  readonly connected: boolean;
  readonly leader: boolean;
  /** Route → the fleet's current version (as read now; the last known while disconnected). */
  readonly versions: Record<string, number>;
  readonly members: readonly FleetMemberView[];
  readonly converged: boolean;
}

export class Fleet implements StateAuthority {
  readonly shared = true;
  readonly memberId: string;
  readonly keys: FleetKeys;
  readonly #options: FleetOptions;
  readonly #config: FleetConfig;
  readonly #client: FleetRedis;
  readonly #subscriber: FleetRedis;
  readonly #watch: ConnectionWatch;
  readonly #subscriberWatch: ConnectionWatch;
  #controller: Controller | null = null;
  /** Route → when this replica last confirmed its copy is the fleet's (ms since epoch). */
  readonly #confirmedAt = new Map<string, number>();
  /** Route → the fleet's version as last read. */
  readonly #fleetVersions = new Map<string, number>();
  #members: MemberHeartbeat[] = [];
  #reconciling: Promise<void> | null = null;
  #reconcileAgain = false;
  #subscribed = false;
  #beatQueued = false;
  #stopped = false;
  #leader = false;
  readonly #timers: NodeJS.Timeout[] = [];
  #firstSync: (() => void) | null = null;

  constructor(options: FleetOptions) {
    this.#options = options;
    this.#config = options.config;
    this.memberId = resolveMemberId(options.config, options.env);
    this.keys = fleetKeys(options.config.name);
    this.#client = createFleetRedis(options.config, 'state');
    // node-redis puts a subscribed connection in subscriber mode: it needs a connection of its own.
    this.#subscriber = this.#client.duplicate();
    const logger = options.logger.child({ fleet: options.config.name, member: this.memberId });
    this.#watch = new ConnectionWatch(this.#client, 'state', logger);
    this.#subscriberWatch = new ConnectionWatch(this.#subscriber, 'changes', logger);
    this.#watch.onChange((connected) => {
      if (connected) this.#reconcileSoon();
    });
    this.#subscriber.on('ready', () => {
      if (!this.#subscribed) this.#subscribe();
      // Whatever was announced while this connection was down is caught by reading the state again now.
      else if (this.connected) this.#reconcileSoon();
    });
    options.metrics.fleetSource = {
      connected: () => this.connected,
      routes: () => this.#routeGauges(),
      leader: () => this.#leader,
      members: () => this.#members.length,
    };
  }

  get connected(): boolean {
    return this.#watch.connected;
  }

  get name(): string {
    return this.#config.name;
  }

  /**
   * The connected client, for the rollout leader's lease and the fleet-wide counts (fleet-leader). They take it
   * as a constructor argument; its connection state is this Fleet's `connected`.
   */
  get client(): FleetRedis {
    return this.#client;
  }

  /** Seconds since the route's state was last confirmed current with the fleet (null: never). For maxStaleness. */
  stateAge(route: string, now = Date.now()): number | null {
    const at = this.#confirmedAt.get(route);
    return at === undefined ? null : (now - at) / 1000;
  }

  // ---- lease and counts plug in here (fleet-leader) --------------------------------------------------------------
  // The lease (sg:{f}:leader, sg:{f}:epoch) and the counts (sg:{f}:w:...) are built on `client` and `memberId`;
  // the leader's onChange(leading, epoch) calls setLeader so splitgate_fleet_leader and /fleet show it, and its
  // rollout writes pass { fenceEpoch } to Controller.applyRollout, which this class checks in WRITE_SCRIPT.
  setLeader(leading: boolean): void {
    this.#leader = leading;
  }
  // -----------------------------------------------------------------------------------------------------------------

  /**
   * Connects (in the background: an unreachable Redis never blocks a start) and waits up to the connect timeout for
   * the first reconcile, so a replica that can reach Redis starts on the fleet's state rather than its file's.
   */
  async start(controller: Controller): Promise<void> {
    this.#controller = controller;
    controller.onStateApplied(() => this.#beatSoon());
    const synced = new Promise<void>((resolve) => (this.#firstSync = resolve));
    this.#client.connect().catch(() => undefined);
    this.#subscriber.connect().catch(() => undefined);
    this.#every(this.#config.heartbeat, () => this.#heartbeat());
    this.#every(this.#config.poll, () => {
      if (this.connected) this.#reconcileSoon();
    });
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([synced, new Promise<void>((resolve) => (timer = setTimeout(resolve, this.#config.redis.connectTimeout)))]);
    clearTimeout(timer);
    if (!this.connected) {
      this.#options.logger.warn({ fleet: this.name, member: this.memberId }, 'fleet store unreachable at start; serving the state file\'s last known good state, retrying');
    }
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    for (const timer of this.#timers) clearInterval(timer);
    // Leaving on purpose: drop the heartbeat now rather than let the member linger until its TTL.
    this.#watch.close();
    this.#subscriberWatch.close();
    if (this.connected) await bounded(() => leave(this.#client, this.keys, this.memberId), 500).catch(() => undefined);
    for (const client of [this.#subscriber, this.#client]) {
      try {
        client.destroy();
      } catch {
        // already closed
      }
    }
    if (this.#options.metrics.fleetSource !== null) this.#options.metrics.fleetSource = null;
  }

  // ---- StateAuthority ---------------------------------------------------------------------------------------------

  async commit(route: string, next: RouteRuntimeState, expected: number, options: CommitOptions = {}): Promise<number> {
    if (!this.connected) throw new FleetUnavailableError();
    const timeout = this.#config.redis.commandTimeout;
    const deadline = Date.now() + timeout;
    const outcome = await bounded(
      () =>
        writeDocument(this.#client, this.keys, {
          route,
          expected,
          version: options.version ?? expected + 1,
          state: next,
          member: this.memberId,
          deadline,
          ...(options.fenceEpoch === undefined ? {} : { fenceEpoch: options.fenceEpoch }),
        }),
      timeout,
    );
    if (outcome.kind === 'expired') throw new FleetUnavailableError(`the fleet store (Redis) took longer than ${timeout} ms to take the write; not stored`);
    if (outcome.kind === 'fenced') throw new FencedError(options.fenceEpoch ?? 0, outcome.current);
    if (outcome.kind === 'conflict') {
      this.#fleetVersions.set(route, outcome.current);
      // Catch up in the background, so the next attempt starts from the fleet's version.
      this.#reconcileSoon();
      throw new ConflictError(
        `route "${route}": the change was based on state version ${expected}, but the fleet is at version ${outcome.current} ` +
          '(another write came first); read the state again and retry',
      );
    }
    this.#fleetVersions.set(route, outcome.version);
    this.#confirmedAt.set(route, Date.now());
    return outcome.version;
  }

  async read(route: string): Promise<StoredDocument> {
    if (!this.connected) throw new FleetUnavailableError();
    const document = await bounded(() => readDocument(this.#client, this.keys, route), this.#config.redis.commandTimeout);
    this.#fleetVersions.set(route, document.version);
    return document;
  }

  async acknowledgement(route: string, version: number): Promise<FleetAcknowledgement | null> {
    // Our own beat first, so the list counts this replica with the version it just applied.
    await this.#heartbeat();
    const members = this.#members;
    const acknowledged = members.filter((member) => (member.applied[route] ?? 0) >= version).length;
    return { version, acknowledged, members: members.length };
  }

  // ---- views --------------------------------------------------------------------------------------------------

  /** For /status: this replica's side of the fleet. */
  status(): unknown {
    const controller = this.#controller;
    const now = Date.now();
    return {
      name: this.name,
      member: this.memberId,
      connected: this.connected,
      lastError: this.connected ? null : this.#watch.lastError,
      leader: this.#leader,
      members: this.#members.length,
      pendingKills: pendingKillsOf(controller),
      routes: Object.fromEntries(
        (controller?.config.routes ?? []).map((route) => [
          route.name,
          {
            version: controller?.fleetVersions[route.name] ?? 0,
            fleetVersion: this.#fleetVersions.get(route.name) ?? null,
            ageSeconds: this.#confirmedAt.has(route.name) ? Math.round((now - this.#confirmedAt.get(route.name)!) / 100) / 10 : null,
            pending: controller?.pendingKills.includes(route.name) ? 'kill' : null,
          },
        ]),
      ),
    };
  }

  /** For GET /fleet and `splitgate fleet`: every live member, what each applied, and who lags. */
  async view(): Promise<FleetView> {
    if (this.connected) {
      try {
        await this.#heartbeat();
        for (const route of this.#routes()) await this.read(route);
      } catch {
        // Shown as last known below.
      }
    }
    const versions: Record<string, number> = {};
    for (const route of this.#routes()) {
      let highest = this.#fleetVersions.get(route) ?? 0;
      for (const member of this.#members) highest = Math.max(highest, member.applied[route] ?? 0);
      versions[route] = highest;
    }
    const now = Date.now();
    const members = this.#members.map((member): FleetMemberView => {
      const lagging = Object.entries(versions)
        .filter(([route, version]) => (member.applied[route] ?? 0) < version)
        .map(([route, version]) => ({ route, applied: member.applied[route] ?? 0, fleet: version }));
      const seen = Date.parse(member.lastSeen);
      const self = member.id === this.memberId;
      // This member's own pending kills as they are now: its last heartbeat may predate them (Redis unreachable).
      const pendingKills = self ? pendingKillsOf(this.#controller) : member.pendingKills;
      return { ...member, pendingKills, self, ageSeconds: Number.isFinite(seen) ? Math.max(0, Math.round((now - seen) / 100) / 10) : -1, lagging };
    });
    return {
      fleet: this.name,
      member: this.memberId,
      connected: this.connected,
      leader: this.#leader,
      versions,
      members,
      converged: members.every((member) => member.lagging.length === 0 && member.pendingKills.length === 0),
    };
  }

  // ---- internals ----------------------------------------------------------------------------------------------

  /** The shared documents: one per route with a canary, and the flag overrides' (FLAGS_DOCUMENT) with `flags:`. */
  #routes(): string[] {
    const config = this.#controller?.config;
    const routes = (config?.routes ?? []).filter((route) => route.canary !== undefined).map((route) => route.name);
    return config?.flags === undefined ? routes : [...routes, FLAGS_DOCUMENT];
  }

  *#routeGauges(): Generator<{ route: string; version: number; confirmedAt: number | null }> {
    const versions = this.#controller?.fleetVersions ?? {};
    for (const route of this.#routes()) yield { route, version: versions[route] ?? 0, confirmedAt: this.#confirmedAt.get(route) ?? null };
  }

  #every(ms: number, work: () => unknown): void {
    const timer = setInterval(() => {
      if (!this.#stopped) work();
    }, ms);
    timer.unref();
    this.#timers.push(timer);
  }

  #subscribe(): void {
    this.#subscribed = true;
    this.#subscriber
      .subscribe(this.keys.changes, (message: string) => this.#onAnnouncement(message))
      .catch((error: unknown) => {
        this.#subscribed = false;
        this.#options.logger.warn({ error: (error as Error).message }, 'fleet changes channel: subscribe failed; the poll still catches up');
      });
  }

  #onAnnouncement(message: string): void {
    const announcement = parseAnnouncement(message);
    const controller = this.#controller;
    if (announcement === null || controller === null) return;
    if ((controller.fleetVersions[announcement.route] ?? 0) >= announcement.version) return;
    if (!this.#routes().includes(announcement.route)) return;
    this.read(announcement.route)
      .then((document) => controller.applyFleetState(announcement.route, document, `fleet:${document.member ?? announcement.member}`))
      .then(() => this.#confirmedAt.set(announcement.route, Date.now()))
      .catch(() => this.#reconcileSoon());
  }

  /** One reconcile at a time; a request during one runs another right after (it may have been for a newer change). */
  #reconcileSoon(): void {
    if (this.#stopped) return;
    if (this.#reconciling !== null) {
      this.#reconcileAgain = true;
      return;
    }
    this.#reconciling = this.#reconcile()
      .catch((error: unknown) => this.#options.logger.debug({ error: (error as Error).message }, 'fleet reconcile incomplete; retried at the next poll'))
      .finally(() => {
        this.#reconciling = null;
        if (this.#reconcileAgain) {
          this.#reconcileAgain = false;
          this.#reconcileSoon();
        }
      });
  }

  async #reconcile(): Promise<void> {
    const controller = this.#controller;
    if (controller === null || !this.connected) return;
    if (!this.#subscribed && this.#subscriber.isReady) this.#subscribe();
    for (const route of this.#routes()) {
      // A few rounds: a conflict means another member wrote in between; re-read and judge again.
      for (let round = 0; round < 3; round++) {
        const document = await this.read(route);
        await controller.applyFleetState(route, document, `fleet:${document.member ?? 'unknown'}`);
        try {
          const pushed = await controller.pushLocalState(route, document.version);
          if (pushed === 'pushed') this.#options.logger.info({ route, fleetVersion: document.version }, 'local state written to the fleet');
          this.#confirmedAt.set(route, Date.now());
          break;
        } catch (error) {
          if (!(error instanceof ConflictError)) throw error;
        }
      }
    }
    if (this.#firstSync !== null) {
      this.#firstSync();
      this.#firstSync = null;
    }
    await this.#heartbeat();
  }

  #beatSoon(): void {
    if (this.#beatQueued || this.#stopped) return;
    this.#beatQueued = true;
    setImmediate(() => {
      this.#beatQueued = false;
      this.#heartbeat().catch(() => undefined);
    });
  }

  /** Writes this member's heartbeat and refreshes the member list (for the gauge and acknowledgements). */
  async #heartbeat(): Promise<void> {
    const controller = this.#controller;
    if (controller === null || !this.connected || this.#stopped) return;
    const beat: MemberHeartbeat = {
      id: this.memberId,
      host: hostname(),
      pid: process.pid,
      version: this.#options.splitgateVersion,
      configHash: controller.configHash,
      applied: { ...controller.fleetVersions },
      pendingKills: pendingKillsOf(controller),
      lastSeen: new Date().toISOString(),
    };
    try {
      this.#members = await bounded(() => beatAndList(this.#client, this.keys, beat, this.#config.memberTtl), this.#config.redis.commandTimeout);
    } catch {
      // The connection watch reports the outage; the next beat tries again.
    }
  }
}

/** Routes, and flags as `~flags/<key>`, killed here while Redis was unreachable and not yet written to the fleet. */
function pendingKillsOf(controller: Controller | null): string[] {
  if (controller === null) return [];
  return [...controller.pendingKills, ...controller.pendingFlagKills.map((key) => `${FLAGS_DOCUMENT}/${key}`)];
}
