/**
 * Which responses count as bad for a route's SLO (`slo.sli.errors`): a PromQL-like matcher on the status code,
 * `code=~"5..|429"` (also `!~`, `=`, `!=`; the value quoted or bare), the regex RE2 (routing/pattern.ts) and
 * anchored at both ends as in PromQL. Compiled once per loaded config into a table indexed by status, so counting a
 * response stays one array read. Without a selector, every 5xx is bad (what the rollout checks count as errors).
 */
import { compileRulePattern, type RulePattern } from '../routing/pattern.js';

/** Index = status code; 1 = bad. Covers every 3-digit code, so the table read needs no range check. */
export type ErrorStatuses = Uint8Array;

const SIZE = 1000;
const FIRST_CODE = 100;
const SELECTOR = /^\s*code\s*(=~|!~|!=|=)\s*(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)'|([^\s"']+))\s*$/;

/** 5xx: the default, and what the rollout checks count as errors. */
export const SERVER_ERROR_STATUSES: ErrorStatuses = statusesWhere((code) => code >= 500);

/** Throws an Error whose message suits the config path of `slo.sli.errors`. */
export function compileErrorStatuses(selector: string): ErrorStatuses {
  const parsed = SELECTOR.exec(selector);
  if (parsed === null) throw new Error(`must be a matcher on the status code such as code=~"5..|429" (got ${JSON.stringify(selector)})`);
  const operator = parsed[1];
  // PromQL string escapes: \" and \\ stand for themselves; other backslashes (\d) are left to the regex.
  const value = parsed[4] ?? (parsed[2] ?? parsed[3]).replace(/\\(["'\\])/g, '$1');
  let matches: (code: string) => boolean;
  if (operator === '=' || operator === '!=') matches = (code) => code === value;
  else {
    const pattern: RulePattern = compileRulePattern(`^(?:${value})$`);
    matches = (code) => pattern.test(code);
  }
  const negated = operator.startsWith('!');
  const statuses = statusesWhere((code) => matches(String(code)) !== negated);
  if (!statuses.includes(1)) throw new Error(`matches no status code (${FIRST_CODE}-${SIZE - 1}): ${selector}`);
  return statuses;
}

function statusesWhere(bad: (code: number) => boolean): ErrorStatuses {
  const statuses = new Uint8Array(SIZE);
  for (let code = FIRST_CODE; code < SIZE; code++) statuses[code] = bad(code) ? 1 : 0;
  return statuses;
}

/**
 * Whether one response counts against the SLO. An upstream failure that left no status is answered 502/504 by
 * splitgate and judged by that status like any other; one that cut a response short after a status below 500 is bad
 * whatever the selector says (the client got a broken body).
 */
export function isSloError(statuses: ErrorStatuses, status: number, cutShort: boolean): boolean {
  return statuses[status] === 1 || (cutShort && status < 500);
}
