/**
 * With `workers: 2`, what the workers' proxies count themselves (retries to stable, outlier ejections, token
 * verifications, the listener's client rejections and open connections) reaches the supervisor's one /metrics and its event log, as
 * the request series do: summed over the workers, exactly. Real processes (dist/bin.js), a real refused canary.
 */
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closedPort, inParallel, send, waitFor } from '../helpers/http.js';
import { AUDIENCE, createSigningKey, ISSUER, signToken, type SigningKey } from '../helpers/jwks.js';
import { parsePrometheus, sampleValue } from '../helpers/prometheus.js';
import { createTempDir, killIfRunning, spawnSplitgate, type SplitgateProcess, type TempDir } from '../helpers/process.js';
import { startUpstream, type TestUpstream } from '../helpers/upstreams.js';
import { countsSettled, requestsPerWorker, supervisorStatus } from '../helpers/workers.js';
import { startLoad } from '../helpers/load.js';
import { eventsOf, waitForRollout } from '../helpers/rollout.js';

const ROUND = 60;

interface RouteView {
  name: string;
  outlier: { phase: string; ejected: boolean; unhealthy: boolean; ejections: number; ejectedUntil: string | null; retries: { ok: number }; workers?: { ejected: number; reporting: number } };
  verdict: { checks: Array<{ check: string; result: string }> };
}
let stable: TestUpstream;
let dir: TempDir;
let sg: SplitgateProcess | undefined;
let key: SigningKey;

beforeAll(async () => {
  stable = await startUpstream('stable');
  dir = createTempDir();
  key = await createSigningKey('workers-key');
  const jwks = dir.writeConfig('jwks.json', JSON.stringify({ keys: [key.publicJwk] }));
  sg = await spawnSplitgate(
    dir.writeConfig('workers.yaml', {
      listen: '127.0.0.1:0',
      admin: { listen: '127.0.0.1:0' },
      workers: 2,
      watch: false,
      state: { file: false },
      limits: { maxHeaderBytes: 4096 },
      jwt: { jwks: { file: jwks }, issuer: ISSUER, audience: AUDIENCE },
      upstreams: {
        stable: stable.url,
        refused: `http://127.0.0.1:${await closedPort()}`,
        checked: { url: `http://127.0.0.1:${await closedPort()}`, health: { path: '/healthz', interval: '200ms', timeout: '100ms', unhealthy: 2 } },
      },
      routes: [
        // No ejection: every canary-routed request fails at the canary and is retried, in either worker.
        { name: 'retried', match: { pathPrefix: '/retried' }, stable: 'stable', canary: 'refused', weight: 100, outlier: false },
        // Ejected after 3 connect failures in a row, for a long time: later requests go straight to stable.
        { name: 'ejected', match: { pathPrefix: '/ejected' }, stable: 'stable', canary: 'refused', weight: 100, outlier: { consecutiveConnectFailures: 3, baseEjectionTime: '300s' } },
        // A rollout whose windows are all inconclusive (minRequests out of reach): only an ejection can fail one.
        {
          name: 'rolled',
          match: { pathPrefix: '/rolled' },
          stable: 'stable',
          canary: 'refused',
          weight: 0,
          outlier: { consecutiveConnectFailures: 3, baseEjectionTime: '300s' },
          rollout: { interval: '1s', stepWeights: [50, 100], threshold: 1, minRequests: 100_000, checks: [{ metric: 'success-rate', min: 99 }] },
        },
        // Its canary fails its active health checks: every process (supervisor and workers) runs its own.
        { name: 'checked', match: { pathPrefix: '/checked' }, stable: 'stable', canary: 'checked', weight: 50 },
        // Reads the token's claims: each new token is verified once, by the worker that gets it.
        { name: 'claims', match: { pathPrefix: '/claims' }, stable: 'stable', canary: 'refused', weight: 0, rules: [{ match: { claims: { plan: 'enterprise' } }, weight: 0 }] },
      ],
    }),
  );
});

afterAll(async () => {
  await killIfRunning(sg);
  await stable?.close();
  dir?.remove();
});

async function metrics(): Promise<ReturnType<typeof parsePrometheus>> {
  return parsePrometheus((await send(sg!.adminUrl, '/metrics')).text);
}

describe('workers: 2, the proxies\' own counts', () => {
  it('sums both workers\' retries to stable in /metrics, exactly', async () => {
    const replies = await inParallel(ROUND, 6, (i) => send(sg!.url, `/retried/${i}`));
    expect(replies.every((r) => r.status === 200)).toBe(true);
    // Both workers took some of them, so the sum is over two processes.
    const perWorker = await countsSettled(async () => requestsPerWorker((await supervisorStatus(sg!.adminUrl)).workers ?? []), (counts) => [...counts.values()].filter((n) => n > 0).length === 2);
    expect([...perWorker.values()].filter((n) => n > 0).length).toBe(2);
    const parsed = await countsSettled(metrics, (p) => sampleValue(p, 'splitgate_retries_total', { route: 'retried', result: 'ok' }) === ROUND);
    expect(sampleValue(parsed, 'splitgate_retries_total', { route: 'retried', result: 'ok' })).toBe(ROUND);
    expect(sampleValue(parsed, 'splitgate_retries_total', { route: 'retried', result: 'budget_exhausted' })).toBe(0);
  });

  it('sums both workers\' token verifications in /metrics, exactly', async () => {
    const tokens = await Promise.all(Array.from({ length: ROUND }, (_, i) => signToken(key, { sub: `user-${i}`, plan: 'pro' }, { exp: i % 4 === 0 ? Math.floor(Date.now() / 1000) - 3600 : undefined })));
    const replies = await inParallel(ROUND, 6, (i) => send(sg!.url, `/claims/${i}`, { agent: false, headers: { authorization: `Bearer ${tokens[i]}` } }));
    expect(replies.every((r) => r.status === 200)).toBe(true);
    const perWorker = await countsSettled(async () => requestsPerWorker((await supervisorStatus(sg!.adminUrl)).workers ?? []), (counts) => [...counts.values()].filter((n) => n > 0).length === 2);
    expect([...perWorker.values()].filter((n) => n > 0).length).toBe(2);
    const expired = ROUND / 4;
    const parsed = await countsSettled(
      metrics,
      (p) => sampleValue(p, 'splitgate_jwt_verifications_total', { result: 'valid' }) === ROUND - expired && sampleValue(p, 'splitgate_jwt_verifications_total', { result: 'expired' }) === expired,
    );
    expect(sampleValue(parsed, 'splitgate_jwt_verifications_total', { result: 'valid' })).toBe(ROUND - expired);
    expect(sampleValue(parsed, 'splitgate_jwt_verifications_total', { result: 'expired' })).toBe(expired);
  });

  it('counts each worker\'s ejection, records it in the supervisor\'s events, and shows the canary ejected', async () => {
    // Fresh connections, so both workers see failures. The first with 3 in a row ejects and the other holds its
    // ejection; both eject only when their runs end at about the same moment.
    const replies = await inParallel(ROUND, 6, (i) => send(sg!.url, `/ejected/${i}`));
    expect(replies.every((r) => r.status === 200)).toBe(true);
    const status = await supervisorStatus(sg!.adminUrl);
    // The ejection events reach the supervisor as they happen; the workers' counts and guards, at a scrape. Read all
    // three until they agree: the scrape counts one ejection or two, each with its event, and both workers report
    // the canary ejected, with /status's retries those of /metrics.
    const snapshot = async () => {
      const parsed = await metrics();
      const events = (await send(sg!.adminUrl, '/events?route=ejected')).json<{ events: Array<{ actor: string; action: string; after: { slot?: number } }> }>().events;
      const route = (await send(sg!.adminUrl, '/status')).json<{ routes: RouteView[] }>().routes.find((r) => r.name === 'ejected')!;
      const ejections = sampleValue(parsed, 'splitgate_upstream_ejections_total', { route: 'ejected', version: 'canary' }) ?? 0;
      return { parsed, ejections, ejectedEvents: events.filter((e) => e.actor === 'outlier' && e.action === 'upstream.ejected'), route };
    };
    const { parsed, ejections, ejectedEvents, route } = await countsSettled(
      snapshot,
      (v) =>
        v.ejections >= 1 &&
        v.ejections <= 2 &&
        sampleValue(v.parsed, 'splitgate_upstream_ejected', { route: 'ejected', version: 'canary' }) === 1 &&
        v.ejectedEvents.length === v.ejections &&
        v.route.outlier.ejections === v.ejections &&
        v.route.outlier.workers?.ejected === 2 &&
        v.route.outlier.workers?.reporting === 2 &&
        v.route.outlier.retries.ok === sampleValue(v.parsed, 'splitgate_retries_total', { route: 'ejected', result: 'ok' }),
    );
    expect(ejections).toBeGreaterThanOrEqual(1);
    expect(ejections).toBeLessThanOrEqual(2);
    expect(sampleValue(parsed, 'splitgate_upstream_ejected', { route: 'ejected', version: 'canary' })).toBe(1);
    expect(ejectedEvents).toHaveLength(ejections);
    for (const event of ejectedEvents) expect((status.workers ?? []).map((w) => w.slot)).toContain(event.after.slot);

    // /status shows the workers' guards, not the supervisor's own (which proxies nothing and never ejects).
    expect(route.outlier).toMatchObject({ phase: 'ejected', ejected: true, unhealthy: false, ejections, workers: { ejected: 2, reporting: 2 } });
    expect(Date.parse(route.outlier.ejectedUntil!)).toBeGreaterThan(Date.now() + 200_000);
    expect(route.outlier.retries.ok).toBe(sampleValue(parsed, 'splitgate_retries_total', { route: 'ejected', result: 'ok' }));
    expect(route.outlier.retries.ok).toBeGreaterThanOrEqual(3);
    // The dashboard's verdict counts the ejection against the canary, as a rollout's window would.
    expect(route.verdict.checks).toContainEqual(expect.objectContaining({ check: 'outlier-ejection', result: 'fail' }));
  });

  it("rolls a rollout back on a worker's ejection, which only the workers see; clients see no error", async () => {
    // A new connection per request: both workers take a share, and each ejects on its own failures.
    const load = startLoad(sg!.url, { path: '/rolled/x', concurrency: 2, durationMs: 10_000, pauseMs: 10, keepAlive: false });
    const done = await waitForRollout(sg!.adminUrl, 'rolled', 'the rollback', (s) => s.phase === 'RolledBack' || s.phase === 'Succeeded', 10_000);
    const traffic = await load.stop();
    expect(done.phase).toBe('RolledBack');
    const rollback = (await eventsOf(sg!.adminUrl, 'rolled')).find((e) => e.action === 'rollout.rolled_back')!;
    expect(rollback.before.checks.find((c: { check: string }) => c.check === 'outlier-ejection')).toMatchObject({ result: 'fail' });
    expect(traffic.failed).toBe(0);
    expect(Object.keys(traffic.byStatus)).toEqual(['200']);
  });

  it("lists the health checks in /status and shows a canary that fails them as unhealthy, by every process's checks", async () => {
    interface HealthView { upstream: string; healthy: boolean; lastFailure: string | null }
    await waitFor('the checked canary unhealthy', async () => {
      const view = (await send(sg!.adminUrl, '/status')).json<{ health: HealthView[]; routes: RouteView[] }>();
      return view.health.some((h) => h.upstream === 'checked' && !h.healthy) && view.routes.find((r) => r.name === 'checked')!.outlier.workers?.reporting === 2;
    }, 5_000);
    const view = (await send(sg!.adminUrl, '/status')).json<{ health: HealthView[]; routes: RouteView[] }>();
    expect(view.health).toEqual([expect.objectContaining({ upstream: 'checked', healthy: false, lastFailure: expect.any(String) })]);
    expect(view.routes.find((r) => r.name === 'checked')!.outlier).toMatchObject({ ejected: true, unhealthy: true, ejections: 0 });
    // Nothing reaches the unhealthy canary, whichever worker serves: no retries needed either.
    const replies = await inParallel(20, 4, (i) => send(sg!.url, `/checked/${i}`));
    expect(replies.map((r) => r.json<{ version: string }>().version)).toEqual(new Array(20).fill('stable'));
  });

  it('sums client rejections and open client connections over the workers', async () => {
    const before = sampleValue(await metrics(), 'splitgate_client_rejections_total', { reason: 'header_too_large' }) ?? 0;
    const oversized = await inParallel(10, 5, (i) => send(sg!.url, `/retried/big-${i}`, { headers: { 'x-padding': 'x'.repeat(8000) } }));
    expect(oversized.map((r) => r.status)).toEqual(new Array(10).fill(431));
    await waitFor('10 header_too_large rejections', async () => (sampleValue(await metrics(), 'splitgate_client_rejections_total', { reason: 'header_too_large' }) ?? 0) === before + 10, 5_000);

    // Idle connections held open count as open, whichever worker holds them; closed, they are gone again.
    const port = Number(new URL(sg!.url).port);
    const sockets = await Promise.all(Array.from({ length: 8 }, () => new Promise<ReturnType<typeof connect>>((resolve, reject) => {
      const socket = connect(port, '127.0.0.1', () => resolve(socket));
      socket.on('error', reject);
    })));
    try {
      await waitFor('8 open client connections', async () => (sampleValue(await metrics(), 'splitgate_client_connections', {}) ?? 0) >= 8, 5_000);
    } finally {
      for (const socket of sockets) socket.destroy();
    }
    await waitFor('the connections gone', async () => (sampleValue(await metrics(), 'splitgate_client_connections', {}) ?? 0) === 0, 5_000);
  });
});
