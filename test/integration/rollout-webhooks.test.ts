/**
 * Rollout webhooks against a real hook server: a failing pre-rollout hook is a failed check, a confirm-rollout
 * gate holds the rollout in Initializing until it says yes, and the late answer of a slow hook is dropped when an
 * operator aborted the rollout meanwhile. Every hook gets a POST with JSON naming the route, phase, revision,
 * weight and hook type.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/http.js';
import { startLoad } from '../helpers/load.js';
import { adminCall, eventsOf, rolloutOf, routeStatus, waitForRollout } from '../helpers/rollout.js';
import { startSplitgate, type StartedSplitgate } from '../helpers/splitgate.js';
import { startUpstreams, type TestUpstream } from '../helpers/upstreams.js';

interface HookCall {
  readonly path: string;
  readonly method: string;
  readonly contentType: string | undefined;
  readonly body: any;
  readonly at: number;
  answeredAt?: number;
}

interface HookServer {
  readonly url: string;
  readonly calls: HookCall[];
  /** Status and delay of the answer, by path; 200 at once unless set. */
  readonly answers: Map<string, { status: number; delayMs?: number }>;
  callsTo(path: string): HookCall[];
  close(): Promise<void>;
}

async function startHookServer(): Promise<HookServer> {
  const calls: HookCall[] = [];
  const answers = new Map<string, { status: number; delayMs?: number }>();
  const server: Server = createServer((req, res) => {
    let text = '';
    req.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
    req.on('end', () => {
      const call: HookCall = { path: req.url ?? '', method: req.method ?? '', contentType: req.headers['content-type'], body: JSON.parse(text || 'null'), at: Date.now() };
      calls.push(call);
      const answer = answers.get(call.path) ?? { status: 200 };
      setTimeout(() => {
        call.answeredAt = Date.now();
        res.writeHead(answer.status, { 'content-type': 'text/plain' }).end(answer.status < 300 ? 'ok' : 'no');
      }, answer.delayMs ?? 0);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    calls,
    answers,
    callsTo: (path) => calls.filter((c) => c.path === path),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

describe('rollout webhooks', () => {
  let upstreams: TestUpstream[];
  let hooks: HookServer;
  let sg: StartedSplitgate | undefined;

  function start(rollout: Record<string, unknown>): Promise<StartedSplitgate> {
    return startSplitgate({
      log: { level: 'warn' },
      upstreams: { stable: upstreams[0].url, canary: upstreams[1].url },
      routes: [{ name: 'api', stable: 'stable', canary: 'canary', weight: 0, rollout: { revision: 'v7', interval: '1s', stepWeights: [10, 50], ...rollout } }],
    });
  }

  beforeAll(async () => {
    upstreams = await startUpstreams('stable', 'canary');
    hooks = await startHookServer();
  });
  afterEach(async () => {
    await sg?.stop();
    sg = undefined;
    hooks.calls.length = 0;
    hooks.answers.clear();
  });
  afterAll(async () => {
    await hooks?.close();
    await Promise.all(upstreams.map((u) => u.close()));
  });

  it('a pre-rollout hook answering 500 is a failed check: threshold 1 rolls back, rollback and post-rollout hooks hear of it', async () => {
    hooks.answers.set('/pre', { status: 500 });
    sg = await start({
      threshold: 1,
      webhooks: [
        { name: 'smoke', type: 'pre-rollout', url: `${hooks.url}/pre`, timeout: '2s' },
        { type: 'rollback', url: `${hooks.url}/rollback` },
        { type: 'post-rollout', url: `${hooks.url}/post` },
      ],
    });
    const done = await waitForRollout(sg.adminUrl, 'api', 'the rollback', (s) => s.phase !== 'Initializing' && s.phase !== 'Idle', 5_000);
    expect(done).toMatchObject({ phase: 'RolledBack', weight: 0, step: -1, failedChecks: 1 });
    expect(done.message).toBe('rolled back: pre-rollout hooks failed 1 times: smoke: 500 no');
    expect(await routeStatus(sg.adminUrl, 'api')).toMatchObject({ weight: 0, killed: true });

    const [pre] = hooks.callsTo('/pre');
    expect(pre).toMatchObject({ method: 'POST', contentType: 'application/json' });
    expect(pre.body).toMatchObject({ name: 'api', phase: 'Initializing', revision: done.revision, weight: 0, type: 'pre-rollout' });
    expect(done.revision).toBe(`${upstreams[1].url}#v7`);
    await waitFor('the rollback notifications', () => hooks.callsTo('/rollback').length === 1 && hooks.callsTo('/post').length === 1);
    expect(hooks.callsTo('/rollback')[0].body).toMatchObject({ name: 'api', phase: 'RolledBack', weight: 0, type: 'rollback' });
    expect(hooks.callsTo('/post')[0].body).toMatchObject({ name: 'api', phase: 'RolledBack', type: 'post-rollout' });
    const rollback = (await eventsOf(sg.adminUrl, 'api')).find((e) => e.action === 'rollout.rolled_back');
    expect(rollback?.message).toBe('pre-rollout hooks failed 1 times: smoke: 500 no');
  });

  it('a confirm-rollout gate answering 403 holds the rollout in Initializing until it answers 200', async () => {
    hooks.answers.set('/confirm', { status: 403 });
    sg = await start({ threshold: 1, webhooks: [{ type: 'confirm-rollout', url: `${hooks.url}/confirm` }, { type: 'pre-rollout', url: `${hooks.url}/pre` }] });
    await waitFor('three confirm-rollout calls', () => hooks.callsTo('/confirm').length >= 3, 6_000);
    const held = await rolloutOf(sg.adminUrl, 'api');
    expect(held).toMatchObject({ phase: 'Initializing', step: -1, weight: 0, failedChecks: 0 });
    expect(held.message).toMatch(/^waiting for confirm-rollout: .*\/confirm: 403 no$/);
    expect((await routeStatus(sg.adminUrl, 'api')).weight).toBe(0);
    // Pre-rollout hooks run only once the gate opens.
    expect(hooks.callsTo('/pre')).toHaveLength(0);
    for (const call of hooks.callsTo('/confirm')) {
      expect(call.body).toMatchObject({ name: 'api', phase: 'Initializing', revision: held.revision, weight: 0, type: 'confirm-rollout' });
    }

    hooks.answers.set('/confirm', { status: 200 });
    const opened = await waitForRollout(sg.adminUrl, 'api', 'the first step', (s) => s.phase !== 'Initializing', 5_000);
    expect(opened).toMatchObject({ phase: 'Progressing', step: 0, weight: 10 });
    expect(hooks.callsTo('/pre')).toHaveLength(1);
    expect((await routeStatus(sg.adminUrl, 'api')).weight).toBe(10);
  });

  for (const type of ['confirm-promotion', 'rollout'] as const) {
    it(`an abort while a slow ${type} hook is in flight wins: the late answer is ignored`, async () => {
      hooks.answers.set('/slow', { status: 200, delayMs: 2_000 });
      // confirm-promotion is asked once the last step's window passes: one step, and traffic to pass it.
      const rollout =
        type === 'confirm-promotion'
          ? { stepWeights: [50], minRequests: 5, checks: [{ metric: 'success-rate', min: 99 }] }
          : { stepWeights: [10, 50], checks: [] };
      sg = await start({ ...rollout, webhooks: [{ type, url: `${hooks.url}/slow`, timeout: '5s' }] });
      const load = type === 'confirm-promotion' ? startLoad(sg.url, { concurrency: 2, durationMs: 10_000 }) : null;
      try {
        await waitFor(`the ${type} hook call`, () => hooks.callsTo('/slow').length === 1, 6_000);
        const call = hooks.callsTo('/slow')[0];
        expect(call.body).toMatchObject({ name: 'api', phase: 'Progressing', type, weight: type === 'confirm-promotion' ? 50 : 10 });
        expect(call.answeredAt).toBeUndefined();

        const aborted = await adminCall(sg.adminUrl, 'POST', '/routes/api/rollout/abort');
        expect(aborted).toMatchObject({ status: 200, body: { rollout: { phase: 'RolledBack', weight: 0 } } });
        await waitFor('the slow answer', () => call.answeredAt !== undefined, 4_000);
        // Give the runner a window's time past the answer to (wrongly) act on it.
        await new Promise((resolve) => setTimeout(resolve, 1_200));
      } finally {
        await load?.stop();
      }
      expect(await rolloutOf(sg.adminUrl, 'api')).toMatchObject({ phase: 'RolledBack', weight: 0, message: 'rolled back: aborted by an operator' });
      expect(await routeStatus(sg.adminUrl, 'api')).toMatchObject({ weight: 0, killed: true });
      const actions = (await eventsOf(sg.adminUrl, 'api')).filter((e) => e.actor === 'rollout').map((e) => e.action);
      expect(actions.at(-1)).toBe('rollout.rolled_back');
      expect(actions).not.toContain('rollout.succeeded');
      expect(actions.filter((a) => a === 'rollout.step')).toHaveLength(1);
      expect(hooks.callsTo('/slow')).toHaveLength(1);
    });
  }
});
