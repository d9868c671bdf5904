#!/usr/bin/env node
/**
 * What a `~` rule pattern costs per request, in nanoseconds per match, RE2 (re2js, what splitgate runs since issue
 * 14) against V8's RegExp (what it ran before), on everyday User-Agents; then the worst cases: hostile values
 * against the patterns from the issue, and an adversarial value against a pattern at the size limit.
 *
 *   npm run build && node loadtest/rule-patterns.mjs
 *
 * RULE_PATTERN_ITERATIONS (default 200 000) matches per measurement, best of 3.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));
const { compileRulePattern, patternMatches, MAX_PATTERN_VALUE_LENGTH } = await import(join(ROOT, 'dist/routing/pattern.js'));
const ITERATIONS = Number(process.env.RULE_PATTERN_ITERATIONS ?? 200_000);

const USER_AGENTS = [
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1',
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36',
  'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.6367.82 Mobile Safari/537.36',
  'curl/8.5.0',
];
const PATTERNS = ['Mobile', '.*Mobile.*Safari', 'iPhone|iPad|Android', '^Mozilla/5\\.0 \\(iPhone', 'Chrome/1[0-9]{2}\\.'];

function nsPerMatch(match, values) {
  let best = Infinity;
  let hits = 0;
  for (let round = 0; round < 3; round++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < ITERATIONS; i++) if (match(values[i & 3])) hits++;
    best = Math.min(best, Number(process.hrtime.bigint() - start) / ITERATIONS);
  }
  return { ns: best, hits };
}

console.log(`ns per match over ${USER_AGENTS.length} User-Agents (best of 3 × ${ITERATIONS}); node ${process.version}`);
console.log(`${'pattern'.padEnd(28)} ${'RE2 (re2js)'.padStart(12)} ${'V8 RegExp'.padStart(12)}`);
for (const source of PATTERNS) {
  const re2 = compileRulePattern(source);
  const v8 = new RegExp(source);
  const a = nsPerMatch((value) => patternMatches(re2, value), USER_AGENTS);
  const b = nsPerMatch((value) => v8.test(value), USER_AGENTS);
  if (a.hits !== b.hits) throw new Error(`${source}: RE2 and V8 disagree (${a.hits} vs ${b.hits} matches)`);
  console.log(`${source.padEnd(28)} ${a.ns.toFixed(0).padStart(12)} ${b.ns.toFixed(0).padStart(12)}`);
}

function msOnce(pattern, value) {
  const start = process.hrtime.bigint();
  patternMatches(pattern, value);
  return Number(process.hrtime.bigint() - start) / 1e6;
}

console.log('\nworst cases, ms per match with RE2 (V8 took minutes on the first two)');
const hostile = [
  ['.*Mobile.*Safari', 'Mobile '.repeat(2200), 'User-Agent "Mobile " × 2200 (beyond the length bound: not run)'],
  ['.*Mobile.*Safari', 'Mobile '.repeat(146), `"Mobile " × 146 (${146 * 7} chars)`],
  ['^(\\w+\\s?)*$', `${'a'.repeat(29)}!`, '29 word characters and "!"'],
  ['^(\\w+\\s?)*$', `${'a'.repeat(MAX_PATTERN_VALUE_LENGTH - 1)}!`, `${MAX_PATTERN_VALUE_LENGTH} chars`],
];
for (const [source, value, what] of hostile) {
  const pattern = compileRulePattern(source);
  console.log(`${source.padEnd(38)} ${what.padEnd(56)} ${msOnce(pattern, value).toFixed(3)} ms`);
}
// Patterns whose DFA keeps outgrowing re2js's cache on a value full of partial matches: re2js then runs its NFA,
// at about (value length × pattern size); both are bounded. Fresh values each time, so no cache warms up.
let seed = 12345;
const adversarial = (words) => {
  let text = '';
  while (text.length < MAX_PATTERN_VALUE_LENGTH) {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    text += words[(seed >> 16) % words.length];
  }
  return text.slice(0, MAX_PATTERN_VALUE_LENGTH);
};
const heavy = [
  ['a[ab]{90}d', ['a', 'b']],
  ['(?i)android.{0,40}mobile', ['android', 'x', 'mobil']],
  ['(?i)(bot|spider).{0,20}(crawl|index)', ['bot', 'spider', 'x']],
  ['(?i)bot.{0,30}crawl', ['bot', 'x', 'c']],
];
for (const [source, words] of heavy) {
  const pattern = compileRulePattern(source);
  const times = Array.from({ length: 5 }, () => msOnce(pattern, adversarial(words)));
  const label = `${pattern.programSize()} instr., ${words.join('/')} × ${MAX_PATTERN_VALUE_LENGTH} chars, 5 fresh values`;
  console.log(`${source.padEnd(38)} ${label.padEnd(56)} ${times.map((t) => t.toFixed(2)).join(' ')} ms`);
}
