export function matchRoute(table, hostHeader, path) {
    const host = hostHeader === undefined || !table.matchesHost ? '' : normalizeHost(hostHeader);
    const routes = table.routes;
    for (let i = 0; i < routes.length; i++) {
        const route = routes[i];
        if (route.host !== null && route.host !== host)
            continue;
        if (route.hostSuffix !== null && !(host.endsWith(route.hostSuffix) && host.length > route.hostSuffix.length))
            continue;
        if (!path.startsWith(route.pathPrefix))
            continue;
        return route;
    }
    return undefined;
}
export function normalizeHost(hostHeader) {
    let end = hostHeader.length;
    const colon = hostHeader.lastIndexOf(':');
    if (colon !== -1 && hostHeader.indexOf(']', colon) === -1)
        end = colon;
    const host = end === hostHeader.length ? hostHeader : hostHeader.slice(0, end);
    for (let i = 0; i < host.length; i++) {
        const c = host.charCodeAt(i);
        if (c >= 65 && c <= 90)
            return host.toLowerCase();
    }
    return host;
}
//# sourceMappingURL=match.js.map