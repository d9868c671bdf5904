/**
 * Release-plan rings in the per-request decision: a stage's audience (header, region, verified JWT claim) gets the
 * canary once the plan reaches that stage, every earlier ring stays in, and the weight applies to everyone else
 * with the same sticky hashing. Plus the config errors a bad plan gets, with their paths.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { validateConfig } from '../src/config/load.js';
import { VERIFYING_JWT } from './helpers/jwks.js';
import { ConfigError } from '../src/errors.js';
import { buildContext, RequestContext, type Entropy } from '../src/routing/context.js';
import { decideRoute } from '../src/routing/decide.js';
import { compileTable, type CompiledRoute } from '../src/routing/table.js';

const FIXED: Entropy = { newId: () => 'fresh-id', random: () => 0.5 };

const STAGES = [
  { name: 'employees', audience: { claim: { email: '~@example\\.com$' } } },
  { name: 'beta', audience: { header: { 'x-beta': 'true' } } },
  { name: 'region-us', audience: { region: ['us-east', 'us-west'] } },
  { name: 'five-percent', weight: 5 },
  { name: 'half', weight: 50 },
];

function configWith(stages: unknown[] = STAGES) {
  return validateConfig({
    upstreams: { s: 'http://127.0.0.1:1', c: 'http://127.0.0.1:2' }, jwt: VERIFYING_JWT,
    routes: [{ name: 'api', stable: 's', canary: 'c', weight: 0, sticky: { key: ['header:x-user-id'] }, region: { header: 'x-region' }, rollout: { stages } }],
  });
}

/** The route as the table compiles it with the plan at stage `stage` (its weight in force, as the rollout sets it). */
function routeAtStage(stage: number, stages: unknown[] = STAGES): CompiledRoute {
  const config = configWith(stages);
  const weight = stage < 0 ? 0 : config.routes[0].rollout!.stages![stage].weight;
  return compileTable(config, 1, { weights: { api: { weight, source: 'rollout' } }, stages: { api: stage } }).routes[0];
}

function contextOf(route: CompiledRoute, headers: Record<string, string>, claims: Record<string, unknown> | null): RequestContext {
  const built = buildContext(route, headers, '10.0.0.1', FIXED);
  return new RequestContext(built.headers, built.cookies, built.region, built.bucket, built.stickyKey, built.issuedId, built.overridesAllowed, claims);
}

function decide(stage: number, headers: Record<string, string>, claims: Record<string, unknown> | null = null) {
  return decideRoute(routeAtStage(stage), contextOf(routeAtStage(stage), headers, claims));
}

describe('release plan audiences', () => {
  it('compiles each stage with the weight of the last stage that set one', () => {
    expect(configWith().routes[0].rollout!.stages!.map((s) => [s.name, s.weight])).toEqual([
      ['employees', 0],
      ['beta', 0],
      ['region-us', 0],
      ['five-percent', 5],
      ['half', 50],
    ]);
    expect(configWith().routes[0].rollout!.steps).toEqual([0, 0, 0, 5, 50]);
  });

  it('routes a verified claim, a header and a region to the canary only from their stage on', () => {
    const employee = { email: 'ada@example.com' };
    expect(decide(-1, { 'x-user-id': 'u1' }, employee)).toMatchObject({ version: 'stable', reason: 'weight' });
    expect(decide(0, { 'x-user-id': 'u1' }, employee)).toMatchObject({ version: 'canary', reason: 'audience' });
    expect(decide(0, { 'x-user-id': 'u1' }, { email: 'eve@example.org' })).toMatchObject({ version: 'stable', reason: 'weight' });
    // A claim audience reads verified claims only: a header that looks like the claim is not one.
    expect(decide(0, { 'x-user-id': 'u1', email: 'ada@example.com' }, null)).toMatchObject({ version: 'stable' });

    expect(decide(0, { 'x-user-id': 'u1', 'x-beta': 'true' })).toMatchObject({ version: 'stable' });
    expect(decide(1, { 'x-user-id': 'u1', 'x-beta': 'true' })).toMatchObject({ version: 'canary', reason: 'audience' });
    expect(decide(1, { 'x-user-id': 'u1', 'x-beta': 'false' })).toMatchObject({ version: 'stable' });

    expect(decide(1, { 'x-user-id': 'u1', 'x-region': 'US-West' })).toMatchObject({ version: 'stable' });
    expect(decide(2, { 'x-user-id': 'u1', 'x-region': 'US-West' })).toMatchObject({ version: 'canary', reason: 'audience' });
    expect(decide(2, { 'x-user-id': 'u1', 'x-region': 'eu-west' })).toMatchObject({ version: 'stable' });
    // Rings only grow: the employees are still in at the last stage.
    expect(decide(4, { 'x-user-id': 'u1' }, employee)).toMatchObject({ version: 'canary', reason: 'audience' });
  });

  it('matches an array claim (groups) when any element matches, and a number as its text', () => {
    const stages = [{ name: 'admins', audience: { claim: { groups: 'admins', tier: '~^[23]$' } } }, { name: 'all', weight: 100 }];
    const route = routeAtStage(0, stages);
    const ask = (claims: Record<string, unknown>) => decideRoute(route, contextOf(route, { 'x-user-id': 'u' }, claims)).version;
    expect(ask({ groups: ['staff', 'admins'], tier: 2 })).toBe('canary');
    expect(ask({ groups: ['staff'], tier: 2 })).toBe('stable');
    expect(ask({ groups: 'admins', tier: 1 })).toBe('stable');
    expect(ask({ groups: [['admins']], tier: 3 })).toBe('stable');
  });

  it('keeps the kill switch, overrides and rules above the audiences', () => {
    const config = configWith();
    const killed = compileTable(config, 1, { stages: { api: 4 }, killed: new Set(['api']) }).routes[0];
    expect(decideRoute(killed, contextOf(killed, { 'x-beta': 'true' }, null))).toMatchObject({ version: 'stable', reason: 'kill_switch' });
    const route = routeAtStage(4);
    expect(decideRoute(route, contextOf(route, { 'x-beta': 'true', 'x-canary': 'never' }, null))).toMatchObject({ version: 'stable', reason: 'override_header' });
  });

  it('reads the audience headers on the data path (they are in the table\'s header names)', () => {
    expect(compileTable(configWith(), 1, { stages: { api: 1 } }).headerNames.has('x-beta')).toBe(true);
  });

  it('a user who got the canary keeps it at every later stage (seeded property)', () => {
    const stage = fc.record({
      weight: fc.option(fc.integer({ min: 0, max: 10_000 }).map((w) => w / 100), { nil: undefined }),
      audience: fc.option(
        fc.oneof(
          fc.record({ header: fc.constant({ 'x-beta': 'true' }) }),
          fc.record({ region: fc.subarray(['us-east', 'us-west', 'eu-west'], { minLength: 1 }) }),
          fc.record({ claim: fc.constantFrom({ email: '~@example\\.com$' }, { groups: 'admins' }) }),
        ),
        { nil: undefined },
      ),
    });
    const request = fc.record({
      user: fc.string({ minLength: 1, maxLength: 12 }).filter((u) => u.trim() === u && /^[\x21-\x7e]+$/.test(u)),
      beta: fc.boolean(),
      region: fc.constantFrom('us-east', 'us-west', 'eu-west', ''),
      claims: fc.option(fc.record({ email: fc.constantFrom('a@example.com', 'b@example.org'), groups: fc.constantFrom(['admins'], ['staff'], 'admins') }), { nil: null }),
    });
    fc.assert(
      fc.property(fc.array(stage, { minLength: 2, maxLength: 6 }), fc.array(request, { minLength: 1, maxLength: 20 }), (drawn, requests) => {
        // Weights that never go down, as the schema demands (rings only grow).
        let floor = 0;
        const stages = drawn.map((s, i) => {
          const weight = s.weight === undefined ? undefined : Math.max(floor, s.weight);
          if (weight !== undefined) floor = weight;
          return { name: `s${i}`, ...(weight === undefined ? {} : { weight }), ...(s.audience === undefined ? {} : { audience: s.audience }) };
        });
        if (stages[0].weight === undefined && stages[0].audience === undefined) stages[0] = { ...stages[0], weight: 0.01 };
        if (stages[0].weight === 0 && stages[0].audience === undefined) stages[0] = { ...stages[0], weight: 0.01 };
        const routes = stages.map((_, k) => routeAtStage(k, stages));
        for (const r of requests) {
          const headers: Record<string, string> = { 'x-user-id': r.user, ...(r.beta ? { 'x-beta': 'true' } : {}), ...(r.region ? { 'x-region': r.region } : {}) };
          let hadCanary = false;
          for (const route of routes) {
            const version = decideRoute(route, contextOf(route, headers, r.claims)).version;
            if (hadCanary) expect(version).toBe('canary');
            hadCanary ||= version === 'canary';
          }
        }
      }),
      { seed: 1905, numRuns: 100 },
    );
  });
});

describe('release plan config errors', () => {
  function issuesOf(rollout: unknown, verifies = true): Array<{ path: string; message: string }> {
    try {
      validateConfig({ upstreams: { s: 'http://127.0.0.1:1', c: 'http://127.0.0.1:2' }, ...(verifies ? { jwt: VERIFYING_JWT } : {}), routes: [{ name: 'api', stable: 's', canary: 'c', rollout }] });
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      return (error as ConfigError).issues.map((i) => ({ path: i.path ?? '', message: i.message }));
    }
    throw new Error('expected a ConfigError');
  }

  it.each([
    ['a weight that goes down', { stages: [{ name: 'a', weight: 10 }, { name: 'b', weight: 5 }] }, 'routes[0].rollout.stages[1].weight', 'rings only grow'],
    ['an empty audience', { stages: [{ name: 'a', audience: {} }] }, 'routes[0].rollout.stages[0].audience', 'must set header, region or claim'],
    ['a claim audience with no jwt to verify the claims', { stages: [{ name: 'a', audience: { claim: { email: 'a@b.c' } } }] }, 'routes[0].rollout.stages[0].audience.claim', 'needs jwt', false],
    ['a bad claim pattern', { stages: [{ name: 'a', audience: { claim: { email: '~(' } } }] }, 'routes[0].rollout.stages[0].audience.claim.email', ''],
    ['a duplicate name', { stages: [{ name: 'a', weight: 1 }, { name: 'a', weight: 2 }] }, 'routes[0].rollout.stages[1].name', 'duplicate'],
    ['stages and stepWeights', { stages: [{ name: 'a', weight: 1 }], stepWeights: [5] }, 'routes[0].rollout', 'or stages (a release plan)'],
    ['a bad bake', { stages: [{ name: 'a', weight: 1, bake: 'soon' }] }, 'routes[0].rollout.stages[0].bake', 'duration'],
    ['a first stage that adds nothing', { stages: [{ name: 'a' }, { name: 'b', weight: 5 }] }, 'routes[0].rollout.stages[0]', 'audience or a weight'],
    ['a region audience without region.header', { stages: [{ name: 'a', audience: { region: ['us'] } }] }, 'routes[0].rollout.stages[0].audience.region', 'region.header'],
    ['an unknown onFail', { stages: [{ name: 'a', weight: 1, gates: { checks: [{ metric: 'success-rate', min: 99, onFail: 'explode' }] } }] }, 'routes[0].rollout.stages[0].gates.checks[0].onFail', ''],
    ['an unknown gate', { stages: [{ name: 'a', weight: 1, gates: { approval: 'maybe' } }] }, 'routes[0].rollout.stages[0].gates.approval', ''],
  ])('%s', (_what, rollout, path, message, verifies = true) => {
    const issues = issuesOf(rollout, verifies as boolean);
    expect(issues.some((i) => i.path === path && i.message.includes(message)), JSON.stringify(issues)).toBe(true);
  });
});
