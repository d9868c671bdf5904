/**
 * Three replicas, one Redis, two automated rollouts driven by load spread over all three: route `good` (a healthy
 * canary) promotes once, route `bad` (a canary that answers 500 to every other request) rolls back once. Exactly one
 * replica acts for the fleet: every rollout event comes from one member, under one fencing epoch (the one stored
 * in Redis), and the other two only apply what it stored. Every replica ends with the same routing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { send } from '../helpers/http.js';
import { createTempDir, killIfRunning, spawnSplitgate, type SplitgateProcess, type TempDir } from '../helpers/process.js';
import { connectTestClient, startRedis, type TestRedis } from '../helpers/redis.js';
import { eventsOf, failingEcho, routeStatus, waitForRollout } from '../helpers/rollout.js';
import { startUpstream, type TestUpstream } from '../helpers/upstreams.js';

const FLEET = 'three';
let redis: TestRedis;
let stable: TestUpstream;
let goodCanary: TestUpstream;
let badCanary: TestUpstream;
let dir: TempDir;
const replicas: Array<SplitgateProcess | undefined> = [];

function config(member: string): Record<string, unknown> {
  const rollout = { interval: '1s', stepWeights: [20, 40, 60], minRequests: 5, analysis: { traffic: 'all' }, checks: [{ metric: 'success-rate', min: 95 }] };
  return {
    listen: '127.0.0.1:0',
    admin: { listen: '127.0.0.1:0' },
    watch: false,
    state: { file: `${member}-state.json` },
    upstreams: { stable: stable.url, good: goodCanary.url, bad: badCanary.url },
    routes: [
      { name: 'good', match: { pathPrefix: '/good' }, stable: 'stable', canary: 'good', weight: 0, rollout },
      // No retry: the clients see the bad canary's 500s, as analysis does (retries would hide them from the clients only).
      { name: 'bad', match: { pathPrefix: '/bad' }, stable: 'stable', canary: 'bad', weight: 0, retry: false, rollout },
    ],
    fleet: { name: FLEET, memberId: member, redis: { url: redis.url, connectTimeout: '1s', commandTimeout: '1s' }, heartbeat: '300ms', memberTtl: '3s', poll: '1s', lease: '3s' },
  };
}

beforeAll(async () => {
  redis = await startRedis();
  stable = await startUpstream('stable');
  goodCanary = await startUpstream('canary');
  badCanary = await startUpstream('canary', failingEcho('canary', 2, () => true));
  dir = createTempDir();
  const started = await Promise.allSettled(['a', 'b', 'c'].map((member) => spawnSplitgate(dir.writeConfig(`${member}.yaml`, config(member)), 20_000)));
  for (const outcome of started) replicas.push(outcome.status === 'fulfilled' ? outcome.value : undefined);
  for (const outcome of started) if (outcome.status === 'rejected') throw outcome.reason;
}, 60_000);

afterAll(async () => {
  await Promise.all(replicas.map((replica) => killIfRunning(replica)));
  await redis?.stop();
  await Promise.all([stable?.close(), goodCanary?.close(), badCanary?.close()]);
  dir?.remove();
});

describe('a fleet of three runs each rollout once', () => {
  it('promotes the good canary and rolls back the bad one, with one leader acting under one epoch', async () => {
    const all = replicas as SplitgateProcess[];
    let stop = false;
    let sent = 0;
    const load = (async () => {
      // Bounded: the rollouts end well within this many rounds.
      for (let round = 0; !stop && round < 20_000; round++) {
        const replica = all[round % 3]!;
        await Promise.all([send(replica.url, `/good/${round}`).catch(() => undefined), send(replica.url, `/bad/${round}`).catch(() => undefined)]);
        sent += 2;
      }
    })();
    try {
      const [good, bad] = await Promise.all([
        waitForRollout(all[0]!.adminUrl, 'good', 'Succeeded', (status) => status.phase === 'Succeeded', 60_000),
        waitForRollout(all[1]!.adminUrl, 'bad', 'RolledBack', (status) => status.phase === 'RolledBack', 60_000),
      ]);
      expect(good.weight).toBe(100);
      expect(bad.weight).toBe(0);
    } finally {
      stop = true;
      await load;
    }
    expect(sent).toBeGreaterThan(0);

    // Every replica routes the same way now: the stored state is the fleet's.
    for (const replica of all) {
      const good = await waitForRollout(replica.adminUrl, 'good', 'Succeeded here', (status) => status.phase === 'Succeeded', 5_000);
      const bad = await waitForRollout(replica.adminUrl, 'bad', 'RolledBack here', (status) => status.phase === 'RolledBack', 5_000);
      expect([good.weight, bad.weight]).toEqual([100, 0]);
      expect((await routeStatus(replica.adminUrl, 'bad')).killed).toBe(true);
      for (let i = 0; i < 5; i++) expect((await send(replica.url, `/bad/after-${i}`)).headers['x-upstream-version']).toBe('stable');
    }

    // One member acted for the fleet, under the epoch Redis holds; the others only applied what it stored.
    const client = await connectTestClient(redis.url);
    const storedEpoch = Number(await client.get(`sg:{${FLEET}}:epoch`));
    await client.quit();
    const actorsByRoute: Record<string, Set<number>> = { good: new Set(), bad: new Set() };
    const epochs = new Set<unknown>();
    const outcomes: Record<string, number> = { 'good:rollout.succeeded': 0, 'bad:rollout.rolled_back': 0, 'good:rollout.rolled_back': 0, 'bad:rollout.succeeded': 0 };
    for (const [index, replica] of all.entries()) {
      for (const route of ['good', 'bad']) {
        const byRollout = (await eventsOf(replica.adminUrl, route)).filter((event) => event.actor === 'rollout');
        if (byRollout.length > 0) actorsByRoute[route]!.add(index);
        for (const event of byRollout) {
          epochs.add((event.after as { epoch?: unknown } | undefined)?.epoch);
          const key = `${route}:${event.action}`;
          if (key in outcomes) outcomes[key]!++;
        }
      }
    }
    expect(actorsByRoute.good!.size).toBe(1);
    expect(actorsByRoute.bad!.size).toBe(1);
    expect([...actorsByRoute.good!]).toEqual([...actorsByRoute.bad!]);
    expect([...epochs]).toEqual([storedEpoch]);
    expect(outcomes).toEqual({ 'good:rollout.succeeded': 1, 'bad:rollout.rolled_back': 1, 'good:rollout.rolled_back': 0, 'bad:rollout.succeeded': 0 });
  }, 120_000);
});
