/**
 * One in-process splitgate's rollout side, for runner tests on a controllable clock: a controller (on a state file or
 * none), its table, and a RolloutManager synced to the config. The runners' own timers run with the config's
 * intervals; tests that want full control set a long interval and call `tick()`.
 */
import { Writable } from 'node:stream';
import { Registry } from 'prom-client';
import { validateConfig } from '../../src/config/load.js';
import { Controller } from '../../src/control/controller.js';
import { EventLog } from '../../src/control/event-log.js';
import { StateFile } from '../../src/control/state-file.js';
import { createLogger } from '../../src/log.js';
import { createMetrics, SeriesBook } from '../../src/metrics/metrics.js';
import type { SloLedgerBook } from '../../src/metrics/slo-ledger.js';
import { MirrorBook } from '../../src/mirror/mirror-records.js';
import { UpstreamPools } from '../../src/proxy/upstream-pools.js';
import { RolloutManager } from '../../src/rollout/rollout-manager.js';
import type { RolloutFleet } from '../../src/rollout/rollout-runner.js';
import { TableStore } from '../../src/state/table-store.js';

export const silentLogger = createLogger({ level: 'silent', destination: new Writable({ write: (_c, _e, cb) => cb() }) });

export interface RolloutHarnessOptions {
  readonly now: () => number;
  readonly statePath?: string;
  readonly fleet?: RolloutFleet;
  readonly sloLedgers?: SloLedgerBook;
}

export async function startRolloutHarness(raw: unknown, options: RolloutHarnessOptions) {
  const config = validateConfig(raw);
  const metrics = createMetrics(new Registry(), { processMetrics: false });
  const pools = new UpstreamPools();
  pools.update(config);
  const series = new SeriesBook(metrics);
  const mirrors = new MirrorBook(metrics);
  const events = new EventLog();
  const logger = silentLogger;
  const stateFile = options.statePath === undefined ? null : new StateFile(options.statePath);
  const controller = new Controller({ config, configPath: null, pools, metrics, series, mirror: { book: mirrors, logger, random: Math.random }, events, stateFile, logger });
  const store = new TableStore(await controller.initialTable());
  controller.attach(store);
  const manager = new RolloutManager({
    controller,
    store,
    series,
    mirrors,
    metrics,
    events,
    logger,
    now: () => new Date(options.now()),
    ...(options.fleet ? { fleet: options.fleet } : {}),
    ...(options.sloLedgers ? { sloLedgers: options.sloLedgers } : {}),
  });
  await manager.sync(config);
  return {
    config,
    metrics,
    series,
    mirrors,
    events,
    controller,
    store,
    manager,
    runner: (route: string) => manager.get(route)!,
    async close(): Promise<void> {
      await manager.stop();
      await pools.close();
    },
  };
}
