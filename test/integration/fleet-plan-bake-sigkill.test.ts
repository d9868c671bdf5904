/**
 * A release plan's bake of hours across a leader change, with real processes on a real redis-server and a
 * controllable wall clock (test/helpers/clock-shift.mjs moves both replicas' Date by the same offset): replica A
 * leads and enters ring 1 (bake 2h); an hour passes; A is SIGKILLed; B takes the lease and continues the same stage,
 * with the bake still counted from when A entered it: still baking at 2h − 1m, ring 2 at 2h, not before.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/http.js';
import { createTempDir, killIfRunning, spawnSplitgate, type SplitgateProcess, type TempDir } from '../helpers/process.js';
import { connectTestClient, startRedis, type TestRedis } from '../helpers/redis.js';
import { fastFleet, leads, replicaConfig, startLeaderAndFollower } from '../helpers/fleet-pair.js';
import { eventsOf, rolloutOf, waitForRollout } from '../helpers/rollout.js';
import { startUpstreams, type TestUpstream } from '../helpers/upstreams.js';

const HOUR = 3_600_000;
const CLOCK_SHIFT = fileURLToPath(new URL('../helpers/clock-shift.mjs', import.meta.url));

let redis: TestRedis;
let stable: TestUpstream;
let canary: TestUpstream;
let dir: TempDir;
let clockFile: string;
let a: SplitgateProcess | undefined;
let b: SplitgateProcess | undefined;

function config(member: 'a' | 'b'): Record<string, unknown> {
  return replicaConfig(member, fastFleet('bake', member, redis.url), {
    upstreams: { stable: stable.url, canary: canary.url },
    routes: [
      {
        name: 'shop',
        match: { pathPrefix: '/' },
        stable: 'stable',
        canary: 'canary',
        weight: 0,
        rollout: { interval: '1s', stages: [{ name: 'ring-1', weight: 10, bake: '2h' }, { name: 'ring-2', weight: 50, bake: '1d' }] },
      },
    ],
  });
}

function spawnMember(file: string): Promise<SplitgateProcess> {
  return spawnSplitgate(file, 20_000, { nodeArgs: ['--import', CLOCK_SHIFT], env: { SPLITGATE_TEST_CLOCK_FILE: clockFile } });
}

/** Moves both replicas' wall clock to `offsetMs` ahead of real time (they re-read the file every 20 ms). */
async function shiftClock(offsetMs: number): Promise<void> {
  writeFileSync(clockFile, String(offsetMs));
  await new Promise((resolve) => setTimeout(resolve, 100));
}

beforeAll(async () => {
  redis = await startRedis();
  [stable, canary] = await startUpstreams('stable', 'canary');
  dir = createTempDir();
  clockFile = join(dir.path, 'clock-offset');
  writeFileSync(clockFile, '0');
  [a, b] = await startLeaderAndFollower(dir, config, spawnMember);
}, 60_000);

afterAll(async () => {
  await Promise.all([killIfRunning(a), killIfRunning(b)]);
  await redis?.stop();
  await Promise.all([stable?.close(), canary?.close()]);
  dir?.remove();
});

describe('a release plan bake across a SIGKILLed leader', () => {
  it('the new leader continues the same stage and leaves it only when the bake, counted from its entry, is done', async () => {
    const entered = await waitForRollout(a!.adminUrl, 'shop', 'ring 1', (s) => s.phase === 'Progressing' && s.step === 0);
    const enteredAt = Date.parse(entered.stageEnteredAt);
    expect(entered.weight).toBe(10);
    // Both replicas' clocks run `offset` ahead of this test's; the bake is judged on theirs.
    await shiftClock(HOUR);
    await waitForRollout(a!.adminUrl, 'shop', 'A to judge a window an hour on', (s) => Date.parse(s.lastWindow?.at ?? 0) - enteredAt >= HOUR);
    expect(await rolloutOf(a!.adminUrl, 'shop')).toMatchObject({ step: 0, stageEnteredAt: entered.stageEnteredAt });

    const client = await connectTestClient(redis.url);
    const epochOfA = Number(await client.get('sg:{bake}:epoch'));
    expect(epochOfA).toBeGreaterThan(0);
    a!.child.kill('SIGKILL');
    await a!.exited;
    await waitFor('B to take the lease', () => leads(b!.adminUrl), 10_000);
    const takenOver = Date.now();
    const baking = await waitForRollout(b!.adminUrl, 'shop', 'a window of B', (s) => Date.parse(s.lastWindow?.at ?? 0) > takenOver + HOUR);
    expect(baking).toMatchObject({ phase: 'Progressing', step: 0, weight: 10, stageEnteredAt: entered.stageEnteredAt });
    expect(baking.message).toMatch(/baking, 5\dm( \d+s)? left of 2h/);

    // One minute before the bake ends (counted from the stage's entry): still ring 1.
    await shiftClock(2 * HOUR - 60_000 - (Date.now() - enteredAt));
    const late = await waitForRollout(b!.adminUrl, 'shop', 'a window of B at 2h - 1m', (s) => Date.parse(s.lastWindow?.at ?? 0) - enteredAt >= 2 * HOUR - 60_000);
    expect(late).toMatchObject({ step: 0, weight: 10, stageEnteredAt: entered.stageEnteredAt });
    expect(late.message).toMatch(/baking, (5\ds|1m) left of 2h/);

    await shiftClock(2 * HOUR);
    const ring2 = await waitForRollout(b!.adminUrl, 'shop', 'ring 2', (s) => s.step === 1);
    expect(ring2).toMatchObject({ phase: 'Progressing', weight: 50 });
    expect(Date.parse(ring2.stageEnteredAt) - enteredAt).toBeGreaterThanOrEqual(2 * HOUR);
    expect(ring2.history).toEqual([expect.objectContaining({ name: 'ring-1', enteredAt: entered.stageEnteredAt, leftAt: ring2.stageEnteredAt })]);
    // B stepped it, under an epoch above A's (the event follows the stored write, which /rollouts may show first).
    await waitFor("B's step event", async () => (await eventsOf(b!.adminUrl, 'shop')).some((e) => e.action === 'rollout.step'));
    expect((await eventsOf(b!.adminUrl, 'shop')).filter((e) => e.action === 'rollout.step').map((e) => e.after?.step)).toEqual([2]);
    expect(Number(await client.get('sg:{bake}:epoch'))).toBeGreaterThan(epochOfA);
    client.destroy();
  }, 60_000);
});
