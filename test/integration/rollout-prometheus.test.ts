/**
 * A rollout whose check is a PromQL query against a real Prometheus scraping splitgate's admin listener every
 * 250 ms (four samples per 1 s rollout window, so `rate()` has data soon after traffic starts). The query is the
 * canary error ratio exactly as users write it, without `or vector(0)`: while the canary has never answered a 5xx
 * the numerator has no series, the query returns no data, and the rollout must hold (inconclusive), not pass. Once
 * a 5xx series exists a healthy canary's ratio is 0 and the rollout is promoted; a canary answering 500s fails the
 * check and is rolled back. Needs /usr/bin/prometheus: fails without it.
 */
import type { RequestListener } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { send } from '../helpers/http.js';
import { startLoad, type Load } from '../helpers/load.js';
import { assertPrometheusInstalled, freePort, prometheusInstalled, startPrometheus, type PrometheusServer } from '../helpers/prometheus.js';
import { eventsOf, failingEcho, routeStatus, waitForRollout } from '../helpers/rollout.js';
import { startSplitgate, type StartedSplitgate } from '../helpers/splitgate.js';
import { echoHandler, startUpstream, type TestUpstream } from '../helpers/upstreams.js';

const QUERY = 'sum(rate(http_requests_total{version="canary",code=~"5.."}[1m])) / sum(rate(http_requests_total{version="canary"}[1m]))';

interface Rig {
  stable: TestUpstream;
  canary: TestUpstream;
  sg: StartedSplitgate;
  prometheus: PrometheusServer;
}

/** splitgate first (its check points at a port Prometheus will take), then Prometheus scraping its admin listener. */
async function startRig(canaryHandler: RequestListener): Promise<Rig> {
  const port = await freePort();
  const stable = await startUpstream('stable');
  const canary = await startUpstream('canary', canaryHandler);
  const sg = await startSplitgate({
    log: { level: 'warn' },
    upstreams: { stable: stable.url, canary: canary.url },
    routes: [
      {
        name: 'api',
        stable: 'stable',
        canary: 'canary',
        weight: 0,
        rollout: {
          interval: '1s',
          stepWeights: [20, 50],
          threshold: 1,
          // No data may last a while here; it must hold, and not turn into a failure during the test.
          inconclusiveLimit: 60,
          checks: [{ name: 'canary-errors', prometheus: { address: `http://127.0.0.1:${port}`, query: QUERY, timeout: '2s' }, max: 0.01 }],
        },
      },
    ],
  });
  const prometheus = await startPrometheus({ targets: [new URL(sg.adminUrl).host], port, scrapeInterval: '250ms' });
  await prometheus.waitForScrape();
  return { stable, canary, sg, prometheus };
}

async function stopRig(rig: Partial<Rig>): Promise<void> {
  await rig.prometheus?.stop();
  await rig.sg?.stop();
  await Promise.all([rig.stable?.close(), rig.canary?.close()]);
}

const healthyRig: Partial<Rig> = {};
const failingRig: Partial<Rig> = {};

// Both rigs start at once: Prometheus 2.x scrapes a new target only after its scrape manager's first reload tick,
// about 5 s after it starts, and the two rigs now wait for it together. Until its test sends traffic, the failing
// canary's rollout holds on no data, as the healthy one's does in the first test.
beforeAll(async () => {
  // The healthy canary's /boom is a test hook that makes it answer one 500 on demand.
  const echo = echoHandler('canary');
  // Without the binary every test below fails on its first line, with a message saying what to install.
  if (!prometheusInstalled()) return;
  const [healthy, failing] = await Promise.allSettled([
    startRig((req, res) => {
      if (req.url === '/boom') res.writeHead(500).end('boom');
      else echo(req, res);
    }),
    startRig(failingEcho('canary', 5, () => true)),
  ]);
  if (healthy.status === 'fulfilled') Object.assign(healthyRig, healthy.value);
  if (failing.status === 'fulfilled') Object.assign(failingRig, failing.value);
  for (const outcome of [healthy, failing]) if (outcome.status === 'rejected') throw outcome.reason;
}, 40_000);
afterAll(async () => {
  await Promise.all([stopRig(healthyRig), stopRig(failingRig)]);
});

describe('a Prometheus check on a healthy canary', () => {
  const rig = healthyRig;
  let load: Load | undefined;

  afterAll(async () => {
    await load?.stop();
  });

  it('holds while the query has no data (no 5xx series yet), never passing it', async () => {
    assertPrometheusInstalled();
    const { sg, prometheus } = rig as Rig;
    load = startLoad(sg.url, { concurrency: 4, durationMs: 40_000, pauseMs: 2 });
    // Prometheus sees canary traffic, yet the numerator has no series: the ratio is an empty vector.
    const deadline = Date.now() + 10_000;
    while ((await prometheus.query('sum(rate(http_requests_total{version="canary"}[1m])) > 0')).result.length === 0) {
      if (Date.now() > deadline) throw new Error(`no canary traffic in Prometheus: ${prometheus.output()}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect((await prometheus.query(QUERY)).result).toEqual([]);
    const before = (await waitForRollout(sg.adminUrl, 'api', 'a window', (s) => s.lastWindow !== null)).inconclusiveWindows;
    const held = await waitForRollout(sg.adminUrl, 'api', 'two no-data windows', (s) => s.inconclusiveWindows >= before + 2 || s.phase !== 'Paused', 8_000);
    expect(held).toMatchObject({ phase: 'Paused', pausedBy: 'inconclusive', step: 0, weight: 20, failedChecks: 0 });
    expect(held.lastWindow.results).toEqual([
      { check: 'canary-errors', result: 'inconclusive', value: null, threshold: '≤ 0.01', sample: { canary: 0 }, detail: 'no value: no data' },
    ]);
    expect((await routeStatus(sg.adminUrl, 'api')).weight).toBe(20);
  });

  it('passes once a 5xx series exists and the healthy canary is promoted', async () => {
    assertPrometheusInstalled();
    const { sg, prometheus } = rig as Rig;
    expect((await send(sg.url, '/boom', { headers: { 'x-canary': 'always' } })).status).toBe(500);
    const done = await waitForRollout(sg.adminUrl, 'api', 'the promotion', (s) => s.phase === 'Succeeded' || s.phase === 'RolledBack', 25_000);
    await load!.stop();
    expect(done).toMatchObject({ phase: 'Succeeded', weight: 100 });
    const value = Number((await prometheus.query(QUERY)).result[0].value[1]);
    expect(value).toBe(0);

    const events = (await eventsOf(sg.adminUrl, 'api')).filter((e) => e.actor === 'rollout');
    const judged = events.filter((e) => (e.action === 'rollout.step' && e.after.step > 1) || e.action === 'rollout.succeeded');
    expect(judged.map((e) => e.before.weight)).toEqual([20, 50]);
    for (const event of judged) {
      expect(event.before.checks).toEqual([{ check: 'canary-errors', result: 'pass', value: 0, threshold: '≤ 0.01', sample: { canary: 0 }, detail: 'query returned 0' }]);
    }
  });
});

describe('a Prometheus check on a failing canary', () => {
  const rig = failingRig;

  it('fails the check on the canary error ratio and rolls back', async () => {
    assertPrometheusInstalled();
    const { sg } = rig as Rig;
    const load = startLoad(sg.url, { concurrency: 4, durationMs: 30_000, pauseMs: 2 });
    let done;
    try {
      done = await waitForRollout(sg.adminUrl, 'api', 'the rollback', (s) => s.phase === 'Succeeded' || s.phase === 'RolledBack', 25_000);
    } finally {
      await load.stop();
    }
    expect(done).toMatchObject({ phase: 'RolledBack', weight: 0, engagedKill: true });
    const rollback = (await eventsOf(sg.adminUrl, 'api')).find((e) => e.action === 'rollout.rolled_back')!;
    expect(rollback.message).toMatch(/^1 failed windows \(threshold 1\); last: canary-errors = 0\.\d+ \(want ≤ 0\.01; query returned 0\.\d+\)$/);
    const [check] = rollback.before.checks;
    expect(check).toMatchObject({ check: 'canary-errors', result: 'fail', threshold: '≤ 0.01' });
    // One canary answer in five is a 500.
    expect(check.value).toBeGreaterThan(0.1);
    expect(check.value).toBeLessThan(0.3);
  });
});
