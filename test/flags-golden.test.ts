/**
 * Golden vectors from flagd's own test suite, through splitgate's evaluation path (config validation → compiled
 * flag set → evaluateFlag), so a change in how splitgate builds contexts or wraps flagd-core fails loudly.
 *
 * The flags (test/fixtures/flagd-testkit-flags.json) are a subset of open-feature/flagd-testbed
 * evaluator/flags/testkit-flags.json, and the expected values are those of its evaluator/gherkin/*.feature files
 * (fractional.feature @fractional-v2, string.feature, semver.feature, evaluator-refs.feature) at flagd-testbed
 * v3.9.0 (commit 82ba89e). Apache-2.0, © The OpenFeature Authors.
 */
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { validateConfig } from '../src/config/load.js';
import { compileFlagSet, evaluateFlag, type FlagSet } from '../src/flags/flag-set.js';
import type { FlagDefinitions } from '../src/flags/definitions.js';

const TESTKIT = JSON.parse(readFileSync(new URL('./fixtures/flagd-testkit-flags.json', import.meta.url), 'utf8')) as unknown;

/** flagd's test flags are accepted by splitgate's config validation as they are. */
function testkitFlagSet(): FlagSet {
  const config = validateConfig(
    { upstreams: { stable: 'http://127.0.0.1:3001' }, routes: [{ name: 'api', stable: 'stable' }], flags: { definitions: TESTKIT } },
    {},
  );
  return compileFlagSet(config.flags!.definitions!);
}

const set = testkitFlagSet();

function resolve(key: string, context: Record<string, unknown>): { value: unknown; reason: string } {
  const flag = set.flags.get(key);
  if (flag === undefined) throw new Error(`no flag ${key}`);
  const outcome = evaluateFlag(flag, context as never);
  return { value: outcome.value, reason: outcome.reason };
}

describe('fractional (MurmurHash3 x86_32 of flag key + targeting key, flagd v2 bucketing)', () => {
  it.each([
    ['jack', 'hearts'],
    ['queen', 'spades'],
    ['ten', 'clubs'],
    ['nine', 'diamonds'],
    ['3', 'clubs'],
  ])('fractional-flag: user.name %s → %s', (name, value) => {
    expect(resolve('fractional-flag', { user: { name } })).toEqual({ value, reason: 'SPLIT' });
  });

  it.each([
    ['jon@company.com', 'heads'],
    ['jane@company.com', 'tails'],
  ])('shorthand (bucket by targetingKey): %s → %s', (targetingKey, value) => {
    expect(resolve('fractional-flag-shorthand', { targetingKey }).value).toBe(value);
  });

  it.each([
    ['seven', 'hearts', 'ace-of-hearts'],
    ['eight', 'diamonds', 'ace-of-diamonds'],
    ['nine', 'clubs', 'ace-of-clubs'],
    ['two', 'spades', 'ace-of-spades'],
  ])('shared seed: %s → %s in flag A and %s in flag B', (name, a, b) => {
    expect(resolve('fractional-flag-A-shared-seed', { user: { name } }).value).toBe(a);
    expect(resolve('fractional-flag-B-shared-seed', { user: { name } }).value).toBe(b);
  });

  it.each([
    ['ejOoVL', 'lower'],
    ['bY9fO-', 'lower'],
    ['SI7p-', 'lower'],
    ['6LvT0', 'upper'],
    ['ceQdGm', 'upper'],
  ])('hash edge case %s → %s', (targetingKey, value) => {
    expect(resolve('fractional-hash-edge-flag', { targetingKey }).value).toBe(value);
  });

  it('single entry, all-zero weights, negative weight, missing bucket key', () => {
    expect(resolve('fractional-single-entry-flag', { targetingKey: 'some-targeting-key' }).value).toBe('single');
    expect(resolve('fractional-zero-weights-flag', { targetingKey: 'any-user' })).toEqual({ value: 'fallback', reason: 'DEFAULT' });
    expect(resolve('fractional-negative-weight-flag', { targetingKey: 'any-user' }).value).toBe('two');
    expect(resolve('fractional-null-bucket-key-flag', {})).toEqual({ value: 'fallback', reason: 'DEFAULT' });
  });

  it('nested expressions as variant and weight, and fractional as a condition', () => {
    expect(resolve('fractional-nested-if-flag', { targetingKey: 'jon@company.com', tier: 'premium' }).value).toBe('premium');
    expect(resolve('fractional-nested-if-flag', { targetingKey: 'jon@company.com', tier: 'basic' }).value).toBe('standard');
    expect(resolve('fractional-nested-if-flag', { targetingKey: 'user1', tier: 'premium' }).value).toBe('standard');
    expect(resolve('fractional-nested-weight-flag', { targetingKey: 'jon@company.com', tier: 'basic' }).value).toBe('blue');
    expect(resolve('fractional-nested-weight-flag', { targetingKey: 'user1', tier: 'premium' }).value).toBe('red');
    expect(resolve('fractional-as-condition-flag', { targetingKey: 'some-targeting-key' })).toEqual({ value: 'hundreds', reason: 'TARGETING_MATCH' });
    expect(resolve('fractional-as-condition-false-flag', { targetingKey: 'some-targeting-key' }).value).toBe('ones');
  });
});

describe('starts_with / ends_with', () => {
  it.each([
    ['abcdef', 'prefix'],
    ['uvwxyz', 'postfix'],
    ['abcxyz', 'prefix'],
    ['lmnopq', 'none'],
  ])('id %s → %s', (id, value) => {
    expect(resolve('starts-ends-flag', { id }).value).toBe(value);
  });

  it('a non-string input falls back to the default variant', () => {
    expect(resolve('starts-with-non-string-flag', { num: 123 })).toEqual({ value: 'fallback', reason: 'DEFAULT' });
    expect(resolve('ends-with-non-string-flag', { num: 123 })).toEqual({ value: 'fallback', reason: 'DEFAULT' });
  });
});

describe('sem_ver', () => {
  it.each([
    ['2.0.0', 'equal'],
    ['2.1.0', 'greater'],
    ['1.9.0', 'lesser'],
    ['2.0.0-alpha', 'lesser'],
    ['2.0.0.0', 'none'],
  ])('version %s against 2.0.0 → %s', (version, value) => {
    expect(resolve('equal-greater-lesser-version-flag', { version }).value).toBe(value);
  });

  it.each([
    ['3.0.1', 'minor'],
    ['3.1.0', 'major'],
    ['4.0.0', 'none'],
  ])('~ and ^ ranges: %s → %s', (version, value) => {
    expect(resolve('major-minor-version-flag', { version }).value).toBe(value);
  });

  it('v prefixes, partial versions, and invalid input', () => {
    for (const version of ['1.0.0', 'v1.0.0', 'V1.0.0']) expect(resolve('semver-v-prefix-flag', { version }).value).toBe('match');
    expect(resolve('semver-v-prefix-flag', { version: '2.0.0' }).value).toBe('no-match');
    for (const version of ['1.5.0', '1.0.0', '1.0', '1', 1, 1.2]) expect(resolve('semver-partial-version-flag', { version }).value).toBe('match');
    expect(resolve('semver-partial-version-flag', { version: '2.0.0' }).value).toBe('no-match');
    expect(resolve('semver-invalid-version-flag', { version: 'not-a-version' })).toEqual({ value: 'fallback', reason: 'DEFAULT' });
    expect(resolve('semver-invalid-operator-flag', { version: '1.0.0' })).toEqual({ value: 'fallback', reason: 'DEFAULT' });
  });
});

describe('$evaluators and $ref', () => {
  it('shared rules resolve in every flag that references them', () => {
    expect(resolve('some-email-targeted-flag', { email: 'ballmer@macrosoft.com' }).value).toBe('hi');
    expect(resolve('some-other-email-targeted-flag', { email: 'ballmer@macrosoft.com' }).value).toBe('yes');
    expect(resolve('ref-whitespace-compact-flag', { email: 'ballmer@macrosoft.com' })).toEqual({ value: 'hi', reason: 'TARGETING_MATCH' });
    expect(resolve('ref-whitespace-compact-flag', { email: 'user@example.com' }).value).toBe('bye');
  });

  it('a $ref to no evaluator (flagd: PARSE_ERROR per request) is a config error here', () => {
    const definitions = { flags: { 'ref-to-nonexistent-evaluator-flag': { state: 'ENABLED', variants: { a: 'a' }, defaultVariant: 'a', targeting: { if: [{ $ref: 'missing' }, 'a'] } } } };
    expect(() =>
      validateConfig({ upstreams: { stable: 'http://127.0.0.1:3001' }, routes: [{ name: 'api', stable: 'stable' }], flags: { definitions } }, {}),
    ).toThrow(/targeting\.if\[0\]\["\$ref"\]: \$ref "missing" names no entry of \$evaluators/);
  });
});

describe('raising a fractional weight only moves users into the grown variant (seeded property)', () => {
  const SEED = 180_018;
  const users = Array.from({ length: 300 }, (_, i) => `user-${i}`);

  function variantsOf(key: string, weights: readonly number[]): string[] {
    const definitions = {
      flags: {
        [key]: {
          state: 'ENABLED',
          variants: Object.fromEntries(weights.map((_, i) => [`v${i}`, `v${i}`])),
          defaultVariant: 'v0',
          targeting: { fractional: weights.map((weight, i) => [`v${i}`, weight]) },
        },
      },
    } as unknown as FlagDefinitions;
    const flag = compileFlagSet(definitions).flags.get(key)!;
    return users.map((targetingKey) => evaluateFlag(flag, { targetingKey }).variant!);
  }

  it('a weight grows by what the next variant gives up (total fixed): users move only into the grown one', () => {
    fc.assert(
      fc.property(
        fc.string({ minLength: 1, maxLength: 12 }),
        fc.array(fc.integer({ min: 0, max: 1000 }), { minLength: 2, maxLength: 5 }),
        fc.nat(),
        fc.nat(),
        (key, weights, which, share) => {
          fc.pre(weights.some((w) => w > 0));
          const grown = which % (weights.length - 1);
          const given = weights[grown + 1] === 0 ? 0 : 1 + (share % weights[grown + 1]);
          const before = variantsOf(key, weights);
          const after = variantsOf(key, weights.map((w, i) => (i === grown ? w + given : i === grown + 1 ? w - given : w)));
          for (let u = 0; u < users.length; u++) if (after[u] !== before[u]) expect([before[u], after[u]]).toEqual([`v${grown + 1}`, `v${grown}`]);
        },
      ),
      { seed: SEED, numRuns: 60 },
    );
  });

  it('but growing a weight while the total grows moves users between the variants before it too (flagd scales every bucket)', () => {
    // [1, 1, 0] → [1, 1, 1]: v0's share drops from 1/2 to 1/3, so users in that band move from v0 to v1.
    const before = variantsOf('shift', [1, 1, 0]);
    const after = variantsOf('shift', [1, 1, 1]);
    expect(users.some((_, u) => before[u] === 'v0' && after[u] === 'v1')).toBe(true);
  });

  it('a two-variant rollout out of 100: users only ever move into "on" as its percentage rises', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 12 }), fc.integer({ min: 0, max: 99 }), fc.integer({ min: 1, max: 100 }), (key, from, step) => {
        const to = Math.min(100, from + step);
        const before = variantsOf(key, [from, 100 - from]);
        const after = variantsOf(key, [to, 100 - to]);
        let moved = 0;
        for (let u = 0; u < users.length; u++) {
          if (before[u] === 'v0') expect(after[u]).toBe('v0');
          else if (after[u] === 'v0') moved++;
        }
        // The split is real: at 100 % everyone is in.
        if (to === 100) expect(after.every((v) => v === 'v0')).toBe(true);
        return moved >= 0;
      }),
      { seed: SEED, numRuns: 60 },
    );
  });
});
