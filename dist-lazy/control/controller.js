import { hashConfig, stableStringify } from './config-hash.js';
import { isLoopback } from '../config/listen.js';
import { loadConfigFile } from '../config/load.js';
import { ConfigError, SplitgateError } from '../errors.js';
import { activateTable } from '../state/table-store.js';
import { FleetUnavailableError } from '../fleet/errors.js';
import { LocalStateAuthority } from '../fleet/state-authority.js';
import { emptyState } from './state-file.js';
import { checkFlagOverride, FLAGS_DOCUMENT, flagsDocument, parseFlagOverride, parseStoredFlagOverrides, staleFlagOverrides } from '../flags/flag-overrides.js';
export { hashConfig } from './config-hash.js';
export class UnknownRouteError extends SplitgateError {
    constructor(route) {
        super('SG_UNKNOWN_ROUTE', `no route named "${route}"`, 404);
    }
}
export class InvalidRequestError extends SplitgateError {
    constructor(message) {
        super('SG_INVALID', message, 400);
    }
}
export class ConflictError extends SplitgateError {
    constructor(message) {
        super('SG_CONFLICT', message, 409);
    }
}
export class Controller {
    #deps;
    #store = null;
    #config;
    #configHash;
    #state = emptyState();
    #generation = 0;
    #runtime = { weights: {}, killed: new Set() };
    #staleFallback = new Set();
    #lastReloadError = null;
    #stateError = null;
    #adminBound = null;
    #configListeners = [];
    #appliedListeners = [];
    #authority;
    #serial = Promise.resolve();
    constructor(deps) {
        this.#deps = deps;
        this.#authority = deps.authority ?? new LocalStateAuthority();
        this.#config = deps.config;
        this.#configHash = hashConfig(deps.config);
    }
    get config() {
        return this.#config;
    }
    get configHash() {
        return this.#configHash;
    }
    get generation() {
        return this.#generation;
    }
    get adminListen() {
        return this.#adminBound ?? this.#config.admin.listen;
    }
    adminBoundTo(address) {
        this.#adminBound = { host: address.host, port: address.port };
    }
    get lastReloadError() {
        return this.#lastReloadError;
    }
    get stateError() {
        return this.#stateError;
    }
    get runtimeState() {
        return this.#state;
    }
    get tableGeneration() {
        return { generation: this.#generation, config: this.#config, runtime: this.#runtime };
    }
    async initialTable() {
        const file = this.#deps.stateFile;
        if (file !== null) {
            const loaded = await file.load();
            if (loaded.ok) {
                this.#state = loaded.state;
                if (loaded.found)
                    this.#deps.logger.info({ stateFile: file.path, routes: Object.keys(loaded.state.routes) }, 'runtime state restored');
                if (loaded.warnings.length > 0) {
                    this.#stateError = `state file ${file.path}: ${loaded.warnings.join('; ')}`;
                    this.#deps.logger.warn({ stateFile: file.path, warnings: loaded.warnings }, 'parts of the runtime state ignored');
                    this.#deps.events.record({ actor: 'splitgate', action: 'state.partly_ignored', message: loaded.warnings.join('; ') });
                }
            }
            else {
                this.#stateError = loaded.error;
                this.#deps.logger.error({ stateFile: file.path, error: loaded.error }, 'runtime state ignored');
                this.#deps.events.record({ actor: 'splitgate', action: 'state.ignored', message: loaded.error });
            }
        }
        const dropped = this.#dropStaleFlagOverrides(this.#config);
        const table = this.#build();
        if (dropped)
            void this.#save('flags', 'flag.override_dropped');
        return table;
    }
    attach(store) {
        this.#store = store;
    }
    get fleetVersions() {
        return this.#state.fleet?.versions ?? {};
    }
    get pendingKills() {
        return this.#state.fleet?.pendingKills ?? [];
    }
    onStateApplied(listener) {
        this.#appliedListeners.push(listener);
    }
    async applyFleetState(routeName, document, origin) {
        const applied = await this.#queued(async () => {
            const delivery = this.#applyRemoteNow(routeName, document, origin);
            return delivery === false ? null : { delivery, saved: this.#save(routeName, 'fleet.applied') };
        });
        if (applied === null)
            return false;
        await Promise.all([applied.saved, applied.delivery]);
        return true;
    }
    async pushLocalState(routeName, fleetVersion) {
        const pushed = await this.#queued(async () => {
            if (routeName === FLAGS_DOCUMENT) {
                const held = this.fleetVersions[FLAGS_DOCUMENT] ?? 0;
                const pending = this.pendingFlagKills;
                if (pending.length === 0 && held <= fleetVersion)
                    return null;
                const flags = this.#flagsInForce();
                const version = held > fleetVersion && pending.length === 0 ? held : Math.max(held, fleetVersion) + 1;
                const stored = await this.#authority.commit(FLAGS_DOCUMENT, flagsDocument(flags), fleetVersion, { version });
                const delivery = pending.length > 0 ? this.#applyFlags(flags, stored, []) : null;
                if (pending.length > 0) {
                    this.#deps.events.record({ actor: 'splitgate', action: 'fleet.kill_pushed', after: { document: FLAGS_DOCUMENT, flags: [...pending], version: stored } });
                    this.#deps.logger.info({ document: FLAGS_DOCUMENT, flags: pending, version: stored }, 'flag kills applied while Redis was unreachable are now the fleet\'s');
                }
                else
                    this.#deps.events.record({ actor: 'splitgate', action: 'fleet.reseeded', after: { document: FLAGS_DOCUMENT, version: stored } });
                return { delivery, saved: this.#save(FLAGS_DOCUMENT, 'fleet.push') };
            }
            const pending = this.pendingKills.includes(routeName);
            const held = this.fleetVersions[routeName] ?? 0;
            if (!pending && held <= fleetVersion)
                return null;
            const entry = structuredClone(this.#state.routes[routeName] ?? {});
            if (pending)
                entry.killed = true;
            const version = held > fleetVersion && !pending ? held : Math.max(held, fleetVersion) + 1;
            const stored = await this.#authority.commit(routeName, entry, fleetVersion, { version });
            const delivery = this.#applyEntry(routeName, entry, stored, 'clear');
            if (pending) {
                this.#deps.events.record({ actor: 'splitgate', action: 'fleet.kill_pushed', route: routeName, after: { version: stored } });
                this.#deps.logger.info({ route: routeName, version: stored }, 'kill switch applied while Redis was unreachable is now the fleet\'s');
            }
            else
                this.#deps.events.record({ actor: 'splitgate', action: 'fleet.reseeded', route: routeName, after: { version: stored } });
            return { delivery, saved: this.#save(routeName, 'fleet.push') };
        });
        if (pushed === null)
            return 'nothing';
        await Promise.all([pushed.saved, pushed.delivery]);
        return 'pushed';
    }
    onConfigApplied(listener) {
        this.#configListeners.push(listener);
    }
    get flagOverrides() {
        const inForce = this.#flagsInForce();
        for (const { key } of staleFlagOverrides(this.#config.flags?.definitions, inForce))
            delete inForce[key];
        return inForce;
    }
    get pendingFlagKills() {
        return this.#state.fleet?.pendingFlagKills ?? [];
    }
    setFlagOverride(key, body, actor) {
        const override = parseFlagOverride(body);
        return this.#changeFlag(key, override, actor);
    }
    clearFlagOverride(key, actor) {
        return this.#changeFlag(key, null, actor);
    }
    #changeFlag(key, override, actor) {
        const authority = this.#authority;
        const decided = this.#queued(async () => {
            if (override !== null || !Object.hasOwn(this.#flagsInForce(), key))
                checkFlagOverride(this.#config.flags?.definitions, key, override);
            let version = null;
            let pendingMessage = null;
            let before = null;
            let flags = {};
            for (let attempt = 1;; attempt++) {
                flags = this.#flagsInForce();
                before = flags[key] ?? null;
                if (override === null)
                    delete flags[key];
                else
                    flags[key] = override;
                if (!authority.shared || (override === null && before === null))
                    break;
                try {
                    version = await authority.commit(FLAGS_DOCUMENT, flagsDocument(flags), this.fleetVersions[FLAGS_DOCUMENT] ?? 0);
                    break;
                }
                catch (error) {
                    if (override?.state === 'DISABLED' && error instanceof FleetUnavailableError) {
                        pendingMessage = `applied here only: ${error.message}; written to the fleet when it returns`;
                        break;
                    }
                    if (!(error instanceof ConflictError) || attempt >= 3 || authority.read === undefined)
                        throw error;
                    let latest;
                    try {
                        latest = await authority.read(FLAGS_DOCUMENT);
                    }
                    catch (readError) {
                        if (override?.state === 'DISABLED' && readError instanceof FleetUnavailableError) {
                            pendingMessage = `applied here only: ${readError.message}; written to the fleet when it returns`;
                            break;
                        }
                        throw readError;
                    }
                    this.#applyRemoteFlags(latest, latest.member ?? 'fleet');
                }
            }
            if (override === null && before === null)
                return { delivery: null, saved: Promise.resolve(null), generation: this.#generation, version, pendingMessage, notInForce: null, heldVersion: 0 };
            const pending = new Set(this.pendingFlagKills);
            let delivery;
            if (pendingMessage !== null) {
                pending.add(key);
                delivery = this.#applyFlags(this.#state.flags ?? {}, null, [...pending]);
            }
            else {
                delivery = this.#applyFlags(flags, version, authority.shared ? [] : [...pending]);
            }
            const action = override === null ? 'flag.override_cleared' : 'flag.override_set';
            const after = { flag: key, override, generation: this.#generation, ...(version === null ? {} : { fleetVersion: version }) };
            this.#deps.events.record({ actor, action, before: { flag: key, override: before }, after, ...(pendingMessage !== null ? { message: pendingMessage } : {}) });
            this.#deps.logger.info({ actor, action, flag: key, before, after, pending: pendingMessage !== null }, 'flag override');
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
            let fleet = null;
            if (pendingMessage !== null)
                fleet = { version: heldVersion, pending: true, message: pendingMessage };
            else if (version !== null)
                fleet = (await authority.acknowledgement(FLAGS_DOCUMENT, version).catch(() => null)) ?? { version, acknowledged: 1, members: 1 };
            const saveWarning = await saved;
            const warning = [notInForce === null ? null : `stored, but not in force here: ${notInForce}`, saveWarning].filter((text) => text !== null).join('; ');
            return { flag: key, override, generation, ...(workers === null ? {} : { workers }), ...(fleet === null ? {} : { fleet }), ...(warning === '' ? {} : { warning }) };
        });
    }
    #flagsInForce() {
        const flags = { ...this.#state.flags };
        for (const key of this.pendingFlagKills)
            flags[key] = { state: 'DISABLED' };
        return flags;
    }
    #applyFlags(flags, version, pendingKills) {
        const next = { ...this.#state, flags };
        if (Object.keys(flags).length === 0)
            delete next.flags;
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
        for (const listener of this.#appliedListeners)
            listener(FLAGS_DOCUMENT);
        return delivery;
    }
    #applyRemoteFlags(document, origin) {
        if (document.version <= (this.fleetVersions[FLAGS_DOCUMENT] ?? 0))
            return false;
        const warnings = [];
        const flags = parseStoredFlagOverrides(document.state.flags ?? {}, warnings);
        const unsupported = staleFlagOverrides(this.#config.flags?.definitions, flags);
        const before = this.#state.flags ?? {};
        const delivery = this.#applyFlags(flags, document.version, this.pendingFlagKills);
        this.#deps.events.record({ actor: origin, action: 'fleet.applied', before: { flags: before }, after: { flags, fleetVersion: document.version } });
        this.#deps.logger.info({ document: FLAGS_DOCUMENT, version: document.version, origin, flags, unsupported, warnings }, 'fleet flag overrides applied');
        return delivery;
    }
    #dropStaleFlagOverrides(config, previous) {
        const overrides = this.#flagsInForce();
        const stale = staleFlagOverrides(config.flags?.definitions, overrides);
        const wasInForce = (key) => previous === undefined || staleFlagOverrides(previous.flags?.definitions, { [key]: overrides[key] }).length === 0;
        for (const { key, reason } of stale) {
            if (!wasInForce(key))
                continue;
            this.#deps.events.record({ actor: 'splitgate', action: 'flag.override_dropped', before: { flag: key, override: overrides[key] }, after: { flag: key, override: null }, message: reason });
            this.#deps.logger.warn({ flag: key, override: overrides[key], reason }, 'flag override dropped: the flag file no longer supports it');
        }
        if (stale.length === 0 || this.#authority.shared || this.#state.flags === undefined)
            return false;
        const flags = { ...this.#state.flags };
        for (const { key } of stale)
            delete flags[key];
        this.#state = { ...this.#state, flags };
        if (Object.keys(flags).length === 0)
            delete this.#state.flags;
        return true;
    }
    setWeight(routeName, weight, actor, source = 'operator', options = {}) {
        if (typeof weight !== 'number' || !Number.isFinite(weight) || weight < 0 || weight > 100) {
            throw new InvalidRequestError('weight must be a number between 0 and 100');
        }
        if (Math.abs(weight * 100 - Math.round(weight * 100)) > 1e-6)
            throw new InvalidRequestError('weight must have at most two decimals');
        this.#requireCanary(routeName);
        return this.#change(routeName, actor, 'weight.set', (entry) => {
            entry.weight = weight;
            entry.weightSource = source;
        }, true, options);
    }
    kill(routeName, actor, options = {}) {
        this.#requireCanary(routeName);
        return this.#change(routeName, actor, 'kill', (entry) => {
            entry.killed = true;
        }, true, { ...options, localFallback: true });
    }
    resume(routeName, actor, options = {}) {
        this.#requireCanary(routeName);
        if (!this.#state.routes[routeName]?.killed)
            throw new ConflictError(`route "${routeName}" is not killed`);
        return this.#change(routeName, actor, 'resume', (entry) => {
            delete entry.killed;
        }, true, options);
    }
    promote(routeName, actor, source = 'operator', options = {}) {
        this.#requireCanary(routeName);
        if (this.#state.routes[routeName]?.killed)
            throw new ConflictError(`route "${routeName}" is killed; resume it before promoting`);
        return this.#change(routeName, actor, 'promote', (entry) => {
            entry.weight = 100;
            entry.weightSource = source;
        }, true, options);
    }
    applyRollout(routeName, rollout, change, options = {}) {
        this.#requireCanary(routeName);
        return this.#change(routeName, 'rollout', 'rollout', (entry) => {
            entry.rollout = rollout;
            if (change.weight !== undefined) {
                entry.weight = change.weight;
                entry.weightSource = 'rollout';
            }
            if (change.kill)
                entry.killed = true;
            if (change.releaseKill)
                delete entry.killed;
            if (change.stage !== undefined) {
                if (change.stage < 0)
                    delete entry.stage;
                else
                    entry.stage = change.stage;
            }
        }, false, options.fenceEpoch === undefined ? {} : { fenceEpoch: options.fenceEpoch });
    }
    rolloutState(routeName) {
        return this.#state.routes[routeName]?.rollout;
    }
    async reload(actor) {
        const path = this.#deps.configPath;
        if (path === null)
            throw new ConflictError('splitgate was started without a config file; nothing to reload');
        let next;
        try {
            next = await loadConfigFile(path);
        }
        catch (error) {
            const errors = error instanceof ConfigError ? error.issues.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message)) : [error.message];
            return this.#rejectReload(actor, errors);
        }
        const { outcome, delivery } = this.#applyConfig(next, actor);
        return delivery === null ? outcome : { ...outcome, workers: await delivery };
    }
    applyConfig(next, actor) {
        return this.#applyConfig(next, actor).outcome;
    }
    #applyConfig(next, actor) {
        const previous = this.#config;
        const weakened = weakenedAdminRules(this.adminListen, next);
        if (weakened.length > 0)
            return { outcome: this.#rejectReload(actor, weakened), delivery: null };
        const warnings = restartOnlyChanges(previous, next);
        const hash = hashConfig(next);
        if (hash === this.#configHash) {
            return { outcome: { ok: true, generation: this.#generation, hash, warnings: ['config unchanged'] }, delivery: null };
        }
        const retired = this.#deps.pools.update(next);
        this.#config = next;
        this.#configHash = hash;
        const droppedFlags = this.#dropStaleFlagOverrides(next, previous);
        const delivery = this.#swap(this.#build());
        if (droppedFlags)
            void this.#save('flags', 'flag.override_dropped');
        this.#lastReloadError = null;
        for (const listener of this.#configListeners)
            listener(next);
        for (const upstream of retired)
            upstream.pool.close().catch(() => undefined);
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
    #rejectReload(actor, errors) {
        this.#lastReloadError = { time: new Date().toISOString(), errors };
        this.#deps.metrics.configReloads.inc({ result: 'failure' });
        this.#deps.events.record({ actor, action: 'config.reload_failed', message: errors.join('; ') });
        this.#deps.logger.error({ errors }, 'config reload rejected; the running config stays');
        return { ok: false, generation: this.#generation, hash: this.#configHash, errors };
    }
    #requireCanary(routeName) {
        const route = this.#config.routes.find((r) => r.name === routeName);
        if (!route)
            throw new UnknownRouteError(routeName);
        if (route.canary === undefined)
            throw new ConflictError(`route "${routeName}" has no canary`);
    }
    saveExperimentStop(key, stopped) {
        return this.#queued(async () => {
            const next = structuredClone(this.#state);
            (next.experiments ??= {})[key] = stopped;
            this.#state = next;
            return this.#save(`experiment ${key}`, 'experiment.stop');
        });
    }
    #queued(work) {
        const run = this.#serial.then(work);
        this.#serial = run.catch(() => undefined);
        return run;
    }
    #change(routeName, actor, action, mutate, audit = true, options = {}) {
        return this.#queued(() => this.#decide(routeName, actor, action, mutate, audit, options)).then((decided) => decided());
    }
    async #decide(routeName, actor, action, mutate, audit, options) {
        const before = this.#routeView(routeName);
        const authority = this.#authority;
        let entry = {};
        let version = null;
        let pendingMessage = null;
        const attempts = options.localFallback && options.expectedVersion === undefined ? 3 : 1;
        for (let attempt = 1;; attempt++) {
            entry = structuredClone(this.#state.routes[routeName] ?? {});
            mutate(entry);
            if (!authority.shared)
                break;
            const expected = options.expectedVersion ?? this.fleetVersions[routeName] ?? 0;
            try {
                version = await authority.commit(routeName, entry, expected, options.fenceEpoch === undefined ? {} : { fenceEpoch: options.fenceEpoch });
                break;
            }
            catch (error) {
                if (options.localFallback && error instanceof FleetUnavailableError) {
                    pendingMessage = `applied here only: ${error.message}; written to the fleet when it returns`;
                    break;
                }
                if (!(error instanceof ConflictError) || attempt >= attempts || authority.read === undefined)
                    throw error;
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
        const saved = this.#save(routeName, action);
        return async () => {
            const workers = delivery === null ? null : await delivery;
            let fleet = null;
            if (pendingMessage !== null)
                fleet = { version: heldVersion, pending: true, message: pendingMessage };
            else if (version !== null)
                fleet = (await authority.acknowledgement(routeName, version).catch(() => null)) ?? { version, acknowledged: 1, members: 1 };
            const result = { route: routeName, ...after, generation, ...(workers === null ? {} : { workers }), ...(fleet === null ? {} : { fleet }) };
            const warning = await saved;
            return warning === null ? result : { ...result, warning };
        };
    }
    #applyEntry(routeName, entry, version, pendingKill) {
        const next = structuredClone(this.#state);
        const prior = next.routes[routeName] ?? {};
        const routingBefore = JSON.stringify([prior.weight, prior.weightSource, prior.killed, prior.stage]);
        if (Object.keys(entry).length === 0)
            delete next.routes[routeName];
        else
            next.routes[routeName] = entry;
        if (version !== null || pendingKill === 'add') {
            const fleet = (next.fleet ??= { versions: {}, pendingKills: [] });
            if (version !== null)
                fleet.versions[routeName] = version;
            const pending = new Set(fleet.pendingKills);
            if (pendingKill === 'add')
                pending.add(routeName);
            if (pendingKill === 'clear')
                pending.delete(routeName);
            fleet.pendingKills = [...pending];
        }
        const routingChanged = JSON.stringify([entry.weight, entry.weightSource, entry.killed, entry.stage]) !== routingBefore;
        this.#state = next;
        const delivery = routingChanged ? this.#swap(this.#build()) : null;
        for (const listener of this.#appliedListeners)
            listener(routeName);
        return delivery;
    }
    #applyRemoteNow(routeName, document, origin) {
        if (routeName === FLAGS_DOCUMENT)
            return this.#applyRemoteFlags(document, origin);
        const held = this.fleetVersions[routeName] ?? 0;
        if (document.version <= held)
            return false;
        const entry = structuredClone(document.state);
        if (this.pendingKills.includes(routeName))
            entry.killed = true;
        const before = this.#routeView(routeName);
        const delivery = this.#applyEntry(routeName, entry, document.version, 'keep');
        const after = this.#routeView(routeName);
        this.#deps.events.record({ actor: origin, action: 'fleet.applied', route: routeName, before, after: { ...after, fleetVersion: document.version } });
        this.#deps.logger.info({ route: routeName, version: document.version, origin, before, after }, 'fleet state applied');
        return delivery;
    }
    async #save(routeName, action) {
        const file = this.#deps.stateFile;
        if (file === null)
            return null;
        try {
            await file.save(this.#state);
            return null;
        }
        catch (error) {
            this.#deps.logger.error({ route: routeName, action, error: error.message }, 'runtime state not saved');
            return `in force, but not saved to ${file.path}: ${error.message}`;
        }
    }
    #routeView(routeName) {
        const route = this.#store?.current.table.routes.find((r) => r.name === routeName);
        return route ? { weight: route.weight, weightSource: route.weightSource, killed: route.killed } : { weight: 0, weightSource: 'config', killed: false };
    }
    setStaleFallback(routeName, on) {
        if (on === this.#staleFallback.has(routeName))
            return;
        if (on)
            this.#staleFallback.add(routeName);
        else
            this.#staleFallback.delete(routeName);
        void this.#swap(this.#build());
    }
    get staleFallbacks() {
        return this.#staleFallback;
    }
    #build() {
        this.#generation++;
        const weights = {};
        const killed = new Set(this.#staleFallback);
        const stages = {};
        for (const [name, entry] of Object.entries(this.#state.routes)) {
            if (entry.weight !== undefined)
                weights[name] = { weight: entry.weight, source: entry.weightSource ?? 'operator' };
            if (entry.killed)
                killed.add(name);
            if (entry.stage !== undefined)
                stages[name] = entry.stage;
        }
        const flags = this.#flagsInForce();
        const runtime = { weights, killed, stages, ...(Object.keys(flags).length === 0 ? {} : { flags }) };
        this.#runtime = runtime;
        const table = activateTable(this.#config, this.#generation, runtime, this.#deps.pools, this.#deps.metrics, this.#deps.mirror, this.#deps.series);
        this.#deps.metrics.configInfo.reset();
        this.#deps.metrics.configInfo.set({ generation: String(this.#generation), hash: this.#configHash }, 1);
        return table;
    }
    #swap(next) {
        if (this.#store === null)
            throw new Error('controller is not attached to a table store');
        this.#store.swap(next);
        return this.#deps.publisher?.publish({ generation: next.generation, config: next.config, runtime: this.#runtime }) ?? null;
    }
}
function sameAddress(a, b) {
    return a.host === b.host && a.port === b.port;
}
function weakenedAdminRules(bound, next) {
    if (isLoopback(bound.host) || next.admin.token)
        return [];
    const address = bound.host.includes(':') ? `[${bound.host}]:${bound.port}` : `${bound.host}:${bound.port}`;
    return [
        `admin.token: is required: the admin listener is bound to ${address}, not a loopback address, ` +
            'until the next restart (admin.listen changes take effect only then)',
    ];
}
function restartOnlyChanges(previous, next) {
    const warnings = [];
    if (!sameAddress(previous.listen, next.listen))
        warnings.push('listen changed: takes effect at the next restart');
    if (!sameAddress(previous.admin.listen, next.admin.listen))
        warnings.push('admin.listen changed: takes effect at the next restart');
    if (previous.state.file !== next.state.file)
        warnings.push('state.file changed: takes effect at the next restart');
    if (previous.watch !== next.watch)
        warnings.push('watch changed: takes effect at the next restart');
    if (previous.workers !== next.workers)
        warnings.push('workers changed: takes effect at the next restart');
    if (stableStringify(previous.fleet ?? null) !== stableStringify(next.fleet ?? null))
        warnings.push('fleet changed: takes effect at the next restart');
    return warnings;
}
//# sourceMappingURL=controller.js.map