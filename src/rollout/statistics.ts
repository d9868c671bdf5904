/**
 * The statistics behind "is the canary worse than stable?". Pure functions, no I/O.
 *
 * Error rates: a one-sided two-proportion z-test (unpooled standard error, since the null hypothesis is a
 * non-zero margin) of H0: p_canary − p_stable ≤ margin against H1: p_canary − p_stable > margin. The canary
 * FAILS only when the difference beyond the margin is significant; a worse-looking canary on too few requests is
 * INCONCLUSIVE; a canary within the margin PASSES.
 */

export type Verdict = 'pass' | 'fail' | 'inconclusive';

export interface ProportionComparison {
  readonly verdict: Verdict;
  /** Observed canary minus stable error rate, as a fraction. */
  readonly difference: number;
  readonly z: number;
  readonly pValue: number;
}

export function compareErrorRates(
  canary: { errors: number; total: number },
  stable: { errors: number; total: number },
  margin: number,
  confidence = 0.95,
): ProportionComparison {
  const pc = canary.errors / canary.total;
  const ps = stable.errors / stable.total;
  const difference = pc - ps;
  if (!(canary.total > 0 && stable.total > 0)) return { verdict: 'inconclusive', difference: NaN, z: NaN, pValue: NaN };
  if (difference <= margin) return { verdict: 'pass', difference, z: 0, pValue: 1 };
  const standardError = Math.sqrt((pc * (1 - pc)) / canary.total + (ps * (1 - ps)) / stable.total);
  // Both rates at 0 or 1 leave no variance: the observed difference is all there is.
  const z = standardError === 0 ? Infinity : (difference - margin) / standardError;
  const pValue = 1 - normalCdf(z);
  return { verdict: pValue < 1 - confidence ? 'fail' : 'inconclusive', difference, z, pValue };
}

/** Standard normal CDF (Zelen & Severo 26.2.17, |error| < 7.5e-8). */
export function normalCdf(x: number): number {
  if (x === Infinity) return 1;
  if (x === -Infinity) return 0;
  const t = 1 / (1 + 0.2316419 * Math.abs(x));
  const density = Math.exp((-x * x) / 2) / Math.sqrt(2 * Math.PI);
  const tail = density * t * (0.31938153 + t * (-0.356563782 + t * (1.781477937 + t * (-1.821255978 + t * 1.330274429))));
  return x >= 0 ? 1 - tail : tail;
}
