export function fleetKeys(name) {
    const prefix = `sg:{${name}}:`;
    return {
        state: (route) => `${prefix}state:${route}`,
        changes: `${prefix}changes`,
        member: (id) => `${prefix}members:${id}`,
        memberIndex: `${prefix}members`,
        epoch: `${prefix}epoch`,
        leader: `${prefix}leader`,
    };
}
export const WRITE_SCRIPT = `
if ARGV[9] ~= '' then
  local now = redis.call('TIME')
  if tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000) > tonumber(ARGV[9]) then return {'expired', ''} end
end
if ARGV[6] ~= '' then
  local epoch = redis.call('GET', KEYS[2])
  if epoch ~= ARGV[6] then return {'fenced', epoch or ''} end
end
local current = tonumber(redis.call('HGET', KEYS[1], 'v') or '0')
local expected = tonumber(ARGV[1])
local version = tonumber(ARGV[2])
if current ~= expected or version <= current then return {'conflict', tostring(current)} end
redis.call('HSET', KEYS[1], 'v', version, 'doc', ARGV[3], 'm', ARGV[4], 't', ARGV[5])
redis.call('PUBLISH', ARGV[7], cjson.encode({route = ARGV[8], version = version, member = ARGV[4]}))
return {'ok', tostring(version)}
`;
export async function writeDocument(client, keys, write) {
    const reply = (await client.eval(WRITE_SCRIPT, {
        keys: [keys.state(write.route), keys.epoch],
        arguments: [
            String(write.expected),
            String(write.version),
            JSON.stringify(write.state),
            write.member,
            String(Date.now()),
            write.fenceEpoch === undefined ? '' : String(write.fenceEpoch),
            keys.changes,
            write.route,
            write.deadline === undefined ? '' : String(write.deadline),
        ],
    }));
    const [kind, value] = reply;
    if (kind === 'ok')
        return { kind, version: Number(value) };
    if (kind === 'fenced')
        return { kind, current: value === '' ? null : Number(value) };
    if (kind === 'expired')
        return { kind };
    return { kind: 'conflict', current: Number(value) };
}
export async function readDocument(client, keys, route) {
    const hash = (await client.hGetAll(keys.state(route)));
    return parseDocument(hash);
}
export function parseDocument(hash) {
    const version = Number(hash.v ?? 0);
    if (!Number.isSafeInteger(version) || version <= 0)
        return { version: 0, state: {}, member: null, time: null };
    let state = {};
    try {
        const parsed = JSON.parse(hash.doc ?? '{}');
        if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed))
            state = parsed;
    }
    catch {
    }
    return { version, state, member: hash.m ?? null, time: hash.t === undefined ? null : Number(hash.t) };
}
export function parseAnnouncement(message) {
    try {
        const parsed = JSON.parse(message);
        if (typeof parsed.route !== 'string' || typeof parsed.version !== 'number')
            return null;
        return { route: parsed.route, version: parsed.version, member: typeof parsed.member === 'string' ? parsed.member : '' };
    }
    catch {
        return null;
    }
}
export async function beatAndList(client, keys, beat, ttlMs) {
    const now = Date.now();
    const [, , , ids] = (await client
        .multi()
        .set(keys.member(beat.id), JSON.stringify(beat), { PX: ttlMs })
        .zAdd(keys.memberIndex, { score: now, value: beat.id })
        .zRemRangeByScore(keys.memberIndex, '-inf', now - ttlMs)
        .zRange(keys.memberIndex, 0, -1)
        .exec());
    return readMembers(client, keys, ids);
}
export async function listMembers(client, keys) {
    return readMembers(client, keys, (await client.zRange(keys.memberIndex, 0, -1)));
}
export async function leave(client, keys, id) {
    await client.multi().del(keys.member(id)).zRem(keys.memberIndex, id).exec();
}
async function readMembers(client, keys, ids) {
    if (ids.length === 0)
        return [];
    const values = (await client.mGet(ids.map((id) => keys.member(id))));
    const members = [];
    for (const value of values) {
        if (value === null)
            continue;
        try {
            members.push(JSON.parse(value));
        }
        catch {
        }
    }
    return members.sort((a, b) => a.id.localeCompare(b.id));
}
//# sourceMappingURL=redis-state.js.map