/**
 * Matching verified JWT claims against `claims:` match values (`value` exact, `~regex` RE2), the same value syntax
 * as header and cookie rules. Shared by routing rules and anything else that selects users by claim (release-plan
 * audiences). Pure; claims come only from auth/jwt-verifier.ts, so a request without a verified token (null)
 * matches no claim.
 *
 * A claim's value matches as text: a string as it is, a number or boolean by its JSON text (`true`, `42`), an array
 * (`groups`, `roles`, `aud`) when any of its string, number or boolean elements does. Objects and null never match.
 */
import { compileRulePattern, patternMatches } from './pattern.js';
import type { ValueMatcher } from './table.js';

export type ClaimMatchers = ReadonlyArray<readonly [name: string, matcher: ValueMatcher]>;

/** `{ email: "~@example\\.com$", plan: "pro" }` → matchers; patterns were validated by the schema. */
export function compileClaimMatchers(spec: Readonly<Record<string, string>> | undefined): ClaimMatchers {
  return Object.freeze(
    Object.entries(spec ?? {}).map(([name, value]) =>
      Object.freeze([name, value.startsWith('~') ? { exact: null, pattern: compileRulePattern(value.slice(1)) } : { exact: value, pattern: null }] as const),
    ),
  );
}

/** Every matcher matches its claim; with no matchers, true. */
export function claimsMatch(matchers: ClaimMatchers, claims: Readonly<Record<string, unknown>> | null): boolean {
  if (matchers.length === 0) return true;
  if (claims === null) return false;
  for (let i = 0; i < matchers.length; i++) {
    const [name, matcher] = matchers[i];
    if (!Object.hasOwn(claims, name) || !claimMatches(matcher, claims[name])) return false;
  }
  return true;
}

function claimMatches(matcher: ValueMatcher, value: unknown): boolean {
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) if (scalarMatches(matcher, value[i])) return true;
    return false;
  }
  return scalarMatches(matcher, value);
}

function scalarMatches(matcher: ValueMatcher, value: unknown): boolean {
  let text: string;
  if (typeof value === 'string') text = value;
  else if (typeof value === 'number' || typeof value === 'boolean') text = String(value);
  else return false;
  if (matcher.exact !== null) return text === matcher.exact;
  return patternMatches(matcher.pattern!, text);
}
