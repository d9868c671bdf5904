import { FlushLoop } from '../fleet/flush-loop.js';
import { createHash } from 'node:crypto';
import { asHash } from '../fleet/fleet-counts.js';
import { FleetUnavailableError } from '../fleet/errors.js';
import { withTimeout } from '../fleet/leader-lease.js';
import { armsOf, frozenFromFleet, sameStop, seedStop, stopInFleet } from './fleet-experiment-stop.js';
import { ARM_NAMES } from './plan.js';
import { MAX_PENDING } from './worker-events.js';
export const RETAIN_MS = 30 * 86_400_000;
export function experimentKeys(fleet, key) {
    const base = `sg:{${fleet}}:x:${key}`;
    return { users: `${base}:u`, counted: `${base}:c`, pending: `${base}:p`, totals: `${base}:t`, stop: `${base}:s` };
}
function scriptKeys(fleet, key) {
    const keys = experimentKeys(fleet, key);
    return [keys.users, keys.counted, keys.pending, keys.totals, keys.stop];
}
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
const ADD_CONVERSION = `${WITHIN}count(ARGV[1], ARGV[2], tonumber(ARGV[3])) return 1`;
const ADD_USER = `${WITHIN}redis.call('HINCRBY', KEYS[4], ARGV[1] .. ':u', 1) return 1`;
function script(text) {
    return { text, sha: createHash('sha1').update(text).digest('hex') };
}
const SCRIPTS = { expose: script(EXPOSE), convert: script(CONVERT), addConversion: script(ADD_CONVERSION), addUser: script(ADD_USER) };
function evaluate(client, which, args) {
    return client.sendCommand(['EVALSHA', which.sha, ...args]).catch((error) => {
        if (!String(error?.message ?? error).startsWith('NOSCRIPT'))
            throw error;
        return client.sendCommand(['EVAL', which.text, ...args]);
    });
}
export class FleetExperiments {
    #options;
    #timeoutMs;
    #loop;
    #serial = Promise.resolve();
    constructor(options) {
        this.#options = options;
        this.#loop = new FlushLoop(options.flushEveryMs ?? 1_000, (final) => this.flush(final));
        this.#timeoutMs = options.timeoutMs ?? 2_000;
        options.book.shareWithFleet();
    }
    start() {
        this.#loop.start();
        this.flush().catch(() => undefined);
    }
    flush(final = false) {
        return this.#queued(() => this.#flush(final));
    }
    stop() {
        return this.#loop.stop();
    }
    stopExperiment(experiment, look) {
        return this.#queued(() => this.#stopExperiment(experiment, look));
    }
    async #stopExperiment(experiment, look) {
        const book = this.#options.book;
        if (!(await this.#flush(false)))
            throw new FleetUnavailableError('the fleet store (Redis) is unreachable; the experiment was not stopped anywhere');
        const stopped = book.record(experiment.key);
        if (stopped?.stopped)
            return { won: false, frozen: stopped.freeze() };
        const keys = scriptKeys(this.#options.fleet, experiment.key);
        let outcome;
        try {
            outcome = await withTimeout(stopInFleet(this.#options.client, keys, experiment, look(), Date.now() + this.#timeoutMs), this.#timeoutMs);
        }
        catch (error) {
            throw new FleetUnavailableError('the fleet store (Redis) did not answer the stop in time; the experiment was not stopped (GET its report to confirm)', { cause: error });
        }
        if (outcome.kind === 'expired')
            throw new FleetUnavailableError('the fleet store (Redis) answered the stop too late; the experiment was not stopped anywhere');
        book.restoreStopped(new Map([[experiment.key, outcome.frozen]]));
        return { won: outcome.kind === 'won', frozen: outcome.frozen };
    }
    #queued(work) {
        const run = this.#serial.then(work);
        this.#serial = run.catch(() => undefined);
        return run;
    }
    async #flush(final) {
        if (this.#loop.stopped && !final)
            return true;
        await this.#options.collect?.();
        const book = this.#options.book;
        const plan = book.plan;
        if (plan === null)
            return true;
        const events = book.takeFleetEvents() ?? [];
        const client = this.#options.client;
        const fleet = this.#options.fleet;
        const byKey = new Map(plan.all.map((experiment) => [experiment.key, experiment]));
        const writes = [];
        const touched = new Set();
        for (const event of events) {
            const experiment = byKey.get(event.experiment);
            if (experiment === undefined || book.record(experiment.key)?.stopped)
                continue;
            touched.add(experiment.key);
            writes.push(send(client, fleet, experiment, event));
        }
        for (const key of touched)
            for (const name of scriptKeys(fleet, key).slice(0, 4))
                writes.push(client.sendCommand(['PEXPIRE', name, String(RETAIN_MS)]));
        try {
            await withTimeout(Promise.all(writes), this.#timeoutMs);
            const reads = plan.all.map((experiment) => {
                const keys = experimentKeys(fleet, experiment.key);
                const stop = client.sendCommand(['HMGET', keys.stop, 'm', 't']);
                return Promise.all([stop, book.record(experiment.key)?.stopped ? null : client.sendCommand(['HGETALL', keys.totals])]);
            });
            const read = await withTimeout(Promise.all(reads), this.#timeoutMs);
            const seeds = [];
            plan.all.forEach((experiment, i) => {
                const record = book.record(experiment.key);
                if (record === undefined)
                    return;
                const [[look, totals], running] = read[i];
                const frozen = frozenFromFleet(look, totals, experiment);
                if (frozen !== null && (record.stopped === null || !sameStop(record.stopped, frozen.stopped))) {
                    book.restoreStopped(new Map([[experiment.key, frozen]]));
                    this.#options.onStopped?.(experiment.key, frozen);
                }
                else if (frozen === null && record.stopped !== null) {
                    seeds.push(seedStop(client, scriptKeys(fleet, experiment.key), record.freeze()));
                }
                else if (frozen === null && running !== null) {
                    record.fleet = armsOf(asHash(running), experiment);
                }
            });
            await withTimeout(Promise.all(seeds), this.#timeoutMs);
            return true;
        }
        catch (error) {
            this.#options.logger.warn({ err: error, events: events.length }, 'fleet: could not share experiment counts');
            return false;
        }
    }
}
function send(client, fleet, experiment, event) {
    const keys = scriptKeys(fleet, experiment.key);
    const keyArgs = [String(keys.length), ...keys];
    const arm = ARM_NAMES[event.arm];
    if (event.user === null) {
        if (event.conversion === null)
            return evaluate(client, SCRIPTS.addUser, [...keyArgs, arm]);
        return evaluate(client, SCRIPTS.addConversion, [...keyArgs, arm, event.conversion, String(event.value)]);
    }
    const window = String(experiment.windowMs);
    if (event.conversion === null)
        return evaluate(client, SCRIPTS.expose, [...keyArgs, event.user, arm, String(event.at), window, ...experiment.conversions.map((c) => c.name)]);
    return evaluate(client, SCRIPTS.convert, [...keyArgs, event.user, event.conversion, String(event.at), String(event.value), window]);
}
//# sourceMappingURL=fleet-experiments.js.map