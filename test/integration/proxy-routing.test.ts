/**
 * Routing through the real proxy: which upstream answered, the `x-splitgate-version` it was told, and the reason
 * the access log gives, for weights, overrides, rules, regions and their precedence.
 */
import { Agent } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bucketOf } from '../../src/routing/hash.js';
import { inParallel, send } from '../helpers/http.js';
import { startSplitgate, type StartedSplitgate } from '../helpers/splitgate.js';
import { startUpstreams, type TestUpstream } from '../helpers/upstreams.js';

let stable: TestUpstream;
let canary: TestUpstream;
let proxy: StartedSplitgate;
const agent = new Agent({ keepAlive: true, maxSockets: 32 });

const both = { stable: 'stable', canary: 'canary' };
const byUserId = { key: ['header:x-user-id'], cookie: false };

beforeAll(async () => {
  [stable, canary] = await startUpstreams('stable', 'canary');
  proxy = await startSplitgate({
    upstreams: { stable: stable.url, canary: canary.url },
    routes: [
      { name: 'all-stable', match: { pathPrefix: '/w0' }, ...both, weight: 0 },
      { name: 'all-canary', match: { pathPrefix: '/w100' }, ...both, weight: 100 },
      { name: 'split', match: { pathPrefix: '/split' }, ...both, weight: 30, sticky: byUserId },
      {
        name: 'custom-overrides',
        match: { pathPrefix: '/custom' },
        ...both,
        weight: 0,
        overrides: { header: 'x-force', cookie: 'force' },
      },
      {
        name: 'rules',
        match: { pathPrefix: '/rules' },
        ...both,
        weight: 0,
        sticky: byUserId,
        overrides: { header: 'x-canary', cookie: 'canary' },
        region: { header: 'x-region' },
        rules: [
          { match: { headers: { 'x-beta-tester': 'true' } }, version: 'canary' },
          { match: { headers: { 'user-agent': '~Mobile' } }, weight: 100 },
          { match: { cookies: { plan: 'internal' } }, version: 'canary' },
          { match: { headers: { 'x-ring': '~^(early|alpha)$' } }, version: 'stable' },
          { match: { region: ['us-west', 'eu-west'] }, weight: 50 },
        ],
      },
    ],
  });
});

afterAll(async () => {
  agent.destroy();
  await proxy?.stop();
  await Promise.all([stable?.close(), canary?.close()]);
});

// Each routed() waits up to ACCESS_LOG_DELAY_MS (250 ms) for its access log line, which the access log writes in
// batches: requests (and table cases, which are independent reads of one proxy's routing) run concurrently so those
// waits overlap instead of adding up.
interface Routed {
  readonly version: string;
  readonly reason: unknown;
  readonly rule: unknown;
  readonly route: unknown;
}

let sequence = 0;

/** Sends one request and reports where it went: upstream that answered, the version it saw, the logged reason. */
async function routed(path: string, headers: Record<string, string> = {}): Promise<Routed> {
  const requestId = `routing-${++sequence}`;
  const res = await send(proxy.url, path, { headers: { ...headers, 'x-request-id': requestId }, agent });
  expect(res.status).toBe(200);
  const echoed = res.json<{ version: string; headers: Record<string, string> }>();
  // The upstream that answered is the one the proxy told: the header it received names its own version.
  expect(echoed.headers['x-splitgate-version']).toBe(echoed.version);
  expect(res.headers['x-upstream-version']).toBe(echoed.version);
  const line = await proxy.accessLogLine(requestId);
  expect(line, `access log line for ${requestId}`).toBeDefined();
  expect(line!.version).toBe(echoed.version);
  expect(line!.status).toBe(200);
  return { version: echoed.version, reason: line!.reason, rule: line!.rule, route: line!.route };
}

describe('weighted split', () => {
  it('sends everything to stable at weight 0 and to canary at weight 100', async () => {
    const zero = await inParallel(50, 50, () => routed('/w0/x'));
    const hundred = await inParallel(50, 50, () => routed('/w100/x'));
    expect(zero.every((r) => r.version === 'stable' && r.reason === 'weight' && r.route === 'all-stable')).toBe(true);
    expect(hundred.every((r) => r.version === 'canary' && r.reason === 'weight' && r.route === 'all-canary')).toBe(true);
  });

  it('sends about 30 % of 2000 distinct users to the canary, each where its bucket says', async () => {
    const results = await inParallel(2000, 32, (i) => routed('/split/item', { 'x-user-id': `user-${i}` }));
    const canaries = results.filter((r) => r.version === 'canary').length;
    expect(canaries).toBeGreaterThanOrEqual(540);
    expect(canaries).toBeLessThanOrEqual(660);
    expect(results.every((r) => r.reason === 'weight' && r.route === 'split')).toBe(true);
    // Not only the share: each user is placed by its own hash bucket, salted by the route name.
    results.forEach((r, i) => expect(r.version).toBe(bucketOf('split', `user-${i}`) < 3000 ? 'canary' : 'stable'));
  });
});

describe('overrides', () => {
  it.concurrent.each([
    ['header always', '/w0/x', { 'x-canary': 'always' }, 'canary', 'override_header'],
    ['header never', '/w100/x', { 'x-canary': 'never' }, 'stable', 'override_header'],
    ['cookie always', '/w0/x', { cookie: 'canary=always' }, 'canary', 'override_cookie'],
    ['cookie never', '/w100/x', { cookie: 'other=1; canary=never' }, 'stable', 'override_cookie'],
    ['header beats cookie', '/w0/x', { 'x-canary': 'always', cookie: 'canary=never' }, 'canary', 'override_header'],
    ['header beats cookie, the other way', '/w100/x', { 'x-canary': 'never', cookie: 'canary=always' }, 'stable', 'override_header'],
    ['unknown header value ignored', '/w0/x', { 'x-canary': 'maybe' }, 'stable', 'weight'],
    ['unknown header value ignored (true)', '/w100/x', { 'x-canary': 'true' }, 'canary', 'weight'],
    ['unknown cookie value ignored', '/w0/x', { cookie: 'canary=1' }, 'stable', 'weight'],
    ['unknown header value falls through to the cookie', '/w0/x', { 'x-canary': 'yes', cookie: 'canary=always' }, 'canary', 'override_cookie'],
    ['configured names are read', '/custom/x', { 'x-force': 'always' }, 'canary', 'override_header'],
    ['configured cookie name is read', '/custom/x', { cookie: 'force=always' }, 'canary', 'override_cookie'],
    ['default names do not apply once renamed', '/custom/x', { 'x-canary': 'always', cookie: 'canary=always' }, 'stable', 'weight'],
  ])('%s', async (_name, path, headers, version, reason) => {
    const result = await routed(path, headers);
    expect(result.version).toBe(version);
    expect(result.reason).toBe(reason);
  });
});

describe('rules', () => {
  it.concurrent.each([
    ['header exact match pins canary', { 'x-beta-tester': 'true' }, 'canary', 'rule', 0],
    ['header exact match is exact', { 'x-beta-tester': 'TRUE' }, 'stable', 'weight', -1],
    ['header ~regex matches with its own weight', { 'user-agent': 'Foo/1.0 (Mobile; rv:1)' }, 'canary', 'rule_weight', 1],
    ['header ~regex that does not match', { 'user-agent': 'Foo/1.0 (Desktop)' }, 'stable', 'weight', -1],
    ['first matching rule wins', { 'x-beta-tester': 'true', 'user-agent': 'Mobile', 'x-ring': 'early' }, 'canary', 'rule', 0],
    ['cookie match', { cookie: 'a=b; plan=internal' }, 'canary', 'rule', 2],
    ['cookie mismatch', { cookie: 'plan=external' }, 'stable', 'weight', -1],
    ['pinned stable rule before a weighted region rule', { 'x-ring': 'alpha', 'x-region': 'us-west', 'x-user-id': 'u-pinned' }, 'stable', 'rule', 3],
    ['anchored regex does not match a longer value', { 'x-ring': 'early-bird' }, 'stable', 'weight', -1],
  ])('%s', async (_name, headers, version, reason, rule) => {
    const result = await routed('/rules/x', headers);
    expect(result).toEqual({ version, reason, rule, route: 'rules' });
  });

  it('a region rule splits users of that region by its own weight; other regions get the route weight', async () => {
    const users = Array.from({ length: 100 }, (_, i) => `region-user-${i}`);
    const inRegion = await inParallel(users.length, users.length, (i) =>
      routed('/rules/x', { 'x-user-id': users[i], 'x-region': i % 2 === 0 ? 'us-west' : 'EU-West' }),
    );
    inRegion.forEach((r, i) => {
      expect(r.reason).toBe('rule_weight');
      expect(r.rule).toBe(4);
      expect(r.version).toBe(bucketOf('rules', users[i]) < 5000 ? 'canary' : 'stable');
    });
    const versions = new Set(inRegion.map((r) => r.version));
    expect(versions).toEqual(new Set(['stable', 'canary']));

    const elsewhere = await inParallel(users.length, users.length, (i) => routed('/rules/x', { 'x-user-id': users[i], 'x-region': 'ap-south' }));
    expect(elsewhere.every((r) => r.version === 'stable' && r.reason === 'weight' && r.rule === -1)).toBe(true);
  });
});

describe('precedence: override header > override cookie > rules > weight', () => {
  it.concurrent.each([
    [
      'header over cookie and rule',
      { 'x-canary': 'never', cookie: 'canary=always; plan=internal', 'x-beta-tester': 'true' },
      'stable',
      'override_header',
    ],
    ['cookie over rule', { cookie: 'canary=never; plan=internal', 'x-beta-tester': 'true' }, 'stable', 'override_cookie'],
    ['cookie over weight', { cookie: 'canary=always' }, 'canary', 'override_cookie'],
    ['rule over weight', { 'x-beta-tester': 'true' }, 'canary', 'rule'],
    [
      'invalid override values leave the rule in charge',
      { 'x-canary': 'sometimes', cookie: 'canary=%zz', 'x-beta-tester': 'true' },
      'canary',
      'rule',
    ],
    ['weight when nothing else applies', {}, 'stable', 'weight'],
  ])('%s', async (_name, headers, version, reason) => {
    const result = await routed('/rules/x', headers);
    expect(result.version).toBe(version);
    expect(result.reason).toBe(reason);
  });
});
