import { asTargetingData, evaluateFlag, resolveFlag, targetingData } from './flag-set.js';
import { DEFAULT_FLAGS_MEMO_SIZE, FlagsMemo, MAX_FLAGS_MEMO_CONTEXT_LENGTH, MemoizedFlags } from './flags-memo.js';
const NO_CONTEXT = Object.freeze({});
export function compileRouteFlags(set, spec) {
    const selected = spec.select === 'all' ? set.list : set.list.filter((flag) => spec.select.includes(flag.key));
    const sent = selected.filter((flag) => flag.sendable);
    const attributes = Object.entries(spec.context).map(([attribute, source]) => Object.freeze({ attribute, kind: source.kind, name: source.name }));
    const needsContext = sent.some((flag) => flag.enabled && flag.staticOutcome === null);
    const memoSize = spec.memoSize ?? DEFAULT_FLAGS_MEMO_SIZE;
    const memoized = needsContext && memoSize > 0 && !sent.some((flag) => flag.enabled && flag.readsClock);
    let constant = null;
    if (!needsContext) {
        const outcomes = sent.map((flag) => resolveFlag(flag, NO_CONTEXT));
        constant = new MemoizedFlags(null, [], outcomes.flatMap((outcome) => (outcome.member === null ? [] : [outcome.member])).join(', '), outcomes);
    }
    return Object.freeze({
        header: spec.header,
        flags: Object.freeze(sent),
        attributes: Object.freeze(attributes),
        headerNames: Object.freeze(attributes.filter((a) => a.kind === 'header').map((a) => a.name)),
        readsCookies: attributes.some((a) => a.kind === 'cookie'),
        needsContext,
        runsTargeting: sent.some((flag) => flag.enabled && flag.migration === null && flag.fractional === null && flag.targeting !== null),
        memo: memoized ? new FlagsMemo(memoSize) : null,
        constant,
    });
}
export function requestFlagsHeader(flags, request, claims) {
    const constant = flags.constant;
    if (constant !== null)
        return countedAgain(constant);
    const memo = flags.memo;
    if (memo !== null) {
        const header = memoizedFlagsHeader(flags, memo, request, claims);
        if (header !== null)
            return header;
    }
    const context = buildFlagContext(flags, request, claims);
    return flagsHeaderValue(flags, context, flags.runsTargeting ? asTargetingData(context) : undefined);
}
function memoizedFlagsHeader(flags, memo, request, claims) {
    const targetingKey = request.stickyKey;
    const lookup = targetingKey ?? keylessLookup(flags, request, claims);
    const known = memo.get(lookup);
    if (known !== undefined && known.targetingKey === targetingKey && sameValues(known.values, flags.attributes, request, claims))
        return countedAgain(known);
    if (known === undefined && !memo.admits(lookup))
        return null;
    const values = memoValues(flags, request, claims);
    if (values === null)
        return null;
    const context = buildFlagContext(flags, request, claims);
    const outcomes = new Array(flags.flags.length);
    const header = joinFlags(flags, context, flags.runsTargeting ? asTargetingData(context) : undefined, outcomes);
    memo.set(lookup, new MemoizedFlags(targetingKey, values, header, outcomes));
    return header;
}
function countedAgain(known) {
    const outcomes = known.outcomes;
    for (let i = 0; i < outcomes.length; i++)
        outcomes[i].count.value++;
    return known.header;
}
function sameValues(values, attributes, request, claims) {
    for (let i = 0; i < attributes.length; i++)
        if (!Object.is(values[i], attributeValue(attributes[i], request, claims)))
            return false;
    return true;
}
function memoValues(flags, request, claims) {
    const attributes = flags.attributes;
    const values = new Array(attributes.length);
    let length = request.stickyKey?.length ?? 0;
    for (let i = 0; i < attributes.length; i++) {
        const value = attributeValue(attributes[i], request, claims);
        if (typeof value === 'string')
            length += value.length;
        else if (value !== undefined && value !== null && typeof value !== 'number' && typeof value !== 'boolean')
            return null;
        values[i] = value;
    }
    return length > MAX_FLAGS_MEMO_CONTEXT_LENGTH ? null : values;
}
function keylessLookup(flags, request, claims) {
    let lookup = '';
    const attributes = flags.attributes;
    for (let i = 0; i < attributes.length; i++) {
        const value = attributeValue(attributes[i], request, claims);
        lookup += `\0${typeof value === 'object' ? '' : String(value)}`;
    }
    return lookup;
}
export function buildFlagContext(flags, request, claims) {
    if (!flags.needsContext)
        return NO_CONTEXT;
    const context = {};
    if (request.stickyKey !== null)
        context.targetingKey = request.stickyKey;
    const attributes = flags.attributes;
    for (let i = 0; i < attributes.length; i++) {
        const value = attributeValue(attributes[i], request, claims);
        if (value !== undefined)
            context[attributes[i].attribute] = value;
    }
    return context;
}
function attributeValue(attribute, request, claims) {
    switch (attribute.kind) {
        case 'header': {
            const header = request.headers[attribute.name];
            return typeof header === 'string' ? header : header?.join(', ');
        }
        case 'cookie':
            return request.cookies[attribute.name];
        case 'region':
            return request.region;
        case 'claim':
            return claims?.[attribute.name];
    }
}
export function flagsHeaderValue(flags, context, data = flags.runsTargeting ? targetingData(context) : undefined) {
    return joinFlags(flags, context, data, null);
}
function joinFlags(flags, context, data, outcomes) {
    let value = '';
    const list = flags.flags;
    for (let i = 0; i < list.length; i++) {
        const outcome = evaluateFlag(list[i], context, data);
        if (outcomes !== null)
            outcomes[i] = outcome;
        const member = outcome.member;
        if (member === null)
            continue;
        value = value === '' ? member : `${value}, ${member}`;
    }
    return value;
}
//# sourceMappingURL=route-flags.js.map