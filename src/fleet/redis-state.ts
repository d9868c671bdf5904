/**
 * The fleet's keys in Redis (FLEET-CONTRACT.md). `{<fleet>}` is a hash tag, so one fleet's keys share a Redis
 * Cluster slot and one script can read the epoch and write a state document atomically.
 *
 * A route's document is a hash: `v` (version, an integer that only grows), `doc` (the RouteRuntimeState as JSON),
 * `m` (the member that wrote it), `t` (when, ms since epoch). Writes go through WRITE_SCRIPT only.
 */
import type { RouteRuntimeState } from '../control/state-file.js';
import type { FleetRedis } from './redis-client.js';

export interface FleetKeys {
  state(route: string): string;
  readonly changes: string;
  member(id: string): string;
  /** Index of the members (sorted set: id → last beat, ms): the list costs O(members), not a SCAN of the keyspace. */
  readonly memberIndex: string;
  readonly epoch: string;
  readonly leader: string;
}

export function fleetKeys(name: string): FleetKeys {
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

/**
 * KEYS[1] the route's document, KEYS[2] the fleet's epoch.
 * ARGV: expected version, version to set, document JSON, member, time, fencing epoch ('' = none), channel, route,
 * deadline (ms since epoch, '' = none).
 * The epoch check and the write are one script: a former leader cannot slip a write in between. The version to set
 * is normally expected + 1; re-seeding a Redis that lost its data writes the replica's own (higher) version, so
 * versions never go backwards for the members that hold them. The announcement is published from the script too,
 * so no stored change goes unannounced.
 *
 * The deadline: a caller that gave up waiting (commandTimeout: a hung Redis, a partition) answered 503, so its
 * write must not land later, when Redis reads it from its socket buffer. The script refuses it once Redis's clock
 * is past the deadline (the caller's clock plus commandTimeout; replicas and Redis are assumed NTP-synced to well
 * under that).
 */
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

export type WriteOutcome =
  | { readonly kind: 'ok'; readonly version: number }
  | { readonly kind: 'conflict'; readonly current: number }
  | { readonly kind: 'fenced'; readonly current: number | null }
  | { readonly kind: 'expired' };

export interface StoredDocument {
  readonly version: number;
  readonly state: RouteRuntimeState;
  readonly member: string | null;
  readonly time: number | null;
}

export interface ChangeAnnouncement {
  readonly route: string;
  readonly version: number;
  readonly member: string;
}

export async function writeDocument(
  client: FleetRedis,
  keys: FleetKeys,
  write: { route: string; expected: number; version: number; state: RouteRuntimeState; member: string; fenceEpoch?: number; deadline?: number },
): Promise<WriteOutcome> {
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
  })) as [string, string];
  const [kind, value] = reply;
  if (kind === 'ok') return { kind, version: Number(value) };
  if (kind === 'fenced') return { kind, current: value === '' ? null : Number(value) };
  if (kind === 'expired') return { kind };
  return { kind: 'conflict', current: Number(value) };
}

/** The route's document, or version 0 with an empty state when there is none yet. */
export async function readDocument(client: FleetRedis, keys: FleetKeys, route: string): Promise<StoredDocument> {
  const hash = (await client.hGetAll(keys.state(route))) as Record<string, string>;
  return parseDocument(hash);
}

export function parseDocument(hash: Record<string, string>): StoredDocument {
  const version = Number(hash.v ?? 0);
  if (!Number.isSafeInteger(version) || version <= 0) return { version: 0, state: {}, member: null, time: null };
  let state: RouteRuntimeState = {};
  try {
    const parsed = JSON.parse(hash.doc ?? '{}') as unknown;
    if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) state = parsed as RouteRuntimeState;
  } catch {
    // A document this version cannot read is an empty state at that version: its kill switch, if any, is lost
    // only if the JSON itself is damaged, which no splitgate writes.
  }
  return { version, state, member: hash.m ?? null, time: hash.t === undefined ? null : Number(hash.t) };
}

export function parseAnnouncement(message: string): ChangeAnnouncement | null {
  try {
    const parsed = JSON.parse(message) as Partial<ChangeAnnouncement>;
    if (typeof parsed.route !== 'string' || typeof parsed.version !== 'number') return null;
    return { route: parsed.route, version: parsed.version, member: typeof parsed.member === 'string' ? parsed.member : '' };
  } catch {
    return null;
  }
}

/** A member's heartbeat, as stored (JSON) under `sg:{f}:members:<id>` with a TTL of `memberTtl`. */
export interface MemberHeartbeat {
  readonly id: string;
  readonly host: string;
  readonly pid: number;
  readonly version: string;
  readonly configHash: string;
  /** Route → state version applied. */
  readonly applied: Record<string, number>;
  /** Routes (and flags, as `~flags/<key>`) killed here while Redis was unreachable, not yet written to the fleet. */
  readonly pendingKills: readonly string[];
  readonly lastSeen: string;
}

/**
 * Writes a member's heartbeat (with its TTL) and lists the live members, in one round trip. The index entry of a
 * member whose heartbeat expired is dropped here; its key is gone by TTL.
 */
export async function beatAndList(client: FleetRedis, keys: FleetKeys, beat: MemberHeartbeat, ttlMs: number): Promise<MemberHeartbeat[]> {
  const now = Date.now();
  const [, , , ids] = (await client
    .multi()
    .set(keys.member(beat.id), JSON.stringify(beat), { PX: ttlMs })
    .zAdd(keys.memberIndex, { score: now, value: beat.id })
    .zRemRangeByScore(keys.memberIndex, '-inf', now - ttlMs)
    .zRange(keys.memberIndex, 0, -1)
    .exec()) as unknown as [unknown, unknown, unknown, string[]];
  return readMembers(client, keys, ids);
}

export async function listMembers(client: FleetRedis, keys: FleetKeys): Promise<MemberHeartbeat[]> {
  return readMembers(client, keys, (await client.zRange(keys.memberIndex, 0, -1)) as string[]);
}

/** Drops a member that leaves on purpose (a graceful stop), rather than letting it linger until its TTL. */
export async function leave(client: FleetRedis, keys: FleetKeys, id: string): Promise<void> {
  await client.multi().del(keys.member(id)).zRem(keys.memberIndex, id).exec();
}

async function readMembers(client: FleetRedis, keys: FleetKeys, ids: readonly string[]): Promise<MemberHeartbeat[]> {
  if (ids.length === 0) return [];
  const values = (await client.mGet(ids.map((id) => keys.member(id)))) as Array<string | null>;
  const members: MemberHeartbeat[] = [];
  for (const value of values) {
    if (value === null) continue;
    try {
      members.push(JSON.parse(value) as MemberHeartbeat);
    } catch {
      // Not a splitgate heartbeat; skip it.
    }
  }
  return members.sort((a, b) => a.id.localeCompare(b.id));
}
