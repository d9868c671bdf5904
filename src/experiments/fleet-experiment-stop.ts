/**
 * A stop shared by a fleet (fleet-experiments.ts holds the totals). Invariant: an experiment's stop is written once
 * in Redis, `sg:{f}:x:<key>:s`, by the same script that reads the fleet's totals, and from then on the counting
 * scripts count nothing for that key. So the frozen totals are the fleet's at the stop, every replica reads the same
 * record (its own later events are refused), and the first of two concurrent stops wins: the other gets the
 * winner's record back.
 *
 * The stop hash: `m` what the stopping replica saw at its last look (mark, guardrails, expected split, running
 * minimum p-values, evictions, users remembered) as JSON; `t` the totals hash at the stop, as the JSON of its
 * HGETALL. It has no expiry (a few hundred bytes per stopped experiment); the users, conversions and totals keys are
 * unlinked at the stop (their memory, ~120 MB per million users, is no longer needed).
 *
 * A replica that holds a stop Redis does not (Redis came back empty; a stop made on one replica before stops were
 * shared) writes its own record there (SEED_SCRIPT, only if there is none), so the fleet converges on one record:
 * a replica whose stop differs from Redis's (another mark) takes Redis's.
 */
import type { FleetRedisClient } from '../fleet/leader-lease.js';
import type { ArmTotals } from './experiment-book.js';
import { readFrozenExperiment, type FrozenConversion, type FrozenExperiment } from './experiment-stop.js';
import { ARM_NAMES, type CompiledExperiment } from './plan.js';

/** What a stopping replica adds to the fleet's totals: everything in a FrozenExperiment but the arms. */
export type StopLook = Omit<FrozenExperiment, 'arms'>;

/**
 * KEYS users, counted, pending, totals, stop; ARGV the look (JSON), deadline (ms since epoch, '' = none).
 * The deadline as in redis-state.ts WRITE_SCRIPT: a caller that gave up waiting answered 503, so its stop must not
 * land later.
 */
export const STOP_SCRIPT = `
if ARGV[2] ~= '' then
  local now = redis.call('TIME')
  if tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000) > tonumber(ARGV[2]) then return {'expired'} end
end
local held = redis.call('HGET', KEYS[5], 'm')
if held then return {'stopped', held, redis.call('HGET', KEYS[5], 't') or '[]'} end
local totals = cjson.encode(redis.call('HGETALL', KEYS[4]))
redis.call('HSET', KEYS[5], 'm', ARGV[1], 't', totals)
redis.call('UNLINK', KEYS[1], KEYS[2], KEYS[3], KEYS[4])
return {'ok', ARGV[1], totals}
`;

/** KEYS as STOP_SCRIPT; ARGV the look (JSON), the totals (JSON, as HGETALL's flat list). Writes only where no stop is. */
export const SEED_SCRIPT = `
if redis.call('EXISTS', KEYS[5]) == 1 then return 0 end
redis.call('HSET', KEYS[5], 'm', ARGV[1], 't', ARGV[2])
redis.call('UNLINK', KEYS[1], KEYS[2], KEYS[3], KEYS[4])
return 1
`;

/** Writes a stop this replica holds where the fleet holds none; true when written. */
export async function seedStop(client: FleetRedisClient, keys: readonly string[], frozen: FrozenExperiment): Promise<boolean> {
  const { arms, ...look } = frozen;
  const totals: string[] = [];
  arms.forEach((arm, i) => {
    totals.push(`${ARM_NAMES[i]}:u`, String(arm.users));
    for (const [name, c] of Object.entries(arm.conversions)) totals.push(`${ARM_NAMES[i]}:${name}:n`, String(c.converters), `${ARM_NAMES[i]}:${name}:s`, String(c.valueSum), `${ARM_NAMES[i]}:${name}:q`, String(c.valueSquares));
  });
  const reply = await client.sendCommand(['EVAL', SEED_SCRIPT, String(keys.length), ...keys, JSON.stringify(look), JSON.stringify(totals)]);
  return Number(reply) === 1;
}

/** Whether two records are the same stop (the mark; the running minimum p-values move with looks, harmlessly). */
export function sameStop(a: FrozenExperiment['stopped'], b: FrozenExperiment['stopped']): boolean {
  return a.at === b.at && a.actor === b.actor;
}

export type SharedStop = { readonly kind: 'won' | 'lost'; readonly frozen: FrozenExperiment } | { readonly kind: 'expired' };

/** Runs STOP_SCRIPT: `won` with this look and the fleet's totals, `lost` with the earlier stop's record. */
export async function stopInFleet(client: FleetRedisClient, keys: readonly string[], experiment: CompiledExperiment, look: StopLook, deadline: number): Promise<SharedStop> {
  const reply = (await client.sendCommand(['EVAL', STOP_SCRIPT, String(keys.length), ...keys, JSON.stringify(look), String(deadline)])) as string[];
  if (reply[0] === 'expired') return { kind: 'expired' };
  const frozen = frozenFromFleet(reply[1], reply[2], experiment);
  if (frozen === null) throw new Error(`the fleet's stop record of experiment "${experiment.key}" cannot be read`);
  return { kind: reply[0] === 'ok' ? 'won' : 'lost', frozen };
}

/** The stop hash's fields (HMGET m t) as a stopped experiment's record; null when there is no (readable) stop. */
export function frozenFromFleet(look: string | null | undefined, totals: string | null | undefined, experiment: CompiledExperiment): FrozenExperiment | null {
  if (typeof look !== 'string') return null;
  try {
    const parsed = JSON.parse(look) as Record<string, unknown>;
    const arms = armsOf(flatHash(JSON.parse(totals ?? '[]')), experiment).map((arm) => ({
      users: arm.users,
      conversions: Object.fromEntries(arm.conversions) as Record<string, FrozenConversion>,
    }));
    return readFrozenExperiment({ ...parsed, arms });
  } catch {
    return null;
  }
}

/** cjson encodes HGETALL's flat list as a JSON array, and an empty one as `{}`. */
function flatHash(value: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (!Array.isArray(value)) return out;
  for (let i = 0; i + 1 < value.length; i += 2) out[String(value[i])] = String(value[i + 1]);
  return out;
}

/** An experiment's totals hash (`arm:u`, `arm:conversion:n|s|q`) as its two arms. */
export function armsOf(hash: Record<string, string>, experiment: CompiledExperiment): [ArmTotals, ArmTotals] {
  const arm = (name: string): ArmTotals => ({
    users: num(hash[`${name}:u`]),
    conversions: new Map(
      experiment.conversions.map((c) => [c.name, { converters: num(hash[`${name}:${c.name}:n`]), valueSum: num(hash[`${name}:${c.name}:s`]), valueSquares: num(hash[`${name}:${c.name}:q`]) }]),
    ),
  });
  return [arm(ARM_NAMES[0]), arm(ARM_NAMES[1])];
}

function num(value: string | undefined): number {
  return value === undefined ? 0 : Number(value);
}
