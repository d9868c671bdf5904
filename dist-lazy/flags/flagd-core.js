import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
let loaded = null;
export function flagdCore() {
    return (loaded ??= require('@openfeature/flagd-core'));
}
let murmur = null;
function murmurModule() {
    return (murmur ??= createRequire(require.resolve('@openfeature/flagd-core'))('imurmurhash'));
}
export function murmurHash3(key) {
    return murmurModule()(key).result();
}
export function murmurPrefix(prefix) {
    const hasher = murmurModule()(prefix);
    return Object.freeze({ h1: hasher.h1, k1: hasher.k1, rem: hasher.rem, len: hasher.len });
}
export function murmurHash3After(prefix, key) {
    const hasher = murmurModule()();
    hasher.h1 = prefix.h1;
    hasher.k1 = prefix.k1;
    hasher.rem = prefix.rem;
    hasher.len = prefix.len;
    return hasher.hash(key).result();
}
export const FLAGD_LOGGER = Symbol.for('flagd.logger');
export function compileTargeting(feature, replacements) {
    const targeting = feature._targeting;
    const engine = targeting?._engine;
    if (engine === undefined || typeof engine.build !== 'function' || targeting._logic === undefined)
        return null;
    for (const [name, operator] of Object.entries(replacements))
        engine.addMethod(name, operator);
    try {
        return { run: engine.build(targeting._logic) };
    }
    catch {
        return { parseError: true };
    }
}
//# sourceMappingURL=flagd-core.js.map