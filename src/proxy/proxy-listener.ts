/**
 * The proxy listener around a ProxyService, and its drain: shared by the single process (splitgate.ts) and by each
 * worker of a supervisor (cluster/worker.ts), so both stop exactly alike.
 */
import { createServer, type Server } from 'node:http';
import type { Logger } from '../log.js';
import type { ProxyService } from './service.js';
import { isWebSocketUpgrade, replayAsRequest } from './upgrade.js';

export function createProxyServer(service: ProxyService): Server {
  const proxyServer = createServer({ keepAliveTimeout: 65_000 }, (req, res) => service.handle(req, res));
  proxyServer.on('upgrade', (req, socket, head) => {
    // node:http hands over every upgrade request; only WebSocket handshakes are upgrades here (see replayAsRequest).
    if (isWebSocketUpgrade(req)) service.handleUpgrade(req, socket, head);
    else replayAsRequest(proxyServer, req, socket, head);
  });
  return proxyServer;
}

export interface DrainResult {
  /** False when the drain timeout closed exchanges still in flight. */
  readonly drained: boolean;
  readonly inFlightAtStop: number;
}

/** Refuses new connections, lets in-flight exchanges finish for up to `drainTimeoutMs`, then closes what is left. */
export async function drainProxy(proxyServer: Server, service: ProxyService, drainTimeoutMs: number, logger: Logger): Promise<DrainResult> {
  service.startDraining();
  const closed = new Promise<void>((resolve) => proxyServer.close(() => resolve()));
  proxyServer.closeIdleConnections();
  const inFlight = service.inFlight;
  let timer: NodeJS.Timeout | undefined;
  const drained = await Promise.race([
    service.idle().then(() => true),
    new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), drainTimeoutMs);
    }),
  ]);
  clearTimeout(timer);
  if (!drained) logger.warn({ inFlight: service.inFlight, drainTimeoutMs }, 'drain timeout: closing remaining connections');
  proxyServer.closeAllConnections();
  service.closeUpgraded();
  await closed;
  return { drained, inFlightAtStop: inFlight };
}

export function listenOn(server: Server, options: { host: string; port: number; reusePort?: boolean; exclusive?: boolean }): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error): void => reject(error);
    server.once('error', onError);
    server.listen(options, () => {
      server.off('error', onError);
      resolve();
    });
  });
}
