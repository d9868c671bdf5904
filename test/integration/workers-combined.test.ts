/**
 * `workers: 2` judges and reports the machine's traffic, not one worker's: a rollout promotes and another rolls back
 * on windows that hold both workers' requests; a reload (SIGHUP, POST /reload) and weight and kill changes under
 * load fail no request, and every request sent after the change returned sees the new routing; mirror summaries
 * and /diffs hold both workers' comparisons; both workers' access log lines reach stdout whole under a burst.
 * Real processes (dist/bin.js); the load opens a connection per request so that both workers take a share whether
 * they share the port by reusePort (Node >= 22.12) or by node:cluster (Node 20).
 */
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inParallel, send, waitFor } from '../helpers/http.js';
import { startLoad, type Load } from '../helpers/load.js';
import { outcomeDelta, settled, storedDiffs, waitForSummary } from '../helpers/mirror.js';
import { createTempDir, killIfRunning, spawnSplitgate, type SplitgateProcess, type TempDir } from '../helpers/process.js';
import { adminCall, delayedEcho, eventsOf, failingEcho, waitForRollout, type AuditEvent } from '../helpers/rollout.js';
import { echoHandler, startUpstream, type TestUpstream } from '../helpers/upstreams.js';
import { allConfirmed, countsSettled, requestsPerWorker, requestsTotal, servedSince, spawnedConfig, supervisorStatus } from '../helpers/workers.js';

const STEPS = [10, 30, 60];

function timed(handler: RequestListener, arrivals: number[]): RequestListener {
  return (req, res) => {
    arrivals.push(Date.now());
    handler(req, res);
  };
}

function rolloutConfig(stable: TestUpstream, canary: TestUpstream, checks: unknown[], threshold: number): Record<string, unknown> {
  return spawnedConfig(2, {
    upstreams: { stable: stable.url, canary: canary.url },
    routes: [
      {
        name: 'api',
        stable: 'stable',
        canary: 'canary',
        weight: 0,
        rollout: { interval: '1s', stepWeights: STEPS, threshold, minRequests: 20, checks },
      },
    ],
  });
}

/**
 * Each judged window must hold (nearly) every request that reached an upstream inside it, whichever worker served
 * it: one worker's share would be about half. The window of a judgement at `t` is the second before t's second up
 * to t; the arrivals counted are those from that second's start to 250 ms before the event (the judgement, the
 * table push and its acks come before the event's time), a part of the window whatever the scheduling.
 */
function expectWindowsHoldBothWorkers(judged: readonly AuditEvent[], arrivals: readonly number[]): void {
  expect(judged.length).toBeGreaterThan(0);
  for (const event of judged) {
    const at = Date.parse(event.time);
    const from = (Math.floor(at / 1000) - 1) * 1000;
    const arrived = arrivals.filter((t) => t >= from && t <= at - 250).length;
    const [check] = event.before.checks;
    const sample = check.sample.canary + check.sample.stable;
    expect(arrived).toBeGreaterThan(40);
    expect(sample, `window judged at ${event.time}: ${sample} requests counted, ${arrived} arrived`).toBeGreaterThanOrEqual(Math.floor(arrived * 0.9));
  }
}

describe('workers: 2, a healthy canary', () => {
  const arrivals: number[] = [];
  let stable: TestUpstream;
  let canary: TestUpstream;
  let dir: TempDir;
  let sg: SplitgateProcess | undefined;
  let load: Load | undefined;

  beforeAll(async () => {
    stable = await startUpstream('stable', timed(delayedEcho('stable', 3), arrivals));
    canary = await startUpstream('canary', timed(delayedEcho('canary', 3), arrivals));
    dir = createTempDir();
    const checks = [
      { metric: 'success-rate', min: 99, vsStable: { maxDegradation: 1 } },
      { metric: 'latency-p99', vsStable: { maxRatio: 2 } },
    ];
    // threshold 3: a noisy window (a GC pause on a busy machine) must not roll a healthy canary back.
    sg = await spawnSplitgate(dir.writeConfig('promote.yaml', rolloutConfig(stable, canary, checks, 3)));
  });
  afterAll(async () => {
    await load?.stop();
    await killIfRunning(sg);
    await Promise.all([stable?.close(), canary?.close()]);
    dir?.remove();
  });

  it('promotes on windows that count both workers\' requests; /metrics totals every request', async () => {
    const before = requestsPerWorker((await supervisorStatus(sg!.adminUrl)).workers!);
    load = startLoad(sg!.url, { concurrency: 8, keepAlive: false, path: '/api/x', durationMs: 30_000 });
    const done = await waitForRollout(sg!.adminUrl, 'api', 'the rollout to succeed', (s) => s.phase === 'Succeeded' || s.phase === 'RolledBack', 25_000);
    const traffic = await load.stop();
    expect(done).toMatchObject({ phase: 'Succeeded', weight: 100 });
    expect(traffic.failed).toBe(0);
    expect(Object.keys(traffic.byStatus)).toEqual(['200']);

    const sum = (shares: number[]) => shares.reduce((a, b) => a + b, 0);
    const served = await countsSettled(async () => servedSince(before, (await supervisorStatus(sg!.adminUrl)).workers!), (shares) => sum(shares) === traffic.sent);
    for (const share of served) expect(share).toBeGreaterThan(traffic.sent / 5);
    expect(sum(served)).toBe(traffic.sent);
    const total = await countsSettled(async () => requestsTotal((await send(sg!.adminUrl, '/metrics')).text), (n) => n === traffic.sent);
    expect(total).toBe(traffic.sent);

    const events = (await eventsOf(sg!.adminUrl, 'api')).filter((e) => e.actor === 'rollout');
    expect(events.filter((e) => e.action === 'rollout.step').map((e) => e.after.weight)).toEqual(STEPS);
    expect(events.at(-1)!.action).toBe('rollout.succeeded');
    const judged = events.filter((e) => (e.action === 'rollout.step' && e.after.step > 1) || e.action === 'rollout.succeeded');
    expect(judged).toHaveLength(STEPS.length);
    for (const event of judged) expect(event.before.verdict).toBe('pass');
    expectWindowsHoldBothWorkers(judged, arrivals);
  });
});

describe('workers: 2, a canary that answers 500 to one request in ten', () => {
  const arrivals: number[] = [];
  let stable: TestUpstream;
  let canary: TestUpstream;
  let dir: TempDir;
  let sg: SplitgateProcess | undefined;
  let load: Load | undefined;

  beforeAll(async () => {
    stable = await startUpstream('stable', timed(delayedEcho('stable', 3), arrivals));
    canary = await startUpstream('canary', timed(failingEcho('canary', 10, () => true, 3), arrivals));
    dir = createTempDir();
    const checks = [{ metric: 'success-rate', min: 99, vsStable: { maxDegradation: 1 } }];
    sg = await spawnSplitgate(dir.writeConfig('rollback.yaml', rolloutConfig(stable, canary, checks, 1)));
  });
  afterAll(async () => {
    await load?.stop();
    await killIfRunning(sg);
    await Promise.all([stable?.close(), canary?.close()]);
    dir?.remove();
  });

  it('rolls back at the first step on the combined error rate; no later request reaches the canary', async () => {
    const before = requestsPerWorker((await supervisorStatus(sg!.adminUrl)).workers!);
    load = startLoad(sg!.url, { concurrency: 8, keepAlive: false, path: '/api/x', durationMs: 30_000 });
    const done = await waitForRollout(sg!.adminUrl, 'api', 'the rollout to finish', (s) => s.phase === 'RolledBack' || s.phase === 'Succeeded', 20_000);
    const traffic = await load.stop();
    expect(done).toMatchObject({ phase: 'RolledBack', weight: 0, engagedKill: true, step: 0 });
    expect(traffic.failed).toBe(0);
    expect(traffic.byStatus[500]).toBeGreaterThan(0);

    const served = servedSince(before, (await supervisorStatus(sg!.adminUrl)).workers!);
    for (const share of served) expect(share).toBeGreaterThan(traffic.sent / 5);

    const events = (await eventsOf(sg!.adminUrl, 'api')).filter((e) => e.actor === 'rollout');
    const rollback = events.find((e) => e.action === 'rollout.rolled_back')!;
    expect(rollback).toBeDefined();
    expect(rollback.before).toMatchObject({ weight: 10, verdict: 'fail' });
    const [check] = rollback.before.checks;
    expect(check).toMatchObject({ check: 'success-rate', result: 'fail' });
    // One in ten of the canary's answers fails, on both workers alike: about 90 %.
    expect(check.value).toBeGreaterThan(75);
    expect(check.value).toBeLessThan(99);
    expectWindowsHoldBothWorkers([rollback], arrivals);

    const canaryHits = canary.seen.length;
    const after = await startLoad(sg!.url, { concurrency: 4, keepAlive: false, path: '/api/x', maxRequests: 100 }).done;
    expect(after.byVersion).toEqual({ stable: 100 });
    expect(canary.seen.length).toBe(canaryHits);
  });
});

interface Answer {
  readonly sentAt: number;
  readonly answeredAt: number;
  readonly status: number;
  readonly version: string | undefined;
}

const USER = JSON.stringify({ user: { name: 'ann', age: 30 } });

/** `/api/changed` differs between primary and shadow in one field; everything else is the same. */
function mirrorSide(side: 'primary' | 'shadow'): RequestListener {
  return (req: IncomingMessage, res: ServerResponse) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(side === 'shadow' && req.url === '/api/changed' ? JSON.stringify({ user: { name: 'ann', age: 31 } }) : USER);
    });
  };
}

describe('workers: 2 under load: reloads, mirror diffs, access log', () => {
  let stable: TestUpstream;
  let canary: TestUpstream;
  let primary: TestUpstream;
  let shadow: TestUpstream;
  let dir: TempDir;
  let file: string;
  let sg: SplitgateProcess | undefined;
  let load: Load | undefined;

  function config(flipWeight: number): Record<string, unknown> {
    return {
      listen: '127.0.0.1:0',
      admin: { listen: '127.0.0.1:0' },
      workers: 2,
      watch: false,
      state: { file: false },
      log: { level: 'info' },
      upstreams: { stable: stable.url, canary: canary.url, primary: primary.url, shadow: shadow.url },
      routes: [
        { name: 'flip', match: { pathPrefix: '/flip' }, stable: 'stable', canary: 'canary', weight: flipWeight },
        { name: 'mirrored', match: { pathPrefix: '/api' }, stable: 'primary', mirror: { to: 'shadow', percent: 100, diff: { keep: 100 } } },
      ],
    };
  }

  beforeAll(async () => {
    [stable, canary, primary, shadow] = await Promise.all([
      startUpstream('stable'),
      startUpstream('canary'),
      startUpstream('primary', mirrorSide('primary')),
      startUpstream('shadow', mirrorSide('shadow')),
    ]);
    dir = createTempDir();
    file = dir.writeConfig('combined.yaml', config(0));
    sg = await spawnSplitgate(file);
  });
  afterAll(async () => {
    await load?.stop();
    await killIfRunning(sg);
    await Promise.all([stable?.close(), canary?.close(), primary?.close(), shadow?.close()]);
    dir?.remove();
  });

  it('SIGHUP, POST /reload, a weight and a kill switch under load: no request fails, each change holds from its ack on', async () => {
    const answers: Answer[] = [];
    const before = requestsPerWorker((await supervisorStatus(sg!.adminUrl)).workers!);
    load = startLoad(sg!.url, {
      concurrency: 8,
      keepAlive: false,
      path: '/flip/x',
      durationMs: 30_000,
      onAnswer: (sentAt, status, version) => answers.push({ sentAt, answeredAt: Date.now(), status, version }),
    });
    /** [when the change was asked for, when it was confirmed by every worker, the version wanted from then on] */
    const phases: Array<{ asked: number; acked: number; version: string }> = [{ asked: 0, acked: 0, version: 'stable' }];
    const someMore = async (): Promise<void> => {
      const count = answers.length;
      await waitFor('more answers', () => answers.length >= count + 60, 10_000);
    };
    await someMore();

    // SIGHUP answers nobody: confirmed once /status shows every worker at the new generation.
    const generation = (await supervisorStatus(sg!.adminUrl)).generation;
    let asked = Date.now();
    dir.writeConfig('combined.yaml', config(100));
    sg!.child.kill('SIGHUP');
    await waitFor('the SIGHUP reload on every worker', async () => {
      const view = await supervisorStatus(sg!.adminUrl);
      return view.generation > generation && allConfirmed(view);
    });
    phases.push({ asked, acked: Date.now(), version: 'canary' });
    await someMore();

    dir.writeConfig('combined.yaml', config(0));
    asked = Date.now();
    const reloaded = await adminCall(sg!.adminUrl, 'POST', '/reload');
    phases.push({ asked, acked: Date.now(), version: 'stable' });
    expect(reloaded.status).toBe(200);
    expect(reloaded.body.workers).toEqual({ acknowledged: 2, unacknowledged: [] });
    await someMore();

    asked = Date.now();
    const weighted = await adminCall(sg!.adminUrl, 'PUT', '/routes/flip/weight', { weight: 100 });
    phases.push({ asked, acked: Date.now(), version: 'canary' });
    expect(weighted.body.workers).toEqual({ acknowledged: 2, unacknowledged: [] });
    await someMore();

    asked = Date.now();
    const killed = await adminCall(sg!.adminUrl, 'POST', '/routes/flip/kill');
    phases.push({ asked, acked: Date.now(), version: 'stable' });
    expect(killed.body.workers).toEqual({ acknowledged: 2, unacknowledged: [] });
    await someMore();

    const traffic = await load.stop();
    expect(traffic.failed).toBe(0);
    expect(Object.keys(traffic.byStatus)).toEqual(['200']);
    for (const [i, phase] of phases.entries()) {
      // Sent after the change was confirmed, answered before the next one was asked for.
      const until = phases[i + 1]?.asked ?? Infinity;
      const inPhase = answers.filter((a) => a.sentAt > phase.acked && a.answeredAt < until);
      expect(inPhase.length, `requests sent between change ${i} and the next`).toBeGreaterThan(20);
      const wrong = inPhase.filter((a) => a.version !== phase.version);
      expect(wrong, `change ${i} (${phase.version})`).toEqual([]);
    }
    const served = servedSince(before, (await supervisorStatus(sg!.adminUrl)).workers!);
    for (const share of served) expect(share).toBeGreaterThan(traffic.sent / 5);
  });

  it('/diffs and the match rate hold both workers\' comparisons', async () => {
    // Each worker starts its diff thread on its first copy, and a burst while it boots overflows its queue
    // (compare_dropped): warm both up first.
    await inParallel(12, 2, async () => expect((await send(sg!.url, '/api/same')).status).toBe(200));
    const warm = await waitForSummary(sg!.adminUrl, 'mirrored', 'the warm-up copies compared', (s) => settled(s) >= 12, 10_000);
    const before = requestsPerWorker((await supervisorStatus(sg!.adminUrl)).workers!);
    const paths = Array.from({ length: 90 }, (_, i) => (i % 3 === 0 ? '/api/changed' : '/api/same'));
    // A new connection per request (send's default): both workers take some.
    const statuses = await inParallel(paths.length, 8, async (i) => (await send(sg!.url, paths[i])).status);
    expect(new Set(statuses)).toEqual(new Set([200]));
    const summary = await waitForSummary(sg!.adminUrl, 'mirrored', 'every copy compared', (s) => settled(s) >= settled(warm) + paths.length, 10_000);
    expect(outcomeDelta(warm, summary), JSON.stringify(summary)).toEqual({ match: 60, diff: 30 });
    expect(summary.compared - warm.compared).toBe(90);
    expect(summary.matched).toBe(warm.matched + 60);
    expect(summary.matchRate).toBeCloseTo(summary.matched / summary.compared, 9);
    const diffs = await storedDiffs(sg!.adminUrl, 'mirrored', 100);
    expect(diffs).toHaveLength(30 + warm.outcomes.diff);
    for (const diff of diffs) {
      expect(diff.request.url).toBe('/api/changed');
      expect(diff.differences).toEqual([{ field: 'body.$.user.age', path: 'body.$.user.age', primary: '30', shadow: '31' }]);
    }
    const served = servedSince(before, (await supervisorStatus(sg!.adminUrl)).workers!);
    for (const share of served) expect(share).toBeGreaterThan(0);
  });

  it('writes both workers\' access log lines whole under a burst: every stdout line is one JSON object', async () => {
    const burstLines = () => sg!.logLines.filter((l) => l.msg === 'request' && l.path === '/flip/burst');
    const burst = 1_500;
    const traffic = await startLoad(sg!.url, { concurrency: 16, keepAlive: false, path: '/flip/burst', maxRequests: burst }).done;
    expect(traffic.sent).toBe(burst);
    expect(traffic.failed).toBe(0);
    await waitFor('every access log line of the burst', () => burstLines().length >= burst, 10_000);
    const lines = burstLines();
    expect(lines).toHaveLength(burst);
    expect(new Set(lines.map((l) => l.worker)).size).toBe(2);
    expect(sg!.badLines).toEqual([]);
  });
});
