/**
 * Workers that go away at awkward moments, with real processes and signals:
 * - a worker that dies while a routing change waits for its ack is replaced by the spare, and the change must not
 *   take that healthy replacement for the worker that did not answer (it used to SIGKILL it);
 * - a supervisor that dies (SIGKILL) leaves its workers to finish the requests they are serving, as the README says,
 *   instead of node:cluster's immediate exit cutting them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inParallel, send, waitFor } from '../helpers/http.js';
import { createTempDir, killIfRunning, spawnSplitgate, type SplitgateProcess, type TempDir } from '../helpers/process.js';
import { echoHandler, startUpstream, type TestUpstream } from '../helpers/upstreams.js';
import { isRunning, spawnedConfig, supervisorStatus } from '../helpers/workers.js';

const SLOW_MS = 1_500;

let stable: TestUpstream;
let canary: TestUpstream;
let dir: TempDir;
let proxy: SplitgateProcess | undefined;
const workerPids: number[] = [];

beforeAll(async () => {
  const slowOrEcho = (version: string) => {
    const echo = echoHandler(version);
    return (req: Parameters<typeof echo>[0], res: Parameters<typeof echo>[1]) => {
      if (req.url?.includes('slow')) setTimeout(() => echo(req, res), SLOW_MS);
      else echo(req, res);
    };
  };
  [stable, canary] = await Promise.all([startUpstream('stable', slowOrEcho('stable')), startUpstream('canary', slowOrEcho('canary'))]);
  dir = createTempDir();
  const config = spawnedConfig(2, {
    shutdown: { drainTimeout: '5s' },
    upstreams: { stable: stable.url, canary: canary.url },
    routes: [{ name: 'api', stable: 'stable', canary: 'canary', weight: 50 }],
  });
  proxy = await spawnSplitgate(dir.writeConfig('lost.yaml', config));
});

afterAll(async () => {
  await killIfRunning(proxy);
  for (const pid of workerPids) if (isRunning(pid)) process.kill(pid, 'SIGKILL');
  await Promise.all([stable?.close(), canary?.close()]);
  dir?.remove();
});

describe('workers lost mid-change', () => {
  it('a worker killed while a change waits for its ack: the spare that replaces it is not restarted', async () => {
    await waitFor('a loaded spare worker', async () => typeof (await supervisorStatus(proxy!.adminUrl)).sparePid === 'number');
    // A worker that dies within a second of its start is replaced a second later (the crash-loop guard), not by the
    // spare at once: the stopped one must be older than that for the spare to be put in while the change waits.
    await new Promise((resolve) => setTimeout(resolve, 1_200));
    const before = await supervisorStatus(proxy!.adminUrl);
    const [stopped] = before.workers!;
    process.kill(stopped.pid, 'SIGSTOP');
    const change = send(proxy!.adminUrl, '/routes/api/kill', { method: 'POST' });
    // The call is waiting for the stopped worker; it dies, and the spare takes its slot at once.
    await new Promise((resolve) => setTimeout(resolve, 300));
    process.kill(stopped.pid, 'SIGKILL');
    const answer = await change;
    expect(answer.status).toBe(200);
    expect(answer.json().workers.unacknowledged).toEqual([]);
    let after = await supervisorStatus(proxy!.adminUrl);
    await waitFor('the replacement listening', async () => {
      after = await supervisorStatus(proxy!.adminUrl);
      const slot = after.workers!.find((w) => w.slot === stopped.slot)!;
      return slot.pid !== stopped.pid && slot.listening;
    });
    const replacement = after.workers!.find((w) => w.slot === stopped.slot)!;
    expect(replacement.pid).toBe(before.sparePid);
    // Still the same process a moment later, serving, with the kill in force.
    await new Promise((resolve) => setTimeout(resolve, 500));
    const later = await supervisorStatus(proxy!.adminUrl);
    expect(later.workers!.find((w) => w.slot === stopped.slot)!.pid).toBe(replacement.pid);
    expect(isRunning(replacement.pid)).toBe(true);
    expect(proxy!.logLines.some((line) => line.msg === 'worker did not confirm the new table: restarting it')).toBe(false);
    const versions = await inParallel(20, 4, async () => (await send(proxy!.url, '/')).json<{ version: string }>().version);
    expect(new Set(versions)).toEqual(new Set(['stable']));
  });

  it('a SIGKILLed supervisor: its workers finish the requests in flight, then exit', async () => {
    const { workers, sparePid } = await supervisorStatus(proxy!.adminUrl);
    workerPids.push(...workers!.map((w) => w.pid), ...(sparePid ? [sparePid] : []));
    // Fresh connections, so both workers hold some of them whichever way the port is shared.
    const inFlight = Array.from({ length: 6 }, (_, i) => send(proxy!.url, `/slow/${i}`));
    await new Promise((resolve) => setTimeout(resolve, 400));
    proxy!.child.kill('SIGKILL');
    const answers = await Promise.all(inFlight.map((reply) => reply.then((r) => r.status, (error: Error) => error.message)));
    expect(answers).toEqual([200, 200, 200, 200, 200, 200]);
    await waitFor('every worker gone', () => workerPids.every((pid) => !isRunning(pid)), 8_000);
  });
});
