/**
 * A supervisor's young generation, held at V8's initial size (issue 15's goal: supervisor ≤ 60 MB of RSS, of which
 * ~40 MB is the node binary's pages that every process on the machine shares).
 *
 * A supervisor allocates little and at no steady rate (worker deltas once a second, the admin API), yet V8 grows
 * the young generation of any process that once allocated quickly, start-up included (config parsing, compiled
 * tables), up to 32 MB on Node 20, and gives it back only sometimes: under the same load a supervisor sat at 61 or
 * at 69 MB. Held from the first line of `bin.js`, it stays at 2 MB and the supervisor at ~61 MB.
 *
 * `--semi-space-growth-factor` is read each time V8 considers growing the young generation, so setting it at run
 * time takes effect (`--max-semi-space-size` does not: it is fixed when the heap is set up); 1 means "grow ×1",
 * never. The single process is released as soon as it knows it is one, and workers are other processes that never
 * hold it: a proxy's young generation must grow, since one of 4 MB cost 7 % CPU per proxied request
 * (loadtest/README.md). test/young-generation.test.ts checks that the running V8 honours both settings.
 */
import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';

const FLAG = '--semi-space-growth-factor';
/** V8's default for the flag (Node 20, 22 and 24 alike: `node --v8-options`). */
const V8_DEFAULT_GROWTH_FACTOR = 2;

let held = false;

/** An operator who set the flag on the command line or in NODE_OPTIONS keeps it: splitgate then leaves it alone. */
function setByOperator(): boolean {
  const options = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)];
  return options.some((option) => option.startsWith(FLAG) || option.startsWith('--semi_space_growth_factor'));
}

export function holdYoungGeneration(): void {
  if (held || setByOperator()) return;
  setFlagsFromString(`${FLAG}=1`);
  held = true;
}

export function releaseYoungGeneration(): void {
  if (!held) return;
  setFlagsFromString(`${FLAG}=${V8_DEFAULT_GROWTH_FACTOR}`);
  held = false;
}

export interface ProcessMemory {
  readonly rssBytes: number;
  readonly heapBytes: number;
  /** Bytes V8 has committed to the young generation (its `new_space`). */
  readonly youngGenerationBytes: number;
  readonly youngGenerationHeld: boolean;
}

/** This process's memory, for `/status`: what an operator compares with the bench's figures. */
export function processMemory(): ProcessMemory {
  const usage = process.memoryUsage();
  const young = getHeapSpaceStatistics().find((space) => space.space_name === 'new_space');
  return { rssBytes: usage.rss, heapBytes: usage.heapTotal, youngGenerationBytes: young?.space_size ?? 0, youngGenerationHeld: held };
}
