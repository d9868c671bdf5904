/**
 * Rule patterns (`~` match values): compiled for RE2 (re2js, a pure-JS port), never for V8's backtracking engine,
 * because they run on header and cookie values that any client chooses. RE2 matches in time linear in the value's
 * length, so one request cannot stall the event loop the way `.*Mobile.*Safari` on `"Mobile " × 2200` does in
 * V8 (minutes). What RE2 cannot run in linear time (lookaround, backreferences) is a config error.
 *
 * Linear is not free: when a pattern's DFA keeps outgrowing its cache (a crafted value full of partial matches,
 * e.g. `bot`s against `(?i)bot.{0,60}crawl`), re2js falls back to an NFA in JavaScript whose cost is about value
 * length × pattern size × 15–130 ns (measured here). Both factors are bounded: 100 instructions, Envoy's default
 * error level for RE2 program size, and 1024 characters, so the worst match costs a few ms on a crafted value
 * (loadtest/rule-patterns.mjs prints it), while everyday patterns on a User-Agent take 0.1–1 µs.
 */
import { createRequire } from 'node:module';
import type { RE2JS } from 're2js';

// Loaded on the first pattern: re2js is ~0.8 MB of heap in every process (supervisor and each worker), and most
// configs have no `~` pattern (issue 15's memory goals).
const require = createRequire(import.meta.url);
let re2js: typeof RE2JS | undefined;

/** Values longer than this (UTF-16 code units) never match a pattern; exact matches are not limited. */
export const MAX_PATTERN_VALUE_LENGTH = 1024;

/**
 * RE2 program instructions a pattern may compile to (Envoy's `re2.max_program_size.error_level` default):
 * `.*Mobile.*Safari` is 18, a UUID 40, `(?i)android.{0,40}mobile` 95; `[a-z]{120}` is refused.
 */
export const MAX_PATTERN_INSTRUCTIONS = 100;

export type RulePattern = RE2JS;

/** Compiles a pattern's source (without the `~`); throws an Error whose message suits a config path. */
export function compileRulePattern(source: string): RulePattern {
  let pattern: RE2JS;
  try {
    re2js ??= (require('re2js') as { RE2JS: typeof RE2JS }).RE2JS;
    pattern = re2js.compile(source);
  } catch (error) {
    const detail = (error as Error).message.replace(/^error parsing regexp: /, '');
    throw new Error(`invalid regular expression (RE2 syntax; no lookaround or backreferences): ${detail}`);
  }
  const size = pattern.programSize();
  if (size > MAX_PATTERN_INSTRUCTIONS) {
    throw new Error(`regular expression too large (${size} RE2 instructions; at most ${MAX_PATTERN_INSTRUCTIONS}): use smaller repeat counts`);
  }
  return pattern;
}

/** Unanchored search, as RegExp#test; a value above MAX_PATTERN_VALUE_LENGTH does not match. */
export function patternMatches(pattern: RulePattern, value: string): boolean {
  return value.length <= MAX_PATTERN_VALUE_LENGTH && pattern.test(value);
}
