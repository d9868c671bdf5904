const NOTHING = [];
export function stepUser(experiment, state, arm, response, nowSeconds) {
    let current = state;
    let exposed = false;
    if (current === undefined) {
        if (!exposureMatches(experiment, response))
            return { state, exposed: false, conversions: NOTHING };
        current = { arm, exposedAt: nowSeconds, converted: 0 };
        exposed = true;
    }
    if (nowSeconds - current.exposedAt > experiment.windowMs / 1000)
        return { state: current, exposed, conversions: NOTHING };
    let converted = current.converted;
    let conversions = null;
    for (const conversion of experiment.conversions) {
        const mask = 1 << conversion.bit;
        if ((converted & mask) !== 0)
            continue;
        const value = conversionValue(conversion, response);
        if (value === undefined)
            continue;
        converted |= mask;
        (conversions ??= []).push({ conversion, value });
    }
    if (conversions === null)
        return { state: current, exposed, conversions: NOTHING };
    return { state: { arm: current.arm, exposedAt: current.exposedAt, converted }, exposed, conversions };
}
export function responseCounts(experiment, response) {
    return exposureMatches(experiment, response) || experiment.conversions.some((conversion) => conversionValue(conversion, response) !== undefined);
}
export function exposureMatches(experiment, response) {
    if (experiment.exposureMethods !== null && !experiment.exposureMethods.has(response.method))
        return false;
    return response.path.startsWith(experiment.exposurePrefix);
}
export function conversionValue(conversion, response) {
    if (conversion.reported)
        return response.reported?.get(conversion.name);
    if (conversion.method !== null && conversion.method !== response.method)
        return undefined;
    if (conversion.path !== null && conversion.path !== response.path)
        return undefined;
    if (conversion.pathPrefix !== null && !response.path.startsWith(conversion.pathPrefix))
        return undefined;
    const status = conversion.status;
    if (status > 0 ? response.status !== status : status < 0 && Math.floor(response.status / 100) !== -status)
        return undefined;
    return 0;
}
export function parseReportedConversions(header) {
    const reported = new Map();
    for (const item of header.split(',')) {
        const parts = item.split(';');
        const name = parts[0].trim();
        if (name === '')
            continue;
        let value = 0;
        for (let i = 1; i < parts.length; i++) {
            const eq = parts[i].indexOf('=');
            if (eq === -1 || parts[i].slice(0, eq).trim().toLowerCase() !== 'value')
                continue;
            const parsed = Number(parts[i].slice(eq + 1).trim());
            if (Number.isFinite(parsed))
                value = parsed;
        }
        if (!reported.has(name))
            reported.set(name, value);
    }
    return reported;
}
//# sourceMappingURL=user-state.js.map