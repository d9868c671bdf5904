export function flagArmsOf(flag) {
    if (flag.state !== 'ENABLED')
        return 'is DISABLED: its users all get no variant';
    const targeting = flag.targeting;
    const keys = targeting === undefined ? [] : Object.keys(targeting);
    const shape = 'needs targeting that is exactly {"fractional": [["A", weight], ["B", weight]]} (two variants, split by the targeting key)';
    if (keys.length !== 1 || keys[0] !== 'fractional' || !Array.isArray(targeting.fractional))
        return shape;
    const entries = targeting.fractional;
    if (entries.length !== 2)
        return `${shape}; got ${entries.length} entries`;
    const split = [];
    for (const entry of entries) {
        if (!Array.isArray(entry) || entry.length !== 2 || typeof entry[0] !== 'string' || typeof entry[1] !== 'number' || !(entry[1] > 0))
            return `${shape}; an entry is not ["variant", weight above 0]`;
        split.push([entry[0], entry[1]]);
    }
    if (split[0][0] === split[1][0])
        return `${shape}; both entries name variant "${split[0][0]}"`;
    const controlFirst = flag.defaultVariant !== split[1][0];
    const [control, treatment] = controlFirst ? split : [split[1], split[0]];
    return { variants: [control[0], treatment[0]], treatmentPercent: (treatment[1] / (control[1] + treatment[1])) * 100 };
}
//# sourceMappingURL=flag-arms.js.map