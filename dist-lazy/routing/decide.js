import { decisionOf } from './table.js';
import { claimsMatch } from './claim-match.js';
import { patternMatches } from './pattern.js';
const NO_CANARY = decisionOf('stable', 'no_canary');
const KILLED = decisionOf('stable', 'kill_switch');
const HEADER_CANARY = decisionOf('canary', 'override_header');
const HEADER_STABLE = decisionOf('stable', 'override_header');
const COOKIE_CANARY = decisionOf('canary', 'override_cookie');
const COOKIE_STABLE = decisionOf('stable', 'override_cookie');
const WEIGHT_CANARY = decisionOf('canary', 'weight');
const WEIGHT_STABLE = decisionOf('stable', 'weight');
const EJECTED = decisionOf('stable', 'canary_ejected');
const AUDIENCE_CANARY = decisionOf('canary', 'audience');
export function decideRoute(route, context) {
    const decision = decideVersion(route, context);
    if (decision.version === 'stable')
        return decision;
    const admit = route.guard.admitPercent;
    return admit === 100 || context.bucket % 100 < admit ? decision : EJECTED;
}
function decideVersion(route, context) {
    if (route.upstreams.canary === null)
        return NO_CANARY;
    if (route.killed)
        return KILLED;
    if (context.overridesAllowed) {
        if (route.overrideHeader !== null) {
            const forced = readOverride(context.headers[route.overrideHeader], route.overrideSecret);
            if (forced === 1)
                return HEADER_CANARY;
            if (forced === 0)
                return HEADER_STABLE;
        }
        if (route.overrideCookie !== null) {
            const forced = readOverride(context.cookies[route.overrideCookie], route.overrideSecret);
            if (forced === 1)
                return COOKIE_CANARY;
            if (forced === 0)
                return COOKIE_STABLE;
        }
    }
    const rules = route.rules;
    for (let i = 0; i < rules.length; i++) {
        const rule = rules[i];
        if (!ruleMatches(rule, context))
            continue;
        if (rule.pinned !== null)
            return rule.pinned;
        return context.bucket < rule.buckets ? rule.toCanary : rule.toStable;
    }
    const audiences = route.audiences;
    for (let i = 0; i < audiences.length; i++)
        if (audienceMatches(audiences[i], context))
            return AUDIENCE_CANARY;
    return context.bucket < route.buckets ? WEIGHT_CANARY : WEIGHT_STABLE;
}
function readOverride(value, secret) {
    if (typeof value !== 'string')
        return -1;
    if (secret !== null)
        return readSecretOverride(value, secret);
    if (value === 'always')
        return 1;
    if (value === 'never')
        return 0;
    const normalized = value.trim().toLowerCase();
    return normalized === 'always' ? 1 : normalized === 'never' ? 0 : -1;
}
function readSecretOverride(value, secret) {
    let start = 0;
    let end = value.length;
    while (start < end && isSpace(value.charCodeAt(start)))
        start++;
    while (end > start && isSpace(value.charCodeAt(end - 1)))
        end--;
    const forced = wordAt(value, start, 'always:') ? 1 : wordAt(value, start, 'never:') ? 0 : -1;
    if (forced === -1)
        return -1;
    return sameSecret(value, start + (forced === 1 ? 7 : 6), end, secret) ? forced : -1;
}
function wordAt(value, start, word) {
    if (value.length - start < word.length)
        return false;
    for (let i = 0; i < word.length; i++) {
        const code = value.charCodeAt(start + i);
        if ((code >= 65 && code <= 90 ? code | 0x20 : code) !== word.charCodeAt(i))
            return false;
    }
    return true;
}
function isSpace(code) {
    return code === 0x20 || code === 0x09;
}
function sameSecret(given, from, to, secret) {
    let difference = (to - from) ^ secret.length;
    for (let i = 0; i < secret.length; i++) {
        const code = from + i < to ? given.charCodeAt(from + i) : 0;
        difference |= code ^ secret.charCodeAt(i);
    }
    return difference === 0;
}
function ruleMatches(rule, context) {
    if (rule.regions !== null && (context.region === undefined || !rule.regions.has(context.region)))
        return false;
    for (let i = 0; i < rule.headers.length; i++) {
        const [name, matcher] = rule.headers[i];
        const value = context.headers[name];
        if (!valueMatches(matcher, typeof value === 'string' ? value : value?.join(', ')))
            return false;
    }
    for (let i = 0; i < rule.cookies.length; i++) {
        const [name, matcher] = rule.cookies[i];
        if (!valueMatches(matcher, context.cookies[name]))
            return false;
    }
    return claimsMatch(rule.claims, context.claims);
}
function audienceMatches(audience, context) {
    if (audience.regions !== null && (context.region === undefined || !audience.regions.has(context.region)))
        return false;
    for (let i = 0; i < audience.headers.length; i++) {
        const [name, matcher] = audience.headers[i];
        const value = context.headers[name];
        if (!valueMatches(matcher, typeof value === 'string' ? value : value?.join(', ')))
            return false;
    }
    return claimsMatch(audience.claims, context.claims);
}
function valueMatches(matcher, value) {
    if (value === undefined)
        return false;
    if (matcher.exact !== null)
        return value === matcher.exact;
    return patternMatches(matcher.pattern, value);
}
//# sourceMappingURL=decide.js.map