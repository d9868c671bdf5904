/**
 * Whether a flag's targeting may read the clock (`$flagd.timestamp`, set per evaluation): such a flag's result is
 * not a function of its context alone, so a route that evaluates it is never memoized (route-flags.ts). Errs on the
 * side of "may": a `false` must be a proof, a `true` only costs the memo.
 *
 * The scan reads the targeting as flagd-core runs it: `$ref`s replaced by their `$evaluators` entry (flagd-core
 * substitutes them in the document's text before parsing, flag-set.ts `buildFlagSet`; here transitively, which
 * resolves at least as much). The only ways JsonLogic reaches the timestamp are data accesses (`var`, `val`) whose
 * path names `$flagd` or can reach it: the whole data (`""`, null, none), a climb out of an iterator (`../`,
 * `[[n]]`), or a computed path. Everything else (`get`, `pipe`, iterators) can only see `$flagd` through one of them.
 */

/** flagd's per-flag constant: reading it is as pure as reading the context. */
const FLAG_KEY_PATH = '$flagd.flagKey';

export function targetingReadsClock(targeting: unknown, evaluators: Readonly<Record<string, unknown>>): boolean {
  return reads(targeting, evaluators, new Set());
}

function reads(node: unknown, evaluators: Readonly<Record<string, unknown>>, resolving: Set<string>): boolean {
  if (Array.isArray(node)) return node.some((item) => reads(item, evaluators, resolving));
  if (node === null || typeof node !== 'object') return false;
  const entries = Object.entries(node as Record<string, unknown>);
  if (entries.length === 1 && entries[0][0] === '$ref' && typeof entries[0][1] === 'string') {
    const name = entries[0][1];
    // An unknown name is a config error (definitions.ts); a cycle never resolves. Neither is proven pure.
    if (!Object.hasOwn(evaluators, name) || resolving.has(name)) return true;
    resolving.add(name);
    const found = reads(evaluators[name], evaluators, resolving);
    resolving.delete(name);
    return found;
  }
  for (const [operator, args] of entries) {
    if (operator === 'var' && !safeVarPath(Array.isArray(args) ? args[0] : args)) return true;
    if (operator === 'val' && !safeValPath(args)) return true;
    if (reads(args, evaluators, resolving)) return true;
  }
  return false;
}

/** `{"var": path}`: a literal dotted path into the data that stays out of `$flagd` (but for its flag key). */
function safeVarPath(path: unknown): boolean {
  if (typeof path === 'number') return true;
  if (typeof path !== 'string' || path === '' || path.includes('../')) return false;
  return !path.startsWith('$flagd') || path === FLAG_KEY_PATH || path.startsWith(`${FLAG_KEY_PATH}.`);
}

/** `{"val": key}` or `{"val": [key, ...]}`: literal keys from the data's top, not `$flagd` (but its flag key). */
function safeValPath(args: unknown): boolean {
  const keys = Array.isArray(args) ? args : [args];
  if (keys.length === 0 || !keys.every((key) => typeof key === 'string' || typeof key === 'number')) return false;
  return keys[0] !== '$flagd' || keys[1] === 'flagKey';
}
