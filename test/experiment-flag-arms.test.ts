import { describe, expect, it } from 'vitest';
import { validateConfig } from '../src/config/load.js';
import { ConfigError } from '../src/errors.js';
import { ExperimentBook } from '../src/experiments/experiment-book.js';
import { flagArmsOf } from '../src/experiments/flag-arms.js';
import type { FlagDefinition } from '../src/flags/definitions.js';
import { compileFlagSet } from '../src/flags/flag-set.js';
import { compileRouteFlags } from '../src/flags/route-flags.js';
import type { RequestContext } from '../src/routing/context.js';

const SPLIT = { fractional: [['on', 25], ['off', 75]] };
const flag = (extra: Record<string, unknown> = {}): FlagDefinition =>
  ({ state: 'ENABLED', variants: { on: 'on', off: 'off', maybe: 'maybe' }, defaultVariant: 'off', targeting: SPLIT, ...extra }) as FlagDefinition;

describe('flagArmsOf', () => {
  it('control is the default variant, the expected split the fractional weights', () => {
    expect(flagArmsOf(flag())).toEqual({ variants: ['off', 'on'], treatmentPercent: 25 });
    expect(flagArmsOf(flag({ defaultVariant: 'maybe' }))).toEqual({ variants: ['on', 'off'], treatmentPercent: 75 });
    expect(flagArmsOf(flag({ targeting: { fractional: [['on', 1], ['off', 3]] } }))).toEqual({ variants: ['off', 'on'], treatmentPercent: 25 });
  });

  const refused: Array<[string, Record<string, unknown>, RegExp]> = [
    ['disabled', { state: 'DISABLED' }, /is DISABLED/],
    ['no targeting', { targeting: undefined }, /needs targeting that is exactly \{"fractional"/],
    ['a rule around the split', { targeting: { if: [{ '==': [{ var: 'plan' }, 'pro'] }, { fractional: SPLIT.fractional }, 'off'] } }, /needs targeting/],
    ['three variants', { targeting: { fractional: [['on', 1], ['off', 1], ['maybe', 1]] } }, /got 3 entries/],
    ['a bucket-by expression', { targeting: { fractional: [{ var: 'email' }, ['on', 50], ['off', 50]] } }, /got 3 entries/],
    ['a bucket-by expression and two entries', { targeting: { fractional: [{ var: 'email' }, ['on', 50]] } }, /an entry is not \["variant", weight above 0\]/],
    ['a zero weight', { targeting: { fractional: [['on', 0], ['off', 100]] } }, /weight above 0/],
    ['one variant twice', { targeting: { fractional: [['on', 50], ['on', 50]] } }, /both entries name variant "on"/],
  ];
  for (const [name, extra, message] of refused) it(`refuses ${name}`, () => expect(flagArmsOf(flag(extra))).toMatch(message));
});

const BASE = {
  upstreams: { stable: 'http://127.0.0.1:3001', canary: 'http://127.0.0.1:3002' },
  flags: { definitions: { flags: { 'new-checkout': flag(), ruled: flag({ targeting: { if: [{ '==': [{ var: 'plan' }, 'pro'] }, 'on', 'off'] } }) } } },
  routes: [
    { name: 'shop', stable: 'stable', sticky: { key: ['header:x-user-id'] } },
    { name: 'other', stable: 'stable', sticky: { key: ['header:x-user-id'] }, flags: { select: ['ruled'] } },
  ],
};
const EXPERIMENT = { key: 'checkout', route: 'shop', flag: 'new-checkout', conversions: [{ name: 'order', match: { method: 'POST', path: '/orders' } }] };

function problems(raw: Record<string, unknown>): string[] {
  try {
    validateConfig(raw);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).issues.map((issue) => `${issue.path}: ${issue.message}`);
  }
  throw new Error('expected the config to be rejected');
}

describe('flag experiments in the config', () => {
  it('needs no canary on the route; arms default to flag', () => {
    const config = validateConfig({ ...BASE, experiments: [EXPERIMENT] });
    expect(config.experiments[0].arms).toBe('flag');
  });

  it('refuses with the path of the problem', () => {
    expect(problems({ ...BASE, experiments: [{ ...EXPERIMENT, flag: 'ruled' }] })).toEqual([
      'experiments[0].flag: flag "ruled" needs targeting that is exactly {"fractional": [["A", weight], ["B", weight]]} (two variants, split by the targeting key)',
    ]);
    expect(problems({ ...BASE, experiments: [{ ...EXPERIMENT, flag: 'nope' }] })).toEqual(['experiments[0].flag: unknown flag "nope" (known: new-checkout, ruled)']);
    expect(problems({ ...BASE, experiments: [{ ...EXPERIMENT, route: 'other' }] })).toEqual(['experiments[0].flag: route "other" does not evaluate flag "new-checkout" (its flags.select leaves it out)']);
    expect(problems({ ...BASE, experiments: [{ ...EXPERIMENT, arms: 'route-split' }] })).toEqual(['experiments[0].arms: must be flag (or left out) when flag is set']);
    expect(problems({ ...BASE, experiments: [{ ...EXPERIMENT, flag: undefined, arms: 'flag' }] })).toEqual(['experiments[0].flag: is required with arms: flag']);
    const { flags: _, ...withoutFlags } = BASE;
    expect(problems({ ...withoutFlags, routes: [BASE.routes[0]], experiments: [EXPERIMENT] })).toEqual(['experiments[0].flag: needs the top-level flags block (file or definitions)']);
  });
});

describe('counting flag arms', () => {
  const config = validateConfig({ ...BASE, experiments: [EXPERIMENT] });
  const set = compileFlagSet(config.flags!.definitions!);
  const route = { flags: compileRouteFlags(set, { header: 'x-splitgate-flags', select: 'all', context: {} }) };
  const routed = (key: string | null) => ({ route, context: { stickyKey: key, headers: {}, cookies: {}, region: null } as unknown as RequestContext, claims: undefined });
  const visit = (book: ExperimentBook, key: string | null, method: string, url: string) =>
    book.begin(config, 'shop', 'stable', key, method, url, undefined, set, routed(key))!.responded(200, []);

  it('puts each keyed user in the variant the flag gives them, whatever the version', () => {
    const book = new ExperimentBook();
    const truth = [0, 0];
    for (let i = 0; i < 400; i++) {
      visit(book, `u${i}`, 'GET', '/');
      visit(book, `u${i}`, 'POST', '/orders');
    }
    const resolved = [...Array(400).keys()].map((i) => set.flags.get('new-checkout')!.feature.evaluate({ targetingKey: `u${i}` }, { debug() {}, info() {}, warn() {}, error() {} } as never).variant);
    for (const variant of resolved) truth[variant === 'on' ? 1 : 0]++;
    const record = book.record('checkout')!;
    expect(record.arms.map((a) => a.users)).toEqual(truth);
    expect(record.arms.map((a) => a.conversions.get('order')!.converters)).toEqual(truth);
    expect(truth[1]).toBeGreaterThan(60);
    expect(truth[1]).toBeLessThan(140);
  });

  it('counts no one without a targeting key (the flag gives them its default, not a split)', () => {
    const book = new ExperimentBook();
    visit(book, null, 'GET', '/');
    expect(book.record('checkout')!.arms.map((a) => a.users)).toEqual([0, 0]);
  });
});
