/**
 * Which route serves a request: the first route, in config order, whose host and path prefix both match.
 * Host comparison ignores case, port and a trailing dot (RFC 9110 §4.2.3; `example.com.` is the same name, as NGINX
 * reads it). Path prefixes are string prefixes; with `pathMatching: normalized` (the default) a path that servers
 * could read differently must pick the same route read as sent and read the broadest way, or the request is
 * AMBIGUOUS_PATH (routing/path.ts). With `pathMatching: raw`, the bytes as received only (Envoy's default `prefix`).
 */
import { readPath } from './path.js';
import type { CompiledRoute, RoutingTable } from './table.js';

/** A path servers may read as another route (or none): refused, never guessed. */
export const AMBIGUOUS_PATH: unique symbol = Symbol('ambiguous path');

export function matchRoute(table: RoutingTable, hostHeader: string | undefined, target: string): CompiledRoute | typeof AMBIGUOUS_PATH | undefined {
  const host = hostHeader === undefined || !table.matchesHost ? '' : normalizeHost(hostHeader);
  const route = firstMatch(table.routes, host, target);
  if (!table.normalizesPaths) return route;
  const reading = readPath(target);
  if (reading === null) return route;
  if (reading === 'ambiguous' || firstMatch(table.routes, host, reading.broadest) !== route) return AMBIGUOUS_PATH;
  return route;
}

function firstMatch(routes: readonly CompiledRoute[], host: string, path: string): CompiledRoute | undefined {
  for (let i = 0; i < routes.length; i++) {
    const route = routes[i];
    if (route.host !== null && route.host !== host) continue;
    if (route.hostSuffix !== null && !(host.endsWith(route.hostSuffix) && host.length > route.hostSuffix.length)) continue;
    if (!path.startsWith(route.pathPrefix)) continue;
    return route;
  }
  return undefined;
}

/** `API.Example.com:8080` → `api.example.com`; `[::1]:8080` → `[::1]`; `example.com.` → `example.com`. */
export function normalizeHost(hostHeader: string): string {
  let end = hostHeader.length;
  const colon = hostHeader.lastIndexOf(':');
  if (colon !== -1 && hostHeader.indexOf(']', colon) === -1) end = colon;
  if (end > 1 && hostHeader.charCodeAt(end - 1) === 46) end--;
  const host = end === hostHeader.length ? hostHeader : hostHeader.slice(0, end);
  for (let i = 0; i < host.length; i++) {
    const c = host.charCodeAt(i);
    if (c >= 65 && c <= 90) return host.toLowerCase();
  }
  return host;
}
