/**
 * With `workers: 2`, flags are evaluated in the workers (the table the supervisor sends carries the definitions)
 * and splitgate_flag_evaluations_total reaches the supervisor's one /metrics once per series, summed over the
 * workers. Real processes (dist/bin.js).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inParallel, send, waitFor } from '../helpers/http.js';
import { parsePrometheus, sampleValue, samplesOf } from '../helpers/prometheus.js';
import { createTempDir, killIfRunning, spawnSplitgate, type SplitgateProcess, type TempDir } from '../helpers/process.js';
import { startUpstream, type TestUpstream } from '../helpers/upstreams.js';
import { requestsPerWorker, supervisorStatus } from '../helpers/workers.js';

const ROUND = 40;
let stable: TestUpstream;
let dir: TempDir;
let sg: SplitgateProcess | undefined;

beforeAll(async () => {
  stable = await startUpstream('stable');
  dir = createTempDir();
  sg = await spawnSplitgate(
    dir.writeConfig('workers.yaml', {
      listen: '127.0.0.1:0',
      admin: { listen: '127.0.0.1:0' },
      workers: 2,
      watch: false,
      state: { file: false },
      upstreams: { stable: stable.url },
      flags: { definitions: { flags: { beta: { state: 'ENABLED', variants: { on: true, off: false }, defaultVariant: 'off' } } } },
      routes: [{ name: 'api', stable: 'stable' }],
    }),
  );
});

afterAll(async () => {
  await killIfRunning(sg);
  await stable?.close();
  dir?.remove();
});

describe('workers: 2, flags', () => {
  it('every worker sends the header, and the supervisor counts each evaluation once', async () => {
    const replies = await inParallel(ROUND, 6, (i) => send(sg!.url, `/r/${i}`));
    expect(replies.every((r) => r.status === 200)).toBe(true);
    expect(stable.seen.slice(-ROUND).every((request) => request.headers['x-splitgate-flags'] === 'beta=?0')).toBe(true);
    const perWorker = requestsPerWorker((await supervisorStatus(sg!.adminUrl)).workers ?? []);
    expect([...perWorker.values()].filter((n) => n > 0).length).toBe(2);

    let samples = parsePrometheus((await send(sg!.adminUrl, '/metrics')).text);
    await waitFor('flag counts from both workers', async () => {
      samples = parsePrometheus((await send(sg!.adminUrl, '/metrics')).text);
      return sampleValue(samples, 'splitgate_flag_evaluations_total', { flag: 'beta', variant: 'off', reason: 'STATIC' }) === ROUND;
    });
    expect(samplesOf(samples, 'splitgate_flag_evaluations_total')).toHaveLength(1);
  });
});
