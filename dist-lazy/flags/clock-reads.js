const FLAG_KEY_PATH = '$flagd.flagKey';
export function targetingReadsClock(targeting, evaluators) {
    return reads(targeting, evaluators, new Set());
}
function reads(node, evaluators, resolving) {
    if (Array.isArray(node))
        return node.some((item) => reads(item, evaluators, resolving));
    if (node === null || typeof node !== 'object')
        return false;
    const entries = Object.entries(node);
    if (entries.length === 1 && entries[0][0] === '$ref' && typeof entries[0][1] === 'string') {
        const name = entries[0][1];
        if (!Object.hasOwn(evaluators, name) || resolving.has(name))
            return true;
        resolving.add(name);
        const found = reads(evaluators[name], evaluators, resolving);
        resolving.delete(name);
        return found;
    }
    for (const [operator, args] of entries) {
        if (operator === 'var' && !safeVarPath(Array.isArray(args) ? args[0] : args))
            return true;
        if (operator === 'val' && !safeValPath(args))
            return true;
        if (reads(args, evaluators, resolving))
            return true;
    }
    return false;
}
function safeVarPath(path) {
    if (typeof path === 'number')
        return true;
    if (typeof path !== 'string' || path === '' || path.includes('../'))
        return false;
    return !path.startsWith('$flagd') || path === FLAG_KEY_PATH || path.startsWith(`${FLAG_KEY_PATH}.`);
}
function safeValPath(args) {
    const keys = Array.isArray(args) ? args : [args];
    if (keys.length === 0 || !keys.every((key) => typeof key === 'string' || typeof key === 'number'))
        return false;
    return keys[0] !== '$flagd' || keys[1] === 'flagKey';
}
//# sourceMappingURL=clock-reads.js.map