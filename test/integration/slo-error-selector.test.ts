/**
 * `slo.sli.errors` through the real proxy: a supervisor with two workers (dist/bin.js) in front of an upstream that
 * answers every fourth request 429. The route whose SLO counts `code=~"5..|429"` burns its budget at 25 (a quarter
 * of requests bad on a 99 % objective), counted in the workers and summed in the supervisor's ledger; the same
 * traffic on a route with the default selector (5xx) burns nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { send, waitFor } from '../helpers/http.js';
import { assertBuilt, createTempDir, killIfRunning, spawnSplitgate, type SplitgateProcess, type TempDir } from '../helpers/process.js';
import { parsePrometheus, sampleValue } from '../helpers/prometheus.js';
import { startUpstream, type TestUpstream } from '../helpers/upstreams.js';

let upstream: TestUpstream;
let dir: TempDir;
let running: SplitgateProcess | undefined;

beforeAll(async () => {
  assertBuilt();
  // Counted per route, whichever version (stable and canary are this one server) the request went to.
  const served = new Map<string, number>();
  upstream = await startUpstream('both', (req, res) => {
    const route = req.url!.includes('/limited/') ? 'limited' : 'plain';
    const n = (served.get(route) ?? 0) + 1;
    served.set(route, n);
    res.statusCode = n % 4 === 0 ? 429 : 200;
    res.end();
  });
  dir = createTempDir();
});

afterAll(async () => {
  await killIfRunning(running);
  await upstream?.close();
  dir?.remove();
});

const route = (name: string, sli: Record<string, unknown> | undefined) => ({
  name,
  match: { pathPrefix: `/${name}` },
  stable: 'stable',
  canary: 'canary',
  weight: 0,
  retry: false,
  outlier: false,
  slo: { objective: 99, window: '1h', ...(sli ? { sli } : {}) },
  rollout: { interval: '1s', stages: [{ name: 'ring', weight: 10, bake: '1d' }], pacing: { fastBurn: 'hold', slowBurn: 'hold', budgetFloor: 0 } },
});

async function burn6m(adminUrl: string, name: string): Promise<number | undefined> {
  return sampleValue(parsePrometheus((await send(adminUrl, '/metrics')).text), 'splitgate_slo_burn_rate', { route: name, window: '6m' });
}

describe('slo.sli.errors through the proxy, workers: 2', () => {
  it('counts 429s against the budget where the selector names them, and not by default', async () => {
    const file = dir.writeConfig('splitgate.yaml', {
      listen: '127.0.0.1:0',
      admin: { listen: '127.0.0.1:0' },
      watch: false,
      state: { file: false },
      workers: 2,
      upstreams: { stable: upstream.url, canary: `${upstream.url}/` },
      routes: [route('limited', { errors: 'code=~"5..|429"' }), route('plain', undefined)],
    });
    running = await spawnSplitgate(file, 20_000);
    for (const name of ['limited', 'plain']) {
      for (let i = 1; i <= 40; i++) expect((await send(running.url, `/${name}/${i}`)).status).toBe(i % 4 === 0 ? 429 : 200);
    }
    // 10 of 40 bad on a 99 % SLO: a burn of 0.25 / 0.01 = 25.
    await waitFor('the 429s in the burn rate', async () => (await burn6m(running!.adminUrl, 'limited')) === 25, 15_000);
    await waitFor('the default route read', async () => (await burn6m(running!.adminUrl, 'plain')) !== undefined, 15_000);
    expect(await burn6m(running.adminUrl, 'plain')).toBe(0);
    const exposition = parsePrometheus((await send(running.adminUrl, '/metrics')).text);
    expect(sampleValue(exposition, 'splitgate_slo_error_budget_remaining', { route: 'limited' })).toBe(-24);
    expect(sampleValue(exposition, 'splitgate_slo_error_budget_remaining', { route: 'plain' })).toBe(1);
    expect((await running.stop()).code).toBe(0);
  }, 60_000);
});
