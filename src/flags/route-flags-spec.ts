/**
 * A route's flags settings with the top-level ones merged in, and the flags header names in use: what the routing
 * table needs from the config's flags blocks. Kept apart from flags-config.ts (which reads the definitions file
 * and parses YAML) so a worker, which compiles tables but never loads a config, does not load those.
 */
import type { Config, RouteConfig } from '../config/schema.js';
import type { RouteFlagsSpec } from './route-flags.js';

/** The flags settings of one route, global ones merged in; null when the route sends no flags. */
export function routeFlagsSpec(config: Config, route: RouteConfig): RouteFlagsSpec | null {
  const flags = config.flags;
  if (flags === undefined || route.flags === false) return null;
  const own = route.flags;
  return {
    header: own?.header ?? flags.header,
    select: own?.select ?? 'all',
    context: { ...flags.context, ...(own?.context ?? {}) },
    // A config built without the schema (no defaults applied) gets the default size.
    memoSize: flags.memo?.size,
  };
}

/** Every flags header name some route sends: client copies of these are dropped on every route. */
export function flagsHeaderNames(config: Config): string[] {
  const names = new Set<string>();
  for (const route of config.routes) {
    const spec = routeFlagsSpec(config, route);
    if (spec !== null) names.add(spec.header);
  }
  if (config.flags) names.add(config.flags.header);
  return [...names];
}
