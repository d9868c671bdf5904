/**
 * The messages between a supervisor and its workers over node:cluster's IPC channel (serialization "advanced", so
 * a config and a runtime Set cross as they are). Nothing here is per request: tables go down when the supervisor
 * changes them, acks and counters come up.
 */
import type { TableGeneration } from '../control/controller.js';
import type { CounterDeltas } from '../metrics/series-delta.js';

export interface ListenPlan {
  readonly host: string;
  readonly port: number;
  /** Bind the port in the worker with SO_REUSEPORT (Node >= 22.12); otherwise node:cluster shares the primary's. */
  readonly reusePort: boolean;
  /**
   * node:cluster only: the config says port 0 and `port` is what the first worker got, so the primary may still
   * hold it as its port-0 listener (which a bind by number collides with, and a bind to 0 joins).
   */
  readonly portZeroShared?: boolean;
}

/** A canary another worker ejected: held ejected until `untilMs` (epoch ms); it was ejected for `ejectionMs`. */
export interface EjectionHold {
  readonly route: string;
  readonly upstream: string;
  readonly untilMs: number;
  readonly ejectionMs: number;
}

export type ToWorker =
  /**
   * First message: build the table, hold the ejections in force on the machine, then listen (so that no connection
   * comes in before the holds do).
   */
  | { readonly type: 'init'; readonly table: TableGeneration; readonly listen: ListenPlan; readonly holds: readonly EjectionHold[] }
  /** A new table to put in force; answered with `ack`. */
  | { readonly type: 'table'; readonly table: TableGeneration }
  /** Counters wanted now (a scrape or a rollout window); answered with `collected`. */
  | { readonly type: 'collect'; readonly seq: number }
  /** Stop accepting, finish in-flight exchanges within `timeoutMs`, exit 0. */
  | { readonly type: 'drain'; readonly timeoutMs: number }
  /** Another worker ejected a canary just now: hold it ejected here too. */
  | ({ readonly type: 'eject' } & EjectionHold);

export interface WorkerEvent {
  readonly action: string;
  readonly route: string;
  readonly message: string;
  readonly after: Record<string, unknown>;
}

export interface WorkerCounters {
  /** Responses this worker has counted since it started. */
  readonly requests: number;
}

export type FromWorker =
  /** The worker listens for messages (anything sent before is lost): the supervisor sends `init`. */
  | { readonly type: 'ready' }
  | { readonly type: 'listening'; readonly port: number; readonly generation: number }
  | { readonly type: 'ack'; readonly generation: number }
  /** What the worker counted since its previous take (null: nothing), answering `collect`. */
  | { readonly type: 'collected'; readonly seq: number; readonly counters: WorkerCounters; readonly deltas: CounterDeltas | null }
  /** The same, unasked: about once a second while there is traffic, and once more after a drain. */
  | { readonly type: 'deltas'; readonly deltas: CounterDeltas }
  /** Something the supervisor's event log should record (an outlier ejection or restoration seen here). */
  | { readonly type: 'event'; readonly event: WorkerEvent }
  /** The worker cannot serve (bad table, listen error); it exits after sending this. */
  | { readonly type: 'failed'; readonly message: string };

export function isFromWorker(message: unknown): message is FromWorker {
  return typeof message === 'object' && message !== null && typeof (message as { type?: unknown }).type === 'string';
}

/** Node >= 22.12 (and 23.1+) accepts `reusePort` in `server.listen`. */
export function supportsReusePort(version: string = process.versions.node): boolean {
  const [major, minor] = version.split('.').map(Number);
  return major > 23 || (major === 23 && minor >= 1) || (major === 22 && minor >= 12);
}

export function isToWorker(message: unknown): message is ToWorker {
  return typeof message === 'object' && message !== null && typeof (message as { type?: unknown }).type === 'string';
}
