/**
 * Two replicas of one fleet as real processes on a test redis-server: A started first so it takes the rollout
 * lease, B joining as a follower. Each replica's config is the test's own routes plus the fast `fleet:` timings
 * these tests share (heartbeat 300 ms, lease 2 s), and its state file `<member>-state.json`.
 */
import { send, waitFor } from './http.js';
import { spawnSplitgate, type SplitgateProcess, type TempDir } from './process.js';

/** The `fleet:` block of member `member` of fleet `name`, with the timings the multi-process fleet tests use. */
export function fastFleet(name: string, member: string, redisUrl: string): Record<string, unknown> {
  return { name, memberId: member, redis: { url: redisUrl, connectTimeout: '1s', commandTimeout: '1s' }, heartbeat: '300ms', memberTtl: '3s', poll: '1s', lease: '2s' };
}

/** A replica's config: `base` (upstreams, routes, workers...) on the test listeners, with `fleet`. */
export function replicaConfig(member: string, fleet: Record<string, unknown>, base: Record<string, unknown>): Record<string, unknown> {
  return { listen: '127.0.0.1:0', admin: { listen: '127.0.0.1:0' }, watch: false, state: { file: `${member}-state.json` }, ...base, fleet };
}

export async function leads(adminUrl: string): Promise<boolean> {
  return (await send(adminUrl, '/status')).json<{ fleet: { leader: boolean } }>().fleet.leader === true;
}

/** Starts A (waits until it leads), then B. `spawn` starts one member from its written config file. */
export async function startLeaderAndFollower(
  dir: TempDir,
  configOf: (member: 'a' | 'b') => Record<string, unknown>,
  spawn: (file: string) => Promise<SplitgateProcess> = (file) => spawnSplitgate(file, 20_000),
): Promise<[SplitgateProcess, SplitgateProcess]> {
  const a = await spawn(dir.writeConfig('a.yaml', configOf('a')));
  await waitFor('A to lead', () => leads(a.adminUrl), 10_000);
  const b = await spawn(dir.writeConfig('b.yaml', configOf('b')));
  return [a, b];
}
