/**
 * A canary that goes bad mid-rollout is rolled back within one analysis window, and the rollback engages the kill
 * switch: no request that starts afterwards reaches the canary, not even one that asks for it with the override
 * header. A canary three times slower than stable is rolled back on its p99 latency.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLoad, type Load } from '../helpers/load.js';
import { parsePrometheus, sampleValue } from '../helpers/prometheus.js';
import { delayedEcho, eventsOf, failingEcho, routeStatus, waitForRollout } from '../helpers/rollout.js';
import { startSplitgate, type StartedSplitgate } from '../helpers/splitgate.js';
import { startUpstream, type TestUpstream } from '../helpers/upstreams.js';

const CONCURRENCY = 6;

describe('rollback of a canary that starts failing at step 2', () => {
  let stable: TestUpstream;
  let canary: TestUpstream;
  let sg: StartedSplitgate;
  let load: Load | undefined;
  /** When the rollout moved to step 2 (30 %) and the canary began answering 500 to one request in 20. */
  let failingSince: number | null = null;

  beforeAll(async () => {
    stable = await startUpstream('stable', delayedEcho('stable', 3));
    canary = await startUpstream('canary', failingEcho('canary', 20, () => failingSince !== null, 3));
    sg = await startSplitgate({
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
            stepWeights: [10, 30, 60],
            threshold: 1,
            minRequests: 20,
            checks: [{ metric: 'success-rate', min: 99, vsStable: { maxDegradation: 1 } }],
          },
        },
      ],
    });
    // The canary "deploys a bug" the moment the rollout sends it 30 % of the traffic.
    sg.splitgate.events.onEvent((event) => {
      if (event.action === 'rollout.step' && (event.after as { weight: number }).weight === 30) failingSince ??= Date.now();
    });
  });
  afterAll(async () => {
    await load?.stop();
    await sg?.stop();
    await Promise.all([stable?.close(), canary?.close()]);
  });

  it('rolls back within one window of the change: weight 0, kill switch on, the failed check named', async () => {
    load = startLoad(sg.url, { concurrency: CONCURRENCY, durationMs: 30_000 });
    const done = await waitForRollout(sg.adminUrl, 'api', 'the rollout to finish', (s) => s.phase === 'RolledBack' || s.phase === 'Succeeded', 20_000);
    const rolledBackAt = Date.now();
    const canaryHitsAtRollback = canary.seen.length;
    const traffic = await load.stop();

    expect(done).toMatchObject({ phase: 'RolledBack', weight: 0, engagedKill: true, step: 1 });
    expect(failingSince).not.toBeNull();
    // One window is 1 s: the first window that saw the failures ended it (plus polling and scheduling slack).
    expect(rolledBackAt - failingSince!).toBeLessThan(2_500);
    expect(traffic.byStatus[500]).toBeGreaterThan(0);

    const events = (await eventsOf(sg.adminUrl, 'api')).filter((e) => e.actor === 'rollout');
    expect(events.filter((e) => e.action === 'rollout.step').map((e) => e.after.weight)).toEqual([10, 30]);
    const rollback = events.find((e) => e.action === 'rollout.rolled_back')!;
    expect(rollback).toBeDefined();
    expect(rollback.message).toMatch(/^1 failed windows \(threshold 1\); last: success-rate = \d+(\.\d+)? \(want ≥ 99 %/);
    expect(rollback.before).toMatchObject({ weight: 30, verdict: 'fail' });
    const check = rollback.before.checks.find((c: { check: string }) => c.check === 'success-rate');
    expect(check).toMatchObject({ result: 'fail', threshold: '≥ 99 % and error rate ≤ stable + 1 pp' });
    expect(check.value).toBeLessThan(99);
    expect(check.value).toBeGreaterThan(90);
    expect(check.sample.canary).toBeGreaterThanOrEqual(20);
    expect(check.sample.stable).toBeGreaterThanOrEqual(20);
    expect(check.detail).toMatch(/success rate [\d.]+ % below 99 %/);

    // Requests already routed when the table swapped may still land; nothing routed afterwards does.
    expect(canary.seen.length - canaryHitsAtRollback).toBeLessThanOrEqual(CONCURRENCY);
  });

  it('sends no later request to the canary, with or without x-canary: always', async () => {
    const route = await routeStatus(sg.adminUrl, 'api');
    expect(route).toMatchObject({ weight: 0, weightSource: 'rollout', killed: true, rollout: { phase: 'RolledBack' } });
    const before = canary.seen.length;
    const plain = await startLoad(sg.url, { concurrency: 4, maxRequests: 200 }).done;
    const forced = await startLoad(sg.url, { concurrency: 4, maxRequests: 100, headers: { 'x-canary': 'always' } }).done;
    expect(plain.byVersion).toEqual({ stable: 200 });
    expect(forced.byVersion).toEqual({ stable: 100 });
    expect(canary.seen.length).toBe(before);

    const samples = parsePrometheus(await (await fetch(`${sg.adminUrl}/metrics`)).text());
    expect(sampleValue(samples, 'splitgate_rollout_phase', { route: 'api', phase: 'RolledBack' })).toBe(1);
    expect(sampleValue(samples, 'splitgate_rollout_phase', { route: 'api', phase: 'Succeeded' })).toBe(0);
    expect(sampleValue(samples, 'splitgate_rollout_checks_total', { route: 'api', check: 'success-rate', result: 'fail' })).toBe(1);
    expect(sampleValue(samples, 'splitgate_routing_decisions_total', { route: 'api', version: 'stable', reason: 'kill_switch' })).toBeGreaterThanOrEqual(300);
  });
});

describe('rollback of a canary three times slower than stable', () => {
  let stable: TestUpstream;
  let canary: TestUpstream;
  let sg: StartedSplitgate;
  let load: Load | undefined;

  beforeAll(async () => {
    stable = await startUpstream('stable', delayedEcho('stable', 10));
    canary = await startUpstream('canary', delayedEcho('canary', 30));
    sg = await startSplitgate({
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
            stepWeights: [10, 30, 60],
            threshold: 1,
            minRequests: 20,
            checks: [
              { metric: 'success-rate', min: 99 },
              { metric: 'latency-p99', vsStable: { maxRatio: 1.5 } },
            ],
          },
        },
      ],
    });
  });
  afterAll(async () => {
    await load?.stop();
    await sg?.stop();
    await Promise.all([stable?.close(), canary?.close()]);
  });

  it('fails latency-p99 against stable at the first step and rolls back', async () => {
    load = startLoad(sg.url, { concurrency: 8, durationMs: 20_000 });
    const done = await waitForRollout(sg.adminUrl, 'api', 'the rollout to finish', (s) => s.phase === 'RolledBack' || s.phase === 'Succeeded', 15_000);
    await load.stop();
    expect(done).toMatchObject({ phase: 'RolledBack', weight: 0 });

    const events = (await eventsOf(sg.adminUrl, 'api')).filter((e) => e.actor === 'rollout');
    const rollback = events.find((e) => e.action === 'rollout.rolled_back')!;
    expect(rollback.message).toMatch(/latency-p99 = [\d.]+ \(want ≤ max\(1\.5 × stable, stable \+ 2 ms\)/);
    const checks = Object.fromEntries(rollback.before.checks.map((c: { check: string }) => [c.check, c]));
    expect(checks['success-rate']).toMatchObject({ result: 'pass', value: 100 });
    const latency = checks['latency-p99'];
    expect(latency.result).toBe('fail');
    expect(latency.value).toBeGreaterThanOrEqual(30);
    expect(latency.sample.canary).toBeGreaterThanOrEqual(20);
    const [, canaryMs, stableMs, ratio] = /canary p99 ([\d.]+) ms vs stable ([\d.]+) ms \(×([\d.]+)\): above ×1\.5/.exec(latency.detail) ?? [];
    expect(Number(canaryMs)).toBe(latency.value);
    expect(Number(stableMs)).toBeGreaterThanOrEqual(10);
    expect(Number(ratio)).toBeGreaterThan(1.5);
    expect((await routeStatus(sg.adminUrl, 'api')).killed).toBe(true);
  });
});
