/**
 * The routing table in force, with everything a request needs bound to it (pools, metric series, timeouts).
 * A request reads `store.current` once and uses that object to the end, so a swap mid-request never mixes two
 * tables. Swapping is a single assignment.
 */
import type { Config } from '../config/schema.js';
import { VersionSeries, type Metrics } from '../metrics/metrics.js';
import { resolveTimeouts, type Upstream, type UpstreamPools } from '../proxy/upstream-pools.js';
import { compileTable, type RoutingTable, type RuntimeOverrides, type Version } from '../routing/table.js';

export interface BackendBinding {
  readonly version: Version;
  readonly upstream: Upstream;
  readonly series: VersionSeries;
  readonly headersTimeout: number;
  readonly bodyTimeout: number;
}

export interface RouteBinding {
  readonly stable: BackendBinding;
  readonly canary: BackendBinding | null;
}

export interface ActiveTable {
  readonly generation: number;
  readonly config: Config;
  readonly table: RoutingTable;
  /** Indexed like `table.routes`. */
  readonly bindings: readonly RouteBinding[];
  /** Where requests that match no route are counted. */
  readonly unmatched: VersionSeries;
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
): ActiveTable {
  const table = compileTable(config, generation, runtime);
  const bindings = table.routes.map((route, index): RouteBinding => {
    const routeConfig = config.routes[index];
    const bind = (version: Version, upstreamName: string): BackendBinding => {
      const upstream = pools.get(upstreamName);
      if (!upstream) throw new Error(`upstream ${upstreamName} has no pool`);
      const timeouts = resolveTimeouts(config.timeouts, config.upstreams[upstreamName].timeouts, routeConfig.timeouts);
      return {
        version,
        upstream,
        series: new VersionSeries(metrics, route.name, version),
        headersTimeout: timeouts.headers,
        bodyTimeout: timeouts.body,
      };
    };
    return {
      stable: bind('stable', route.upstreams.stable!),
      canary: route.upstreams.canary === null ? null : bind('canary', route.upstreams.canary),
    };
  });
  for (const route of table.routes) metrics.routeWeight.set({ route: route.name }, route.killed ? 0 : route.weight);
  metrics.configGeneration.set(generation);
  return Object.freeze({ generation, config, table, bindings, unmatched: new VersionSeries(metrics, '_unmatched', 'none') });
}
