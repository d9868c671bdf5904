/**
 * The admin listener after known traffic: exact counter values by route, version, method, code and reason, the
 * duration histogram, upstream errors, route weights, health and readiness; and label values that never come from
 * the request (a method nobody configured is counted as OTHER).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closedPort, send } from '../helpers/http.js';
import { parsePrometheus, sampleValue, samplesOf, type Sample } from '../helpers/prometheus.js';
import { startSplitgate, type StartedSplitgate } from '../helpers/splitgate.js';
import { echoHandler, startUpstream, type TestUpstream } from '../helpers/upstreams.js';

let stable: TestUpstream;
let canary: TestUpstream;
let proxy: StartedSplitgate;
let samples: Sample[];

/** Echoes, except `/fail` answers 500: an application error, not an upstream failure. */
async function startVersion(version: string): Promise<TestUpstream> {
  const echo = echoHandler(version);
  return startUpstream(version, (req, res) => {
    if (req.url === '/api/fail') {
      res.writeHead(500, { 'content-type': 'text/plain' });
      res.end('boom');
      return;
    }
    echo(req, res);
  });
}

beforeAll(async () => {
  [stable, canary] = await Promise.all([startVersion('stable'), startVersion('canary')]);
  proxy = await startSplitgate({
    upstreams: { stable: stable.url, canary: canary.url, gone: `http://127.0.0.1:${await closedPort()}` },
    routes: [
      { name: 'api', match: { pathPrefix: '/api' }, stable: 'stable', canary: 'canary', weight: 12.5 },
      { name: 'broken', match: { pathPrefix: '/broken' }, stable: 'gone' },
    ],
  });

  const forced = (version: 'always' | 'never', path: string, method = 'GET') =>
    send(proxy.url, path, { method, headers: { 'x-canary': version } });
  const statuses: number[] = [];
  for (let i = 0; i < 7; i++) statuses.push((await forced('never', '/api/ok')).status);
  for (let i = 0; i < 3; i++) statuses.push((await forced('always', '/api/ok')).status);
  for (let i = 0; i < 2; i++) statuses.push((await forced('never', '/api/fail')).status);
  statuses.push((await send(proxy.url, '/broken/x')).status);
  statuses.push((await forced('never', '/api/ok', 'PURGE')).status);
  statuses.push((await send(proxy.url, '/nothing-here/%3Cscript%3E<script>')).status);
  expect(statuses).toEqual([200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 500, 500, 502, 200, 404]);

  const res = await send(proxy.adminUrl, '/metrics');
  expect(res.status).toBe(200);
  expect(res.headers['content-type']).toMatch(/^text\/plain/);
  samples = parsePrometheus(res.text);
});

afterAll(async () => {
  await proxy?.stop();
  await Promise.all([stable?.close(), canary?.close()]);
});

describe('GET /metrics after known traffic', () => {
  it('counts http_requests_total by route, version, method and code', () => {
    const requests = (route: string, version: string, method: string, code: string) =>
      sampleValue(samples, 'http_requests_total', { route, version, method, code });
    expect(requests('api', 'stable', 'GET', '200')).toBe(7);
    expect(requests('api', 'canary', 'GET', '200')).toBe(3);
    expect(requests('api', 'stable', 'GET', '500')).toBe(2);
    expect(requests('api', 'stable', 'OTHER', '200')).toBe(1);
    expect(requests('broken', 'stable', 'GET', '502')).toBe(1);
    expect(requests('_unmatched', 'none', 'GET', '404')).toBe(1);
    const total = samplesOf(samples, 'http_requests_total').reduce((sum, s) => sum + s.value, 0);
    expect(total).toBe(15);
  });

  it('observes http_request_duration_seconds per route and version', () => {
    const count = (route: string, version: string) => sampleValue(samples, 'http_request_duration_seconds_count', { route, version });
    expect(count('api', 'stable')).toBe(10);
    expect(count('api', 'canary')).toBe(3);
    expect(count('broken', 'stable')).toBe(1);

    const buckets = samplesOf(samples, 'http_request_duration_seconds_bucket').filter(
      (s) => s.labels.route === 'api' && s.labels.version === 'stable',
    );
    expect(buckets.length).toBeGreaterThan(5);
    const values = buckets.map((s) => s.value);
    expect(values).toEqual([...values].sort((a, b) => a - b));
    expect(sampleValue(samples, 'http_request_duration_seconds_bucket', { route: 'api', version: 'stable', le: '+Inf' })).toBe(10);
    const sum = sampleValue(samples, 'http_request_duration_seconds_sum', { route: 'api', version: 'stable' })!;
    expect(sum).toBeGreaterThan(0);
  });

  it('counts splitgate_routing_decisions_total by reason', () => {
    const decisions = (route: string, version: string, reason: string) =>
      sampleValue(samples, 'splitgate_routing_decisions_total', { route, version, reason });
    expect(decisions('api', 'stable', 'override_header')).toBe(10);
    expect(decisions('api', 'canary', 'override_header')).toBe(3);
    expect(decisions('broken', 'stable', 'no_canary')).toBe(1);
    expect(decisions('api', 'stable', 'weight')).toBeUndefined();
  });

  it('counts splitgate_upstream_errors_total by kind, and a 500 from the application is not one', () => {
    expect(sampleValue(samples, 'splitgate_upstream_errors_total', { route: 'broken', version: 'stable', kind: 'connect_refused' })).toBe(1);
    const apiErrors = samplesOf(samples, 'splitgate_upstream_errors_total').filter((s) => s.labels.route === 'api');
    expect(apiErrors.every((s) => s.value === 0)).toBe(true);
  });

  it('reports splitgate_route_weight per route', () => {
    expect(sampleValue(samples, 'splitgate_route_weight', { route: 'api' })).toBe(12.5);
    expect(sampleValue(samples, 'splitgate_route_weight', { route: 'broken' })).toBe(0);
  });

  it('takes label values from config and closed sets only, never from the request', () => {
    const families = /^(http_requests_total|http_request_duration_seconds_.*|splitgate_(routing_decisions|upstream_errors)_total|splitgate_route_weight)$/;
    const labelled = samples.filter((s) => families.test(s.name));
    expect(labelled.length).toBeGreaterThan(20);
    for (const sample of labelled) {
      if ('route' in sample.labels) expect(['api', 'broken', '_unmatched']).toContain(sample.labels.route);
      if ('version' in sample.labels) expect(['stable', 'canary', 'none']).toContain(sample.labels.version);
      if ('method' in sample.labels) expect(['GET', 'OTHER']).toContain(sample.labels.method);
      if ('code' in sample.labels) expect(sample.labels.code).toMatch(/^[1-5]\d\d$/);
    }
    const everyLabelValue = samples.flatMap((s) => Object.values(s.labels)).join('\n');
    for (const fromRequest of ['PURGE', 'script', 'nothing-here', '/api/ok']) expect(everyLabelValue).not.toContain(fromRequest);
  });
});

describe('health endpoints', () => {
  it('answers /healthz and /readyz with 200 while serving', async () => {
    const health = await send(proxy.adminUrl, '/healthz');
    expect(health.status).toBe(200);
    expect(health.json()).toEqual({ status: 'ok' });
    const ready = await send(proxy.adminUrl, '/readyz');
    expect(ready.status).toBe(200);
    expect(ready.json()).toEqual({ status: 'ready' });
  });
});
