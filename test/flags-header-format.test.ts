/**
 * The flags header's format, RFC 8941 §3.2 Dictionary: keys that are sf-keys (mapped or left out, with a note),
 * booleans ?1/?0, integers and decimals within RFC 8941's ranges, strings quoted with `"` and `\` escaped, and
 * nothing for values the RFC cannot carry. Pure functions on plain data, plus one compiled route.
 */
import { describe, expect, it } from 'vitest';
import { compileFlagSet } from '../src/flags/flag-set.js';
import type { FlagDefinitions } from '../src/flags/definitions.js';
import { buildFlagContext, compileRouteFlags, flagsHeaderValue } from '../src/flags/route-flags.js';
import { isSfKey, serializeBareItem, toSfKey } from '../src/flags/structured-field.js';
import { RequestContext } from '../src/routing/context.js';

describe('RFC 8941 pieces', () => {
  it.each([
    [true, '?1'],
    [false, '?0'],
    [10, '10'],
    [-0, '0'],
    [999_999_999_999_999, '999999999999999'],
    [1_000_000_000_000_000, null],
    [1.5, '1.5'],
    [-2.25, '-2.25'],
    [0.1 + 0.2, '0.3'],
    [1.0005, '1.0'], // ties to even: 1000.5 thousandths → 1000
    [1.0015, '1.002'],
    [999_999_999_999.5, '999999999999.5'],
    [1_000_000_000_000.5, null],
    ['v2', '"v2"'],
    ['say "hi" \\o/', '"say \\"hi\\" \\\\o/"'],
    ['café', null],
    ['tab\there', null],
    [{ a: 1 }, null],
    [null, null],
  ])('%j → %s', (value, item) => {
    expect(serializeBareItem(value)).toBe(item);
  });

  it.each([
    ['new-checkout', 'new-checkout'],
    ['a.b_c*d', 'a.b_c*d'],
    ['*star', '*star'],
    ['NewCheckout', 'newcheckout'],
    ['auth v2/beta', 'auth_v2_beta'],
    ['2fa', null],
    ['_private', null],
  ])('flag key %s → sf-key %s', (key, sfKey) => {
    expect(toSfKey(key)).toBe(sfKey);
    if (sfKey !== null) expect(isSfKey(sfKey)).toBe(true);
  });
});

const DEFINITIONS = {
  flags: {
    'new-checkout': { state: 'ENABLED', variants: { on: true, off: false }, defaultVariant: 'on' },
    NewCheckout: { state: 'ENABLED', variants: { on: true, off: false }, defaultVariant: 'off' },
    newcheckout: { state: 'ENABLED', variants: { on: true, off: false }, defaultVariant: 'off' },
    '2fa': { state: 'ENABLED', variants: { on: true }, defaultVariant: 'on' },
    greeting: { state: 'ENABLED', variants: { en: 'hello', fr: 'café' }, defaultVariant: 'en', targeting: { if: [{ '==': [{ var: 'lang' }, 'fr'] }, 'fr'] } },
    ratio: { state: 'ENABLED', variants: { half: 0.5 }, defaultVariant: 'half' },
    nodefault: { state: 'ENABLED', variants: { a: 'a' }, targeting: { if: [{ '==': [{ var: 'x' }, 'y'] }, 'a'] } },
    odd: { state: 'ENABLED', variants: { a: 'a' }, defaultVariant: 'a', targeting: { fractional: null } },
  },
} as unknown as FlagDefinitions;

function request(headers: Record<string, string>, cookies: Record<string, string> = {}, stickyKey: string | null = 'user-1'): RequestContext {
  return new RequestContext(headers, cookies, 'eu', 0, stickyKey, null);
}

describe('a route\'s flags header', () => {
  const set = compileFlagSet(DEFINITIONS);

  it('says which keys were mapped or left out, and which values cannot be sent', () => {
    expect(set.notes).toEqual([
      "flagd's JSON schema (as bundled with flagd-core) says /flags/odd/targeting: must NOT have additional properties; flagd evaluates it anyway",
      'flag "NewCheckout" is sent in the flags header as "newcheckout" (RFC 8941 keys are lower-case)',
      'flag "newcheckout" is not sent in the flags header: it would be sent as "newcheckout", like flag "NewCheckout"',
      'flag "2fa" is not sent in the flags header: its key cannot be an RFC 8941 key (lower-case letter or "*" first)',
      'flag "greeting" variant "fr" is not sent in the flags header: RFC 8941 has no item for a string with characters outside printable ASCII',
    ]);
  });

  it('joins the members of the evaluated flags, leaving out what cannot be sent', () => {
    const flags = compileRouteFlags(set, { header: 'x-splitgate-flags', select: 'all', context: { lang: { kind: 'header', name: 'accept-language' } } });
    expect(flags.flags.map((flag) => flag.key)).toEqual(['new-checkout', 'NewCheckout', 'greeting', 'ratio', 'nodefault', 'odd']);
    // `fractional: null` is JsonLogic flagd-core compiles; it resolves to nothing, so the default variant.
    expect(flagsHeaderValue(flags, buildFlagContext(flags, request({ 'accept-language': 'en' }), undefined))).toBe(
      'new-checkout=?1, newcheckout=?0, greeting="hello", ratio=0.5, odd="a"',
    );
    // "fr" has no RFC 8941 form: the member is left out rather than sent mangled.
    expect(flagsHeaderValue(flags, buildFlagContext(flags, request({ 'accept-language': 'fr' }), undefined))).toBe('new-checkout=?1, newcheckout=?0, ratio=0.5, odd="a"');
    expect(flagsHeaderValue(flags, buildFlagContext(flags, request({}, {}, null), { x: 'y' }))).toBe('new-checkout=?1, newcheckout=?0, greeting="hello", ratio=0.5, odd="a"');
  });

  it('builds the context from the sticky key, headers, cookies, region and (when they exist) verified claims', () => {
    const flags = compileRouteFlags(set, {
      header: 'x',
      select: ['greeting'],
      context: {
        email: { kind: 'header', name: 'x-user-email' },
        plan: { kind: 'cookie', name: 'plan' },
        where: { kind: 'region', name: '' },
        tier: { kind: 'claim', name: 'tier' },
        absent: { kind: 'header', name: 'x-nothing' },
      },
    });
    expect(buildFlagContext(flags, request({ 'x-user-email': 'a@b.c' }, { plan: 'pro' }), undefined)).toEqual({ targetingKey: 'user-1', email: 'a@b.c', plan: 'pro', where: 'eu' });
    expect(buildFlagContext(flags, request({}, {}, null), { tier: 'gold' })).toEqual({ where: 'eu', tier: 'gold' });
  });
});

describe('flags without targeting', () => {
  it('resolve at load exactly as flagd-core resolves them per request', async () => {
    const { FlagdCore } = await import('@openfeature/flagd-core');
    const { evaluateFlag } = await import('../src/flags/flag-set.js');
    const definitions = {
      flags: {
        plain: { state: 'ENABLED', variants: { a: 'a', b: 'b' }, defaultVariant: 'b' },
        empty: { state: 'ENABLED', variants: { a: 1 }, defaultVariant: 'a', targeting: {} },
        none: { state: 'ENABLED', variants: { a: true } },
      },
    } as unknown as FlagDefinitions;
    const core = new FlagdCore();
    core.setConfigurations(JSON.stringify(definitions));
    const set = compileFlagSet(definitions);
    for (const flag of set.list) {
      expect(flag.staticOutcome).not.toBeNull();
      const ours = evaluateFlag(flag, { targetingKey: 'u' });
      const theirs = core.getFlag(flag.key)!.evaluate({ targetingKey: 'u' });
      expect([ours.variant ?? undefined, ours.reason]).toEqual([theirs.variant, theirs.reason]);
    }
  });
  it('build no context for a route whose other flags are disabled, targeting or not', () => {
    const definitions = {
      flags: {
        plain: { state: 'ENABLED', variants: { a: 'a', b: 'b' }, defaultVariant: 'b' },
        off: { state: 'DISABLED', variants: { on: true, off: false }, defaultVariant: 'off', targeting: { fractional: [['on', 50], ['off', 50]] } },
      },
    } as unknown as FlagDefinitions;
    const flags = compileRouteFlags(compileFlagSet(definitions), { header: 'x', select: 'all', context: { email: { kind: 'header', name: 'x-user-email' } } });
    expect(flags.needsContext).toBe(false);
    expect(buildFlagContext(flags, request({ 'x-user-email': 'a@b.c' }), undefined)).toEqual({});
    expect(flagsHeaderValue(flags, buildFlagContext(flags, request({}), undefined))).toBe('plain="b"');
    const targeted = { flags: { ...definitions.flags, off: { ...(definitions.flags.off as object), state: 'ENABLED' } } } as unknown as FlagDefinitions;
    expect(compileRouteFlags(compileFlagSet(targeted), { header: 'x', select: 'all', context: {} }).needsContext).toBe(true);
  });
});
