/**
 * The circuit breaker on an upstream (Envoy's max_requests): beyond `maxRequests` in flight, new requests get 503
 * at once instead of queueing without bound; the slots free up as requests finish.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { send } from '../helpers/http.js';
import { startSplitgate, type StartedSplitgate } from '../helpers/splitgate.js';
import { startUpstream, type TestUpstream } from '../helpers/upstreams.js';

let slow: TestUpstream;
let proxy: StartedSplitgate;
const held: Array<() => void> = [];

beforeAll(async () => {
  slow = await startUpstream('stable', (_req, res) => {
    held.push(() => res.end('done'));
  });
  proxy = await startSplitgate({
    log: { level: 'silent' },
    upstreams: { stable: { url: slow.url, connections: 2, maxRequests: 3 } },
    routes: [{ name: 'api', stable: 'stable' }],
  });
});

afterAll(async () => {
  for (const release of held) release();
  await proxy?.stop();
  await slow?.close();
});

describe('maxRequests', () => {
  it('answers 503 SG_UPSTREAM_OVERLOADED beyond the limit, counts it, and recovers', async () => {
    const waiting = [0, 1, 2].map(() => send(proxy.url, '/slow'));
    while (held.length < 2) await new Promise((r) => setTimeout(r, 10));
    const rejected = await send(proxy.url, '/over');
    expect(rejected.status).toBe(503);
    expect(rejected.json<{ error: { code: string } }>().error.code).toBe('SG_UPSTREAM_OVERLOADED');

    // Release what the upstream holds until the three queued-or-running requests are all answered.
    let finished = false;
    const all = Promise.all(waiting).finally(() => (finished = true));
    while (!finished) {
      for (const release of held.splice(0)) release();
      await new Promise((r) => setTimeout(r, 10));
    }
    const answers = await all;
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200]);

    const after = send(proxy.url, '/again');
    while (held.length < 1) await new Promise((r) => setTimeout(r, 10));
    held.shift()!();
    expect((await after).status).toBe(200);
    const metrics = await (await fetch(`${proxy.adminUrl}/metrics`)).text();
    expect(metrics).toContain('splitgate_upstream_errors_total{route="api",version="stable",kind="overflow"} 1');
    expect(metrics).toContain('http_requests_total{route="api",version="stable",method="GET",code="503"} 1');
  });
});
