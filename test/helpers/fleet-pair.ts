/**
 * Two replicas of one fleet as real processes on a test redis-server: A started first so it takes the rollout
 * lease, B joining as a follower. Each replica's config is the test's own routes plus the fast `fleet:` timings
 * these tests share (heartbeat 300 ms, lease 2 s), and its state file `<member>-state.json`.
 */
import { send, waitFor } from './http.js';
import { killIfRunning, spawnSplitgate, type SplitgateProcess, type TempDir } from './process.js';

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

/**
 * Starts A (`workers: 1`) and B (`workers: 2`) at once, no lease to wait for. If either fails to start, the other
 * is killed before the error is thrown, so no replica outlives the test.
 */
export async function startSingleAndTwoWorkers(dir: TempDir, configOf: (member: 'a' | 'b', workers: number) => Record<string, unknown>): Promise<[SplitgateProcess, SplitgateProcess]> {
  const started = await Promise.allSettled([spawnSplitgate(dir.writeConfig('a.yaml', configOf('a', 1)), 20_000), spawnSplitgate(dir.writeConfig('b.yaml', configOf('b', 2)), 20_000)]);
  const failure = started.find((outcome) => outcome.status === 'rejected');
  if (failure !== undefined) {
    await Promise.all(started.map((outcome) => (outcome.status === 'fulfilled' ? killIfRunning(outcome.value) : undefined)));
    throw failure.reason;
  }
  const [a, b] = started as Array<PromiseFulfilledResult<SplitgateProcess>>;
  return [a.value, b.value];
}
