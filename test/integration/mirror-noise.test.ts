/**
 * Noise: stable stamps every answer with a fresh `requestId`, so it differs from the shadow's on every request.
 * With noise sampling (`diff.noisePercent`) splitgate asks stable a second time, learns that `requestId` differs
 * between stable and itself, and stops reporting it while still reporting real differences. Without sampling the
 * field is reported, and flagged `likelyNoise` once enough comparisons show it differs every time.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { send } from '../helpers/http.js';
import { settled, storedDiffs, summaryOf, waitForSummary } from '../helpers/mirror.js';
import { startSplitgate, type StartedSplitgate } from '../helpers/splitgate.js';
import { startUpstream, type TestUpstream } from '../helpers/upstreams.js';

/** Every answer has a fresh requestId; only the shadow's `plan` differs, and only on paths ending in /real. */
function answerWith(side: 'stable' | 'shadow') {
  return (req: IncomingMessage, res: ServerResponse): void => {
    req.resume();
    const plan = side === 'shadow' && req.url?.endsWith('/real') ? 'pro' : 'basic';
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ requestId: randomUUID(), user: { name: 'ann' }, plan }));
  };
}

let stable: TestUpstream;
let shadow: TestUpstream;
let proxy: StartedSplitgate;

beforeAll(async () => {
  stable = await startUpstream('stable', answerWith('stable'));
  shadow = await startUpstream('shadow', answerWith('shadow'));
  proxy = await startSplitgate({
    log: { level: 'warn' },
    upstreams: { stable: stable.url, shadow: shadow.url },
    routes: [
      { name: 'learn', match: { pathPrefix: '/learn' }, stable: 'stable', mirror: { to: 'shadow', percent: 100, diff: { noisePercent: 100 } } },
      { name: 'flag', match: { pathPrefix: '/flag' }, stable: 'stable', mirror: { to: 'shadow', percent: 100 } },
    ],
  });
});

afterAll(async () => {
  await proxy?.stop();
  await stable?.close();
  await shadow?.close();
});

/** Sends `paths` one after another (each answered 200), then waits until all their copies settled. */
async function sendAll(route: string, paths: readonly string[]): Promise<void> {
  const before = settled(await summaryOf(proxy.adminUrl, route));
  for (const path of paths) expect((await send(proxy.url, path)).status).toBe(200);
  await waitForSummary(proxy.adminUrl, route, `${paths.length} copies to settle`, (s) => settled(s) === before + paths.length);
}

const repeat = (path: string, times: number): string[] => Array.from({ length: times }, () => path);

describe('noise sampling (diff.noisePercent: 100)', () => {
  it('learns that body.$.requestId is noise and suppresses it', async () => {
    await sendAll('learn', repeat('/learn/same', 5));
    const summary = await summaryOf(proxy.adminUrl, 'learn');
    expect(summary.noiseFields).toEqual([{ field: 'body.$.requestId', count: 5 }]);
    expect(summary.noiseSamples).toBe(5);
    // The only difference was noise: every comparison is a match, and no field is counted.
    expect(summary.outcomes.match).toBe(5);
    expect(summary.outcomes.diff).toBe(0);
    expect(summary.topFields).toEqual([]);
    // The second opinion came from stable itself, marked as a copy.
    const stableCopies = stable.seen.filter((r) => r.url === '/learn/same' && r.headers['x-splitgate-shadow'] === '1');
    expect(stableCopies).toHaveLength(5);
    expect(stableCopies.every((r) => r.headers['x-splitgate-version'] === 'stable')).toBe(true);
  });

  it('later diffs report the real difference and list requestId as suppressed', async () => {
    await sendAll('learn', repeat('/learn/real', 3));
    const summary = await summaryOf(proxy.adminUrl, 'learn');
    expect(summary.outcomes.diff).toBe(3);
    expect(summary.topFields).toEqual([{ field: 'body.$.plan', count: 3, likelyNoise: false }]);
    const diffs = await storedDiffs(proxy.adminUrl, 'learn');
    expect(diffs).toHaveLength(3);
    for (const diff of diffs) {
      expect(diff.request.url).toBe('/learn/real');
      expect(diff.differences).toEqual([{ field: 'body.$.plan', path: 'body.$.plan', primary: 'basic', shadow: 'pro' }]);
      expect(diff.suppressed).toEqual(['body.$.requestId']);
    }
  });
});

describe('without noise sampling', () => {
  it('a field differing every time is reported, and not yet likely noise before 20 comparisons', async () => {
    await sendAll('flag', [...repeat('/flag/same', 16), ...repeat('/flag/real', 3)]);
    const summary = await summaryOf(proxy.adminUrl, 'flag');
    expect(summary.compared).toBe(19);
    expect(summary.noiseFields).toEqual([]);
    expect(summary.noiseSamples).toBe(0);
    expect(summary.topFields).toEqual([
      { field: 'body.$.requestId', count: 19, likelyNoise: false },
      { field: 'body.$.plan', count: 3, likelyNoise: false },
    ]);
    expect(stable.seen.filter((r) => r.url.startsWith('/flag') && r.headers['x-splitgate-shadow'] !== undefined)).toEqual([]);
  });

  it('from 20 comparisons on, a field that differs on (nearly) every one is flagged likelyNoise', async () => {
    await sendAll('flag', ['/flag/same']);
    const summary = await summaryOf(proxy.adminUrl, 'flag');
    expect(summary.compared).toBe(20);
    expect(summary.topFields).toEqual([
      { field: 'body.$.requestId', count: 20, likelyNoise: true },
      { field: 'body.$.plan', count: 3, likelyNoise: false },
    ]);
    // Flagging is advice only: the field is still reported in every diff.
    const [newest] = await storedDiffs(proxy.adminUrl, 'flag', 1);
    expect(newest.differences.map((d) => d.field)).toEqual(['body.$.requestId']);
  });
});
