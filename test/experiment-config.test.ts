import { describe, expect, it } from 'vitest';
import { parseConfigText, validateConfig } from '../src/config/load.js';
import { configProblems } from './helpers/config-problems.js';

const ROUTE = { name: 'shop', stable: 'stable', canary: 'canary', weight: 50, sticky: { key: ['header:x-user-id'] } };
const BASE = {
  upstreams: { stable: 'http://127.0.0.1:3001', canary: 'http://127.0.0.1:3002' },
  routes: [ROUTE],
};
const EXPERIMENT = { key: 'checkout', route: 'shop', conversions: [{ name: 'purchase', header: true }] };

function problems(raw: unknown, env: Record<string, string> = {}): string[] {
  return configProblems(raw, env);
}

describe('experiments config', () => {
  it('fills the defaults: route-split arms, 7 day window, 100 users per arm, alpha 0.05', () => {
    const config = validateConfig({ ...BASE, experiments: [EXPERIMENT] });
    const [experiment] = config.experiments;
    expect(experiment.arms).toBe('route-split');
    expect(experiment.conversionWindow).toBe(7 * 86_400_000);
    expect(experiment.minUsersPerArm).toBe(100);
    expect(experiment.alpha).toBe(0.05);
    expect(experiment.maxUsers).toBe(100_000);
    expect(experiment.exposure).toEqual({ match: {} });
    expect(config.experimentSettings).toEqual({ conversionHeader: 'x-splitgate-conversion', cookie: { name: 'sg_exp' } });
  });

  it('reads the full shape from YAML, with the cookie secret from the environment', () => {
    const config = parseConfigText(
      `
upstreams: { stable: "http://127.0.0.1:3001", canary: "http://127.0.0.1:3002" }
routes:
  - { name: shop, stable: stable, canary: canary, weight: 50, sticky: { key: [header:x-user-id], cookie: false } }
experimentSettings:
  conversionHeader: X-App-Conversion
  cookie: { secret: \${SECRET} }
experiments:
  - key: checkout
    route: shop
    exposure: { match: { pathPrefix: /shop, methods: [GET] } }
    conversions:
      - { name: order, match: { method: POST, path: /api/orders, status: 2xx } }
      - { name: signup, match: { pathPrefix: /welcome, status: 201 } }
      - { name: purchase, header: true }
    conversionWindow: 1.5d
    minUsersPerArm: 500
    alpha: 0.01
`,
      { SECRET: 'a-long-enough-secret' },
    );
    expect(config.experimentSettings).toEqual({ conversionHeader: 'x-app-conversion', cookie: { name: 'sg_exp', secret: 'a-long-enough-secret' } });
    const [experiment] = config.experiments;
    expect(experiment.conversionWindow).toBe(36 * 3_600_000);
    expect(experiment.exposure.match).toEqual({ pathPrefix: '/shop', methods: ['GET'] });
    expect(experiment.conversions[0]).toEqual({ name: 'order', match: { method: 'POST', path: '/api/orders', status: '2xx' } });
    expect(experiment.conversions[1].match?.status).toBe(201);
  });

  it('reports unknown routes, duplicate keys and conversion names, and bad durations with their paths', () => {
    expect(
      problems({
        ...BASE,
        experiments: [
          EXPERIMENT,
          { ...EXPERIMENT, route: 'nope' },
          { key: 'other', route: 'shop', conversionWindow: '7 days', conversions: [{ name: 'a', header: true }, { name: 'a', header: true }] },
        ],
      }),
    ).toEqual(['experiments[2].conversionWindow: must be a duration above 0 such as 7d, 12h or 30m (got "7 days")']);
    expect(
      problems({
        ...BASE,
        experiments: [
          EXPERIMENT,
          { ...EXPERIMENT, route: 'nope' },
          { key: 'other', route: 'shop', conversions: [{ name: 'a', header: true }, { name: 'a', header: true }] },
        ],
      }),
    ).toEqual([
      'experiments[1].key: duplicate experiment key "checkout" (also experiments[0])',
      'experiments[1].route: unknown route "nope" (known: shop)',
      'experiments[2].conversions[1].name: duplicate conversion name "a" (also conversions[0])',
    ]);
  });

  it('reports field errors inside conversions and exposure', () => {
    expect(
      problems({
        ...BASE,
        experiments: [
          {
            key: 'bad key',
            route: 'shop',
            exposure: { match: { methods: ['get'] } },
            conversions: [{ name: 'x', match: { path: '/a', pathPrefix: '/b', status: 700 } }, { name: 'y' }, { name: 'z', header: true, match: { path: '/a' } }],
            alpha: 0.7,
            minUsersPerArm: 0,
          },
        ],
      }),
    ).toEqual([
      'experiments[0].key: must be 1-63 letters, digits, "_", "-" or "." and start with a letter or digit',
      'experiments[0].exposure.match.methods[0]: must be an upper-case HTTP method such as POST',
      expect.stringMatching(/^experiments\[0\]\.conversions\[0\]\.match\.status: /),
      'experiments[0].conversions[0].match: set path or pathPrefix, not both',
      'experiments[0].conversions[1]: must set exactly one of match or header: true',
      'experiments[0].conversions[2]: must set exactly one of match or header: true',
      expect.stringMatching(/^experiments\[0\]\.minUsersPerArm: /),
      'experiments[0].alpha: must be between 0 and 0.5',
    ]);
  });

  it('reads the p99 guardrail floor as milliseconds or a duration, and reports a bad one with its path', () => {
    const guardrails = (value: unknown) => ({ ...BASE, experiments: [{ key: 'e', route: 'shop', conversions: [{ name: 'c', header: true }], guardrails: { minP99Increase: value } }] });
    expect(validateConfig(guardrails('1s')).experiments![0].guardrails.minP99Increase).toBe(1000);
    expect(validateConfig(guardrails(40)).experiments![0].guardrails.minP99Increase).toBe(40);
    expect(problems(guardrails('soon'))).toEqual(['experiments[0].guardrails.minP99Increase: must be a duration such as 25ms (got "soon")']);
    expect(problems(guardrails(-1))).toEqual([expect.stringMatching(/^experiments\[0\]\.guardrails\.minP99Increase: /)]);
  });

  it('refuses a route whose release plan chooses canary users by audience (arm B would not be random)', () => {
    const planned = { ...ROUTE, weight: 0, rollout: { interval: '1m', stages: [{ name: 'beta', audience: { header: { 'x-beta': 'true' } } }, { name: 'all', weight: 50 }] } };
    expect(problems({ ...BASE, routes: [planned], experiments: [EXPERIMENT] })).toEqual([
      'experiments[0].route: route "shop" has release-plan audiences: its canary users are chosen, not randomly assigned, so it cannot carry an A/B experiment',
    ]);
    const weightsOnly = { ...ROUTE, weight: 0, rollout: { interval: '1m', stages: [{ name: 'five', weight: 5 }, { name: 'all', weight: 50 }] } };
    expect(validateConfig({ ...BASE, routes: [weightsOnly], experiments: [EXPERIMENT] }, {}).experiments).toHaveLength(1);
  });

  it('needs a route with a canary and a sticky key, and a cookie secret where users can be anonymous', () => {
    expect(
      problems({
        upstreams: BASE.upstreams,
        routes: [
          { name: 'plain', stable: 'stable' },
          { name: 'nosticky', stable: 'stable', canary: 'canary' },
          { name: 'anon', stable: 'stable', canary: 'canary', sticky: { key: ['header:x-user-id'], cookie: false } },
        ],
        experiments: [
          { ...EXPERIMENT, key: 'a', route: 'plain' },
          { ...EXPERIMENT, key: 'b', route: 'nosticky' },
          { ...EXPERIMENT, key: 'c', route: 'anon' },
        ],
      }),
    ).toEqual([
      'experiments[0].route: route "plain" has no canary: route-split arms need stable and canary',
      'experiments[0].route: route "plain" has no sticky key: the unit is the user, so the route must set sticky.key',
      'experiments[1].route: route "nosticky" has no sticky key: the unit is the user, so the route must set sticky.key',
      'experimentSettings.cookie.secret: is required: route "anon" (experiments[2]) has users without a sticky key, deduplicated by a signed cookie',
    ]);
  });

  it('accepts experiments with workers above 1 (the supervisor deduplicates)', () => {
    expect(validateConfig({ ...BASE, workers: 2, experiments: [EXPERIMENT] }).experiments).toHaveLength(1);
  });
});
