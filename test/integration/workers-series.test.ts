/**
 * With `workers: 2`, the dashboard's charts (GET /series) and verdict come from the supervisor's sums of both
 * workers' counts: once a step is complete, its request rate times its length is exactly the requests sent, split
 * by version as the upstreams saw them, and the verdict's checks count the same. Real processes (dist/bin.js), real upstreams.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inParallel, send } from '../helpers/http.js';
import { createTempDir, killIfRunning, spawnSplitgate, type SplitgateProcess, type TempDir } from '../helpers/process.js';
import { startUpstreams, type TestUpstream } from '../helpers/upstreams.js';
import { requestsPerWorker, supervisorStatus } from '../helpers/workers.js';

const SENT = 80;
let upstreams: TestUpstream[] = [];
let dir: TempDir;
let sg: SplitgateProcess | undefined;

beforeAll(async () => {
  upstreams = await startUpstreams('stable', 'canary');
  dir = createTempDir();
  sg = await spawnSplitgate(
    dir.writeConfig('workers.yaml', {
      listen: '127.0.0.1:0',
      admin: { listen: '127.0.0.1:0' },
      workers: 2,
      watch: false,
      state: { file: false },
      upstreams: { stable: upstreams[0].url, canary: upstreams[1].url },
      routes: [{ name: 'api', stable: 'stable', canary: 'canary', weight: 50 }],
    }),
  );
});

afterAll(async () => {
  await killIfRunning(sg);
  await Promise.all(upstreams.map((u) => u.close()));
  dir?.remove();
});

describe('workers: 2, the dashboard series', () => {
  it('sums both workers into the 10 s steps of /series, exactly', async () => {
    // Fresh connections, so both workers take some.
    const replies = await inParallel(SENT, 4, (i) => send(sg!.url, `/item/${i}`));
    expect(replies.every((r) => r.status === 200)).toBe(true);
    const perWorker = requestsPerWorker((await supervisorStatus(sg!.adminUrl)).workers ?? []);
    expect([...perWorker.values()].filter((n) => n > 0).length).toBe(2);
    const seen = { stable: upstreams[0].seen.length, canary: upstreams[1].seen.length };
    expect(seen.stable + seen.canary).toBe(SENT);

    // The steps before the one in progress, summed, once the traffic's steps are over (at most ~2 steps' wait).
    const complete = async () => {
      const series = (await send(sg!.adminUrl, '/series?route=api')).json<{ stepSeconds: number; versions: Record<'stable' | 'canary', { rps: Array<number | null> }> }>();
      const total = (rps: Array<number | null>) => Math.round(rps.slice(0, -1).reduce<number>((sum, v) => sum + (v ?? 0), 0) * series.stepSeconds);
      return { stable: total(series.versions.stable.rps), canary: total(series.versions.canary.rps) };
    };
    await expect.poll(complete, { timeout: 25_000, interval: 500 }).toEqual(seen);

    // The verdict judges the same sums (its window, the last 60 s, holds all of them).
    const route = (await send(sg!.adminUrl, '/status')).json<{ routes: Array<{ verdict: { checks: Array<{ check: string; sample: unknown }> } }> }>().routes[0];
    expect(route.verdict.checks.find((c) => c.check === 'success-rate')?.sample).toEqual(seen);
  });
});
