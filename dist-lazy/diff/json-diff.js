const NONE = () => false;
export const MAX_DEPTH = 64;
export const TOO_DEEP = `(nested deeper than ${MAX_DEPTH} levels)`;
export function diffJson(primary, shadow, ignored = NONE, limit = 1_000) {
    const out = [];
    walk(primary, shadow, '$', '$', ignored, out, limit, 0);
    return out;
}
function walk(a, b, path, field, ignored, out, limit, depth) {
    if (out.length >= limit || ignored(field))
        return;
    if (a === b)
        return;
    if (depth >= MAX_DEPTH) {
        out.push({ path, field, primary: TOO_DEEP, shadow: TOO_DEEP });
        return;
    }
    const kindA = kindOf(a);
    const kindB = kindOf(b);
    if (kindA !== kindB || (kindA !== 'object' && kindA !== 'array')) {
        out.push({ path, field, primary: a, shadow: b });
        return;
    }
    if (kindA === 'array') {
        const left = a;
        const right = b;
        const length = Math.max(left.length, right.length);
        for (let i = 0; i < length; i++) {
            walk(i < left.length ? left[i] : undefined, i < right.length ? right[i] : undefined, `${path}[${i}]`, `${field}[]`, ignored, out, limit, depth + 1);
        }
        return;
    }
    const left = a;
    const right = b;
    for (const key of Object.keys(left)) {
        const segment = pathSegment(key);
        walk(left[key], Object.hasOwn(right, key) ? right[key] : undefined, path + segment, field + segment, ignored, out, limit, depth + 1);
    }
    for (const key of Object.keys(right)) {
        if (Object.hasOwn(left, key))
            continue;
        const segment = pathSegment(key);
        walk(undefined, right[key], path + segment, field + segment, ignored, out, limit, depth + 1);
    }
}
function kindOf(value) {
    if (value === null)
        return 'null';
    if (value === undefined)
        return 'undefined';
    if (Array.isArray(value))
        return 'array';
    if (typeof value === 'object')
        return 'object';
    return 'scalar';
}
function pathSegment(key) {
    return /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`;
}
export function normalizeJsonPath(path) {
    return path.replace(/\[\d+\]/g, '[]');
}
//# sourceMappingURL=json-diff.js.map