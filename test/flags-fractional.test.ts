/**
 * fractional's constant shorthand (`[["on", 20], ["off", 80]]`) is bucketed by splitgate itself (flag-set.ts, for
 * the per-request cost measured by `npm run bench:flags`); every other targeting goes through flagd-core. The
 * result must be flagd-core's for any weights and targeting key: compared here against flagd-core's own evaluation
 * of the same compiled flag.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { FlagDefinitions } from '../src/flags/definitions.js';
import { compileFlagSet, resolveFlag, type CompiledFlag } from '../src/flags/flag-set.js';

const VARIANTS = { a: 'a', b: 'b', c: 'c', d: 'd' };

function compiled(targeting: Record<string, unknown>, defaultVariant: string | undefined = 'a'): CompiledFlag {
  const definitions = { flags: { split: { state: 'ENABLED', variants: VARIANTS, defaultVariant, targeting } } } as unknown as FlagDefinitions;
  return compileFlagSet(definitions).flags.get('split')!;
}

/** flagd-core's answer in splitgate's terms (a whole-targeting fractional match is reported as SPLIT). */
function flagdAnswer(flag: CompiledFlag, targetingKey: string | undefined): { variant: string | null; reason: string } {
  const resolution = flag.feature.evaluate(targetingKey === undefined ? {} : { targetingKey });
  return { variant: resolution.variant ?? null, reason: resolution.reason === 'TARGETING_MATCH' ? 'SPLIT' : resolution.reason };
}

describe('fractional shorthand bucketed without flagd-core', () => {
  it('takes the constant shorthand only; bucket-by expressions and computed weights stay with flagd-core', () => {
    expect(compiled({ fractional: [['a', 20], ['b', 80]] }).fractional).not.toBeNull();
    expect(compiled({ fractional: [['a'], ['b']] }).fractional).not.toBeNull();
    expect(compiled({ fractional: [{ var: 'email' }, ['a', 50], ['b', 50]] }).fractional).toBeNull();
    expect(compiled({ fractional: [['a', { if: [true, 10, 20] }], ['b', 50]] }).fractional).toBeNull();
    expect(compiled({ fractional: [['zz', 50], ['b', 50]] }).fractional).toBeNull();
    expect(compiled({ fractional: [['a', 2147483647], ['b', 1]] }).fractional).toBeNull();
  });

  it('answers what flagd-core answers for any weights and targeting key', () => {
    fc.assert(
      fc.property(
        // Up to four entries of up to 2^29 - 1: totals up to ~2^31, so hash × total goes past 2^53.
        fc.array(fc.tuple(fc.constantFrom('a', 'b', 'c', 'd'), fc.integer({ min: -3, max: 2 ** 29 - 1 })), { minLength: 1, maxLength: 4 }),
        fc.array(fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.constant('')), { minLength: 1, maxLength: 20 }),
        fc.constantFrom<string | undefined>('a', undefined),
        (entries, keys, defaultVariant) => {
          const flag = compiled({ fractional: entries }, defaultVariant);
          expect(flag.fractional).not.toBeNull();
          for (const key of [...keys, undefined]) {
            const outcome = resolveFlag(flag, key === undefined ? {} : { targetingKey: key });
            expect({ variant: outcome.variant, reason: outcome.reason }).toEqual(flagdAnswer(flag, key));
          }
        },
      ),
      { numRuns: 150 },
    );
  });

  it('agrees at the bucket edges of a 50/50 split over many user ids', () => {
    const flag = compiled({ fractional: [['a', 1], ['b', 1]] });
    for (let id = 0; id < 2000; id++) {
      const key = `user-${id}`;
      expect(resolveFlag(flag, { targetingKey: key }).variant).toBe(flagdAnswer(flag, key).variant);
    }
  });
});
