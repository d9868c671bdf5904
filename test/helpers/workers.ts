/**
 * Reading a supervisor (`workers` > 1) from the outside, for integration tests: its workers as /status lists them,
 * how many requests each served, request totals in an exposition, and whether a pid still runs.
 */
import { send, waitFor } from './http.js';

export interface WorkerView {
  slot: number;
  pid: number;
  generation: number;
  listening: boolean;
  restarts: number;
  requests: number;
  rssBytes: number | null;
}

export interface SupervisorStatus {
  generation: number;
  listening?: string;
  /** The proxy port the workers serve. */
  port?: number;
  workers?: WorkerView[];
  /** The loaded idle worker that replaces the next one to exit. */
  sparePid?: number | null;
  /** The process serving /status (src/process-footprint.ts). */
  process: { rssBytes: number; heapBytes: number; youngGenerationBytes: number; youngGenerationHeld: boolean; optimizingCompilers: boolean };
}

export async function supervisorStatus(adminUrl: string): Promise<SupervisorStatus> {
  return (await send(adminUrl, '/status')).json();
}

/** Requests each worker has served so far, by pid. */
export function requestsPerWorker(workers: readonly WorkerView[]): Map<number, number> {
  return new Map(workers.map((w) => [w.pid, w.requests]));
}

/** What each worker listed in `after` served since `before` (a worker absent before counts from 0). */
export function servedSince(before: ReadonlyMap<number, number>, after: readonly WorkerView[]): number[] {
  return after.map((w) => w.requests - (before.get(w.pid) ?? 0));
}

/** Sum of http_requests_total over every series in a Prometheus exposition. */
export function requestsTotal(exposition: string): number {
  let total = 0;
  for (const line of exposition.split('\n')) if (line.startsWith('http_requests_total{')) total += Number(line.slice(line.lastIndexOf(' ') + 1));
  return total;
}

/** True once every worker listens and has confirmed the supervisor's generation. */
export function allConfirmed(view: SupervisorStatus): boolean {
  return view.workers !== undefined && view.workers.every((w) => w.listening && w.generation === view.generation);
}

export function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * A config for a spawned splitgate with `workers` processes: free ports, no config watch, no state file, info logs
 * (spawnSplitgate reads the bound addresses from the `splitgate listening` line) without access log; `rest` adds
 * upstreams, routes and the like.
 */
export function spawnedConfig(workers: number, rest: Record<string, unknown>): Record<string, unknown> {
  return {
    listen: '127.0.0.1:0',
    admin: { listen: '127.0.0.1:0' },
    workers,
    watch: false,
    state: { file: false },
    log: { level: 'info', accessLog: { enabled: false } },
    ...rest,
  };
}

/**
 * Reads `read` until `accept` holds, for up to 3 s, and returns the last value for the caller to assert on. A
 * scrape waits only 200 ms for each worker's counts (COLLECT_TIMEOUT_MS), so on a loaded machine a slow worker's
 * are left out of one read; its late answer is applied, and a later read has it. A count that is wrong for good
 * still fails the caller's assertion after the 3 s.
 */
export async function countsSettled<T>(read: () => Promise<T>, accept: (value: T) => boolean): Promise<T> {
  let last!: T;
  await waitFor("the workers' counts", async () => accept((last = await read())), 3_000).catch(() => {});
  return last;
}
