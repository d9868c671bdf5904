/**
 * Which route serves a request: the first route, in config order, whose host and path prefix both match.
 * Host comparison ignores case, port and a trailing dot (RFC 9110 §4.2.3; `example.com.` is the same name, as NGINX
 * reads it); path prefixes are string prefixes of the path as an origin server resolves it (routing/path.ts), or of
 * the bytes as received with `pathMatching: raw` (Envoy's default `prefix`).
 */
import { matchablePath } from './path.js';
import type { CompiledRoute, RoutingTable } from './table.js';

export function matchRoute(table: RoutingTable, hostHeader: string | undefined, target: string): CompiledRoute | undefined {
  const host = hostHeader === undefined || !table.matchesHost ? '' : normalizeHost(hostHeader);
  const normalized = table.normalizesPaths;
  const path = normalized ? matchablePath(target) : target;
  const routes = table.routes;
  for (let i = 0; i < routes.length; i++) {
    const route = routes[i];
    if (route.host !== null && route.host !== host) continue;
    if (route.hostSuffix !== null && !(host.endsWith(route.hostSuffix) && host.length > route.hostSuffix.length)) continue;
    if (!path.startsWith(normalized ? route.matchablePrefix : route.pathPrefix)) continue;
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
