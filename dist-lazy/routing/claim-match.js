import { compileRulePattern, patternMatches } from './pattern.js';
export function compileClaimMatchers(spec) {
    return Object.freeze(Object.entries(spec ?? {}).map(([name, value]) => Object.freeze([name, value.startsWith('~') ? { exact: null, pattern: compileRulePattern(value.slice(1)) } : { exact: value, pattern: null }])));
}
export function claimsMatch(matchers, claims) {
    if (matchers.length === 0)
        return true;
    if (claims === null)
        return false;
    for (let i = 0; i < matchers.length; i++) {
        const [name, matcher] = matchers[i];
        if (!Object.hasOwn(claims, name) || !claimMatches(matcher, claims[name]))
            return false;
    }
    return true;
}
function claimMatches(matcher, value) {
    if (Array.isArray(value)) {
        for (let i = 0; i < value.length; i++)
            if (scalarMatches(matcher, value[i]))
                return true;
        return false;
    }
    return scalarMatches(matcher, value);
}
function scalarMatches(matcher, value) {
    let text;
    if (typeof value === 'string')
        text = value;
    else if (typeof value === 'number' || typeof value === 'boolean')
        text = String(value);
    else
        return false;
    if (matcher.exact !== null)
        return text === matcher.exact;
    return patternMatches(matcher.pattern, text);
}
//# sourceMappingURL=claim-match.js.map