import { Counter, Gauge } from 'prom-client';
export function listenerSourceOf(server, service) {
    return {
        connections: () => new Promise((resolve) => server.getConnections((error, count) => resolve(error ? 0 : count))),
        rejections: () => service.rejections.counts,
        upgrades: () => service.upgrades.values(),
    };
}
export function registerListenerMetrics(registry, source) {
    const registers = [registry];
    new Gauge({
        name: 'splitgate_client_connections',
        help: 'Open client connections on the proxy listener (upgraded ones included).',
        registers,
        async collect() {
            this.set(await source.connections());
        },
    });
    new Counter({
        name: 'splitgate_client_rejections_total',
        help: 'Client connections and requests refused by an overload limit or the HTTP parser, by reason.',
        labelNames: ['reason'],
        registers,
        collect() {
            this.reset();
            for (const [reason, count] of source.rejections())
                this.inc({ reason }, count);
        },
    });
    new Gauge({
        name: 'splitgate_websocket_connections',
        help: 'Upgraded (WebSocket) connections open now, by route and version.',
        labelNames: ['route', 'version'],
        registers,
        collect() {
            this.reset();
            for (const counts of source.upgrades())
                this.set({ route: counts.route, version: counts.version }, counts.open);
        },
    });
    new Counter({
        name: 'splitgate_websocket_connections_closed_total',
        help: 'Upgraded (WebSocket) connections that have closed, by route and version.',
        labelNames: ['route', 'version'],
        registers,
        collect() {
            this.reset();
            for (const counts of source.upgrades())
                this.inc({ route: counts.route, version: counts.version }, counts.closed);
        },
    });
    new Counter({
        name: 'splitgate_websocket_bytes_total',
        help: 'Bytes through closed upgraded connections: direction "in" from the client, "out" to it.',
        labelNames: ['route', 'version', 'direction'],
        registers,
        collect() {
            this.reset();
            for (const counts of source.upgrades()) {
                this.inc({ route: counts.route, version: counts.version, direction: 'in' }, counts.bytesIn);
                this.inc({ route: counts.route, version: counts.version, direction: 'out' }, counts.bytesOut);
            }
        },
    });
    new Counter({
        name: 'splitgate_websocket_duration_seconds_total',
        help: 'Total lifetime of closed upgraded connections, in seconds (divide by the closed count for the mean).',
        labelNames: ['route', 'version'],
        registers,
        collect() {
            this.reset();
            for (const counts of source.upgrades())
                this.inc({ route: counts.route, version: counts.version }, counts.seconds);
        },
    });
}
//# sourceMappingURL=listener-metrics.js.map