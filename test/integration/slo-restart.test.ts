/**
 * The error budget survives a restart: a real splitgate with a state file counts a route's failures into its SLO
 * ledger, saves it next to the state file when it stops, and after a restart reads the same burn from it before
 * any new request. A damaged ledger file (not JSON, or JSON `null`) is logged and ignored (the budget starts empty,
 * the proxy starts). A route with an `slo:` and no rollout has its traffic counted and its gauges set all the same.
 */
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { send, waitFor } from '../helpers/http.js';
import { createTempDir, killIfRunning, spawnSplitgate, type SplitgateProcess, type TempDir } from '../helpers/process.js';
import { parsePrometheus, sampleValue } from '../helpers/prometheus.js';
import { SloLedgerBook } from '../../src/metrics/slo-ledger.js';
import { startUpstream, type TestUpstream } from '../helpers/upstreams.js';

let upstream: TestUpstream;
let dir: TempDir;
let running: SplitgateProcess | undefined;

beforeAll(async () => {
  upstream = await startUpstream('both', (req, res) => {
    res.statusCode = req.url?.includes('/fail/') ? 500 : 200;
    res.end();
  });
  dir = createTempDir();
});

afterAll(async () => {
  await killIfRunning(running);
  await upstream?.close();
  dir?.remove();
});

function configFile(workers = 1): string {
  return dir.writeConfig('splitgate.yaml', {
    workers,
    listen: '127.0.0.1:0',
    admin: { listen: '127.0.0.1:0' },
    watch: false,
    state: { file: 'state.json' },
    upstreams: { stable: upstream.url, canary: `${upstream.url}/` },
    routes: [
      // No rollout: nothing but the SLO feed counts its traffic.
      { name: 'idle', match: { pathPrefix: '/idle/' }, stable: 'stable', retry: false, outlier: false, slo: { objective: 99, window: '1h' } },
      {
        name: 'shop',
        match: { pathPrefix: '/' },
        stable: 'stable',
        canary: 'canary',
        weight: 0,
        retry: false,
        outlier: false,
        slo: { objective: 99, window: '1h' },
        rollout: { interval: '1s', stages: [{ name: 'ring', weight: 10, bake: '1d' }], pacing: { fastBurn: 'hold', slowBurn: 'hold', budgetFloor: 0 } },
      },
    ],
  });
}

async function burn6m(adminUrl: string): Promise<number | undefined> {
  return sampleValue(parsePrometheus((await send(adminUrl, '/metrics')).text), 'splitgate_slo_burn_rate', { route: 'shop', window: '6m' });
}

describe('error budget across a restart', () => {
  it('a restarted splitgate reads the burn of the traffic before the restart from the saved ledger', async () => {
    const file = configFile();
    running = await spawnSplitgate(file);
    for (let i = 0; i < 40; i++) expect((await send(running.url, i < 10 ? `/fail/${i}` : `/ok/${i}`)).status).toBe(i < 10 ? 500 : 200);
    // 10 of 40 failing on a 99 % SLO: a burn of 25.
    await waitFor('the burn of the first run', async () => (await burn6m(running!.adminUrl)) === 25, 10_000);
    expect((await running.stop()).code).toBe(0);
    const ledgerFile = join(dir.path, 'state.json.slo');
    expect(existsSync(ledgerFile)).toBe(true);
    expect(new SloLedgerBook({ file: ledgerFile }).entryFor('shop', 3_600_000).ledger.counts(Date.now(), 3_600_000)).toEqual({ requests: 40, errors: 10 });

    running = await spawnSplitgate(file);
    expect(await burn6m(running.adminUrl)).toBeUndefined();
    await waitFor('the saved burn after the restart', async () => (await burn6m(running!.adminUrl)) === 25, 10_000);
    expect((await running.stop()).code).toBe(0);

    for (const damaged of ['{ not json', 'null']) {
      writeFileSync(ledgerFile, damaged);
      running = await spawnSplitgate(file);
      expect(running.logLines.some((line) => String(line.msg).startsWith(`SLO ledger ${ledgerFile} not loaded, starting empty`))).toBe(true);
      expect((await send(running.url, '/ok/again')).status).toBe(200);
      expect((await running.stop()).code).toBe(0);
    }
  }, 60_000);

  // Before SloFeed, a route's ledger was fed only by its rollout's windows: without a rollout, never.
  it.each([1, 2])('a route with slo: and no rollout: its traffic reaches the burn-rate and budget gauges (workers: %i)', async (workers) => {
    rmSync(join(dir.path, 'state.json.slo'), { force: true });
    running = await spawnSplitgate(configFile(workers), 20_000);
    for (let i = 0; i < 20; i++) expect((await send(running.url, i < 2 ? `/idle/fail/${i}` : `/idle/ok/${i}`)).status).toBe(i < 2 ? 500 : 200);
    // 2 of 20 failing on a 99 % SLO: a burn of 10, and 1 - 10 of the budget left.
    const idle = async () => {
      const metrics = parsePrometheus((await send(running!.adminUrl, '/metrics')).text);
      return [sampleValue(metrics, 'splitgate_slo_burn_rate', { route: 'idle', window: '6m' }), sampleValue(metrics, 'splitgate_slo_error_budget_remaining', { route: 'idle' })];
    };
    await waitFor('the idle route\'s burn', async () => (await idle())[0] === 10, 15_000);
    expect((await idle())[1]).toBe(-9);
    expect((await running.stop()).code).toBe(0);
  }, 60_000);
});
