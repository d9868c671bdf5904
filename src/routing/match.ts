/**
 * Which route serves a request: the first route, in config order, whose host and path prefix both match.
 * Host comparison ignores case and port (RFC 9110 §4.2.3); path prefixes are plain string prefixes, as in
 * Envoy's `prefix` and NGINX's `location /prefix`.
 */
import type { CompiledRoute, RoutingTable } from './table.js';

export function matchRoute(table: RoutingTable, hostHeader: string | undefined, path: string): CompiledRoute | undefined {
  const host = hostHeader === undefined || !table.matchesHost ? '' : normalizeHost(hostHeader);
  const routes = table.routes;
  for (let i = 0; i < routes.length; i++) {
    const route = routes[i];
    if (route.host !== null && route.host !== host) continue;
    if (route.hostSuffix !== null && !(host.endsWith(route.hostSuffix) && host.length > route.hostSuffix.length)) continue;
    if (!path.startsWith(route.pathPrefix)) continue;
    return route;
  }
  return undefined;
}

/** `API.Example.com:8080` → `api.example.com`; `[::1]:8080` → `[::1]`. */
export function normalizeHost(hostHeader: string): string {
  let end = hostHeader.length;
  const colon = hostHeader.lastIndexOf(':');
  if (colon !== -1 && hostHeader.indexOf(']', colon) === -1) end = colon;
  const host = end === hostHeader.length ? hostHeader : hostHeader.slice(0, end);
  for (let i = 0; i < host.length; i++) {
    const c = host.charCodeAt(i);
    if (c >= 65 && c <= 90) return host.toLowerCase();
  }
  return host;
}
