/**
 * Issue 14 item 7: a client with the override header cannot steer a rollout. By default the analysis compares only
 * the traffic the weight placed, so failing requests sent only to the canary through `x-canary: always` do not roll
 * a healthy canary back, and cheap 200s sent the same way do not hide a failing one. The override traffic is still
 * counted in the metrics. With `analysis.traffic: all` the override traffic is judged too (the old behaviour).
 */
import type { RequestListener } from 'node:http';
import { describe, expect, it } from 'vitest';
import { startLoad } from '../helpers/load.js';
import { parsePrometheus, sampleValue } from '../helpers/prometheus.js';
import { adminCall, delayedEcho, eventsOf, waitForRollout, type AuditEvent } from '../helpers/rollout.js';
import { startSplitgate } from '../helpers/splitgate.js';
import { startUpstream } from '../helpers/upstreams.js';

/** The canary fails every request on /boom (only an override sends any there) and answers the rest. */
function failsOnBoom(): RequestListener {
  const echo = delayedEcho('canary', 3);
  return (req, res) => {
    if (!req.url?.startsWith('/boom')) return echo(req, res);
    req.resume();
    req.on('end', () => {
      res.writeHead(500, { 'x-upstream-version': 'canary' });
      res.end('boom');
    });
  };
}

/** The canary fails one in twenty ordinary requests (5 %), and answers /cheap at once with 200. */
function failsButCheapIsFine(): RequestListener {
  const echo = delayedEcho('canary', 3);
  let ordinary = 0;
  return (req, res) => {
    if (req.url?.startsWith('/cheap')) {
      res.writeHead(200, { 'x-upstream-version': 'canary' });
      res.end('ok');
      return;
    }
    if (++ordinary % 20 !== 0) return echo(req, res);
    req.resume();
    req.on('end', () => {
      res.writeHead(500, { 'x-upstream-version': 'canary' });
      res.end('bad build');
    });
  };
}

interface Outcome {
  readonly done: any;
  readonly events: AuditEvent[];
  readonly metrics: string;
  readonly config: any;
}

/** A rollout under ordinary load on `/` plus override traffic on `attackPath`, run until it ends. */
async function rolloutWith(canaryHandler: RequestListener, attackPath: string, analysis?: { traffic: string }): Promise<Outcome> {
  const stable = await startUpstream('stable', delayedEcho('stable', 3));
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
        overrides: { header: 'x-canary', secret: 'not-used-by-the-attacker-123', sourceNetworks: ['127.0.0.0/8'] },
        rollout: {
          interval: '1s',
          stepWeights: [20, 50],
          threshold: 1,
          minRequests: 20,
          checks: [{ metric: 'success-rate', min: 99, vsStable: { maxDegradation: 1 } }],
          ...(analysis ? { analysis } : {}),
        },
      },
    ],
  });
  const ordinary = startLoad(sg.url, { concurrency: 4, durationMs: 20_000 });
  const attack = startLoad(sg.url, { concurrency: 6, durationMs: 20_000, path: attackPath, headers: { 'x-canary': 'always:not-used-by-the-attacker-123' } });
  try {
    const done = await waitForRollout(sg.adminUrl, 'api', 'the rollout to end', (s) => s.phase === 'Succeeded' || s.phase === 'RolledBack', 20_000);
    const attacked = await attack.stop();
    await ordinary.stop();
    expect(attacked.sent).toBeGreaterThan(0);
    const events = (await eventsOf(sg.adminUrl, 'api')).filter((e) => e.actor === 'rollout');
    const metrics = await (await fetch(`${sg.adminUrl}/metrics`)).text();
    const config = (await adminCall(sg.adminUrl, 'GET', '/config')).body;
    return { done, events, metrics, config };
  } finally {
    await attack.stop();
    await ordinary.stop();
    await sg.stop();
    await Promise.all([stable.close(), canary.close()]);
  }
}

function overrideCount(metrics: string, code: string): number {
  const samples = parsePrometheus(metrics);
  return sampleValue(samples, 'http_requests_total', { route: 'api', version: 'canary', method: 'GET', code }) ?? 0;
}

describe('rollout analysis and tester overrides', () => {
  it('failing requests sent only to the canary by override do not roll back a healthy canary', async () => {
    const { done, events, metrics, config } = await rolloutWith(failsOnBoom(), '/boom');

    expect(done).toMatchObject({ phase: 'Succeeded', weight: 100 });
    expect(events.some((e) => e.action === 'rollout.rolled_back')).toBe(false);
    expect(done.lastWindow).toMatchObject({ traffic: 'weighted', verdict: 'pass' });
    expect(done.lastWindow.results[0]).toMatchObject({ check: 'success-rate', result: 'pass', value: 100 });
    // The override traffic is not hidden: it is in the decision and request metrics.
    const samples = parsePrometheus(metrics);
    expect(sampleValue(samples, 'splitgate_routing_decisions_total', { route: 'api', version: 'canary', reason: 'override_header' })).toBeGreaterThan(0);
    expect(overrideCount(metrics, '500')).toBeGreaterThan(0);
    // GET /config shows the restriction but not the secret.
    expect(config.routes[0].overrides).toEqual({ header: 'x-canary', secret: '[redacted]', sourceNetworks: ['127.0.0.0/8'] });
    expect(JSON.stringify(config)).not.toContain('not-used-by-the-attacker');
  }, 30_000);

  it('cheap 200s sent to the canary by override do not hide a failing canary', async () => {
    const { done, events, metrics } = await rolloutWith(failsButCheapIsFine(), '/cheap');

    expect(done).toMatchObject({ phase: 'RolledBack', weight: 0 });
    const rollback = events.find((e) => e.action === 'rollout.rolled_back')!;
    expect(rollback.before).toMatchObject({ verdict: 'fail', traffic: 'weighted' });
    const check = rollback.before.checks.find((c: { check: string }) => c.check === 'success-rate');
    expect(check.result).toBe('fail');
    // One in twenty weighted requests failed; the override's 200s (several times as many) would have pulled the
    // error rate under 1 %, within both bounds.
    expect(check.value).toBeLessThan(99);
    expect(overrideCount(metrics, '200')).toBeGreaterThan(check.sample.canary);
  }, 30_000);

  it('with analysis.traffic: all, override traffic is judged too (and can roll back a healthy canary)', async () => {
    const { done, events } = await rolloutWith(failsOnBoom(), '/boom', { traffic: 'all' });

    expect(done).toMatchObject({ phase: 'RolledBack', weight: 0 });
    const rollback = events.find((e) => e.action === 'rollout.rolled_back')!;
    expect(rollback.before).toMatchObject({ verdict: 'fail', traffic: 'all' });
    expect(rollback.before.checks.find((c: { check: string }) => c.check === 'success-rate').result).toBe('fail');
  }, 30_000);
});
