/**
 * The routing table in force, with everything a request needs bound to it (pools, metric series, timeouts).
 * A request reads `store.current` once and uses that object to the end, so a swap mid-request never mixes two
 * tables. Swapping is a single assignment.
 */
import type { Config } from '../config/schema.js';
import type { Logger } from '../log.js';
import type { Metrics, SeriesBook, VersionSeries } from '../metrics/metrics.js';
import { compileMirrorSettings, RouteMirror } from '../mirror/mirror.js';
import type { MirrorBook } from '../mirror/mirror-records.js';
import { resolveTimeouts, type Upstream, type UpstreamPools } from '../proxy/upstream-pools.js';
import { HeaderNameIndex } from '../proxy/request-head.js';
import { compileErrorStatuses, SERVER_ERROR_STATUSES } from '../metrics/sli-errors.js';
import type { JwtVerifier, VerifierDeps } from '../auth/jwt-verifier.js';
import { compileTable, type CompiledRoute, type RoutingTable, type RuntimeOverrides, type Version } from '../routing/table.js';

export interface BackendBinding {
  readonly version: Version;
  readonly upstream: Upstream;
  readonly series: VersionSeries;
  readonly headersTimeout: number;
  readonly bodyTimeout: number;
  /** Client-side timeouts in ms (0 = off), layered like the others; see proxy/timeout-sweep.ts. */
  readonly sendTimeout: number;
  readonly clientBodyTimeout: number;
  readonly queueTimeout: number;
}

export interface RouteBinding {
  readonly stable: BackendBinding;
  readonly canary: BackendBinding | null;
  /** Null when the route does not mirror (or mirrors 0 %). */
  readonly mirror: RouteMirror | null;
  /** Verifies the request's JWT when the route reads claims (`route.readsClaims`); null otherwise. */
  readonly claims: JwtVerifier | null;
}

/** What mirroring needs from the running instance. */
export interface MirrorDeps {
  readonly book: MirrorBook;
  readonly logger: Logger;
  readonly random: () => number;
}

export interface ActiveTable {
  readonly generation: number;
  readonly config: Config;
  readonly table: RoutingTable;
  /** Indexed like `table.routes`. */
  readonly bindings: readonly RouteBinding[];
  /** Where requests that match no route are counted. */
  readonly unmatched: VersionSeries;
  /** Where OFREP requests are counted (route `_ofrep`); null when OFREP is off. */
  readonly ofrep: VersionSeries | null;
  /** The header names the request pass treats specially, this table's routing names among them. */
  readonly headerNames: HeaderNameIndex;
}

export class TableStore {
  #current: ActiveTable;

  constructor(initial: ActiveTable) {
    this.#current = initial;
  }

  get current(): ActiveTable {
    return this.#current;
  }

  swap(next: ActiveTable): ActiveTable {
    const previous = this.#current;
    this.#current = next;
    return previous;
  }
}

/** Compiles `config` and binds it to live pools and metric series. Pools must already reflect `config`. */
export function activateTable(
  config: Config,
  generation: number,
  runtime: RuntimeOverrides,
  pools: UpstreamPools,
  metrics: Metrics,
  mirrorDeps: MirrorDeps,
  series: SeriesBook,
): ActiveTable {
  const table = compileTable(config, generation, runtime, pools.guards, metrics.flagCounts);
  pools.guards.retain(new Set(table.routes.map((route) => route.guard).filter((guard) => guard !== null)));
  const verifierDeps: VerifierDeps = {
    warn: (fields, message) => mirrorDeps.logger.warn(fields, message),
    count: (result) => metrics.jwtCounts.set(result, (metrics.jwtCounts.get(result) ?? 0) + 1),
  };
  const verifiers = table.routes.map((route) => (route.jwt === null ? null : pools.verifiers.verifierFor(route.jwt, verifierDeps)));
  pools.verifiers.retain(new Set(verifiers.filter((verifier) => verifier !== null)));
  const bindings = table.routes.map((route, index): RouteBinding => {
    const routeConfig = config.routes[index];
    const bind = (version: Version, upstreamName: string): BackendBinding => {
      const upstream = pools.get(upstreamName);
      if (!upstream) throw new Error(`upstream ${upstreamName} has no pool`);
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
      stable: bind('stable', route.upstreams.stable!),
      canary: route.upstreams.canary === null ? null : bind('canary', route.upstreams.canary),
      claims: verifiers[index],
      // A killed route stops mirroring too: the kill switch means "only stable, nothing else".
      mirror: routeConfig.mirror && routeConfig.mirror.percent > 0 && !route.killed ? bindMirror(routeConfig.mirror, route.name, route.salt.salt, routeConfig.stable, pools, mirrorDeps, secretHeaders(route)) : null,
    };
  });
  for (const [index, binding] of bindings.entries()) {
    // Set once nothing can fail any more: a rejected table leaves the counting as it was.
    const selector = config.routes[index].slo?.sli?.errors;
    const statuses = selector === undefined ? SERVER_ERROR_STATUSES : compileErrorStatuses(selector);
    for (const backend of [binding.stable, binding.canary]) if (backend !== null) backend.series.sloErrorStatuses = statuses;
  }
  for (const route of table.routes) metrics.routeWeight.set({ route: route.name }, route.killed ? 0 : route.weight);
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

/** Request headers that carry a route's secret: its override header when the overrides have one. */
function secretHeaders(route: CompiledRoute): string[] {
  return route.overrideSecret !== null && route.overrideHeader !== null ? [route.overrideHeader] : [];
}

function bindMirror(
  config: NonNullable<Config['routes'][number]['mirror']>,
  routeName: string,
  salt: string,
  stableName: string,
  pools: UpstreamPools,
  deps: MirrorDeps,
  secretRequestHeaders: readonly string[],
): RouteMirror {
  const shadow = pools.getForMirror(config.to);
  if (!shadow) throw new Error(`mirror upstream ${config.to} has no pool`);
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
