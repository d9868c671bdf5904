/**
 * The error budget survives a restart: a real splitgate with a state file counts a route's failures into its SLO
 * ledger, saves it next to the state file when it stops, and after a restart reads the same burn from it before
 * any new request. A damaged ledger file is logged and ignored (the budget starts empty, the proxy starts).
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { send, waitFor } from '../helpers/http.js';
import { createTempDir, killIfRunning, spawnSplitgate, type SplitgateProcess, type TempDir } from '../helpers/process.js';
import { parsePrometheus, sampleValue } from '../helpers/prometheus.js';
import { startUpstream, type TestUpstream } from '../helpers/upstreams.js';

let upstream: TestUpstream;
let dir: TempDir;
let running: SplitgateProcess | undefined;

beforeAll(async () => {
  upstream = await startUpstream('both', (req, res) => {
    res.statusCode = req.url?.startsWith('/fail') ? 500 : 200;
    res.end();
  });
  dir = createTempDir();
});

afterAll(async () => {
  await killIfRunning(running);
  await upstream?.close();
  dir?.remove();
});

function configFile(): string {
  return dir.writeConfig('splitgate.yaml', {
    listen: '127.0.0.1:0',
    admin: { listen: '127.0.0.1:0' },
    watch: false,
    state: { file: 'state.json' },
    upstreams: { stable: upstream.url, canary: `${upstream.url}/` },
    routes: [
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
    const saved = JSON.parse(readFileSync(ledgerFile, 'utf8'));
    expect(saved.routes.shop.minutes.reduce((sum: number, [, requests]: number[]) => sum + requests, 0)).toBe(40);

    running = await spawnSplitgate(file);
    expect(await burn6m(running.adminUrl)).toBeUndefined();
    await waitFor('the saved burn after the restart', async () => (await burn6m(running!.adminUrl)) === 25, 10_000);
    expect((await running.stop()).code).toBe(0);

    writeFileSync(ledgerFile, '{ not json');
    running = await spawnSplitgate(file);
    expect(running.logLines.some((line) => String(line.msg).startsWith(`SLO ledger ${ledgerFile} not loaded, starting empty`))).toBe(true);
    expect((await send(running.url, '/ok/again')).status).toBe(200);
    expect((await running.stop()).code).toBe(0);
  }, 60_000);
});
