/**
 * Experiment totals shared by a fleet (several splitgate replicas on one Redis). Each replica's state authority (the
 * single process, or the supervisor) sends what it saw as the same first-seen events workers send their supervisor
 * (worker-events.ts), about once a second; Redis deduplicates keyed users across replicas exactly, and holds the
 * only totals the fleet reports: per arm the users and, per conversion, the converters and the sum and sum of squares
 * of values. Each replica reads those totals back after every flush; its API reports them (at most a flush old).
 *
 * Keys of one experiment, under the fleet's hash tag (one cluster slot), refreshed to expire RETAIN_MS after the last
 * write: `sg:{f}:x:<key>:u` user → "arm:exposedAtMs" (HSETNX: the first exposure to reach Redis wins, and fixes the
 * user's arm); `:c` the set of "conversion\nuser" counted (SADD returns 1 once); `:p` conversions whose exposure has
 * not reached Redis yet (another replica's flush), held (the newest MAX_PENDING) and judged when it arrives; `:t`
 * the totals; `:s` the stop (fleet-experiment-stop.ts): once it exists, every script here counts nothing for that key.
 * Memory grows with the users: one hash field per keyed user (122 bytes with a 31-character key, measured on
 * redis-server 7; ~120 MB per million users) and one set member per converter and conversion (96 bytes), freed at
 * the stop.
 *
 * At-most-once like the window counts (fleet-counts.ts): a pipeline that fails is not resent, so a Redis outage loses
 * those events; the replica keeps its own counts and reports the last totals it read.
 */
import { FlushLoop } from '../fleet/flush-loop.js';
import { createHash } from 'node:crypto';
import type { Logger } from '../log.js';
import { asHash } from '../fleet/fleet-counts.js';
import { FleetUnavailableError } from '../fleet/errors.js';
import { withTimeout, type FleetRedisClient } from '../fleet/leader-lease.js';
import type { ExperimentBook } from './experiment-book.js';
import type { FrozenExperiment } from './experiment-stop.js';
import { armsOf, frozenFromFleet, sameStop, seedStop, stopInFleet, type SharedStop, type StopLook } from './fleet-experiment-stop.js';
import { ARM_NAMES, type CompiledExperiment } from './plan.js';
import { MAX_PENDING, type ExperimentEvent } from './worker-events.js';

/** Keys live this long after the last write (an experiment's data outlives a quiet week). */
export const RETAIN_MS = 30 * 86_400_000;

export function experimentKeys(fleet: string, key: string): { users: string; counted: string; pending: string; totals: string; stop: string } {
  const base = `sg:{${fleet}}:x:${key}`;
  return { users: `${base}:u`, counted: `${base}:c`, pending: `${base}:p`, totals: `${base}:t`, stop: `${base}:s` };
}

/** The keys every script here takes, in this order (the stop last; never given an expiry). */
function scriptKeys(fleet: string, key: string): string[] {
  const keys = experimentKeys(fleet, key);
  return [keys.users, keys.counted, keys.pending, keys.totals, keys.stop];
}

/**
 * Window test in whole seconds, as user-state.ts and worker-events.ts judge it. Every script starts here: a stopped
 * experiment (KEYS[5]) counts nothing, whichever replica has not heard of the stop yet.
 */
const WITHIN = `
if redis.call('EXISTS', KEYS[5]) == 1 then return 0 end
local function within(exposedAt, at, windowMs)
  return at >= exposedAt and math.floor(at / 1000) - math.floor(exposedAt / 1000) <= windowMs / 1000
end
local function count(arm, conversion, value)
  redis.call('HINCRBY', KEYS[4], arm .. ':' .. conversion .. ':n', 1)
  redis.call('HINCRBYFLOAT', KEYS[4], arm .. ':' .. conversion .. ':s', value)
  redis.call('HINCRBYFLOAT', KEYS[4], arm .. ':' .. conversion .. ':q', value * value)
end
local function split(text)
  local sep = string.find(text, ':', 1, true)
  return string.sub(text, 1, sep - 1), tonumber(string.sub(text, sep + 1))
end
`;

/** KEYS users, counted, pending, totals, stop; ARGV user, arm, atMs, windowMs, conversion names… */
const EXPOSE = `${WITHIN}
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2] .. ':' .. ARGV[3]) == 0 then return 0 end
redis.call('HINCRBY', KEYS[4], ARGV[2] .. ':u', 1)
local at = tonumber(ARGV[3])
for i = 5, #ARGV do
  local field = ARGV[i] .. '\\n' .. ARGV[1]
  local held = redis.call('HGET', KEYS[3], field)
  if held then
    redis.call('HDEL', KEYS[3], field)
    -- The earliest held conversion inside the window from this exposure is the one counted.
    local best, bestValue = nil, 0
    for entry in string.gmatch(held, '[^;]+') do
      local heldAt, value = split(entry)
      heldAt = tonumber(heldAt)
      if within(at, heldAt, tonumber(ARGV[4])) and (best == nil or heldAt < best) then best, bestValue = heldAt, value end
    end
    if best ~= nil and redis.call('SADD', KEYS[2], field) == 1 then count(ARGV[2], ARGV[i], bestValue) end
  end
end
return 1
`;

/** KEYS users, counted, pending, totals, stop; ARGV user, conversion, atMs, value, windowMs. */
const CONVERT = `${WITHIN}
local field = ARGV[2] .. '\\n' .. ARGV[1]
local exposed = redis.call('HGET', KEYS[1], ARGV[1])
local at = tonumber(ARGV[3])
if not exposed then
  -- Held until the exposure arrives, the newest MAX_PENDING per user and conversion (as worker-events.ts holds them).
  local held = redis.call('HGET', KEYS[3], field)
  local entry = ARGV[3] .. ':' .. ARGV[4]
  if not held then
    held = entry
  else
    held = held .. ';' .. entry
    local _, n = string.gsub(held, ';', '')
    if n >= ${MAX_PENDING} then held = string.sub(held, string.find(held, ';', 1, true) + 1) end
  end
  redis.call('HSET', KEYS[3], field, held)
  return 0
end
local arm, exposedAt = split(exposed)
if not within(exposedAt, at, tonumber(ARGV[5])) then return 0 end
if redis.call('SADD', KEYS[2], field) == 0 then return 0 end
count(arm, ARGV[2], tonumber(ARGV[4]))
return 1
`;

/** KEYS as above; ARGV arm, conversion, value: an anonymous user's conversion, already deduplicated by its cookie. */
const ADD_CONVERSION = `${WITHIN}count(ARGV[1], ARGV[2], tonumber(ARGV[3])) return 1`;

/** KEYS as above; ARGV arm: an anonymous user's exposure, already deduplicated by its cookie. */
const ADD_USER = `${WITHIN}redis.call('HINCRBY', KEYS[4], ARGV[1] .. ':u', 1) return 1`;

/**
 * A script is sent by its SHA-1 (EVALSHA), its text only when Redis does not hold it yet (first use, or after a
 * restart): NOSCRIPT means nothing ran, so sending it again with EVAL counts nothing twice.
 */
interface Script {
  readonly text: string;
  readonly sha: string;
}

function script(text: string): Script {
  return { text, sha: createHash('sha1').update(text).digest('hex') };
}

const SCRIPTS = { expose: script(EXPOSE), convert: script(CONVERT), addConversion: script(ADD_CONVERSION), addUser: script(ADD_USER) };

function evaluate(client: FleetRedisClient, which: Script, args: string[]): Promise<unknown> {
  return client.sendCommand(['EVALSHA', which.sha, ...args]).catch((error: unknown) => {
    if (!String((error as Error)?.message ?? error).startsWith('NOSCRIPT')) throw error;
    return client.sendCommand(['EVAL', which.text, ...args]);
  });
}

export interface FleetExperimentsOptions {
  readonly client: FleetRedisClient;
  readonly fleet: string;
  readonly book: ExperimentBook;
  readonly logger: Logger;
  /** Brings in the workers' events before a flush (a supervisor); bounded, never fails. */
  readonly collect?: () => Promise<void>;
  /** Default 1000 ms. */
  readonly flushEveryMs?: number;
  /** Bound on one flush. Default 2000 ms. */
  readonly timeoutMs?: number;
  /** Another replica stopped `key`: its record is in the book already; this persists it. Never throws. */
  readonly onStopped?: (key: string, frozen: FrozenExperiment) => void;
}

/** How a stop asked here ended: this replica's stop (`won`), or one stored before it (`lost`: answer 409). */
export interface FleetStopOutcome {
  readonly won: boolean;
  readonly frozen: FrozenExperiment;
}

/** What the experiments view needs of the fleet to stop an experiment (FleetExperiments). */
export interface FleetStops {
  /**
   * Hands in this replica's events, then stores the stop with the fleet's totals at that moment and `look()` (taken
   * after the hand-in), and applies the stored record to the book. FleetUnavailableError when Redis fails or is late:
   * then nothing is stopped anywhere.
   */
  stopExperiment(experiment: CompiledExperiment, look: () => StopLook): Promise<FleetStopOutcome>;
}

export class FleetExperiments implements FleetStops {
  readonly #options: FleetExperimentsOptions;
  readonly #timeoutMs: number;
  readonly #loop: FlushLoop;
  /** Flushes and stops one at a time: a stop's totals include every event taken before it. */
  #serial: Promise<unknown> = Promise.resolve();

  constructor(options: FleetExperimentsOptions) {
    this.#options = options;
    this.#loop = new FlushLoop(options.flushEveryMs ?? 1_000, (final) => this.flush(final));
    this.#timeoutMs = options.timeoutMs ?? 2_000;
    options.book.shareWithFleet();
  }

  /** Flushes at once, then every flushEveryMs: a replica started after a stop reports it in one Redis round trip. */
  start(): void {
    this.#loop.start();
    // #flush logs what Redis refuses; anything thrown before it is dropped, as the loop drops it.
    this.flush().catch(() => undefined);
  }

  /** Sends the events since the last flush, then reads the fleet's totals (and stops) back. False when Redis failed (logged). */
  flush(final = false): Promise<boolean> {
    return this.#queued(() => this.#flush(final));
  }

  /** One last flush (a replica leaving hands in what it saw), then no more. */
  stop(): Promise<void> {
    return this.#loop.stop();
  }

  stopExperiment(experiment: CompiledExperiment, look: () => StopLook): Promise<FleetStopOutcome> {
    return this.#queued(() => this.#stopExperiment(experiment, look));
  }

  async #stopExperiment(experiment: CompiledExperiment, look: () => StopLook): Promise<FleetStopOutcome> {
    const book = this.#options.book;
    if (!(await this.#flush(false))) throw new FleetUnavailableError('the fleet store (Redis) is unreachable; the experiment was not stopped anywhere');
    const stopped = book.record(experiment.key);
    // Another replica's stop, read by the flush just now.
    if (stopped?.stopped) return { won: false, frozen: stopped.freeze() };
    const keys = scriptKeys(this.#options.fleet, experiment.key);
    let outcome: SharedStop;
    try {
      outcome = await withTimeout(stopInFleet(this.#options.client, keys, experiment, look(), Date.now() + this.#timeoutMs), this.#timeoutMs);
    } catch (error) {
      // Redis refuses the script past the deadline; only a reply lost after it ran in time leaves a stop behind,
      // which every replica then reads at its next flush.
      throw new FleetUnavailableError('the fleet store (Redis) did not answer the stop in time; the experiment was not stopped (GET its report to confirm)', { cause: error });
    }
    if (outcome.kind === 'expired') throw new FleetUnavailableError('the fleet store (Redis) answered the stop too late; the experiment was not stopped anywhere');
    book.restoreStopped(new Map([[experiment.key, outcome.frozen]]));
    return { won: outcome.kind === 'won', frozen: outcome.frozen };
  }

  #queued<T>(work: () => Promise<T>): Promise<T> {
    const run = this.#serial.then(work);
    this.#serial = run.catch(() => undefined);
    return run;
  }

  async #flush(final: boolean): Promise<boolean> {
    if (this.#loop.stopped && !final) return true;
    await this.#options.collect?.();
    const book = this.#options.book;
    const plan = book.plan;
    if (plan === null) return true;
    const events = book.takeFleetEvents() ?? [];
    const client = this.#options.client;
    const fleet = this.#options.fleet;
    const byKey = new Map(plan.all.map((experiment) => [experiment.key, experiment]));
    const writes: Array<Promise<unknown>> = [];
    const touched = new Set<string>();
    for (const event of events) {
      const experiment = byKey.get(event.experiment);
      if (experiment === undefined || book.record(experiment.key)?.stopped) continue;
      touched.add(experiment.key);
      writes.push(send(client, fleet, experiment, event));
    }
    for (const key of touched) for (const name of scriptKeys(fleet, key).slice(0, 4)) writes.push(client.sendCommand(['PEXPIRE', name, String(RETAIN_MS)]));
    try {
      await withTimeout(Promise.all(writes), this.#timeoutMs);
      // Every experiment's stop (a few hundred bytes, or nothing), and the running ones' totals.
      const reads = plan.all.map((experiment) => {
        const keys = experimentKeys(fleet, experiment.key);
        const stop = client.sendCommand(['HMGET', keys.stop, 'm', 't']);
        return Promise.all([stop, book.record(experiment.key)?.stopped ? null : client.sendCommand(['HGETALL', keys.totals])]);
      });
      const read = await withTimeout(Promise.all(reads), this.#timeoutMs);
      const seeds: Array<Promise<unknown>> = [];
      plan.all.forEach((experiment, i) => {
        const record = book.record(experiment.key);
        if (record === undefined) return;
        const [[look, totals], running] = read[i] as [[string | null, string | null], unknown];
        const frozen = frozenFromFleet(look, totals, experiment);
        if (frozen !== null && (record.stopped === null || !sameStop(record.stopped, frozen.stopped))) {
          // Stopped on another replica: its record replaces what this one counted (or froze), here and in the state file.
          book.restoreStopped(new Map([[experiment.key, frozen]]));
          this.#options.onStopped?.(experiment.key, frozen);
        } else if (frozen === null && record.stopped !== null) {
          seeds.push(seedStop(client, scriptKeys(fleet, experiment.key), record.freeze()));
        } else if (frozen === null && running !== null) {
          record.fleet = armsOf(asHash(running), experiment);
        }
      });
      await withTimeout(Promise.all(seeds), this.#timeoutMs);
      return true;
    } catch (error) {
      this.#options.logger.warn({ err: error, events: events.length }, 'fleet: could not share experiment counts');
      return false;
    }
  }
}

function send(client: FleetRedisClient, fleet: string, experiment: CompiledExperiment, event: ExperimentEvent): Promise<unknown> {
  const keys = scriptKeys(fleet, experiment.key);
  const keyArgs = [String(keys.length), ...keys];
  const arm = ARM_NAMES[event.arm];
  if (event.user === null) {
    // An anonymous user's count, deduplicated by their signed cookie already.
    if (event.conversion === null) return evaluate(client, SCRIPTS.addUser, [...keyArgs, arm]);
    return evaluate(client, SCRIPTS.addConversion, [...keyArgs, arm, event.conversion, String(event.value)]);
  }
  const window = String(experiment.windowMs);
  if (event.conversion === null) return evaluate(client, SCRIPTS.expose, [...keyArgs, event.user, arm, String(event.at), window, ...experiment.conversions.map((c) => c.name)]);
  return evaluate(client, SCRIPTS.convert, [...keyArgs, event.user, event.conversion, String(event.at), String(event.value), window]);
}
