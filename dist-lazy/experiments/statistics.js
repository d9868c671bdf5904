export const SRM_THRESHOLD = 0.001;
export function sampleRatioMismatch(users, weights, threshold = SRM_THRESHOLD) {
    if (users.length !== weights.length || users.length < 2)
        throw new RangeError('sampleRatioMismatch needs one weight per arm and at least two arms');
    const total = users.reduce((sum, n) => sum + n, 0);
    const weightSum = weights.reduce((sum, w) => sum + w, 0);
    if (total === 0 || !(weightSum > 0))
        return { chiSquared: 0, degreesOfFreedom: users.length - 1, pValue: 1, mismatch: false };
    let chiSquared = 0;
    for (let i = 0; i < users.length; i++) {
        const expected = (total * weights[i]) / weightSum;
        if (expected === 0)
            return { chiSquared: Infinity, degreesOfFreedom: users.length - 1, pValue: users[i] > 0 ? 0 : 1, mismatch: users[i] > 0 };
        chiSquared += (users[i] - expected) ** 2 / expected;
    }
    const degreesOfFreedom = users.length - 1;
    const pValue = chiSquaredSurvival(chiSquared, degreesOfFreedom);
    return { chiSquared, degreesOfFreedom, pValue, mismatch: pValue < threshold };
}
export function twoProportionZTest(control, treatment, alpha = 0.05) {
    const pc = control.converters / control.users;
    const pt = treatment.converters / treatment.users;
    const difference = pt - pc;
    const lift = pc > 0 ? difference / pc : NaN;
    if (!(control.users > 0 && treatment.users > 0))
        return { difference: NaN, lift: NaN, z: NaN, pValue: NaN, interval: [NaN, NaN] };
    const pooled = (control.converters + treatment.converters) / (control.users + treatment.users);
    const pooledError = Math.sqrt(pooled * (1 - pooled) * (1 / control.users + 1 / treatment.users));
    const z = pooledError === 0 ? (difference === 0 ? 0 : Math.sign(difference) * Infinity) : difference / pooledError;
    const pValue = 2 * normalSurvival(Math.abs(z));
    const halfWidth = normalQuantile(1 - alpha / 2) * Math.sqrt((pc * (1 - pc)) / control.users + (pt * (1 - pt)) / treatment.users);
    return { difference, lift, z, pValue, interval: [difference - halfWidth, difference + halfWidth] };
}
export const DEFAULT_ALPHA = 0.05;
export const DEFAULT_MIXTURE_SD = 0.01;
export function mixtureSprt(control, treatment, options = {}) {
    const alpha = options.alpha ?? DEFAULT_ALPHA;
    const tauSquared = (options.mixtureSd ?? DEFAULT_MIXTURE_SD) ** 2;
    const none = { difference: NaN, lift: NaN, likelihoodRatio: 1, pValue: 1, interval: [-Infinity, Infinity], liftInterval: [-Infinity, Infinity] };
    if (!(control.users > 0 && treatment.users > 0))
        return none;
    const pc = control.converters / control.users;
    const pt = treatment.converters / treatment.users;
    const difference = pt - pc;
    const lift = pc > 0 ? difference / pc : NaN;
    const variance = (pc * (1 - pc)) / control.users + (pt * (1 - pt)) / treatment.users;
    if (variance === 0)
        return { ...none, difference, lift };
    const spread = variance + tauSquared;
    const logRatio = 0.5 * Math.log(variance / spread) + (difference * difference * tauSquared) / (2 * variance * spread);
    const likelihoodRatio = Math.exp(logRatio);
    const pValue = Math.min(1, Math.exp(-logRatio));
    const halfWidth = Math.sqrt(((variance * spread) / tauSquared) * (2 * Math.log(1 / alpha) + Math.log(spread / variance)));
    const interval = [difference - halfWidth, difference + halfWidth];
    const liftInterval = pc > 0 ? [interval[0] / pc, interval[1] / pc] : [-Infinity, Infinity];
    return { difference, lift, likelihoodRatio, pValue, interval, liftInterval };
}
export function chiSquaredSurvival(x, df) {
    if (!(x > 0))
        return 1;
    if (x === Infinity)
        return 0;
    return regularizedUpperGamma(df / 2, x / 2);
}
export function normalSurvival(z) {
    if (z === Infinity)
        return 0;
    if (z === -Infinity)
        return 1;
    const tail = 0.5 * regularizedUpperGamma(0.5, (z * z) / 2);
    return z >= 0 ? tail : 1 - tail;
}
export function normalQuantile(p) {
    if (!(p > 0 && p < 1))
        return p === 0 ? -Infinity : p === 1 ? Infinity : NaN;
    const a = [-3.969683028665376e1, 2.209460984245205e2, -2.759285104469687e2, 1.38357751867269e2, -3.066479806614716e1, 2.506628277459239];
    const b = [-5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1, -1.328068155288572e1];
    const c = [-7.784894002430293e-3, -3.223964580411365e-1, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
    const d = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416];
    const low = 0.02425;
    let x;
    if (p < low) {
        const q = Math.sqrt(-2 * Math.log(p));
        x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
    }
    else if (p <= 1 - low) {
        const q = p - 0.5;
        const r = q * q;
        x = ((((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q) / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
    }
    else {
        const q = Math.sqrt(-2 * Math.log(1 - p));
        x = -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
    }
    const error = 1 - normalSurvival(x) - p;
    return x - error * Math.sqrt(2 * Math.PI) * Math.exp((x * x) / 2);
}
export function logGamma(x) {
    if (x < 0.5)
        return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
    const coefficients = [
        0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059, 12.507343278686905,
        -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
    ];
    const z = x - 1;
    let sum = coefficients[0];
    for (let i = 1; i < 9; i++)
        sum += coefficients[i] / (z + i);
    const t = z + 7.5;
    return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(sum);
}
export function regularizedUpperGamma(a, x) {
    if (x <= 0)
        return 1;
    const logPrefix = -x + a * Math.log(x) - logGamma(a);
    if (x < a + 1) {
        let term = 1 / a;
        let sum = term;
        for (let n = 1; n < 10_000; n++) {
            term *= x / (a + n);
            sum += term;
            if (Math.abs(term) < Math.abs(sum) * 1e-16)
                break;
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
        if (Math.abs(d) < tiny)
            d = tiny;
        c = b + an / c;
        if (Math.abs(c) < tiny)
            c = tiny;
        d = 1 / d;
        const delta = d * c;
        h *= delta;
        if (Math.abs(delta - 1) < 1e-16)
            break;
    }
    return Math.exp(logPrefix) * h;
}
//# sourceMappingURL=statistics.js.map