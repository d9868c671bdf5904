export function compareErrorRates(canary, stable, margin, confidence = 0.95) {
    const pc = canary.errors / canary.total;
    const ps = stable.errors / stable.total;
    const difference = pc - ps;
    if (!(canary.total > 0 && stable.total > 0))
        return { verdict: 'inconclusive', difference: NaN, z: NaN, pValue: NaN };
    if (difference <= margin)
        return { verdict: 'pass', difference, z: 0, pValue: 1 };
    const standardError = Math.sqrt((pc * (1 - pc)) / canary.total + (ps * (1 - ps)) / stable.total);
    const z = standardError === 0 ? Infinity : (difference - margin) / standardError;
    const pValue = 1 - normalCdf(z);
    return { verdict: pValue < 1 - confidence ? 'fail' : 'inconclusive', difference, z, pValue };
}
export function normalCdf(x) {
    if (x === Infinity)
        return 1;
    if (x === -Infinity)
        return 0;
    const t = 1 / (1 + 0.2316419 * Math.abs(x));
    const density = Math.exp((-x * x) / 2) / Math.sqrt(2 * Math.PI);
    const tail = density * t * (0.31938153 + t * (-0.356563782 + t * (1.781477937 + t * (-1.821255978 + t * 1.330274429))));
    return x >= 0 ? 1 - tail : tail;
}
//# sourceMappingURL=statistics.js.map