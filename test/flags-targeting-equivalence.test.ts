/**
 * splitgate runs flagd-core's compiled targeting on one TargetingData per request (flag-set.ts `resolveTargeting`)
 * instead of calling `FeatureFlag.evaluate` per flag. This holds the two paths to the same variant, value and error
 * for random contexts, on the bench's 10 flags, flagd's golden test flags and a few edge cases, with one shared
 * TargetingData for all the flags of a context, as `flagsHeaderValue` does, and sem-ver.ts's memoized `sem_ver`
 * in place of flagd's. flagd-core's side runs in its default (compiled) mode.
 */
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { EvaluationContext } from '@openfeature/core';
import { flagdCore, murmurHash3, murmurHash3After, murmurPrefix } from '../src/flags/flagd-core.js';
import type { FlagDefinitions } from '../src/flags/definitions.js';
import { SILENT_LOGGER } from '../src/flags/flagd-diagnostics.js';
import { compileFlagSet, resolveFlag, targetingData, type FlagOutcome, type FlagSet } from '../src/flags/flag-set.js';
import { buildFlagContext, compileRouteFlags, flagsHeaderValue, requestFlagsHeader } from '../src/flags/route-flags.js';
import { RequestContext } from '../src/routing/context.js';

const BENCH = JSON.parse(readFileSync(new URL('../loadtest/flags-bench.flagd.json', import.meta.url), 'utf8')) as FlagDefinitions;
const TESTKIT = JSON.parse(readFileSync(new URL('./fixtures/flagd-testkit-flags.json', import.meta.url), 'utf8')) as FlagDefinitions;

/** Results flagd-core's own `resolve*` path cannot tell apart from a rule's: numbers, unknown variants, null, throws. */
const EDGES = {
  flags: {
    'number-result': { state: 'ENABLED', variants: { '1': 'one', '2': 'two' }, defaultVariant: '1', targeting: { '+': [{ var: 'num' }, 1] } },
    'unknown-variant': { state: 'ENABLED', variants: { a: 'a', b: 'b' }, defaultVariant: 'a', targeting: { var: 'tier' } },
    'null-no-default': { state: 'ENABLED', variants: { a: 'a', b: 'b' }, targeting: { if: [{ '==': [{ var: 'tier' }, 'gold'] }, 'b', null] } },
    'bool-result': { state: 'ENABLED', variants: { true: 'yes', false: 'no' }, defaultVariant: 'false', targeting: { in: [{ var: 'country' }, ['de', 'fr']] } },
    'flagd-props': {
      state: 'ENABLED',
      variants: { 'flagd-props': 'keyed', late: 'late', early: 'early' },
      defaultVariant: 'early',
      targeting: { if: [{ '<': [{ var: '$flagd.timestamp' }, 1700000000] }, 'early', { '==': [{ var: 'tier' }, 'gold'] }, { var: '$flagd.flagKey' }, 'late'] },
    },
    'object-result': { state: 'ENABLED', variants: { a: 'a' }, defaultVariant: 'a', targeting: { var: 'user' } },
    'unknown-operator': { state: 'ENABLED', variants: { a: 'a' }, defaultVariant: 'a', targeting: { if: [{ no_such_operator: [1] }, 'a', null] } },
    'sem-ver-rules': {
      state: 'ENABLED',
      variants: { eq: 1, caret: 2, tilde: 3, none: 4 },
      defaultVariant: 'none',
      targeting: { if: [{ sem_ver: [{ var: 'version' }, '=', { var: 'appVersion' }] }, 'eq', { sem_ver: [{ var: 'version' }, '^', '2.3'] }, 'caret', { sem_ver: ['v2.3.1', '~', { var: 'appVersion' }] }, 'tilde', { sem_ver: [{ var: 'version' }, { var: 'tier' }, '1.0.0'] }, 'eq', null] },
    },
    'sem-ver-in-map': { state: 'ENABLED', variants: { a: 'a', b: 'b' }, defaultVariant: 'a', targeting: { if: [{ some: [['1.0.0', { var: 'version' }], { sem_ver: [{ var: '' }, '>', '0.1.0'] }] }, 'b', 'a'] } },
    'fractional-in-map': { state: 'ENABLED', variants: { a: 'a', b: 'b' }, defaultVariant: 'a', targeting: { if: [{ some: [[1], { fractional: [['a', 1], ['b', 1]] }] }, 'b', 'a'] } },
    'fractional-computed': {
      state: 'ENABLED',
      variants: { a: 'a', b: 'b', gold: 'g', '1': 'one', true: 't' },
      defaultVariant: 'a',
      targeting: { if: [{ '==': [{ var: 'country' }, 'de'] }, { fractional: [['a', 1.5], ['b', 1]] }, { fractional: [{ var: 'email' }, [{ var: 'tier' }, 1], ['b', { var: 'num' }], [{ var: 'id' }]] }] },
    },
    'fractional-over-limit': { state: 'ENABLED', variants: { a: 'a', b: 'b' }, defaultVariant: 'b', targeting: { fractional: [['a', 2147483647], ['b', 1]] } },
    'fractional-no-buckets': { state: 'ENABLED', variants: { a: 'a', b: 'b' }, defaultVariant: 'b', targeting: { if: [{ var: 'tier' }, { fractional: ['key-only'] }, { fractional: [] }] } },
    'bucket-by-attribute': { state: 'ENABLED', variants: { x: 1, y: 2 }, defaultVariant: 'x', targeting: { fractional: [{ var: 'email' }, ['x', 30], ['y', 70]] } },
  },
} as unknown as FlagDefinitions;

const word = fc.constantFrom('de', 'us', 'fr', 'gold', 'ios-17.2', 'web', '2.3.0', 'v1.2', '1', '3.0.0-rc.1', 'V2.3.9', '2.3', '2.3.0.0', '=', '<', '>=', '^', 'x@example.com', 'a@b.c', '', 'not-a-version');
const version = fc.tuple(fc.nat(3), fc.nat(3), fc.nat(3)).map(([a, b, c]) => `${a}.${b}.${c}`);
const attribute = fc.oneof(word, version, fc.string({ maxLength: 8 }), fc.integer({ min: -3, max: 3 }), fc.boolean(), fc.constant(null));
const contextArb = fc.record(
  {
    targetingKey: fc.oneof(fc.string({ maxLength: 10 }), word),
    email: attribute,
    platform: attribute,
    appVersion: attribute,
    country: attribute,
    version: attribute,
    id: attribute,
    num: attribute,
    tier: attribute,
    user: fc.oneof(fc.record({ name: attribute }), attribute),
    $flagd: fc.constant({ flagKey: 'spoofed', timestamp: 1 }),
  },
  { requiredKeys: [] },
);

/** flagd-core's own path, on a storage of its own: what `resolveFlag` must agree with. */
function flagdResults(definitions: FlagDefinitions): (key: string, context: EvaluationContext) => Comparable {
  const storage = new (flagdCore().MemoryStorage)(SILENT_LOGGER);
  storage.setConfigurations(JSON.stringify(definitions));
  return (key, context) => {
    const feature = storage.getFlag(key)!;
    if (feature.state === 'DISABLED') return { variant: null, value: undefined, reason: 'DISABLED', errorCode: null };
    let resolution;
    try {
      resolution = feature.evaluate(context, SILENT_LOGGER);
    } catch {
      return { variant: null, value: undefined, reason: 'ERROR', errorCode: 'GENERAL' };
    }
    if (resolution.reason === 'ERROR') return { variant: null, value: undefined, reason: 'ERROR', errorCode: resolution.errorCode === 'PARSE_ERROR' ? 'PARSE_ERROR' : 'GENERAL' };
    return { variant: resolution.variant ?? null, value: resolution.variant == null ? undefined : resolution.value, reason: resolution.reason, errorCode: null };
  };
}

interface Comparable {
  variant: string | null;
  value: unknown;
  reason: string;
  errorCode: string | null;
}

/** splitgate's SPLIT is flagd's TARGETING_MATCH for a whole-targeting `fractional`. */
function comparable(outcome: FlagOutcome): Comparable {
  return { variant: outcome.variant, value: outcome.value, reason: outcome.reason === 'SPLIT' ? 'TARGETING_MATCH' : outcome.reason, errorCode: outcome.errorCode };
}

describe.each([
  ['the bench flags', BENCH],
  ["flagd's golden test flags", TESTKIT],
  ['edge cases', EDGES],
])('%s: the shared TargetingData path agrees with FeatureFlag.evaluate', (_name, definitions) => {
  const set: FlagSet = compileFlagSet(definitions);
  const expected = flagdResults(definitions);

  it('runs every targeted flag on flagd-core compiled targeting (not the fallback)', () => {
    for (const flag of set.list) {
      const targeted = definitions.flags[flag.key].targeting !== undefined && Object.keys(definitions.flags[flag.key].targeting!).length > 0;
      const parsed = expected(flag.key, {}).errorCode !== 'PARSE_ERROR';
      expect(flag.targeting !== null, flag.key).toBe(targeted && parsed);
    }
  });

  it('gives the same variant, value and error for random contexts', () => {
    fc.assert(
      fc.property(contextArb, (context) => {
        const shared = targetingData(context as EvaluationContext);
        for (const flag of set.list) {
          const want = expected(flag.key, context as EvaluationContext);
          expect(comparable(resolveFlag(flag, context as EvaluationContext, shared)), flag.key).toEqual(want);
          expect(comparable(resolveFlag(flag, context as EvaluationContext)), flag.key).toEqual(want);
        }
      }),
      { numRuns: 400 },
    );
  });
});

describe('sem_ver with its parsed versions memoized', () => {
  it('agrees with flagd-core past the cache bound (more distinct versions than it keeps)', () => {
    const set = compileFlagSet(EDGES);
    const expected = flagdResults(EDGES);
    const flag = set.flags.get('sem-ver-rules')!;
    for (let i = 0; i < 3000; i++) {
      const context = { version: `${i % 4}.${i}.0`, appVersion: i % 3 === 0 ? `${i % 4}.${i}.0` : `v2.3.${i}`, tier: ['<', '>=', '!=', '~'][i % 4] };
      expect(comparable(resolveFlag(flag, context)), JSON.stringify(context)).toEqual(expected(flag.key, context));
    }
  });
});

describe('the flags header of a request', () => {
  it('is the same whether its context is copied for targeting or serves as the targeting data itself', () => {
    const header = (name: string) => ({ kind: 'header' as const, name });
    const flags = compileRouteFlags(compileFlagSet(BENCH), {
      header: 'x-splitgate-flags',
      select: 'all',
      context: { email: header('x-user-email'), appVersion: header('x-app-version'), country: header('x-country'), platform: header('x-platform') },
    });
    expect(flags.runsTargeting).toBe(true);
    const text = fc.oneof(word, version, fc.string({ maxLength: 8 }));
    fc.assert(
      fc.property(fc.option(fc.string({ minLength: 1, maxLength: 10 })), text, text, text, text, (stickyKey, email, appVersion, country, platform) => {
        const headers = { 'x-user-email': email, 'x-app-version': appVersion, 'x-country': country, 'x-platform': platform };
        const request = () => new RequestContext(headers, {}, undefined, 0, stickyKey, null);
        expect(requestFlagsHeader(flags, request(), undefined)).toBe(flagsHeaderValue(flags, buildFlagContext(flags, request(), undefined)));
      }),
      { numRuns: 300 },
    );
  });
});

describe('TargetingData', () => {
  it('carries the evaluation time in whole seconds and leaves the context untouched', () => {
    const context = { targetingKey: 'u1', $flagd: { flagKey: 'spoofed', timestamp: 1 } };
    const data = targetingData(context, 1_767_000_123_999);
    expect(data.$flagd).toEqual({ flagKey: '', timestamp: 1_767_000_123 });
    expect(data.targetingKey).toBe('u1');
    expect(context.$flagd).toEqual({ flagKey: 'spoofed', timestamp: 1 });
  });

  it('gives a rule reading $flagd.flagKey the key of the flag being evaluated, flag after flag', () => {
    const set = compileFlagSet({
      flags: {
        first: { state: 'ENABLED', variants: { first: 1, second: 2 }, defaultVariant: 'second', targeting: { var: '$flagd.flagKey' } },
        second: { state: 'ENABLED', variants: { first: 1, second: 2 }, defaultVariant: 'first', targeting: { var: '$flagd.flagKey' } },
      },
    } as unknown as FlagDefinitions);
    const data = targetingData({});
    expect(set.list.map((flag) => resolveFlag(flag, {}, data).variant)).toEqual(['first', 'second']);
  });
});

describe('MurmurHash3 resumed after a flag key', () => {
  it('equals the hash of the whole string, for any prefix and key (code points beyond ASCII too)', () => {
    const text = fc.oneof(fc.string({ maxLength: 13 }), fc.string({ unit: 'binary', maxLength: 13 }));
    fc.assert(
      fc.property(text, text, (prefix, key) => {
        expect(murmurHash3After(murmurPrefix(prefix), key)).toBe(murmurHash3(prefix + key));
      }),
      { numRuns: 2000 },
    );
  });

  it.each(['', 'a', 'ab', 'abc', 'abcd', 'new-checkout', 'é€😀'])('resumes after prefix %j at every offset within a 4-byte block', (prefix) => {
    for (const key of ['', 'u', 'us', 'use', 'user-000001', '€😀x']) expect(murmurHash3After(murmurPrefix(prefix), key), key).toBe(murmurHash3(prefix + key));
  });
});
