import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { ConflictError } from '../control/controller.js';
import { FencedError, FleetUnavailableError } from './errors.js';
import { bounded, ConnectionWatch, createFleetRedis } from './redis-client.js';
import { beatAndList, fleetKeys, leave, parseAnnouncement, readDocument, writeDocument, } from './redis-state.js';
import { FLAGS_DOCUMENT } from '../flags/flag-overrides.js';
export function resolveMemberId(config, env = process.env) {
    const chosen = config.memberId ?? (env.SPLITGATE_MEMBER_ID || `${hostname()}-${process.pid}-${randomBytes(2).toString('hex')}`);
    return chosen.replace(/[^A-Za-z0-9_.:-]/g, '_').slice(0, 128);
}
export function createFleet(config, parts) {
    if (config.fleet === undefined)
        return null;
    return new Fleet({ config: config.fleet, ...parts, splitgateVersion: packageVersion() });
}
function packageVersion() {
    try {
        return JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).version;
    }
    catch {
        return 'unknown';
    }
}
export class Fleet {
    shared = true;
    memberId;
    keys;
    #options;
    #config;
    #client;
    #subscriber;
    #watch;
    #subscriberWatch;
    #controller = null;
    #confirmedAt = new Map();
    #fleetVersions = new Map();
    #members = [];
    #reconciling = null;
    #reconcileAgain = false;
    #subscribed = false;
    #beatQueued = false;
    #stopped = false;
    #leader = false;
    #timers = [];
    #firstSync = null;
    constructor(options) {
        this.#options = options;
        this.#config = options.config;
        this.memberId = resolveMemberId(options.config, options.env);
        this.keys = fleetKeys(options.config.name);
        this.#client = createFleetRedis(options.config, 'state');
        this.#subscriber = this.#client.duplicate();
        const logger = options.logger.child({ fleet: options.config.name, member: this.memberId });
        this.#watch = new ConnectionWatch(this.#client, 'state', logger);
        this.#subscriberWatch = new ConnectionWatch(this.#subscriber, 'changes', logger);
        this.#watch.onChange((connected) => {
            if (connected)
                this.#reconcileSoon();
        });
        this.#subscriber.on('ready', () => {
            if (!this.#subscribed)
                this.#subscribe();
            else if (this.connected)
                this.#reconcileSoon();
        });
        options.metrics.fleetSource = {
            connected: () => this.connected,
            routes: () => this.#routeGauges(),
            leader: () => this.#leader,
            members: () => this.#members.length,
        };
    }
    get connected() {
        return this.#watch.connected;
    }
    get name() {
        return this.#config.name;
    }
    get client() {
        return this.#client;
    }
    stateAge(route, now = Date.now()) {
        const at = this.#confirmedAt.get(route);
        return at === undefined ? null : (now - at) / 1000;
    }
    setLeader(leading) {
        this.#leader = leading;
    }
    async start(controller) {
        this.#controller = controller;
        controller.onStateApplied(() => this.#beatSoon());
        const synced = new Promise((resolve) => (this.#firstSync = resolve));
        this.#client.connect().catch(() => undefined);
        this.#subscriber.connect().catch(() => undefined);
        this.#every(this.#config.heartbeat, () => this.#heartbeat());
        this.#every(this.#config.poll, () => {
            if (this.connected)
                this.#reconcileSoon();
        });
        let timer;
        await Promise.race([synced, new Promise((resolve) => (timer = setTimeout(resolve, this.#config.redis.connectTimeout)))]);
        clearTimeout(timer);
        if (!this.connected) {
            this.#options.logger.warn({ fleet: this.name, member: this.memberId }, 'fleet store unreachable at start; serving the state file\'s last known good state, retrying');
        }
    }
    async stop() {
        this.#stopped = true;
        for (const timer of this.#timers)
            clearInterval(timer);
        this.#watch.close();
        this.#subscriberWatch.close();
        if (this.connected)
            await bounded(() => leave(this.#client, this.keys, this.memberId), 500).catch(() => undefined);
        for (const client of [this.#subscriber, this.#client]) {
            try {
                client.destroy();
            }
            catch {
            }
        }
        if (this.#options.metrics.fleetSource !== null)
            this.#options.metrics.fleetSource = null;
    }
    async commit(route, next, expected, options = {}) {
        if (!this.connected)
            throw new FleetUnavailableError();
        const timeout = this.#config.redis.commandTimeout;
        const deadline = Date.now() + timeout;
        const outcome = await bounded(() => writeDocument(this.#client, this.keys, {
            route,
            expected,
            version: options.version ?? expected + 1,
            state: next,
            member: this.memberId,
            deadline,
            ...(options.fenceEpoch === undefined ? {} : { fenceEpoch: options.fenceEpoch }),
        }), timeout);
        if (outcome.kind === 'expired')
            throw new FleetUnavailableError(`the fleet store (Redis) took longer than ${timeout} ms to take the write; not stored`);
        if (outcome.kind === 'fenced')
            throw new FencedError(options.fenceEpoch ?? 0, outcome.current);
        if (outcome.kind === 'conflict') {
            this.#fleetVersions.set(route, outcome.current);
            this.#reconcileSoon();
            throw new ConflictError(`route "${route}": the change was based on state version ${expected}, but the fleet is at version ${outcome.current} ` +
                '(another write came first); read the state again and retry');
        }
        this.#fleetVersions.set(route, outcome.version);
        this.#confirmedAt.set(route, Date.now());
        return outcome.version;
    }
    async read(route) {
        if (!this.connected)
            throw new FleetUnavailableError();
        const document = await bounded(() => readDocument(this.#client, this.keys, route), this.#config.redis.commandTimeout);
        this.#fleetVersions.set(route, document.version);
        return document;
    }
    async acknowledgement(route, version) {
        await this.#heartbeat();
        const members = this.#members;
        const acknowledged = members.filter((member) => (member.applied[route] ?? 0) >= version).length;
        return { version, acknowledged, members: members.length };
    }
    status() {
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
            routes: Object.fromEntries((controller?.config.routes ?? []).map((route) => [
                route.name,
                {
                    version: controller?.fleetVersions[route.name] ?? 0,
                    fleetVersion: this.#fleetVersions.get(route.name) ?? null,
                    ageSeconds: this.#confirmedAt.has(route.name) ? Math.round((now - this.#confirmedAt.get(route.name)) / 100) / 10 : null,
                    pending: controller?.pendingKills.includes(route.name) ? 'kill' : null,
                },
            ])),
        };
    }
    async view() {
        if (this.connected) {
            try {
                await this.#heartbeat();
                for (const route of this.#routes())
                    await this.read(route);
            }
            catch {
            }
        }
        const versions = {};
        for (const route of this.#routes()) {
            let highest = this.#fleetVersions.get(route) ?? 0;
            for (const member of this.#members)
                highest = Math.max(highest, member.applied[route] ?? 0);
            versions[route] = highest;
        }
        const now = Date.now();
        const members = this.#members.map((member) => {
            const lagging = Object.entries(versions)
                .filter(([route, version]) => (member.applied[route] ?? 0) < version)
                .map(([route, version]) => ({ route, applied: member.applied[route] ?? 0, fleet: version }));
            const seen = Date.parse(member.lastSeen);
            const self = member.id === this.memberId;
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
    #routes() {
        const config = this.#controller?.config;
        const routes = (config?.routes ?? []).filter((route) => route.canary !== undefined).map((route) => route.name);
        return config?.flags === undefined ? routes : [...routes, FLAGS_DOCUMENT];
    }
    *#routeGauges() {
        const versions = this.#controller?.fleetVersions ?? {};
        for (const route of this.#routes())
            yield { route, version: versions[route] ?? 0, confirmedAt: this.#confirmedAt.get(route) ?? null };
    }
    #every(ms, work) {
        const timer = setInterval(() => {
            if (!this.#stopped)
                work();
        }, ms);
        timer.unref();
        this.#timers.push(timer);
    }
    #subscribe() {
        this.#subscribed = true;
        this.#subscriber
            .subscribe(this.keys.changes, (message) => this.#onAnnouncement(message))
            .catch((error) => {
            this.#subscribed = false;
            this.#options.logger.warn({ error: error.message }, 'fleet changes channel: subscribe failed; the poll still catches up');
        });
    }
    #onAnnouncement(message) {
        const announcement = parseAnnouncement(message);
        const controller = this.#controller;
        if (announcement === null || controller === null)
            return;
        if ((controller.fleetVersions[announcement.route] ?? 0) >= announcement.version)
            return;
        if (!this.#routes().includes(announcement.route))
            return;
        this.read(announcement.route)
            .then((document) => controller.applyFleetState(announcement.route, document, `fleet:${document.member ?? announcement.member}`))
            .then(() => this.#confirmedAt.set(announcement.route, Date.now()))
            .catch(() => this.#reconcileSoon());
    }
    #reconcileSoon() {
        if (this.#stopped)
            return;
        if (this.#reconciling !== null) {
            this.#reconcileAgain = true;
            return;
        }
        this.#reconciling = this.#reconcile()
            .catch((error) => this.#options.logger.debug({ error: error.message }, 'fleet reconcile incomplete; retried at the next poll'))
            .finally(() => {
            this.#reconciling = null;
            if (this.#reconcileAgain) {
                this.#reconcileAgain = false;
                this.#reconcileSoon();
            }
        });
    }
    async #reconcile() {
        const controller = this.#controller;
        if (controller === null || !this.connected)
            return;
        if (!this.#subscribed && this.#subscriber.isReady)
            this.#subscribe();
        for (const route of this.#routes()) {
            for (let round = 0; round < 3; round++) {
                const document = await this.read(route);
                await controller.applyFleetState(route, document, `fleet:${document.member ?? 'unknown'}`);
                try {
                    const pushed = await controller.pushLocalState(route, document.version);
                    if (pushed === 'pushed')
                        this.#options.logger.info({ route, fleetVersion: document.version }, 'local state written to the fleet');
                    this.#confirmedAt.set(route, Date.now());
                    break;
                }
                catch (error) {
                    if (!(error instanceof ConflictError))
                        throw error;
                }
            }
        }
        if (this.#firstSync !== null) {
            this.#firstSync();
            this.#firstSync = null;
        }
        await this.#heartbeat();
    }
    #beatSoon() {
        if (this.#beatQueued || this.#stopped)
            return;
        this.#beatQueued = true;
        setImmediate(() => {
            this.#beatQueued = false;
            this.#heartbeat().catch(() => undefined);
        });
    }
    async #heartbeat() {
        const controller = this.#controller;
        if (controller === null || !this.connected || this.#stopped)
            return;
        const beat = {
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
        }
        catch {
        }
    }
}
function pendingKillsOf(controller) {
    if (controller === null)
        return [];
    return [...controller.pendingKills, ...controller.pendingFlagKills.map((key) => `${FLAGS_DOCUMENT}/${key}`)];
}
//# sourceMappingURL=fleet.js.map