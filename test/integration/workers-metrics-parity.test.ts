/**
 * One exposition for the machine, series by series: the same requests sent to `workers: 1` and to `workers: 2` give
 * the same counters on their /metrics, with the same labels and values. Not only http_requests_total: routing
 * decisions by reason, upstream errors, retries, mirror outcomes and diffs, flag evaluations, histogram counts. A
 * counter a worker grows but never ships to the supervisor shows here as a series missing or short on `workers: 2`.
 * Real processes (dist/bin.js), a new connection per request so both workers take a share.
 */
import type { RequestListener } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closedPort, inParallel, send, waitFor } from '../helpers/http.js';
import { createTempDir, killIfRunning, spawnSplitgate, type SplitgateProcess, type TempDir } from '../helpers/process.js';
import { parsePrometheus } from '../helpers/prometheus.js';
import { echoHandler, startUpstream, type TestUpstream } from '../helpers/upstreams.js';
import { requestsPerWorker, servedSince, spawnedConfig, supervisorStatus } from '../helpers/workers.js';

/** Series that are not the traffic's: the process's own, timings (sums and buckets differ run to run), gauges of now. */
const NOT_TRAFFIC = [/^process_/, /^nodejs_/, /_sum$/, /_bucket$/, /^splitgate_config_/, /^splitgate_client_connections$/, /^splitgate_mirror_in_flight$/];

/** The canary answers 500 (never replayed, unlike a 503) to `/shop/fail…`; the shadow differs on `/mirror/changed…`. */
function canaryHandler(): RequestListener {
  const echo = echoHandler('canary');
  return (req, res) => {
    if (req.url?.startsWith('/shop/fail')) {
      req.resume();
      res.writeHead(500).end();
    } else echo(req, res);
  };
}

function mirrorSide(side: 'primary' | 'shadow'): RequestListener {
  return (req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ item: 'a', count: side === 'shadow' && req.url?.startsWith('/mirror/changed') ? 2 : 1 }));
    });
  };
}

let stable: TestUpstream;
let canary: TestUpstream;
let primary: TestUpstream;
let shadow: TestUpstream;
let dir: TempDir;
let single: SplitgateProcess | undefined;
let multi: SplitgateProcess | undefined;

function config(workers: number, refused: string): Record<string, unknown> {
  return spawnedConfig(workers, {
    upstreams: { stable: stable.url, canary: canary.url, primary: primary.url, shadow: shadow.url, refused },
    routes: [
      {
        name: 'shop',
        match: { pathPrefix: '/shop' },
        stable: 'stable',
        canary: 'canary',
        weight: 37.5,
        sticky: { key: ['header:x-user-id'] },
        overrides: { header: 'x-canary' },
        rules: [{ match: { headers: { 'x-beta-tester': 'true' } }, version: 'canary' }],
      },
      // Stable refuses connections: 502s and upstream errors by kind.
      { name: 'down', match: { pathPrefix: '/down' }, stable: 'refused', canary: 'canary', weight: 0 },
      // The canary refuses connections: each request replayed on stable (retries). No outlier ejection, which each
      // worker decides from its own share.
      { name: 'replay', match: { pathPrefix: '/replay' }, stable: 'stable', canary: 'refused', weight: 100, outlier: false },
      { name: 'mirror', match: { pathPrefix: '/mirror' }, stable: 'primary', canary: 'primary', weight: 0, mirror: { to: 'shadow', percent: 100 } },
    ],
    flags: {
      definitions: {
        flags: {
          'new-checkout': { state: 'ENABLED', variants: { on: true, off: false }, defaultVariant: 'off', targeting: { fractional: [['on', 50], ['off', 50]] } },
        },
      },
    },
  });
}

/** Every request the test sends, in order: each instance gets the same list. */
function requests(): Array<{ path: string; headers: Record<string, string> }> {
  const list: Array<{ path: string; headers: Record<string, string> }> = [];
  for (let i = 0; i < 120; i++) list.push({ path: i % 10 === 0 ? `/shop/fail/${i}` : `/shop/item/${i}`, headers: { 'x-user-id': `user-${(i * 7919) % 500}` } });
  for (let i = 0; i < 10; i++) list.push({ path: `/shop/over/${i}`, headers: { 'x-user-id': `o-${i}`, 'x-canary': 'always' } });
  for (let i = 0; i < 10; i++) list.push({ path: i % 2 === 0 ? `/shop/fail/beta/${i}` : `/shop/beta/${i}`, headers: { 'x-user-id': `b-${i}`, 'x-beta-tester': 'true' } });
  for (let i = 0; i < 12; i++) list.push({ path: `/down/${i}`, headers: {} });
  for (let i = 0; i < 12; i++) list.push({ path: `/replay/${i}`, headers: {} });
  for (let i = 0; i < 30; i++) list.push({ path: i % 3 === 0 ? `/mirror/changed/${i}` : `/mirror/same/${i}`, headers: {} });
  // Refused by node:http's header size limit in the worker (431): a client rejection.
  for (let i = 0; i < 3; i++) list.push({ path: `/shop/big/${i}`, headers: { 'x-big': 'b'.repeat(20_000) } });
  return list;
}

const SENT = requests();
const MIRRORED = SENT.filter((r) => r.path.startsWith('/mirror')).length;

/** The traffic's series of an exposition, `name{labels}` → value. */
function trafficSeries(exposition: string): Map<string, number> {
  const series = new Map<string, number>();
  for (const sample of parsePrometheus(exposition)) {
    if (NOT_TRAFFIC.some((pattern) => pattern.test(sample.name))) continue;
    const labels = Object.entries(sample.labels)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
      .join(',');
    series.set(`${sample.name}{${labels}}`, sample.value);
  }
  return series;
}

function mirrorSettled(series: ReadonlyMap<string, number>): number {
  let total = 0;
  for (const [key, value] of series) if (key.startsWith('splitgate_mirror_requests_total{')) total += value;
  return total;
}

beforeAll(async () => {
  [stable, canary, primary, shadow] = await Promise.all([
    startUpstream('stable'),
    startUpstream('canary', canaryHandler()),
    startUpstream('primary', mirrorSide('primary')),
    startUpstream('shadow', mirrorSide('shadow')),
  ]);
  dir = createTempDir();
  const refused = `http://127.0.0.1:${await closedPort()}`;
  [single, multi] = await Promise.all([
    spawnSplitgate(dir.writeConfig('single.yaml', config(1, refused))),
    spawnSplitgate(dir.writeConfig('multi.yaml', config(2, refused))),
  ]);
});

afterAll(async () => {
  await Promise.all([killIfRunning(single), killIfRunning(multi)]);
  await Promise.all([stable?.close(), canary?.close(), primary?.close(), shadow?.close()]);
  dir?.remove();
});

describe('workers: 2 and workers: 1 behind the same requests', () => {
  it('expose the same counters, series by series', async () => {
    const before = requestsPerWorker((await supervisorStatus(multi!.adminUrl)).workers!);
    const statuses: Record<string, number[]> = {};
    for (const instance of [single!, multi!]) {
      // One at a time per route kind would be slow; 4 at once keeps every request's outcome independent of timing.
      statuses[instance.url] = await inParallel(SENT.length, 4, async (i) => (await send(instance.url, SENT[i].path, { headers: SENT[i].headers })).status);
    }
    expect(statuses[multi!.url]).toEqual(statuses[single!.url]);
    expect(statuses[single!.url].filter((s) => s === 500).length).toBeGreaterThan(0);
    expect(statuses[single!.url].filter((s) => s === 502).length).toBe(12);
    expect(statuses[single!.url].filter((s) => s === 431).length).toBe(3);
    // Both workers served a share: otherwise one worker's counters alone would pass.
    for (const share of servedSince(before, (await supervisorStatus(multi!.adminUrl)).workers!)) expect(share).toBeGreaterThan(SENT.length / 5);

    const expositions = new Map<SplitgateProcess, Map<string, number>>();
    for (const instance of [single!, multi!]) {
      await waitFor(`every mirrored copy settled on ${instance.adminUrl}`, async () => {
        const series = trafficSeries((await send(instance.adminUrl, '/metrics')).text);
        expositions.set(instance, series);
        return mirrorSettled(series) === MIRRORED;
      });
    }
    const one = expositions.get(single!)!;
    const two = expositions.get(multi!)!;
    // What the traffic must have counted, so an empty or partial exposition cannot pass by agreeing with itself.
    for (const name of ['http_requests_total', 'splitgate_routing_decisions_total', 'splitgate_upstream_errors_total', 'splitgate_retries_total', 'splitgate_mirror_requests_total', 'splitgate_mirror_diffs_total', 'splitgate_flag_evaluations_total', 'splitgate_client_rejections_total']) {
      const total = [...one].filter(([key]) => key.startsWith(`${name}{`)).reduce((sum, [, value]) => sum + value, 0);
      expect(total, `${name} on workers: 1`).toBeGreaterThan(0);
    }
    const differ = [...new Set([...one.keys(), ...two.keys()])].filter((key) => one.get(key) !== two.get(key)).map((key) => `${key}: workers 1 ${one.get(key)}, workers 2 ${two.get(key)}`);
    expect(differ).toEqual([]);
  });
});
