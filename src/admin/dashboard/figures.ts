/**
 * Pure functions the dashboard runs in the browser: their source is put into the page's script as is
 * (BROWSER_FIGURES), so each must be self-contained (no imports, no closures, only the others here by name). Written
 * in TypeScript so the unit tests (test/dashboard-figures.test.ts) check exactly what the page runs.
 */

/**
 * The canary's figure against stable's, for the cell next to it: `ratio` figures (req/s, p50, p99) as a relative
 * change ("+12 % vs stable"), `points` figures (rates in %) as a difference in percentage points ("+4.2 pp vs
 * stable"). Empty when either side has no value; "n/a" when stable's is 0 and a ratio is asked.
 */
export function differenceText(kind: 'ratio' | 'points', stable: number | null | undefined, canary: number | null | undefined): string {
  if (stable === null || stable === undefined || canary === null || canary === undefined) return '';
  const signed = (value: number, unit: string): string => {
    const rounded = Math.abs(value) >= 10 ? Math.round(Math.abs(value)).toString() : (Math.round(Math.abs(value) * 10) / 10).toString();
    if (rounded === '0') return '±0 ' + unit + ' vs stable';
    return (value > 0 ? '+' : '−') + rounded + ' ' + unit + ' vs stable';
  };
  if (kind === 'points') return signed(canary - stable, 'pp');
  if (stable === 0) return canary === 0 ? signed(0, '%') : 'n/a (stable 0)';
  return signed((canary / stable - 1) * 100, '%');
}

interface ExperimentLike {
  readonly verdict?: unknown;
  readonly alpha?: number;
  readonly minUsersPerArm?: number;
  readonly arms?: ReadonlyArray<{ readonly arm: string; readonly users: number }>;
  readonly sampleRatio?: { readonly mismatch?: boolean; readonly pValue?: number };
  readonly conversions?: ReadonlyArray<{
    readonly alwaysValid?: { readonly pValue?: number; readonly difference?: number | null; readonly lift?: number | null; readonly liftInterval?: readonly [number, number] | null };
  }>;
}

/**
 * An experiment's verdict line: the server's (`verdict`, a sentence or an object with `text`) when it gives one;
 * else derived from the report's figures as the server derives it: "SRM detected", "collecting", "B wins: +4.1 %
 * (…)", "A wins: …", "no difference".
 */
export function experimentVerdictText(report: ExperimentLike): string {
  const given = report.verdict;
  if (typeof given === 'string' && given !== '') return given;
  if (given !== null && typeof given === 'object' && typeof (given as { text?: unknown }).text === 'string') return (given as { text: string }).text;
  const percent = (ratio: number): string => (ratio >= 0 ? '+' : '−') + (Math.round(Math.abs(ratio) * 1000) / 10).toString() + ' %';
  const users = (report.arms ?? []).map((arm) => arm.users);
  const counts = 'A ' + (users[0] ?? 0) + ', B ' + (users[1] ?? 0);
  if (report.sampleRatio?.mismatch) return 'SRM detected: users per arm (' + counts + ') do not match the configured split; no winner is declared';
  const minimum = report.minUsersPerArm ?? 0;
  if (users.length < 2 || users.some((n) => n < minimum)) return 'collecting: ' + counts + ' of ' + minimum + ' users per arm';
  const valid = report.conversions?.[0]?.alwaysValid;
  const alpha = report.alpha ?? 0.05;
  if (valid === undefined || valid.pValue === undefined) return 'collecting: no conversion measured yet';
  const lift = valid.lift === null || valid.lift === undefined ? 'n/a' : percent(valid.lift);
  const interval = valid.liftInterval ? ', ' + Math.round((1 - alpha) * 1000) / 10 + ' % CI ' + percent(valid.liftInterval[0]) + ' to ' + percent(valid.liftInterval[1]) : '';
  const p = 'p = ' + (valid.pValue < 0.0001 ? valid.pValue.toExponential(1) : (Math.round(valid.pValue * 10000) / 10000).toString());
  if (valid.pValue < alpha && typeof valid.difference === 'number') {
    const detail = '(' + (interval === '' ? '' : interval.slice(2) + ', ') + p + ')';
    return valid.difference > 0 ? 'B wins: ' + lift + ' ' + detail : 'A wins: B ' + lift + ' ' + detail;
  }
  return 'no difference (lift ' + lift + interval + ', ' + p + ')';
}

/** The functions above as browser script source. */
export const BROWSER_FIGURES = [differenceText, experimentVerdictText].map((fn) => fn.toString()).join('\n');
