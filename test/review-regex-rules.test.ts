/**
 * Issue 14 item 1 (ReDoS): `~` rule patterns run on RE2 (linear time) and only on values up to
 * MAX_PATTERN_VALUE_LENGTH; what RE2 cannot run is a config error at its path. The hang guards below are generous
 * upper bounds (V8 took 173 s and 39 s on these inputs), not speed claims.
 */
import { describe, expect, it } from 'vitest';
import { validateConfig } from '../src/config/load.js';
import { buildContext, type Entropy } from '../src/routing/context.js';
import { decideRoute } from '../src/routing/decide.js';
import { MAX_PATTERN_INSTRUCTIONS, MAX_PATTERN_VALUE_LENGTH, compileRulePattern, patternMatches } from '../src/routing/pattern.js';
import { compileTable, type CompiledRoute } from '../src/routing/table.js';
import { configProblems } from './helpers/config-problems.js';

const FIXED: Entropy = { newId: () => 'fresh-id', random: () => 0.5 };
const HANG_GUARD_MS = 2_000;

function configWithRules(rules: unknown[]) {
  return {
    upstreams: { s: 'http://127.0.0.1:1', c: 'http://127.0.0.1:2' },
    routes: [{ name: 'api', stable: 's', canary: 'c', weight: 0, rules }],
  };
}

function routeWithRules(rules: unknown[]): CompiledRoute {
  return compileTable(validateConfig(configWithRules(rules)), 1).routes[0];
}

function problems(raw: unknown): string[] {
  return configProblems(raw);
}

function timed<T>(run: () => T): { result: T; ms: number } {
  const start = performance.now();
  const result = run();
  return { result, ms: performance.now() - start };
}

describe('rule patterns that backtrack catastrophically in V8', () => {
  const route = routeWithRules([
    { match: { headers: { 'user-agent': '~.*Mobile.*Safari' } }, version: 'canary' },
    { match: { headers: { 'x-words': '~^(\\w+\\s?)*$' } }, version: 'canary' },
  ]);

  it.each([
    ['"Mobile " × 2200 without Safari', { 'user-agent': 'Mobile '.repeat(2200) }, 'stable', 'weight', -1],
    ['"Mobile " × 140 then Safari', { 'user-agent': `${'Mobile '.repeat(140)}Safari/604.1` }, 'canary', 'rule', 0],
    ['29 word characters and a "!"', { 'x-words': `${'a'.repeat(29)}!` }, 'stable', 'weight', -1],
    ['4000 word characters and a "!"', { 'x-words': `${'a'.repeat(4000)}!` }, 'stable', 'weight', -1],
    ['words and spaces only', { 'x-words': 'alpha beta gamma' }, 'canary', 'rule', 1],
  ])('%s → decided promptly and correctly', (_name, headers, version, reason, rule) => {
    const { result, ms } = timed(() => decideRoute(route, buildContext(route, headers, '10.0.0.1', FIXED)));
    expect(result).toEqual({ version, reason, rule });
    expect(ms).toBeLessThan(HANG_GUARD_MS);
  });
});

describe('value length bound', () => {
  const pattern = compileRulePattern('Mobile');

  it(`matches a value of exactly ${MAX_PATTERN_VALUE_LENGTH} characters, not one longer`, () => {
    const atBound = `${'x'.repeat(MAX_PATTERN_VALUE_LENGTH - 6)}Mobile`;
    expect(patternMatches(pattern, atBound)).toBe(true);
    expect(patternMatches(pattern, `x${atBound}`)).toBe(false);
  });

  it('does not limit exact matches', () => {
    const long = 'v'.repeat(MAX_PATTERN_VALUE_LENGTH * 2);
    const route = routeWithRules([{ match: { headers: { 'x-token': long } }, version: 'canary' }]);
    expect(decideRoute(route, buildContext(route, { 'x-token': long }, '10.0.0.1', FIXED)).reason).toBe('rule');
  });
});

describe('RE2 semantics', () => {
  it.each([
    ['unanchored search, as RegExp#test', 'Mobile', 'Mozilla (Mobile)', true],
    ['anchors', '^(early|alpha)$', 'early', true],
    ['anchors reject a longer value', '^(early|alpha)$', 'early-bird', false],
    ['inline flags', '(?i)mobile', 'MOBILE', true],
    ['Perl classes', '\\d{3}-\\w+', 'id 123-abc', true],
  ])('%s', (_name, source, value, expected) => {
    expect(patternMatches(compileRulePattern(source), value)).toBe(expected);
  });
});

describe('config rejects what RE2 cannot run, with the path', () => {
  it.each([
    ['lookahead', '~(?=x)'],
    ['negative lookahead', '~^(?!admin)'],
    ['lookbehind', '~(?<=x)y'],
    ['backreference', '~(a)\\1'],
    ['unbalanced parenthesis', '~('],
  ])('%s', (_name, value) => {
    const lines = problems(
      configWithRules([
        { match: { headers: { 'user-agent': 'x' } }, version: 'stable' },
        { match: { headers: { 'user-agent': value } }, version: 'canary' },
      ]),
    );
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      /^routes\[0\]\.rules\[1\]\.match\.headers\["user-agent"\]: invalid regular expression \(RE2 syntax; no lookaround or backreferences\): \S/,
    );
  });

  it('in cookie rules too', () => {
    const lines = problems(configWithRules([{ match: { cookies: { plan: '~(a)\\1' } }, version: 'canary' }]));
    expect(lines).toEqual([expect.stringMatching(/^routes\[0\]\.rules\[0\]\.match\.cookies\.plan: invalid regular expression \(RE2 syntax/)]);
  });

  it(`a pattern above ${MAX_PATTERN_INSTRUCTIONS} RE2 instructions`, () => {
    const lines = problems(configWithRules([{ match: { headers: { 'x-id': '~a[ab]{300}d' } }, version: 'canary' }]));
    expect(lines).toEqual([
      expect.stringMatching(/^routes\[0\]\.rules\[0\]\.match\.headers\["x-id"\]: regular expression too large \(\d+ RE2 instructions; at most 100\)/),
    ]);
    expect(() => routeWithRules([{ match: { headers: { 'x-id': '~a[ab]{90}d' } }, version: 'canary' }])).not.toThrow();
  });
});
