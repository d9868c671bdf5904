/**
 * The statistics behind an A/B experiment's verdict, counted per user. Pure functions, no I/O.
 *
 * 1. Sample-ratio mismatch: Pearson's chi-squared test of users per arm against the configured split. An
 *    assignment that is off (a redirect that drops one arm's users, a bot that only hits one) makes every other
 *    figure wrong, so it is checked first and, below p = 0.001, no winner is declared.
 * 2. Always-valid comparison: the mixture sequential probability ratio test (mSPRT) of Johari, Pekelis and Walsh,
 *    "Always Valid Inference" (2017), with a normal mixture N(0, τ²) over the difference in conversion rate and the
 *    normal approximation of the difference's sampling distribution. Its p-value (1 / Λ, kept as a running minimum
 *    by the caller) and its confidence sequence stay valid however often anyone looks: the chance that it EVER
 *    declares a difference between two identical arms is at most alpha.
 * 3. The classic fixed-horizon two-proportion z-test, valid only when read once, at a sample size planned in advance.
 *
 * Peeking at (3) after every hundred users and stopping at the first p < 0.05 declares a difference between
 * identical arms far more often than 5 % (test/experiment-statistics.test.ts measures it); (2) does not.
 */

export interface ArmCounts {
  /** Users exposed to the arm (each counted once). */
  readonly users: number;
  /** Of those, users who converted (each counted once). */
  readonly converters: number;
}

export interface SampleRatioCheck {
  readonly chiSquared: number;
  readonly degreesOfFreedom: number;
  readonly pValue: number;
  /** pValue below the threshold (default 0.001, as the experimentation literature recommends for SRM alarms). */
  readonly mismatch: boolean;
}

export const SRM_THRESHOLD = 0.001;

/** Users per arm against the split the experiment was configured with (weights in any unit, e.g. percent). */
export function sampleRatioMismatch(users: readonly number[], weights: readonly number[], threshold = SRM_THRESHOLD): SampleRatioCheck {
  if (users.length !== weights.length || users.length < 2) throw new RangeError('sampleRatioMismatch needs one weight per arm and at least two arms');
  const total = users.reduce((sum, n) => sum + n, 0);
  const weightSum = weights.reduce((sum, w) => sum + w, 0);
  if (total === 0 || !(weightSum > 0)) return { chiSquared: 0, degreesOfFreedom: users.length - 1, pValue: 1, mismatch: false };
  let chiSquared = 0;
  for (let i = 0; i < users.length; i++) {
    const expected = (total * weights[i]) / weightSum;
    // An arm configured at 0 % that received users is as mismatched as it gets.
    if (expected === 0) return { chiSquared: Infinity, degreesOfFreedom: users.length - 1, pValue: users[i] > 0 ? 0 : 1, mismatch: users[i] > 0 };
    chiSquared += (users[i] - expected) ** 2 / expected;
  }
  const degreesOfFreedom = users.length - 1;
  const pValue = chiSquaredSurvival(chiSquared, degreesOfFreedom);
  return { chiSquared, degreesOfFreedom, pValue, mismatch: pValue < threshold };
}

export interface FixedHorizonTest {
  /** Treatment minus control conversion rate. */
  readonly difference: number;
  /** difference ÷ control rate (NaN when the control converts no one). */
  readonly lift: number;
  readonly z: number;
  /** Two-tailed, pooled standard error under H0: equal rates. */
  readonly pValue: number;
  /** 1 − alpha interval for the difference (unpooled standard error). */
  readonly interval: readonly [number, number];
}

export function twoProportionZTest(control: ArmCounts, treatment: ArmCounts, alpha = 0.05): FixedHorizonTest {
  const pc = control.converters / control.users;
  const pt = treatment.converters / treatment.users;
  const difference = pt - pc;
  const lift = pc > 0 ? difference / pc : NaN;
  if (!(control.users > 0 && treatment.users > 0)) return { difference: NaN, lift: NaN, z: NaN, pValue: NaN, interval: [NaN, NaN] };
  const pooled = (control.converters + treatment.converters) / (control.users + treatment.users);
  const pooledError = Math.sqrt(pooled * (1 - pooled) * (1 / control.users + 1 / treatment.users));
  const z = pooledError === 0 ? (difference === 0 ? 0 : Math.sign(difference) * Infinity) : difference / pooledError;
  const pValue = 2 * normalSurvival(Math.abs(z));
  const halfWidth = normalQuantile(1 - alpha / 2) * Math.sqrt((pc * (1 - pc)) / control.users + (pt * (1 - pt)) / treatment.users);
  return { difference, lift, z, pValue, interval: [difference - halfWidth, difference + halfWidth] };
}

export interface SequentialTest {
  /** Treatment minus control conversion rate. */
  readonly difference: number;
  readonly lift: number;
  /** The mixture likelihood ratio Λ of "the rates differ" against "they are equal". */
  readonly likelihoodRatio: number;
  /**
   * min(1, 1/Λ) at this look. The always-valid p-value is the running minimum of this over every look so far
   * (`Math.min(previous, current)`): it only ever falls, and the chance it ever falls below alpha under H0 is ≤ alpha.
   */
  readonly pValue: number;
  /** The 1 − alpha confidence sequence for the difference at this look (valid at every look at once). */
  readonly interval: readonly [number, number];
  /** The interval for the relative lift: the difference's interval divided by the control's rate (its own noise ignored). */
  readonly liftInterval: readonly [number, number];
}

export interface SequentialOptions {
  readonly alpha?: number;
  /**
   * τ, the standard deviation of the normal mixture over the true difference in conversion rate (absolute, e.g.
   * 0.01 = one percentage point). Power is best for differences near τ; any τ keeps the error guarantee.
   */
  readonly mixtureSd?: number;
}

export const DEFAULT_ALPHA = 0.05;
export const DEFAULT_MIXTURE_SD = 0.01;

export function mixtureSprt(control: ArmCounts, treatment: ArmCounts, options: SequentialOptions = {}): SequentialTest {
  const alpha = options.alpha ?? DEFAULT_ALPHA;
  const tauSquared = (options.mixtureSd ?? DEFAULT_MIXTURE_SD) ** 2;
  const none: SequentialTest = { difference: NaN, lift: NaN, likelihoodRatio: 1, pValue: 1, interval: [-Infinity, Infinity], liftInterval: [-Infinity, Infinity] };
  if (!(control.users > 0 && treatment.users > 0)) return none;
  const pc = control.converters / control.users;
  const pt = treatment.converters / treatment.users;
  const difference = pt - pc;
  const lift = pc > 0 ? difference / pc : NaN;
  // The variance of the observed difference, with each rate's variance estimated from its own arm (plug-in).
  const variance = (pc * (1 - pc)) / control.users + (pt * (1 - pt)) / treatment.users;
  // No variance yet (every user converted, or none did, in both arms): nothing can be said.
  if (variance === 0) return { ...none, difference, lift };
  const spread = variance + tauSquared;
  const logRatio = 0.5 * Math.log(variance / spread) + (difference * difference * tauSquared) / (2 * variance * spread);
  const likelihoodRatio = Math.exp(logRatio);
  const pValue = Math.min(1, Math.exp(-logRatio));
  // Every θ0 with Λ(θ0) < 1/alpha: |difference − θ0| below this.
  const halfWidth = Math.sqrt(((variance * spread) / tauSquared) * (2 * Math.log(1 / alpha) + Math.log(spread / variance)));
  const interval: [number, number] = [difference - halfWidth, difference + halfWidth];
  const liftInterval: [number, number] = pc > 0 ? [interval[0] / pc, interval[1] / pc] : [-Infinity, Infinity];
  return { difference, lift, likelihoodRatio, pValue, interval, liftInterval };
}

/** P(X > x) for X ~ chi-squared with `df` degrees of freedom: the regularized upper incomplete gamma Q(df/2, x/2). */
export function chiSquaredSurvival(x: number, df: number): number {
  if (!(x > 0)) return 1;
  if (x === Infinity) return 0;
  return regularizedUpperGamma(df / 2, x / 2);
}

/** P(Z > z) for a standard normal Z, accurate in the far tail too (erfc by its continued fraction via Q(½, z²/2)). */
export function normalSurvival(z: number): number {
  if (z === Infinity) return 0;
  if (z === -Infinity) return 1;
  const tail = 0.5 * regularizedUpperGamma(0.5, (z * z) / 2);
  return z >= 0 ? tail : 1 - tail;
}

/**
 * The standard normal quantile (Acklam's rational approximation, relative error < 1.2e-9, then one Newton step on
 * normalSurvival).
 */
export function normalQuantile(p: number): number {
  if (!(p > 0 && p < 1)) return p === 0 ? -Infinity : p === 1 ? Infinity : NaN;
  const a = [-3.969683028665376e1, 2.209460984245205e2, -2.759285104469687e2, 1.38357751867269e2, -3.066479806614716e1, 2.506628277459239];
  const b = [-5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1, -1.328068155288572e1];
  const c = [-7.784894002430293e-3, -3.223964580411365e-1, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
  const d = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416];
  const low = 0.02425;
  let x: number;
  if (p < low) {
    const q = Math.sqrt(-2 * Math.log(p));
    x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  } else if (p <= 1 - low) {
    const q = p - 0.5;
    const r = q * q;
    x = ((((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q) / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
  } else {
    const q = Math.sqrt(-2 * Math.log(1 - p));
    x = -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  }
  const error = 1 - normalSurvival(x) - p;
  return x - error * Math.sqrt(2 * Math.PI) * Math.exp((x * x) / 2);
}

/** ln Γ(x) for x > 0 (Lanczos, g = 7, 9 terms: ~15 significant digits). */
export function logGamma(x: number): number {
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
  const coefficients = [
    0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059, 12.507343278686905,
    -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
  ];
  const z = x - 1;
  let sum = coefficients[0];
  for (let i = 1; i < 9; i++) sum += coefficients[i] / (z + i);
  const t = z + 7.5;
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(sum);
}

/** Q(a, x) = Γ(a, x) / Γ(a): the series for x < a + 1, else Lentz's continued fraction (Numerical Recipes §6.2). */
export function regularizedUpperGamma(a: number, x: number): number {
  if (x <= 0) return 1;
  const logPrefix = -x + a * Math.log(x) - logGamma(a);
  if (x < a + 1) {
    let term = 1 / a;
    let sum = term;
    for (let n = 1; n < 10_000; n++) {
      term *= x / (a + n);
      sum += term;
      if (Math.abs(term) < Math.abs(sum) * 1e-16) break;
    }
    return Math.max(0, 1 - sum * Math.exp(logPrefix));
  }
  const tiny = 1e-300;
  let b = x + 1 - a;
  let c = 1 / tiny;
  let d = 1 / b;
  let h = d;
  for (let i = 1; i < 10_000; i++) {
    const an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (Math.abs(d) < tiny) d = tiny;
    c = b + an / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const delta = d * c;
    h *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  return Math.exp(logPrefix) * h;
}
