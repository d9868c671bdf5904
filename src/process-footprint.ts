/**
 * What a supervisor (issue 15's goal: ≤ 60 MB of RSS, ~40 MB of it the node binary's pages that every process on
 * the machine shares) holds back that a proxy must not: the growth of V8's young generation, and, where it is off
 * the connection path, V8's optimizing compilers.
 *
 * The young generation. A supervisor allocates little and at no steady rate (worker deltas once a second, the admin
 * API), yet V8 grows the young generation of any process that once allocated quickly, start-up included (config
 * parsing, compiled tables), up to 32 MB on Node 20, and gives it back only sometimes: under the same load a supervisor
 * sat at 61 or at 69 MB. Held from the first line of `bin.js`, it stays at 2 MB (on a busy Node 24, now and then 4: V8
 * there grows it by more than the factor) and the supervisor at ~61 MB. `--semi-space-growth-factor` is read each time
 * V8 considers growing the young generation, so setting it at run time takes effect (`--max-semi-space-size` does not:
 * it is fixed when the heap is set up); 1 means "grow ×1", never. The single process is released as soon as it knows it
 * is one, and workers are other processes that never hold it: a proxy's young generation must grow, since one of 4 MB
 * cost 7 % CPU per proxied request (loadtest/README.md).
 *
 * The optimizing compilers. TurboFan (and Maglev on Node 22+) are large parts of the node binary: a process that
 * optimizes anything pages them in, ~3.6 MB of RSS on Node 20 and ~8 MB on Node 24 for a supervisor. With
 * `reusePort` (Node ≥ 22.12) a supervisor is on no request's or connection's path, and what it runs (deltas once a
 * second, scrapes, admin calls, rollout checks) needs no optimized code; it then runs its JavaScript in the
 * interpreter and the baseline compiler only. Under `node:cluster` (Node 20) it accepts every client connection
 * and hands it to a worker, which costs it 10–20 % more CPU per connection without them: it holds them while
 * connections come slowly (keep-alive clients open a few and reuse them; the extra cost is then a fraction of a
 * per cent of a core) and gets them back, for good, once they come fast (ConnectionRateWatch). The first request
 * that made anything hot (a /status, a scrape) paged TurboFan in for ~3.5 MB of RSS; held, a Node 20 supervisor
 * serving the admin API stays ~5 MB smaller. A supervisor with A/B experiments keeps them too (from the start, or
 * from the reload that adds the first one): it merges every worker's user events and saves the experiments file,
 * which took 2.4× the time without them (Node 24).
 * The state after a release may differ from V8's defaults in flags that V8 derives from these at start-up; a
 * released single process measured the same CPU per request as one never held (loadtest/README.md).
 *
 * test/process-footprint.test.ts checks that the running V8 honours each setting made at run time.
 */
import { readFileSync } from 'node:fs';
import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';

const FLAG = '--semi-space-growth-factor';
/** V8's default for the flag (Node 20, 22 and 24 alike: `node --v8-options`). */
const V8_DEFAULT_GROWTH_FACTOR = 2;

/** Set on the command line or in NODE_OPTIONS, where the operator's choice wins over splitgate's. */
const COMPILER_FLAGS = ['--turbofan', '--no-turbofan', '--opt', '--no-opt', '--maglev', '--no-maglev', '--jitless', '--lite-mode', '--max-opt', '--always-turbofan'];

let held = false;
let optimizing = true;

function operatorOptions(): string[] {
  return [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)].map((option) => option.replaceAll('_', '-'));
}

/** An operator who set one of `flags` on the command line or in NODE_OPTIONS keeps it: splitgate then leaves it alone. */
function chosenByOperator(flags: readonly string[]): boolean {
  return operatorOptions().some((option) => flags.some((flag) => option === flag || option.startsWith(`${flag}=`)));
}

export function holdYoungGeneration(): void {
  if (held || chosenByOperator([FLAG])) return;
  setFlagsFromString(`${FLAG}=1`);
  held = true;
}

export function releaseYoungGeneration(): void {
  if (!held) return;
  setFlagsFromString(`${FLAG}=${V8_DEFAULT_GROWTH_FACTOR}`);
  held = false;
}

/** V8's defaults: TurboFan is on; Maglev is on from Node 22 where node was built with it (V8 11.3, Node 20's, has it off). */
const MAGLEV_ON = Boolean((process.config.variables as Record<string, unknown>).v8_enable_maglev) && Number(process.versions.node.split('.')[0]) >= 22;

/**
 * From here on nothing is optimized, until released. Set from the first line of `bin.js`: what start-up optimizes
 * (loading modules and the config) pages the compilers in for good, so holding them from the supervisor's own start
 * saves nothing (measured: Node 24 supervisor 82.5 MB either way).
 */
export function holdOptimizingCompilers(): void {
  if (!optimizing) return;
  if (chosenByOperator(COMPILER_FLAGS)) return;
  setFlagsFromString('--no-turbofan');
  if (MAGLEV_ON) setFlagsFromString('--no-maglev');
  optimizing = false;
}

/** Whether V8's optimizing compilers run in this process (not held, or released since). */
export function optimizingCompilers(): boolean {
  return optimizing;
}

/** Back to V8's defaults: for the single process, a worker, and a supervisor that needs them (see ConnectionRateWatch). */
export function releaseOptimizingCompilers(): void {
  if (optimizing) return;
  setFlagsFromString('--turbofan');
  if (MAGLEV_ON) setFlagsFromString('--maglev');
  optimizing = true;
}

/**
 * Whether client connections have been coming fast enough, for long enough, that a `node:cluster` supervisor (which
 * hands each one to a worker) should optimize its code: at least `perSecond` a second on average over the last
 * `windows` intervals between readings. Fed the workers' accepted-connections total (it only grows) about every
 * EVERY_MS; workers ship it about once a second, not in step with the readings, so one interval alone may hold one
 * shipment or three: the average over several evens that out.
 */
export class ConnectionRateWatch {
  static readonly PER_SECOND = 100;
  static readonly WINDOWS = 3;
  static readonly EVERY_MS = 2_000;
  readonly #readings: Array<{ readonly atMs: number; readonly accepted: number }> = [];
  #fast = false;
  /** Connections a second over the last readings' span, once there are enough of them (for the log). */
  rate = 0;

  constructor(
    readonly perSecond = ConnectionRateWatch.PER_SECOND,
    readonly windows = ConnectionRateWatch.WINDOWS,
  ) {}

  /** One reading (`nowMs` from a monotonic clock); true once the rate has held (and from then on). */
  observe(nowMs: number, accepted: number): boolean {
    if (this.#fast) return true;
    const readings = this.#readings;
    const last = readings.at(-1);
    if (last !== undefined && nowMs <= last.atMs) return false;
    readings.push({ atMs: nowMs, accepted });
    if (readings.length > this.windows + 1) readings.shift();
    if (readings.length <= this.windows) return false;
    const first = readings[0];
    this.rate = ((accepted - first.accepted) * 1000) / (nowMs - first.atMs);
    this.#fast = this.rate >= this.perSecond;
    return this.#fast;
  }
}

export interface ProcessMemory {
  readonly rssBytes: number;
  readonly heapBytes: number;
  /** Bytes V8 has committed to the young generation (its `new_space`). */
  readonly youngGenerationBytes: number;
  readonly youngGenerationHeld: boolean;
  /** False in a supervisor that runs without V8's optimizing compilers (see holdOptimizingCompilers). */
  readonly optimizingCompilers: boolean;
}

/**
 * Resident memory of another process of this machine (a worker, read by its supervisor for /status), from
 * /proc/<pid>/status; null where there is no /proc (not Linux) or the process is gone.
 */
export function residentBytesOf(pid: number): number | null {
  try {
    const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'latin1'));
    return match === null ? null : Number(match[1]) * 1024;
  } catch {
    return null;
  }
}

/** This process's memory, for `/status`: what an operator compares with the bench's figures. */
export function processMemory(): ProcessMemory {
  const usage = process.memoryUsage();
  const young = getHeapSpaceStatistics().find((space) => space.space_name === 'new_space');
  return { rssBytes: usage.rss, heapBytes: usage.heapTotal, youngGenerationBytes: young?.space_size ?? 0, youngGenerationHeld: held, optimizingCompilers: optimizing };
}
