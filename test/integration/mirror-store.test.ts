/**
 * GET /diffs: the last `diff.keep` differing exchanges of a route, newest first, with credentials and configured
 * headers redacted and long values truncated; the summary keeps counting what the store no longer holds. Bad
 * queries get the admin API's error shape.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { send } from '../helpers/http.js';
import { storedDiffs, summaryOf, waitForSummary } from '../helpers/mirror.js';
import { startSplitgate, type StartedSplitgate } from '../helpers/splitgate.js';
import { startUpstream, type TestUpstream } from '../helpers/upstreams.js';

const LONG_STABLE = 'a'.repeat(250);
const LONG_SHADOW = 'b'.repeat(250);
const SECRET = 'Bearer s3cr3t-t0ken';

/** The shadow's `note` differs on every path, and is longer than a stored value may be. */
function answerWith(note: string) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    req.resume();
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ url: req.url, note }));
  };
}

let stable: TestUpstream;
let shadow: TestUpstream;
let proxy: StartedSplitgate;

beforeAll(async () => {
  stable = await startUpstream('stable', answerWith(LONG_STABLE));
  shadow = await startUpstream('shadow', answerWith(LONG_SHADOW));
  proxy = await startSplitgate({
    upstreams: { stable: stable.url, shadow: shadow.url },
    routes: [
      { name: 'plain', match: { pathPrefix: '/plain' }, stable: 'stable' },
      {
        name: 'api',
        stable: 'stable',
        mirror: { to: 'shadow', percent: 100, diff: { keep: 3, redact: ['X-Api-Key'], logSample: 1 } },
      },
    ],
  });
  for (let i = 1; i <= 5; i++) {
    const response = await send(proxy.url, `/api/${i}`, {
      headers: {
        authorization: SECRET,
        'proxy-authorization': SECRET,
        cookie: 'session=s3cr3t-cookie',
        'x-api-key': 's3cr3t-key',
        'x-visible': 'shown',
      },
    });
    expect(response.status).toBe(200);
    // One at a time, so the store's order (by when a comparison ends) is the order the requests were sent in.
    await waitForSummary(proxy.adminUrl, 'api', `diff ${i}`, (s) => s.outcomes.diff === i);
  }
});

afterAll(async () => {
  await proxy?.stop();
  await stable?.close();
  await shadow?.close();
});

describe('GET /diffs', () => {
  it('keeps the newest `keep` (3) differing exchanges, newest first', async () => {
    const diffs = await storedDiffs(proxy.adminUrl, 'api');
    expect(diffs.map((d) => d.request.url)).toEqual(['/api/5', '/api/4', '/api/3']);
    expect(diffs.map((d) => d.id)).toEqual([...diffs.map((d) => d.id)].sort((a, b) => b - a));
    for (const diff of diffs) {
      expect(diff.route).toBe('api');
      expect(diff.request.method).toBe('GET');
      expect(diff.primaryVersion).toBe('stable');
      expect(Number.isNaN(Date.parse(diff.time))).toBe(false);
    }
    // The store forgets; the counts do not.
    expect((await summaryOf(proxy.adminUrl, 'api')).topFields).toEqual([{ field: 'body.$.note', count: 5, likelyNoise: false }]);
  });

  it('limit returns fewer, still newest first', async () => {
    expect((await storedDiffs(proxy.adminUrl, 'api', 2)).map((d) => d.request.url)).toEqual(['/api/5', '/api/4']);
  });

  it('shows authorization, cookie and configured headers as [redacted], other headers as sent', async () => {
    const [newest] = await storedDiffs(proxy.adminUrl, 'api', 1);
    expect(newest.request.headers).toMatchObject({
      authorization: '[redacted]',
      'proxy-authorization': '[redacted]',
      cookie: '[redacted]',
      'x-api-key': '[redacted]',
      'x-visible': 'shown',
    });
    const text = (await send(proxy.adminUrl, '/diffs?route=api')).text;
    expect(text).not.toContain('s3cr3t');
  });

  it('truncates values longer than 200 characters, saying how long they were', async () => {
    const [newest] = await storedDiffs(proxy.adminUrl, 'api', 1);
    expect(newest.differences).toEqual([
      { field: 'body.$.note', path: 'body.$.note', primary: `${'a'.repeat(200)}… (250 chars)`, shadow: `${'b'.repeat(200)}… (250 chars)` },
    ]);
  });

  it('logs sampled diffs (logSample: 1) without request headers', () => {
    const logged = proxy.logLines.filter((line) => line.msg === 'mirror diff');
    expect(logged.map((line) => line.url)).toEqual(['/api/1', '/api/2', '/api/3', '/api/4', '/api/5']);
    expect(logged[0]).toMatchObject({ route: 'api', fields: ['body.$.note'], status: { primary: 200, shadow: 200 } });
    expect(JSON.stringify(proxy.logLines)).not.toContain('s3cr3t');
  });

  it('a route that exists but does not mirror has no diffs', async () => {
    const response = await send(proxy.adminUrl, '/diffs?route=plain');
    expect(response.status).toBe(200);
    expect(response.json()).toEqual({ route: 'plain', diffs: [] });
  });

  it('without route: 400; unknown route: 404', async () => {
    const missing = await send(proxy.adminUrl, '/diffs');
    expect(missing.status).toBe(400);
    expect(missing.json().error).toMatchObject({ code: 'SG_INVALID' });
    const unknown = await send(proxy.adminUrl, '/diffs?route=nope');
    expect(unknown.status).toBe(404);
    expect(unknown.json().error).toMatchObject({ code: 'SG_UNKNOWN_ROUTE' });
  });
});
