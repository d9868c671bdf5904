/**
 * A running splitgate: the proxy listener, the admin listener, upstream pools and the routing table in force,
 * wired together. `start` listens on both; `stop` drains (stops accepting, lets in-flight exchanges finish within
 * the drain timeout, then closes what is left).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import { createAdminHandler } from './admin/admin-server.js';
import type { Config } from './config/schema.js';
import { AccessLog, createLogger, type Logger } from './log.js';
import { createMetrics, type Metrics } from './metrics/metrics.js';
import { MirrorBook } from './mirror/mirror-records.js';
import { ProxyService } from './proxy/service.js';
import { UpstreamPools } from './proxy/upstream-pools.js';
import type { Entropy } from './routing/context.js';
import { activateTable, TableStore } from './state/table-store.js';

export interface SplitgateOptions {
  readonly config: Config;
  readonly logger?: Logger;
  readonly registry?: Registry;
  readonly entropy?: Entropy;
}

export interface BoundAddress {
  readonly host: string;
  readonly port: number;
  /** `http://host:port`, ready for a client. */
  readonly url: string;
}

export class Splitgate {
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly store: TableStore;
  readonly pools: UpstreamPools;
  readonly service: ProxyService;
  readonly mirrors: MirrorBook;
  readonly #proxyServer: Server;
  readonly #adminServer: Server;
  #ready = false;
  #stopping: Promise<void> | null = null;

  private constructor(options: SplitgateOptions) {
    const config = options.config;
    this.logger = options.logger ?? createLogger({ level: config.log.level });
    this.metrics = createMetrics(options.registry ?? new Registry());
    this.pools = new UpstreamPools();
    this.pools.update(config);
    this.mirrors = new MirrorBook(this.metrics);
    const random = options.entropy?.random ?? Math.random;
    this.store = new TableStore(
      activateTable(config, 1, {}, this.pools, this.metrics, { book: this.mirrors, logger: this.logger, random }),
    );
    this.service = new ProxyService({
      store: this.store,
      accessLog: new AccessLog(this.logger, config.log.accessLog),
      entropy: options.entropy,
    });
    const service = this.service;
    this.#proxyServer = createServer({ keepAliveTimeout: 65_000 }, (req, res) => service.handle(req, res));
    this.#adminServer = createServer(
      createAdminHandler({
        metrics: this.metrics,
        store: this.store,
        mirrors: this.mirrors,
        ready: () => this.#ready && !service.draining,
        startedAt: Date.now(),
      }),
    );
  }

  static async start(options: SplitgateOptions): Promise<Splitgate> {
    const instance = new Splitgate(options);
    const config = options.config;
    try {
      await listen(instance.#proxyServer, config.listen.host, config.listen.port);
      await listen(instance.#adminServer, config.admin.listen.host, config.admin.listen.port);
    } catch (error) {
      instance.#proxyServer.close();
      instance.#adminServer.close();
      await instance.pools.close();
      throw error;
    }
    instance.#ready = true;
    instance.logger.info(
      { listen: instance.proxyAddress.url, admin: instance.adminAddress.url, generation: instance.store.current.generation },
      'splitgate listening',
    );
    return instance;
  }

  get proxyAddress(): BoundAddress {
    return boundAddress(this.#proxyServer);
  }

  get adminAddress(): BoundAddress {
    return boundAddress(this.#adminServer);
  }

  /** Graceful stop: refuse new connections, finish in-flight exchanges for up to `drainTimeoutMs`, close. */
  stop(drainTimeoutMs = this.store.current.config.shutdown.drainTimeout): Promise<void> {
    this.#stopping ??= this.#drainAndClose(drainTimeoutMs);
    return this.#stopping;
  }

  async #drainAndClose(drainTimeoutMs: number): Promise<void> {
    const service = this.service;
    service.startDraining();
    const closed = new Promise<void>((resolve) => this.#proxyServer.close(() => resolve()));
    this.#proxyServer.closeIdleConnections();
    const inFlight = service.inFlight;
    let timer: NodeJS.Timeout | undefined;
    const drained = await Promise.race([
      service.idle().then(() => true),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), drainTimeoutMs);
      }),
    ]);
    clearTimeout(timer);
    if (!drained) this.logger.warn({ inFlight: service.inFlight, drainTimeoutMs }, 'drain timeout: closing remaining connections');
    this.#proxyServer.closeAllConnections();
    await closed;
    await this.pools.close();
    this.#adminServer.closeAllConnections();
    await new Promise<void>((resolve) => this.#adminServer.close(() => resolve()));
    this.logger.info({ drained, inFlightAtStop: inFlight }, 'splitgate stopped');
  }
}

function listen(server: Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error): void => reject(error);
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

function boundAddress(server: Server): BoundAddress {
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const clientHost = host === '0.0.0.0' ? '127.0.0.1' : host === '[::]' ? '[::1]' : host;
  return { host: address.address, port: address.port, url: `http://${clientHost}:${address.port}` };
}
