/**
 * flagd's `sem_ver` operator (flagd-core 4.0.1 `semVer`, line for line), with its version parsing memoized. flagd-core
 * parses both versions on every evaluation (semver's `parse`: a 300-character regular expression and a SemVer
 * object, ~0.2 µs each), which made the one `sem_ver` flag of the bench cost three times any other (loadtest/README.md
 * "Feature flags at the edge"). The versions a rule compares are mostly its constant literal and a handful of app
 * versions, so a bounded cache of parsed versions answers nearly every lookup; semver never mutates a SemVer in
 * `compare`, so a cached one can be shared.
 */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

/** flagd-core's operators find their logger under this registered symbol (flagd-core `loggerSymbol`). */
const FLAGD_LOGGER = Symbol.for('flagd.logger');

/** The part of semver's SemVer that `sem_ver` reads (semver ships no types). */
interface SemVer {
  readonly major: number;
  readonly minor: number;
  readonly patch: number;
  readonly prerelease: readonly unknown[];
}

interface SemverModule {
  parse(version: string): SemVer | null;
  coerce(version: string): SemVer | null;
  compare(a: SemVer, b: SemVer): -1 | 0 | 1;
}

let semver: SemverModule | null = null;

/** The semver flagd-core itself requires (resolved from its location), so both parse alike. */
function semverModule(): SemverModule {
  return (semver ??= createRequire(require.resolve('@openfeature/flagd-core'))('semver') as SemverModule);
}

/** Parsed versions by their text; cleared when full, so request-supplied versions cannot grow it without bound. */
const MAX_CACHED_VERSIONS = 1024;
const parsedVersions = new Map<string, SemVer | null>();

/**
 * flagd's lenient parse: a leading v/V stripped, "1" and "1.2" coerced, anything else that is not semver is null.
 */
function normalizeVersion(raw: unknown): SemVer | null {
  const text = String(raw);
  let parsed = parsedVersions.get(text);
  if (parsed !== undefined) return parsed;
  const str = text.replace(/^[vV]/, '');
  parsed = semverModule().parse(str) ?? (/^\d+(\.\d+)?$/.test(str) ? semverModule().coerce(str) : null);
  if (parsedVersions.size >= MAX_CACHED_VERSIONS) parsedVersions.clear();
  parsedVersions.set(text, parsed);
  return parsed;
}

/**
 * semver's `compare`; without prerelease tags that is major, then minor, then patch (its `compareMain`, `comparePre`
 * being 0), done here without its calls.
 */
function compareVersions(a: SemVer, b: SemVer): number {
  if (a.prerelease.length !== 0 || b.prerelease.length !== 0) return semverModule().compare(a, b);
  if (a.major !== b.major) return a.major < b.major ? -1 : 1;
  if (a.minor !== b.minor) return a.minor < b.minor ? -1 : 1;
  if (a.patch !== b.patch) return a.patch < b.patch ? -1 : 1;
  return 0;
}

/**
 * `{"sem_ver": [version, operator, version]}`: true or false, or null for a malformed rule or version. Like flagd's,
 * it throws (an evaluation error) where its context has no flagd logger: inside `map`, `filter`, `all`, `some` and
 * `none` the context is the element.
 */
export function semVer(data: unknown, context: unknown): boolean | null {
  if (!(context as Record<symbol, unknown>)[FLAGD_LOGGER]) throw new Error('Logger not found in context');
  if (!Array.isArray(data)) return null;
  const args = data as unknown[];
  if (args.length !== 3) return null;
  const semVer1 = normalizeVersion(args[0]);
  const semVer2 = normalizeVersion(args[2]);
  if (!semVer1 || !semVer2) return null;
  const operator = String(args[1]);
  const result = compareVersions(semVer1, semVer2);
  switch (operator) {
    case '=':
      return result === 0;
    case '!=':
      return result !== 0;
    case '<':
      return result < 0;
    case '<=':
      return result <= 0;
    case '>=':
      return result >= 0;
    case '>':
      return result > 0;
    case '^':
      return semVer1.major === semVer2.major;
    case '~':
      return semVer1.major === semVer2.major && semVer1.minor === semVer2.minor;
  }
  return null;
}
