/**
 * `workers: 2` with `listen: 127.0.0.1:0`: the first worker's bind picks the port (no port probed, closed and bound
 * again, which another process could take in between), every worker serves that one port, and replacements keep
 * it, in either listening mode (reusePort on Node >= 22.12, node:cluster on Node 20). Real processes and signals.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { send, waitFor } from '../helpers/http.js';
import { createTempDir, killIfRunning, spawnSplitgate, type SplitgateProcess, type TempDir } from '../helpers/process.js';
import { echoHandler, startUpstream, type TestUpstream } from '../helpers/upstreams.js';
import { requestsPerWorker, spawnedConfig, supervisorStatus, type SupervisorStatus } from '../helpers/workers.js';

let upstream: TestUpstream;
let dir: TempDir;
let proxy: SplitgateProcess | undefined;

beforeAll(async () => {
  upstream = await startUpstream('stable', echoHandler('stable'));
  dir = createTempDir();
  const config = spawnedConfig(2, { upstreams: { stable: upstream.url }, routes: [{ name: 'all', stable: 'stable' }] });
  expect(config.listen).toBe('127.0.0.1:0');
  proxy = await spawnSplitgate(dir.writeConfig('port-zero.yaml', config));
});

afterAll(async () => {
  await killIfRunning(proxy);
  await upstream?.close();
  dir?.remove();
});

/** Fresh connections (send's default), so that whichever way the port is shared, both workers take some. */
async function servedBy(url: string, requests = 40): Promise<Map<number, number>> {
  const before = requestsPerWorker((await supervisorStatus(proxy!.adminUrl)).workers!);
  for (let i = 0; i < requests; i++) expect((await send(url, `/r${i}`)).status).toBe(200);
  const after = requestsPerWorker((await supervisorStatus(proxy!.adminUrl)).workers!);
  return new Map([...after].map(([pid, served]) => [pid, served - (before.get(pid) ?? 0)]));
}

async function bothReplaced(killed: readonly number[]): Promise<SupervisorStatus> {
  let view: SupervisorStatus | undefined;
  await waitFor(
    'replacements listening',
    async () => {
      view = await supervisorStatus(proxy!.adminUrl);
      return view.workers!.every((w) => w.listening && !killed.includes(w.pid));
    },
    5_000,
  );
  return view!;
}

describe('workers: 2 on port 0', () => {
  it('serves one kernel-chosen port from both workers', async () => {
    const port = Number(new URL(proxy!.url).port);
    expect(port).toBeGreaterThan(0);
    expect((await supervisorStatus(proxy!.adminUrl)).port).toBe(port);
    const served = await servedBy(proxy!.url);
    expect([...served.values()].every((count) => count > 0)).toBe(true);
    expect([...served.values()].reduce((a, b) => a + b, 0)).toBe(40);
  });

  it('keeps the port when a worker is replaced, then when the other one is', async () => {
    const { workers } = await supervisorStatus(proxy!.adminUrl);
    for (const victim of workers!) {
      process.kill(victim.pid, 'SIGKILL');
      await bothReplaced([victim.pid]);
    }
    const served = await servedBy(proxy!.url);
    const now = (await supervisorStatus(proxy!.adminUrl)).workers!.map((w) => w.pid);
    expect(now.some((pid) => workers!.some((w) => w.pid === pid))).toBe(false);
    expect(now.every((pid) => (served.get(pid) ?? 0) > 0)).toBe(true);
  });

  it('keeps the port when both workers die at once', async () => {
    const view = await supervisorStatus(proxy!.adminUrl);
    const pids = view.workers!.map((w) => w.pid);
    for (const pid of pids) process.kill(pid, 'SIGKILL');
    const after = await bothReplaced(pids);
    // Under node:cluster the primary's port-0 listener closed with the last worker: the replacements bind the number.
    expect(after.port).toBe(view.port);
    const served = await servedBy(proxy!.url);
    expect([...served.values()].every((count) => count > 0)).toBe(true);
    expect(proxy!.logLines.some((line) => typeof line.msg === 'string' && line.msg.startsWith('the proxy port changed'))).toBe(false);
  });
});
