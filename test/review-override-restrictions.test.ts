/**
 * Issue 14 item 7, the pure parts: a route can restrict tester overrides to a shared secret and to client networks
 * (decided from the request alone), the config names a bad network or secret by its path, and the rolling window
 * keeps weight-placed traffic apart, so rollout analysis can leave overrides out.
 */
import { describe, expect, it } from 'vitest';
import { validateConfig } from '../src/config/load.js';
import { ConfigError } from '../src/errors.js';
import { SeriesBook, createMetrics } from '../src/metrics/metrics.js';
import { bucketIndex, RollingWindow } from '../src/metrics/rolling-window.js';
import { buildContext, type Entropy } from '../src/routing/context.js';
import { decideRoute } from '../src/routing/decide.js';
import { compileTable, placedByWeight, type CompiledRoute, type DecisionReason } from '../src/routing/table.js';

const FIXED: Entropy = { newId: () => 'fresh-id', random: () => 0.5 };
const SECRET = 'tester-Secret_0123';

function routeOf(overrides: unknown, extra: Record<string, unknown> = {}): CompiledRoute {
  const config = validateConfig({
    upstreams: { s: 'http://127.0.0.1:1', c: 'http://127.0.0.1:2' },
    routes: [{ name: 'api', stable: 's', canary: 'c', weight: 0, overrides, ...extra }],
  });
  return compileTable(config, 1).routes[0];
}

function decide(route: CompiledRoute, headers: Record<string, string>, clientIp: string) {
  const decision = decideRoute(route, buildContext(route, headers, clientIp, FIXED));
  return `${decision.version}/${decision.reason}`;
}

function configIssues(overrides: unknown): string[] {
  try {
    validateConfig({ upstreams: { s: 'http://127.0.0.1:1', c: 'http://127.0.0.1:2' }, routes: [{ name: 'api', stable: 's', canary: 'c', overrides }] });
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).issues.map((issue) => `${issue.path}: ${issue.message}`);
  }
  return [];
}

describe('override restrictions', () => {
  const open = routeOf(undefined);
  const withSecret = routeOf({ secret: SECRET });
  const fromNetworks = routeOf({ sourceNetworks: ['10.0.0.0/8', '192.168.1.5/32', '::1/128'] });
  const both = routeOf({ secret: SECRET, sourceNetworks: ['10.0.0.0/8'] });

  it.each([
    // [name, route, headers, client address, expected]
    ['default: anyone may override (header)', open, { 'x-canary': 'always' }, '203.0.113.9', 'canary/override_header'],
    ['default: anyone may override (cookie)', open, { cookie: 'canary=never' }, '203.0.113.9', 'stable/override_cookie'],
    ['secret: a plain value is an unknown value, ignored', withSecret, { 'x-canary': 'always' }, '10.0.0.1', 'stable/weight'],
    ['secret: always:<secret> is honoured', withSecret, { 'x-canary': `always:${SECRET}` }, '203.0.113.9', 'canary/override_header'],
    ['secret: never:<secret> is honoured', withSecret, { 'x-canary': `never:${SECRET}` }, '203.0.113.9', 'stable/override_header'],
    ['secret: the word is case-insensitive and trimmed', withSecret, { 'x-canary': ` Always:${SECRET} ` }, '203.0.113.9', 'canary/override_header'],
    ['secret: the secret itself is case-sensitive', withSecret, { 'x-canary': `always:${SECRET.toUpperCase()}` }, '203.0.113.9', 'stable/weight'],
    ['secret: a wrong secret is ignored', withSecret, { 'x-canary': 'always:tester-Secret_0124' }, '203.0.113.9', 'stable/weight'],
    ['secret: a prefix of the secret is ignored', withSecret, { 'x-canary': `always:${SECRET.slice(0, -1)}` }, '203.0.113.9', 'stable/weight'],
    ['secret: the secret with more after it is ignored', withSecret, { 'x-canary': `always:${SECRET}x` }, '203.0.113.9', 'stable/weight'],
    ['secret: an empty secret is ignored', withSecret, { 'x-canary': 'always:' }, '203.0.113.9', 'stable/weight'],
    ['secret: NEVER:<secret> in capitals is honoured', withSecret, { 'x-canary': `NEVER:${SECRET}` }, '203.0.113.9', 'stable/override_header'],
    ['secret: another character in place of the colon is ignored', withSecret, { 'x-canary': `always\x1a${SECRET}` }, '203.0.113.9', 'stable/weight'],
    ['secret: a word that only starts like always is ignored', withSecret, { 'x-canary': `alwaysx:${SECRET}` }, '203.0.113.9', 'stable/weight'],
    ['secret: the secret alone is ignored', withSecret, { 'x-canary': SECRET }, '203.0.113.9', 'stable/weight'],
    ['secret: applies to the cookie too', withSecret, { cookie: `canary=always:${SECRET}` }, '203.0.113.9', 'canary/override_cookie'],
    ['secret: a plain cookie is ignored', withSecret, { cookie: 'canary=always' }, '203.0.113.9', 'stable/weight'],
    ['networks: inside an IPv4 network', fromNetworks, { 'x-canary': 'always' }, '10.20.30.40', 'canary/override_header'],
    ['networks: the /32 host', fromNetworks, { 'x-canary': 'always' }, '192.168.1.5', 'canary/override_header'],
    ['networks: next to the /32 host', fromNetworks, { 'x-canary': 'always' }, '192.168.1.6', 'stable/weight'],
    ['networks: IPv6 loopback listed', fromNetworks, { 'x-canary': 'always' }, '::1', 'canary/override_header'],
    ['networks: IPv4-mapped peer of a dual-stack listener', fromNetworks, { 'x-canary': 'always' }, '::ffff:10.1.2.3', 'canary/override_header'],
    ['networks: outside', fromNetworks, { 'x-canary': 'always' }, '203.0.113.9', 'stable/weight'],
    ['networks: outside, cookie too', fromNetworks, { cookie: 'canary=always' }, '203.0.113.9', 'stable/weight'],
    ['networks: no address known', fromNetworks, { 'x-canary': 'always' }, '', 'stable/weight'],
    ['networks: an unparsable address is outside', fromNetworks, { 'x-canary': 'always' }, 'unknown', 'stable/weight'],
    ['both: secret from inside', both, { 'x-canary': `always:${SECRET}` }, '10.0.0.7', 'canary/override_header'],
    ['both: secret from outside', both, { 'x-canary': `always:${SECRET}` }, '203.0.113.9', 'stable/weight'],
    ['both: no secret from inside', both, { 'x-canary': 'always' }, '10.0.0.7', 'stable/weight'],
  ] as const)('%s', (_name, route, headers, clientIp, expected) => {
    expect(decide(route, headers, clientIp)).toBe(expected);
  });

  it('a refused override falls through to the rules as if it were absent', () => {
    const ruled = routeOf({ sourceNetworks: ['10.0.0.0/8'] }, { rules: [{ match: { headers: { 'x-beta': '1' } }, version: 'canary' }] });
    expect(decide(ruled, { 'x-canary': 'never', 'x-beta': '1' }, '203.0.113.9')).toBe('canary/rule');
    expect(decide(ruled, { 'x-canary': 'never', 'x-beta': '1' }, '10.0.0.1')).toBe('stable/override_header');
  });

  it.each([
    ['a bad CIDR, by its index', { sourceNetworks: ['10.0.0.0/8', '10.0.0.0/33', '::1/129', 'example.com/8', '10.0.0.0/x'] }, [
      'routes[0].overrides.sourceNetworks[1]: must be an IPv4 or IPv6 network such as 10.0.0.0/8 or ::1/128 (got "10.0.0.0/33")',
      'routes[0].overrides.sourceNetworks[2]: must be an IPv4 or IPv6 network such as 10.0.0.0/8 or ::1/128 (got "::1/129")',
      'routes[0].overrides.sourceNetworks[3]: must be an IPv4 or IPv6 network such as 10.0.0.0/8 or ::1/128 (got "example.com/8")',
      'routes[0].overrides.sourceNetworks[4]: must be an IPv4 or IPv6 network such as 10.0.0.0/8 or ::1/128 (got "10.0.0.0/x")',
    ]],
    ['an empty network list', { sourceNetworks: [] }, ['routes[0].overrides.sourceNetworks: must list at least one network (overrides: false turns overrides off)']],
    // An unset `${VAR:-}` must not open overrides to everyone: an empty secret is an error, never "no secret".
    ['an empty secret', { secret: '' }, ['routes[0].overrides.secret: must be 8-256 characters from A-Z a-z 0-9 . _ ~ + / = -']],
    ['a short secret', { secret: 'short' }, ['routes[0].overrides.secret: must be 8-256 characters from A-Z a-z 0-9 . _ ~ + / = -']],
    ['a secret a cookie cannot carry', { secret: 'semi;colon-secret' }, ['routes[0].overrides.secret: must be 8-256 characters from A-Z a-z 0-9 . _ ~ + / = -']],
    ['good ones', { secret: 'abc+/=_.~-123', sourceNetworks: ['2001:db8::/32', '1.2.3.4', '0.0.0.0/0'] }, []],
  ])('config: %s', (_name, overrides, expected) => {
    expect(configIssues(overrides)).toEqual(expected);
  });

  it('the rollout analyses weighted traffic unless told otherwise', () => {
    const rollout = (analysis?: unknown) =>
      validateConfig({
        upstreams: { s: 'http://127.0.0.1:1', c: 'http://127.0.0.1:2' },
        routes: [{ name: 'api', stable: 's', canary: 'c', rollout: { stepWeights: [10], ...(analysis ? { analysis } : {}) } }],
      }).routes[0].rollout!.analysis.traffic;
    expect(rollout()).toBe('weighted');
    expect(rollout({ traffic: 'all' })).toBe('all');
    expect(() => rollout({ traffic: 'overrides' })).toThrow(/routes\[0\]\.rollout\.analysis\.traffic/);
  });
});

describe('weight-placed traffic in the rolling window', () => {
  it.each([
    ['weight', true],
    ['rule_weight', true],
    ['override_header', false],
    ['override_cookie', false],
    ['rule', false],
    ['kill_switch', false],
    ['no_canary', false],
  ] as const)('%s counts as weight-placed: %s', (reason: DecisionReason, weighted) => {
    expect(placedByWeight(reason)).toBe(weighted);
  });

  it('the weighted view leaves out override traffic; the full view keeps it', () => {
    const window = new RollingWindow();
    const t0 = 1_000_000_000;
    for (let i = 0; i < 10; i++) window.observe(t0 + i, false, bucketIndex(0.002), true);
    // Fifty failing, slow requests forced onto this version by an override.
    for (let i = 0; i < 50; i++) window.observe(t0 + i, true, bucketIndex(2), false);
    const weighted = window.snapshot(t0 + 100, 5, 'weighted');
    const all = window.snapshot(t0 + 100, 5, 'all');
    expect(weighted).toMatchObject({ requests: 10, errors: 0 });
    expect(weighted.buckets[bucketIndex(0.002)]).toBe(10);
    expect(weighted.buckets[bucketIndex(2)]).toBe(0);
    expect(all).toMatchObject({ requests: 60, errors: 50 });
    expect(all.buckets[bucketIndex(2)]).toBe(50);
    expect(window.snapshot(t0 + 100, 5)).toEqual(all);
    // A reused slot forgets both views.
    window.observe(t0 + 600_000, false, bucketIndex(0.002), false);
    expect(window.snapshot(t0 + 600_000, 1, 'weighted')).toMatchObject({ requests: 0, errors: 0 });
    expect(window.snapshot(t0 + 600_000, 1, 'all')).toMatchObject({ requests: 1 });
  });

  it('a series counts override responses in its metrics but not in its weighted window', () => {
    const book = new SeriesBook(createMetrics(undefined, { processMetrics: false }));
    const series = book.get('api', 'canary');
    series.observeResponse('GET', 200, 0.002, false, true);
    series.observeResponse('GET', 500, 0.002, false, false);
    series.observeResponse('GET', 200, 0.002, true, true);
    const now = Date.now();
    expect(series.window.snapshot(now, 2, 'weighted')).toMatchObject({ requests: 2, errors: 1 });
    expect(series.window.snapshot(now, 2, 'all')).toMatchObject({ requests: 3, errors: 2 });
    expect(series.durationCount).toBe(3);
    expect([...series.requestCounts()].reduce((sum, entry) => sum + entry.value, 0)).toBe(3);
  });
});
