import { compileMirrorSettings, RouteMirror } from '../mirror/mirror.js';
import { resolveTimeouts } from '../proxy/upstream-pools.js';
import { HeaderNameIndex } from '../proxy/request-head.js';
import { compileErrorStatuses, SERVER_ERROR_STATUSES } from '../metrics/sli-errors.js';
import { compileTable } from '../routing/table.js';
export class TableStore {
    #current;
    constructor(initial) {
        this.#current = initial;
    }
    get current() {
        return this.#current;
    }
    swap(next) {
        const previous = this.#current;
        this.#current = next;
        return previous;
    }
}
export function activateTable(config, generation, runtime, pools, metrics, mirrorDeps, series) {
    const table = compileTable(config, generation, runtime, pools.guards, metrics.flagCounts);
    pools.guards.retain(new Set(table.routes.map((route) => route.guard).filter((guard) => guard !== null)));
    const verifierDeps = {
        warn: (fields, message) => mirrorDeps.logger.warn(fields, message),
        count: (result) => metrics.jwtCounts.set(result, (metrics.jwtCounts.get(result) ?? 0) + 1),
    };
    const verifiers = table.routes.map((route) => (route.jwt === null ? null : pools.verifiers.verifierFor(route.jwt, verifierDeps)));
    pools.verifiers.retain(new Set(verifiers.filter((verifier) => verifier !== null)));
    const bindings = table.routes.map((route, index) => {
        const routeConfig = config.routes[index];
        const bind = (version, upstreamName) => {
            const upstream = pools.get(upstreamName);
            if (!upstream)
                throw new Error(`upstream ${upstreamName} has no pool`);
            const timeouts = resolveTimeouts(config.timeouts, config.upstreams[upstreamName].timeouts, routeConfig.timeouts);
            return {
                version,
                upstream,
                series: series.get(route.name, version),
                headersTimeout: timeouts.headers,
                bodyTimeout: timeouts.body,
                sendTimeout: timeouts.send,
                clientBodyTimeout: timeouts.clientBody,
                queueTimeout: timeouts.queue,
            };
        };
        return {
            stable: bind('stable', route.upstreams.stable),
            canary: route.upstreams.canary === null ? null : bind('canary', route.upstreams.canary),
            claims: verifiers[index],
            mirror: routeConfig.mirror && routeConfig.mirror.percent > 0 && !route.killed ? bindMirror(routeConfig.mirror, route.name, route.salt.salt, routeConfig.stable, pools, mirrorDeps, secretHeaders(route)) : null,
        };
    });
    for (const [index, binding] of bindings.entries()) {
        const selector = config.routes[index].slo?.sli?.errors;
        const statuses = selector === undefined ? SERVER_ERROR_STATUSES : compileErrorStatuses(selector);
        for (const backend of [binding.stable, binding.canary])
            if (backend !== null)
                backend.series.sloErrorStatuses = statuses;
    }
    for (const route of table.routes)
        metrics.routeWeight.set({ route: route.name }, route.killed ? 0 : route.weight);
    metrics.configGeneration.set(generation);
    return Object.freeze({
        generation,
        config,
        table,
        bindings,
        unmatched: series.get('_unmatched', 'none'),
        ofrep: table.ofrep === null ? null : series.get('_ofrep', 'none'),
        headerNames: new HeaderNameIndex(table.headerNames, table.flagsHeaders),
    });
}
function secretHeaders(route) {
    return route.overrideSecret !== null && route.overrideHeader !== null ? [route.overrideHeader] : [];
}
function bindMirror(config, routeName, salt, stableName, pools, deps, secretRequestHeaders) {
    const shadow = pools.getForMirror(config.to);
    if (!shadow)
        throw new Error(`mirror upstream ${config.to} has no pool`);
    const stable = config.diff.noisePercent > 0 ? pools.getForMirror(stableName) : undefined;
    return new RouteMirror({
        settings: compileMirrorSettings(config, salt, secretRequestHeaders),
        records: deps.book.recordsFor(routeName, config.diff.keep),
        shadowPool: shadow.pool,
        stablePool: stable?.pool ?? null,
        logger: deps.logger,
        random: deps.random,
    });
}
//# sourceMappingURL=table-store.js.map