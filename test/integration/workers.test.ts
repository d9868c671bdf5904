/**
 * `workers: 2` behaves as one splitgate: the same decisions as `workers: 1` for the same keys, a kill switch or a
 * weight in force on the very next request whichever worker takes it, one /metrics with exact totals, a SIGHUP
 * reload on every worker, a SIGKILLed worker replaced within a second, and a SIGTERM that drains every worker.
 * Real processes (dist/bin.js) and real signals. On Node >= 22.12 the workers bind with reusePort, on Node 20 they
 * share node:cluster's listener; /status says which.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { supportsReusePort } from '../../src/cluster/ipc.js';
import { bucketOf } from '../../src/routing/hash.js';
import { inParallel, send, waitFor } from '../helpers/http.js';
import { startLoad } from '../helpers/load.js';
import { createTempDir, killIfRunning, runCli, spawnSplitgate, type SplitgateProcess, type TempDir } from '../helpers/process.js';
import { startUpstream, echoHandler, type TestUpstream } from '../helpers/upstreams.js';
import { countsSettled, isRunning, requestsPerWorker, requestsTotal, spawnedConfig, type SupervisorStatus, supervisorStatus } from '../helpers/workers.js';

const KEYS = Array.from({ length: 200 }, (_, i) => `user-${i}-${(i * 7919) % 1000}`);
/** Fresh connections per request (send's default), so both workers take some whichever way the port is shared. */
const ROUND = 40;

let stable: TestUpstream;
let canary: TestUpstream;
let dir: TempDir;
let multiFile: string;
let multi: SplitgateProcess | undefined;
let single: SplitgateProcess | undefined;

function config(workers: number, reloadWeight = 0): Record<string, unknown> {
  return spawnedConfig(workers, {
    // The access log on: a test reads both workers' lines.
    log: { level: 'info' },
    shutdown: { drainTimeout: '5s' },
    upstreams: { stable: stable.url, canary: canary.url },
    routes: [
      { name: 'shop', match: { pathPrefix: '/shop' }, stable: 'stable', canary: 'canary', weight: 37.5, sticky: { key: ['header:x-user-id'] } },
      { name: 'flip', match: { pathPrefix: '/flip' }, stable: 'stable', canary: 'canary', weight: 0 },
      { name: 'reload', match: { pathPrefix: '/reload' }, stable: 'stable', canary: 'canary', weight: reloadWeight },
    ],
  });
}

beforeAll(async () => {
  const slowOrEcho = (version: string) => {
    const echo = echoHandler(version);
    return (req: Parameters<typeof echo>[0], res: Parameters<typeof echo>[1]) => {
      if (req.url?.includes('slow')) setTimeout(() => echo(req, res), 400);
      else echo(req, res);
    };
  };
  [stable, canary] = await Promise.all([startUpstream('stable', slowOrEcho('stable')), startUpstream('canary', slowOrEcho('canary'))]);
  dir = createTempDir();
  multiFile = dir.writeConfig('workers.yaml', config(2));
  [multi, single] = await Promise.all([spawnSplitgate(multiFile), spawnSplitgate(dir.writeConfig('single.yaml', config(1)))]);
});

afterAll(async () => {
  await Promise.all([killIfRunning(multi), killIfRunning(single)]);
  await Promise.all([stable?.close(), canary?.close()]);
  dir?.remove();
});

function status(instance: SplitgateProcess): Promise<SupervisorStatus> {
  return supervisorStatus(instance.adminUrl);
}

/** `ROUND` requests to `path`, each on a new connection; the versions that answered. */
async function versions(instance: SplitgateProcess, path: string): Promise<string[]> {
  return inParallel(ROUND, 8, async () => {
    const res = await send(instance.url, path);
    expect(res.status).toBe(200);
    return res.json<{ version: string }>().version;
  });
}

describe('workers: 2', () => {
  it('runs a supervisor and two workers, and /status says how they share the port', async () => {
    const view = await status(multi!);
    expect(view.listening).toBe(supportsReusePort() ? 'reusePort' : 'cluster');
    expect(view.workers).toHaveLength(2);
    const pids = view.workers!.map((w) => w.pid);
    expect(new Set(pids).size).toBe(2);
    expect(pids).not.toContain(multi!.pid);
    expect(view.workers!.every((w) => w.listening && w.generation === view.generation)).toBe(true);
    // workers: 1 stays one process: no workers list, no listening mode.
    const one = await status(single!);
    expect(one.workers).toBeUndefined();
    expect(one.listening).toBe('single');
    // The supervisor holds its young generation at V8's initial size from its first line; the single process,
    // a proxy, lets it grow (src/process-footprint.ts).
    expect(view.process.youngGenerationHeld).toBe(true);
    // 2 MB, now and then 4 MB on a busy Node 24 (see test/process-footprint.test.ts), which was this bound exactly:
    // 8 MB leaves V8 one more doubling under load, and unheld it grows to 32–128 MB, so a lost hold still fails.
    console.log(`workers: supervisor young generation ${(view.process.youngGenerationBytes / 1024 / 1024).toFixed(1)} MB (held)`);
    expect(view.process.youngGenerationBytes).toBeLessThanOrEqual(8 * 1024 * 1024);
    expect(one.process.youngGenerationHeld).toBe(false);
    // The supervisor runs unoptimized code (under node:cluster until connections come fast, see the next case);
    // the single process, a proxy, optimizes.
    expect(view.process.optimizingCompilers).toBe(false);
    expect(one.process.optimizingCompilers).toBe(true);
    expect(view.process.rssBytes).toBeGreaterThan(0);
    // Each worker's resident memory, read by the supervisor from /proc: a Node process is tens of MB.
    for (const worker of view.workers!) {
      expect(worker.rssBytes).toBeGreaterThan(20 * 1024 * 1024);
      expect(worker.rssBytes).toBeLessThan(1024 * 1024 * 1024);
    }
  });

  it('under node:cluster, optimizes the supervisor once connections come fast; with reusePort it is off their path', async () => {
    // ConnectionRateWatch: 100 new connections a second over 3 intervals of 2 s. `send` opens one per request.
    const cluster = !supportsReusePort();
    const started = Date.now();
    let sent = 0;
    let optimizing = false;
    while (Date.now() - started < (cluster ? 20_000 : 8_000) && !optimizing) {
      await inParallel(200, 8, async () => {
        expect((await send(multi!.url, '/flip/fast-connections')).status).toBe(200);
        sent++;
      });
      optimizing = (await status(multi!)).process.optimizingCompilers;
    }
    const elapsedSeconds = (Date.now() - started) / 1000;
    console.log(`workers: ${sent} new connections in ${elapsedSeconds.toFixed(1)} s, ${(sent / elapsedSeconds).toFixed(0)}/s (${cluster ? 'cluster' : 'reusePort'})`);
    expect(optimizing).toBe(cluster);
    if (!cluster) {
      // Well over the watch's rate for longer than it watches, or staying held would prove nothing.
      expect(sent / elapsedSeconds).toBeGreaterThan(200);
      expect(elapsedSeconds).toBeGreaterThanOrEqual(8);
    }
  });

  it('sends every sticky key to the same version as workers: 1, at the configured split', async () => {
    const decide = (instance: SplitgateProcess) =>
      inParallel(KEYS.length, 8, async (i) => (await send(instance.url, '/shop/cart', { headers: { 'x-user-id': KEYS[i] } })).json<{ version: string }>().version);
    const before = requestsPerWorker((await status(multi!)).workers!);
    const [many, one] = await Promise.all([decide(multi!), decide(single!)]);
    expect(many).toEqual(one);
    expect(many).toEqual(KEYS.map((key) => (bucketOf('shop', key) < 3750 ? 'canary' : 'stable')));
    const after = (await status(multi!)).workers!;
    // Both workers decided some of them.
    for (const worker of after) expect(worker.requests - (before.get(worker.pid) ?? 0)).toBeGreaterThan(0);
  });

  it('puts a weight and a kill switch in force on the very next request, whichever worker takes it', async () => {
    expect(new Set(await versions(multi!, '/flip'))).toEqual(new Set(['stable']));
    const before = requestsPerWorker((await status(multi!)).workers!);

    const weighted = await send(multi!.adminUrl, '/routes/flip/weight', { method: 'PUT', body: JSON.stringify({ weight: 100 }) });
    expect(weighted.status).toBe(200);
    expect(weighted.json().workers).toEqual({ acknowledged: 2, unacknowledged: [] });
    expect(new Set(await versions(multi!, '/flip'))).toEqual(new Set(['canary']));

    const killed = await send(multi!.adminUrl, '/routes/flip/kill', { method: 'POST' });
    expect(killed.status).toBe(200);
    expect(killed.json()).toMatchObject({ killed: true, workers: { acknowledged: 2, unacknowledged: [] } });
    expect(new Set(await versions(multi!, '/flip'))).toEqual(new Set(['stable']));

    const view = await status(multi!);
    for (const worker of view.workers!) {
      expect(worker.generation).toBe(killed.json().generation);
      expect(worker.requests - (before.get(worker.pid) ?? 0)).toBeGreaterThan(0);
    }
  });

  it('/metrics counts every request once, summed over the workers', async () => {
    const total = async () => requestsTotal((await send(multi!.adminUrl, '/metrics')).text);
    // Nothing is in flight, so the total stands still: two reads in a row that agree are taken as the whole of it
    // (a read that left out a slow worker's counts is below the next, which has its late answer), so the
    // difference below does not start from a short total.
    let previous = -1;
    const before = await countsSettled(total, (n) => {
      const same = n === previous;
      previous = n;
      return same;
    });
    await versions(multi!, '/shop/metrics');
    await versions(multi!, '/flip/metrics');
    const after = await countsSettled(total, (n) => n - before === 2 * ROUND);
    expect(after - before).toBe(2 * ROUND);
    // One exposition: no per-worker series.
    expect((await send(multi!.adminUrl, '/metrics')).text).not.toMatch(/worker="/);
    // Both workers' access log lines reach the shared stdout whole (each stdout line parsed as JSON).
    await waitFor('access log lines of both workers', () => new Set(multi!.logLines.filter((l) => l.msg === 'request').map((l) => l.worker)).size === 2);
  });

  it('names a worker that does not confirm a change within 2 s, and restarts it with the table in force', async () => {
    const [stopped] = (await status(multi!)).workers!;
    process.kill(stopped.pid, 'SIGSTOP');
    const startedAt = Date.now();
    const answer = await send(multi!.adminUrl, '/routes/shop/weight', { method: 'PUT', body: JSON.stringify({ weight: 37.5 }) });
    expect(answer.status).toBe(200);
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(1_900);
    expect(answer.json().workers).toEqual({ acknowledged: 1, unacknowledged: [{ worker: stopped.slot, pid: stopped.pid }] });
    await waitFor(
      'the replacement of the stopped worker',
      async () => {
        const slot = (await status(multi!)).workers!.find((w) => w.slot === stopped.slot)!;
        return slot.pid !== stopped.pid && slot.listening && slot.generation === answer.json().generation;
      },
      4_000,
    );
  });

  it('applies a SIGHUP reload on every worker', async () => {
    expect(new Set(await versions(multi!, '/reload'))).toEqual(new Set(['stable']));
    const generation = (await status(multi!)).generation;
    dir.writeConfig('workers.yaml', config(2, 100));
    multi!.child.kill('SIGHUP');
    await waitFor('the reload on every worker', async () => {
      const view = await status(multi!);
      return view.generation > generation && view.workers!.every((w) => w.generation === view.generation);
    });
    expect(new Set(await versions(multi!, '/reload'))).toEqual(new Set(['canary']));
  });

  it('replaces a SIGKILLed worker within a second by the loaded spare; only its connections fail', async () => {
    const load = startLoad(multi!.url, { concurrency: 4, path: '/shop/load', pauseMs: 5, durationMs: 10_000 });
    await waitFor('some load', () => load.stats().sent > 20);
    // The previous test's replacement used the spare; its successor is forked once that replacement listens.
    await waitFor('a loaded spare worker', async () => typeof (await status(multi!)).sparePid === 'number');
    const { workers, sparePid } = await status(multi!);
    // The worker that was never restarted: one that dies within a second of its start is replaced only after a
    // second (the crash-loop guard), and the previous tests restarted the other.
    const victim = workers!.find((w) => w.restarts === 0)!;
    const survivor = workers!.find((w) => w !== victim)!;
    const killedAt = Date.now();
    process.kill(victim.pid, 'SIGKILL');
    await waitFor(
      'a replacement worker',
      async () => {
        const view = await status(multi!);
        const slot = view.workers!.find((w) => w.slot === victim.slot)!;
        return slot.pid !== victim.pid && slot.listening;
      },
      3_000,
    );
    const seenReplacedInMs = Date.now() - killedAt;
    const sentAtReplacement = load.stats().sent;
    await waitFor('load after the replacement', () => load.stats().sent > sentAtReplacement + 20);
    const stats = await load.stop();
    // Polling /status adds up to its 200 ms counter collection (the killed worker is asked until its exit is seen).
    expect(seenReplacedInMs).toBeLessThan(2_500);
    // Only requests on the killed worker's connections (at most one in flight per load connection) may fail.
    expect(stats.failed).toBeLessThanOrEqual(4);
    expect(Object.keys(stats.byStatus)).toEqual(['200']);
    const view = await status(multi!);
    expect(view.workers!.find((w) => w.slot === survivor.slot)!.pid).toBe(survivor.pid);
    const events = (await send(multi!.adminUrl, '/events')).json<{ events: Array<{ time: string; action: string; after?: { pid?: number } }> }>().events;
    expect(events.some((e) => e.action === 'worker.exit' && e.after?.pid === victim.pid)).toBe(true);
    const replacement = view.workers!.find((w) => w.slot === victim.slot)!;
    expect(replacement.pid).toBe(sparePid);
    const started = events.find((e) => e.action === 'worker.started' && e.after?.pid === replacement.pid);
    expect(started).toBeDefined();
    // The spare only compiles the table and listens: tens of ms on an idle machine (a fork, Node's boot and module
    // loading took 0.5-1 s). The bound is loose for a loaded CI machine; the figure goes to the test log.
    const replacedInMs = Date.parse(started!.time) - killedAt;
    console.info(`SIGKILL -> replacement listening: ${replacedInMs} ms (seen through /status after ${seenReplacedInMs} ms), Node ${process.version}, ${view.listening}`);
    expect(replacedInMs).toBeLessThan(1_000);
    // The replacement started from the table in force, reload and kill switch included.
    expect(replacement.generation).toBe(view.generation);
    expect(new Set(await versions(multi!, '/flip'))).toEqual(new Set(['stable']));
    expect(new Set(await versions(multi!, '/reload'))).toEqual(new Set(['canary']));
  });

  it('a second splitgate on the same proxy port fails to start (with reusePort it would share the connections unseen)', async () => {
    const port = new URL(multi!.url).port;
    const second = dir.writeConfig('second.yaml', { ...config(2), listen: `127.0.0.1:${port}` });
    const result = await runCli(['--config', second], 15_000);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port}`));
    expect(result.stderr).toContain('EADDRINUSE');
    // The first still serves every request on its port.
    expect(new Set(await versions(multi!, '/flip'))).toEqual(new Set(['stable']));
  });

  it('a worker killed while a connection was being handed to it leaves no client waiting for ever', async () => {
    const before = await status(multi!);
    const victim = before.workers![0].pid!;
    // Stopped, it takes no connection (node:cluster: the handoff waits; reusePort: they queue in its accept queue)...
    process.kill(victim, 'SIGSTOP');
    const outcomes = Promise.all(
      Array.from({ length: 6 }, () =>
        send(multi!.url, '/shop/handoff', { timeoutMs: 12_000 }).then(
          (res) => String(res.status),
          (error: Error) => (/no complete response/.test(error.message) ? 'hung' : 'closed'),
        ),
      ),
    );
    await new Promise((resolve) => setTimeout(resolve, 300));
    // ...and dies with them. Every request is answered or its connection closed: none hangs until the client gives up.
    process.kill(victim, 'SIGKILL');
    const settled = await outcomes;
    expect(settled).not.toContain('hung');
    expect(settled.filter((o) => o === '200').length).toBeGreaterThan(0);
    await waitFor('the replacement', async () => (await status(multi!)).workers!.every((w) => w.listening && w.pid !== victim), 5_000);
  });

  it('drains every worker on SIGTERM: in-flight requests complete, the supervisor exits 0, no worker is left', async () => {
    const before = await status(multi!);
    const workerPids = [...before.workers!.map((w) => w.pid), ...(before.sparePid ? [before.sparePid] : [])];
    const slow = Array.from({ length: 6 }, () => send(multi!.url, '/shop/slow'));
    await waitFor('slow requests at the upstream', () => stable.seen.filter((r) => r.url === '/shop/slow').length + canary.seen.filter((r) => r.url === '/shop/slow').length >= 6);
    const exit = await multi!.stop('SIGTERM');
    const answers = await Promise.all(slow);
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 200, 200, 200]);
    expect(exit).toEqual({ code: 0, signal: null });
    for (const pid of workerPids) expect(isRunning(pid)).toBe(false);
  });
});
