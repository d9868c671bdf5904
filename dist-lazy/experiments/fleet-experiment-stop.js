import { readFrozenExperiment } from './experiment-stop.js';
import { ARM_NAMES } from './plan.js';
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
export const SEED_SCRIPT = `
if redis.call('EXISTS', KEYS[5]) == 1 then return 0 end
redis.call('HSET', KEYS[5], 'm', ARGV[1], 't', ARGV[2])
redis.call('UNLINK', KEYS[1], KEYS[2], KEYS[3], KEYS[4])
return 1
`;
export async function seedStop(client, keys, frozen) {
    const { arms, ...look } = frozen;
    const totals = [];
    arms.forEach((arm, i) => {
        totals.push(`${ARM_NAMES[i]}:u`, String(arm.users));
        for (const [name, c] of Object.entries(arm.conversions))
            totals.push(`${ARM_NAMES[i]}:${name}:n`, String(c.converters), `${ARM_NAMES[i]}:${name}:s`, String(c.valueSum), `${ARM_NAMES[i]}:${name}:q`, String(c.valueSquares));
    });
    const reply = await client.sendCommand(['EVAL', SEED_SCRIPT, String(keys.length), ...keys, JSON.stringify(look), JSON.stringify(totals)]);
    return Number(reply) === 1;
}
export function sameStop(a, b) {
    return a.at === b.at && a.actor === b.actor;
}
export async function stopInFleet(client, keys, experiment, look, deadline) {
    const reply = (await client.sendCommand(['EVAL', STOP_SCRIPT, String(keys.length), ...keys, JSON.stringify(look), String(deadline)]));
    if (reply[0] === 'expired')
        return { kind: 'expired' };
    const frozen = frozenFromFleet(reply[1], reply[2], experiment);
    if (frozen === null)
        throw new Error(`the fleet's stop record of experiment "${experiment.key}" cannot be read`);
    return { kind: reply[0] === 'ok' ? 'won' : 'lost', frozen };
}
export function frozenFromFleet(look, totals, experiment) {
    if (typeof look !== 'string')
        return null;
    try {
        const parsed = JSON.parse(look);
        const arms = armsOf(flatHash(JSON.parse(totals ?? '[]')), experiment).map((arm) => ({
            users: arm.users,
            conversions: Object.fromEntries(arm.conversions),
        }));
        return readFrozenExperiment({ ...parsed, arms });
    }
    catch {
        return null;
    }
}
function flatHash(value) {
    const out = {};
    if (!Array.isArray(value))
        return out;
    for (let i = 0; i + 1 < value.length; i += 2)
        out[String(value[i])] = String(value[i + 1]);
    return out;
}
export function armsOf(hash, experiment) {
    const arm = (name) => ({
        users: num(hash[`${name}:u`]),
        conversions: new Map(experiment.conversions.map((c) => [c.name, { converters: num(hash[`${name}:${c.name}:n`]), valueSum: num(hash[`${name}:${c.name}:s`]), valueSquares: num(hash[`${name}:${c.name}:q`]) }])),
    });
    return [arm(ARM_NAMES[0]), arm(ARM_NAMES[1])];
}
function num(value) {
    return value === undefined ? 0 : Number(value);
}
//# sourceMappingURL=fleet-experiment-stop.js.map