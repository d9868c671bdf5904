/**
 * Flag overrides as pure functions: what a PUT body may say, how an override rewrites a definition (the result is
 * evaluated by flagd-core exactly as flagd would evaluate that definition), which overrides a new file leaves
 * stale, and how the state file's copy is read back (a damaged kill stays a kill).
 */
import { describe, expect, it } from 'vitest';
import { flagDefinitionsSchema } from '../src/flags/definitions.js';
import { applyFlagOverrides, parseFlagOverride, parseStoredFlagOverrides, staleFlagOverrides } from '../src/flags/flag-overrides.js';
import { compileFlagSet, resolveFlag } from '../src/flags/flag-set.js';

const DEFINITIONS = flagDefinitionsSchema.parse({
  flags: {
    beta: { state: 'ENABLED', variants: { on: true, off: false }, defaultVariant: 'off', targeting: { fractional: [['on', 50], ['off', 50]] } },
    legacy: { state: 'DISABLED', variants: { on: true, off: false }, defaultVariant: 'on' },
    migrate: { state: 'ENABLED', variants: { a: 'a', b: 'b' }, defaultVariant: 'a', metadata: { bucketing: 'md5-mod100', team: 'core' }, targeting: { fractional: [['a', 30], ['b', 70]] } },
  },
});

describe('parseFlagOverride', () => {
  it.each([
    [{ state: 'DISABLED' }, { state: 'DISABLED' }],
    [{ state: 'ENABLED' }, { state: 'ENABLED' }],
    [{ defaultVariant: 'on' }, { defaultVariant: 'on' }],
    [{ state: 'ENABLED', defaultVariant: 'on' }, { defaultVariant: 'on' }],
  ])('accepts %j', (body, expected) => {
    expect(parseFlagOverride(body)).toEqual(expected);
  });

  it.each([null, [], 'DISABLED', {}, { state: 'off' }, { defaultVariant: '' }, { defaultVariant: 3 }, { state: 'DISABLED', defaultVariant: 'on' }, { state: 'DISABLED', why: 'x' }])(
    'refuses %j with SG_INVALID (400)',
    (body) => {
      expect(() => parseFlagOverride(body)).toThrow(expect.objectContaining({ code: 'SG_INVALID', status: 400 }));
    },
  );
});

describe('applyFlagOverrides', () => {
  const evaluate = (overrides: Record<string, object>, key: string, targetingKey = 'user-1') => {
    const flag = compileFlagSet(applyFlagOverrides(DEFINITIONS, overrides)).flags.get(key)!;
    const outcome = resolveFlag(flag, { targetingKey });
    return [outcome.variant, outcome.reason];
  };

  it('kill: DISABLED, no variant', () => {
    expect(evaluate({ beta: { state: 'DISABLED' } }, 'beta')).toEqual([null, 'DISABLED']);
  });

  it('pin: every key gets the variant, reason STATIC (migration bucketing dropped, other metadata kept)', () => {
    const keys = Array.from({ length: 20 }, (_, i) => `user-${i}`);
    expect(new Set(keys.map((key) => evaluate({ migrate: { defaultVariant: 'b' } }, 'migrate', key).join()))).toEqual(new Set(['b,STATIC']));
    expect(compileFlagSet(applyFlagOverrides(DEFINITIONS, { migrate: { defaultVariant: 'b' } })).flags.get('migrate')!.metadata).toEqual({ team: 'core' });
    expect(evaluate({ legacy: { defaultVariant: 'off' } }, 'legacy')).toEqual(['off', 'STATIC']);
  });

  it('enable: a flag the file disables evaluates as the file defines it otherwise', () => {
    expect(evaluate({ legacy: { state: 'ENABLED' } }, 'legacy')).toEqual(['on', 'STATIC']);
  });

  it('leaves the file untouched, returns the same object for the same overrides, and ignores stale ones', () => {
    const once = applyFlagOverrides(DEFINITIONS, { beta: { state: 'DISABLED' } });
    expect(applyFlagOverrides(DEFINITIONS, { beta: { state: 'DISABLED' } })).toBe(once);
    expect(DEFINITIONS.flags.beta.state).toBe('ENABLED');
    expect(applyFlagOverrides(DEFINITIONS, {})).toBe(DEFINITIONS);
    expect(applyFlagOverrides(DEFINITIONS, { gone: { state: 'DISABLED' }, beta: { defaultVariant: 'maybe' } })).toBe(DEFINITIONS);
  });
});

describe('staleFlagOverrides', () => {
  it('names overrides whose flag or pinned variant the file lacks', () => {
    const stale = staleFlagOverrides(DEFINITIONS, { beta: { defaultVariant: 'maybe' }, gone: { state: 'DISABLED' }, legacy: { state: 'ENABLED' } });
    expect(stale.map((entry) => entry.key)).toEqual(['beta', 'gone']);
    expect(stale[0].reason).toContain('no variant "maybe"');
    expect(staleFlagOverrides(undefined, { beta: { state: 'DISABLED' } })).toHaveLength(1);
  });
});

describe('parseStoredFlagOverrides', () => {
  it('keeps readable entries, a damaged kill as a kill, and warns about the rest', () => {
    const warnings: string[] = [];
    const parsed = parseStoredFlagOverrides({ beta: { state: 'DISABLED' }, theme: { defaultVariant: 'dark' }, odd: { state: 'DISABLED', defaultVariant: 'x' }, bad: 7 }, warnings);
    expect(parsed).toEqual({ beta: { state: 'DISABLED' }, theme: { defaultVariant: 'dark' }, odd: { state: 'DISABLED' } });
    expect(warnings).toHaveLength(2);
    expect(parseStoredFlagOverrides([], warnings)).toEqual({});
  });
});
