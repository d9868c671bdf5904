/**
 * Fire-and-forget: a shadow that is slow, refuses connections, resets mid-body or hangs never delays, fails or
 * alters the client's exchange. Each client request is timed against a baseline measured in the same test on a
 * route that does not mirror, and against the shadow's own delay; every failed copy ends as a counted outcome.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closedPort, send, waitFor } from '../helpers/http.js';
import { mirrorOutcomeMetrics, summaryOf, waitForSummary } from '../helpers/mirror.js';
import { parsePrometheus, sampleValue } from '../helpers/prometheus.js';
import { startSplitgate, type StartedSplitgate } from '../helpers/splitgate.js';
import { startRawUpstream, startUpstream, type RawUpstream, type TestUpstream } from '../helpers/upstreams.js';

const SHADOW_DELAY_MS = 2_000;
const REQUESTS = 5;

/** The same answer from every upstream, so a copy that does come back matches. */
function answer(req: IncomingMessage, res: ServerResponse): void {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ path: req.url }));
}

const pendingTimers = new Set<NodeJS.Timeout>();

let stable: TestUpstream;
let late: TestUpstream;
let hang: TestUpstream;
let reset: RawUpstream;
let proxy: StartedSplitgate;

beforeAll(async () => {
  stable = await startUpstream('stable', (req, res) => {
    req.resume();
    req.on('end', () => answer(req, res));
  });
  late = await startUpstream('late', (req, res) => {
    req.resume();
    const timer = setTimeout(() => {
      pendingTimers.delete(timer);
      answer(req, res);
    }, SHADOW_DELAY_MS);
    pendingTimers.add(timer);
  });
  // Takes the request and never answers.
  hang = await startUpstream('hang', (req) => req.resume());
  // Starts a response promising 1000 bytes, sends a few, then resets the connection.
  reset = await startRawUpstream((socket) => {
    socket.write('HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{"path":"');
    setTimeout(() => socket.resetAndDestroy(), 20);
  });
  const refusedUrl = `http://127.0.0.1:${await closedPort()}`;
  const mirrored = (name: string, to: string, extra: Record<string, unknown> = {}) => ({
    name,
    match: { pathPrefix: `/${name}` },
    stable: 'stable',
    mirror: { to, percent: 100, ...extra },
  });
  proxy = await startSplitgate({
    log: { level: 'warn' },
    upstreams: { stable: stable.url, late: late.url, hang: hang.url, reset: reset.url, refused: refusedUrl },
    routes: [
      { name: 'base', match: { pathPrefix: '/base' }, stable: 'stable' },
      mirrored('timeout', 'late', { timeout: '300ms' }),
      mirrored('waits', 'late', { timeout: '10s' }),
      mirrored('refused', 'refused'),
      mirrored('reset', 'reset'),
      mirrored('capped', 'hang', { maxInFlight: 2, timeout: '60s' }),
    ],
  });
});

afterAll(async () => {
  for (const timer of pendingTimers) clearTimeout(timer);
  // The two copies still hanging on `hang` are ended by the stop itself (see the last test).
  await proxy?.stop();
  await Promise.all([stable?.close(), late?.close(), hang?.close(), reset?.close()]);
});

/** Sends `count` GETs to `/prefix/i` one after another; checks each answer; returns each one's latency (ms). */
async function timedRequests(prefix: string, count = REQUESTS): Promise<number[]> {
  const latencies: number[] = [];
  for (let i = 0; i < count; i++) {
    const path = `/${prefix}/${i}`;
    const started = performance.now();
    const response = await send(proxy.url, path);
    latencies.push(performance.now() - started);
    expect(response.status).toBe(200);
    expect(response.json()).toEqual({ path });
  }
  return latencies;
}

/**
 * A client request through a mirrored route must take about what one through an unmirrored route takes: far
 * below the shadow's delay. The margins are generous (a loaded CI machine), the gap to 2 s is what matters.
 */
async function expectUndelayed(prefix: string): Promise<void> {
  const baseline = Math.max(...(await timedRequests('base')));
  const latencies = await timedRequests(prefix);
  for (const latency of latencies) {
    expect(latency).toBeLessThan(baseline + 500);
    expect(latency).toBeLessThan(SHADOW_DELAY_MS / 2);
  }
}

describe('a slow shadow', () => {
  it('answering 2 s late past a 300 ms timeout: clients are not delayed; copies end as shadow_timeout', async () => {
    await expectUndelayed('timeout');
    const summary = await waitForSummary(proxy.adminUrl, 'timeout', `${REQUESTS} timeouts`, (s) => s.outcomes.shadow_timeout === REQUESTS);
    expect(summary.outcomes.match + summary.outcomes.diff + summary.outcomes.shadow_error).toBe(0);
    expect(summary.inFlight).toBe(0);
  });

  it('answering 2 s late within its timeout: clients are not delayed; the copies still compare, 2 s later', async () => {
    await expectUndelayed('waits');
    const summary = await waitForSummary(proxy.adminUrl, 'waits', `${REQUESTS} matches`, (s) => s.outcomes.match === REQUESTS, SHADOW_DELAY_MS + 5_000);
    expect(summary.inFlight).toBe(0);
    // Every copy took the shadow's full delay, which the clients never saw.
    const samples = parsePrometheus((await send(proxy.adminUrl, '/metrics')).text);
    const duration = (name: string, labels: Record<string, string> = {}) =>
      sampleValue(samples, `splitgate_mirror_duration_seconds_${name}`, { route: 'waits', ...labels });
    expect(duration('count')).toBe(REQUESTS);
    expect(duration('bucket', { le: '1' })).toBe(0);
    expect(duration('sum')).toBeGreaterThanOrEqual((REQUESTS * SHADOW_DELAY_MS * 0.95) / 1000);
  });
});

describe('a broken shadow', () => {
  it('refusing connections: clients are not affected; copies end as shadow_error', async () => {
    await expectUndelayed('refused');
    const summary = await waitForSummary(proxy.adminUrl, 'refused', `${REQUESTS} errors`, (s) => s.outcomes.shadow_error === REQUESTS);
    expect(summary.inFlight).toBe(0);
  });

  it('resetting mid-body: clients are not affected; copies end as shadow_error', async () => {
    const connectionsBefore = reset.connections();
    await expectUndelayed('reset');
    const summary = await waitForSummary(proxy.adminUrl, 'reset', `${REQUESTS} errors`, (s) => s.outcomes.shadow_error === REQUESTS);
    expect(summary.outcomes.match + summary.outcomes.diff).toBe(0);
    expect(reset.connections() - connectionsBefore).toBe(REQUESTS);
  });
});

describe('maxInFlight', () => {
  it('with 2 copies hanging, further copies are dropped and clients are still served', async () => {
    const latencies = await timedRequests('capped', 10);
    expect(latencies).toHaveLength(10);
    await waitFor('the two copies to reach the hanging shadow', () => hang.seen.length === 2);
    const summary = await summaryOf(proxy.adminUrl, 'capped');
    expect(summary.outcomes.dropped).toBeGreaterThanOrEqual(8);
    expect(summary.inFlight).toBeLessThanOrEqual(2);
    expect(summary.outcomes.dropped + summary.inFlight).toBe(10);
    expect(hang.seen.map((r) => r.url)).toEqual(['/capped/0', '/capped/1']);
    expect((await mirrorOutcomeMetrics(proxy.adminUrl, 'capped')).dropped).toBe(summary.outcomes.dropped);
    const samples = parsePrometheus((await send(proxy.adminUrl, '/metrics')).text);
    expect(sampleValue(samples, 'splitgate_mirror_in_flight', { route: 'capped' })).toBe(summary.inFlight);
  });
});

describe('stopping', () => {
  it('a copy hanging on its shadow does not hold up the stop (regression: stop waited out mirror.timeout)', async () => {
    const hung = await startUpstream('hung', (req) => req.resume());
    const own = await startSplitgate({
      log: { level: 'warn' },
      upstreams: { stable: stable.url, hung: hung.url },
      routes: [{ name: 'hung', stable: 'stable', mirror: { to: 'hung', percent: 100, timeout: '30s' } }],
    });
    try {
      expect((await send(own.url, '/hung/1')).status).toBe(200);
      await waitFor('the copy to reach the hanging shadow', () => hung.seen.length === 1);
      const records = own.splitgate.mirrors.get('hung')!;
      expect(records.inFlight).toBe(1);
      const started = performance.now();
      await own.stop();
      // Nothing of the client's was in flight: the stop takes a moment, not the 30 s the copy could still wait.
      expect(performance.now() - started).toBeLessThan(5_000);
      await waitFor('the aborted copy to be counted', () => records.inFlight === 0);
      expect(records.summary().outcomes).toMatchObject({ shadow_error: 1, shadow_timeout: 0, match: 0 });
    } finally {
      await own.stop();
      await hung.close();
    }
  });
});
