/**
 * An SLO whose error ratio comes from a real Prometheus (`slo.sli.prometheus`). Prometheus scrapes a static
 * exposition (one error-ratio gauge per window length, so each window's answer is known), the SLI query is run once
 * per Workbook window with `$window` replaced, and the burn rates, the budget left and the rollout's verdict are
 * checked against hand-computed values. A Prometheus that cannot be reached holds the stage. Needs
 * /usr/bin/prometheus: fails without it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closedPort } from '../helpers/http.js';
import { startPrometheus, type PrometheusServer } from '../helpers/prometheus.js';
import { startRolloutHarness } from '../helpers/rollout-manager.js';
import { startUpstream, type TestUpstream } from '../helpers/upstreams.js';
import { readPrometheusBudget } from '../../src/rollout/prometheus-sli.js';

/** Error ratio per window; 2h has no series (no data: no burn). On a 99.9 % SLO the burn is ratio × 1000. */
const RATIOS: Record<string, number> = { '1h': 0.015, '5m': 0.02, '6h': 0.001, '30m': 0.002, '1d': 0.0005, '3d': 0.0004, '30d': 0.0003 };
const ERROR_RATIO = 'avg_over_time(test_error_ratio{window="$window"}[$window])';

let exposition: TestUpstream;
let prometheus: PrometheusServer;

beforeAll(async () => {
  exposition = await startUpstream('metrics', (_req, res) => {
    res.setHeader('content-type', 'text/plain; version=0.0.4');
    res.end(['# TYPE test_error_ratio gauge', ...Object.entries(RATIOS).map(([window, ratio]) => `test_error_ratio{window="${window}"} ${ratio}`), ''].join('\n'));
  });
  prometheus = await startPrometheus({ targets: [`127.0.0.1:${exposition.port}`] });
  await prometheus.waitForScrape();
}, 40_000);

afterAll(async () => {
  await prometheus?.stop();
  await exposition?.close();
});

const SLO_30D = { objective: 99.9, window: 30 * 86_400_000 };

describe('SLI from Prometheus', () => {
  it('burn rate per window = that window\'s error ratio ÷ (1 − objective), budget left from the SLO window', async () => {
    const read = await readPrometheusBudget({ address: prometheus.url, errorRatio: ERROR_RATIO, timeout: 5_000 }, SLO_30D);
    if (!('reading' in read)) throw new Error(read.error);
    expect(read.reading.pairs).toEqual([
      { windows: '1h/5m', threshold: 14.4, speed: 'fast', longRate: 15, shortRate: 20, firing: true },
      { windows: '6h/30m', threshold: 6, speed: 'fast', longRate: 1, shortRate: 2, firing: false },
      { windows: '1d/2h', threshold: 3, speed: 'slow', longRate: 0.5, shortRate: null, firing: false },
      { windows: '3d/6h', threshold: 1, speed: 'slow', longRate: 0.4, shortRate: 1, firing: false },
    ]);
    expect(read.reading.remaining).toBeCloseTo(0.7, 9);
  });

  it('a rollout paced by it rolls back on the fast burn; an unreachable Prometheus holds the stage', async () => {
    const route = (address: string) => ({
      upstreams: { s: 'http://127.0.0.1:1', c: 'http://127.0.0.1:2' },
      routes: [
        {
          name: 'api',
          stable: 's',
          canary: 'c',
          weight: 0,
          slo: { objective: 99.9, window: '30d', sli: { prometheus: { address, errorRatio: ERROR_RATIO } } },
          rollout: { interval: '10m', stages: [{ name: 'ring', weight: 10 }, { name: 'all', weight: 100 }] },
        },
      ],
    });
    const now = Date.parse('2026-12-02T09:00:00Z');
    for (const [address, expected] of [
      [`http://127.0.0.1:${await closedPort()}`, { phase: 'Progressing', step: 0, message: /^paced at 10 %: error budget unknown: Prometheus error ratio over \w+: query failed: ECONNREFUSED/ }],
      [prometheus.url, { phase: 'RolledBack', message: /^rolled back: error budget: fast burn: error budget burning at 15× over 1h and 20× over 5m \(threshold 14\.4×\)$/ }],
    ] as const) {
      const harness = await startRolloutHarness(route(address), { now: () => now });
      try {
        for (let i = 0; i < 400 && harness.runner('api').status.phase !== 'Progressing'; i++) await new Promise((r) => setTimeout(r, 5));
        await harness.runner('api').tick();
        const status = harness.runner('api').status;
        expect(status).toMatchObject({ phase: expected.phase });
        expect(status.message).toMatch(expected.message);
      } finally {
        await harness.close();
      }
    }
  });
});
