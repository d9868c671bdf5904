/**
 * A Controller with its table store, in the test process: real pools (closed after each test by `closeControllers`),
 * metrics on a fresh registry, a silent logger. No listener, no process.
 */
import { Writable } from 'node:stream';
import { Registry } from 'prom-client';
import { validateConfig } from '../../src/config/load.js';
import { Controller } from '../../src/control/controller.js';
import { EventLog } from '../../src/control/event-log.js';
import type { StateFile } from '../../src/control/state-file.js';
import type { StateAuthority } from '../../src/fleet/state-authority.js';
import { createLogger } from '../../src/log.js';
import { createMetrics, SeriesBook } from '../../src/metrics/metrics.js';
import { MirrorBook } from '../../src/mirror/mirror-records.js';
import { UpstreamPools } from '../../src/proxy/upstream-pools.js';
import { TableStore } from '../../src/state/table-store.js';

const opened: UpstreamPools[] = [];

export interface ControllerOptions {
  readonly stateFile?: StateFile | null;
  readonly configPath?: string;
  readonly authority?: StateAuthority;
}

export async function startController(raw: Record<string, unknown>, options: ControllerOptions = {}) {
  const config = validateConfig(raw);
  const metrics = createMetrics(new Registry(), { processMetrics: false });
  const pools = new UpstreamPools();
  opened.push(pools);
  pools.update(config);
  const events = new EventLog();
  const logger = createLogger({ level: 'silent', destination: new Writable({ write: (_c, _e, cb) => cb() }) });
  const controller = new Controller({
    config,
    configPath: options.configPath ?? null,
    pools,
    metrics,
    series: new SeriesBook(metrics),
    mirror: { book: new MirrorBook(metrics), logger, random: Math.random },
    events,
    stateFile: options.stateFile ?? null,
    logger,
    ...(options.authority === undefined ? {} : { authority: options.authority }),
  });
  const store = new TableStore(await controller.initialTable());
  controller.attach(store);
  return { controller, store, events, metrics };
}

/** For afterEach: closes the pools of every controller started so far. */
export async function closeControllers(): Promise<void> {
  await Promise.all(opened.splice(0).map((pools) => pools.close()));
}
