/**
 * Issue 14, item 7 (review follow-up): an override secret stays between the tester and splitgate. With
 * `overrides.secret`, the override header and the override cookie's pair are not forwarded to the chosen version
 * nor to the shadow, and a stored diff shows the override header as [redacted]; other cookies pass unchanged.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { send } from '../helpers/http.js';
import { waitForSummary } from '../helpers/mirror.js';
import { startSplitgate, type StartedSplitgate } from '../helpers/splitgate.js';
import { startUpstream, type TestUpstream } from '../helpers/upstreams.js';

const SECRET = 'tester-secret-42';

function answer(version: string) {
  return startUpstream(version, (req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ version }));
    });
  });
}

let stable: TestUpstream;
let canary: TestUpstream;
let shadow: TestUpstream;
let proxy: StartedSplitgate;

beforeAll(async () => {
  [stable, canary, shadow] = await Promise.all([answer('stable'), answer('canary'), answer('shadow')]);
  proxy = await startSplitgate({
    log: { level: 'silent' },
    upstreams: { stable: stable.url, canary: canary.url, shadow: shadow.url },
    routes: [
      { name: 'open', match: { pathPrefix: '/open' }, stable: 'stable', canary: 'canary', weight: 0 },
      {
        name: 'api',
        stable: 'stable',
        canary: 'canary',
        weight: 0,
        overrides: { header: 'x-canary', cookie: 'canary', secret: SECRET },
        mirror: { to: 'shadow', percent: 100 },
      },
    ],
  });
});

afterAll(async () => {
  await proxy?.stop();
  await Promise.all([stable?.close(), canary?.close(), shadow?.close()]);
});

describe('an override secret is not forwarded', () => {
  it('the header override reaches the canary without its header; the shadow and GET /diffs do not see the secret', async () => {
    const response = await send(proxy.url, '/items', { headers: { 'x-canary': `always:${SECRET}`, 'x-other': 'kept' } });
    expect(response.json()).toEqual({ version: 'canary' });
    const seen = canary.seen.at(-1)!;
    expect(seen.headers['x-canary']).toBeUndefined();
    expect(seen.headers['x-other']).toBe('kept');
    await waitForSummary(proxy.adminUrl, 'api', 'a compared copy', (s) => (s.outcomes.diff ?? 0) + (s.outcomes.match ?? 0) >= 1);
    expect(shadow.seen.at(-1)!.headers['x-canary']).toBeUndefined();
    // The shadow answered differently (version), so the exchange is stored: its request headers hide the secret.
    const diffs = (await send(proxy.adminUrl, '/diffs?route=api')).text;
    expect(diffs).toContain('x-canary');
    expect(diffs).not.toContain(SECRET);
  });

  it('the cookie override reaches the canary without its pair; the other cookies pass as sent', async () => {
    const response = await send(proxy.url, '/items', { headers: { cookie: `a=1; canary=always:${SECRET}; b=2` } });
    expect(response.json()).toEqual({ version: 'canary' });
    expect(canary.seen.at(-1)!.headers.cookie).toBe('a=1; b=2');
    const alone = await send(proxy.url, '/items', { headers: { cookie: `canary=always:${SECRET}` } });
    expect(alone.json()).toEqual({ version: 'canary' });
    expect(canary.seen.at(-1)!.headers.cookie).toBeUndefined();
  });

  it('a route without a secret forwards its override header as before (the application may read it)', async () => {
    const response = await send(proxy.url, '/open', { headers: { 'x-canary': 'always' } });
    expect(response.json()).toEqual({ version: 'canary' });
    expect(canary.seen.at(-1)!.headers['x-canary']).toBe('always');
  });
});
