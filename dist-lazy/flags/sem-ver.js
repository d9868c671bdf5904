import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
const FLAGD_LOGGER = Symbol.for('flagd.logger');
let semver = null;
function semverModule() {
    return (semver ??= createRequire(require.resolve('@openfeature/flagd-core'))('semver'));
}
const MAX_CACHED_VERSIONS = 1024;
const parsedVersions = new Map();
function normalizeVersion(raw) {
    const text = String(raw);
    let parsed = parsedVersions.get(text);
    if (parsed !== undefined)
        return parsed;
    const str = text.replace(/^[vV]/, '');
    parsed = semverModule().parse(str) ?? (/^\d+(\.\d+)?$/.test(str) ? semverModule().coerce(str) : null);
    if (parsedVersions.size >= MAX_CACHED_VERSIONS)
        parsedVersions.clear();
    parsedVersions.set(text, parsed);
    return parsed;
}
function compareVersions(a, b) {
    if (a.prerelease.length !== 0 || b.prerelease.length !== 0)
        return semverModule().compare(a, b);
    if (a.major !== b.major)
        return a.major < b.major ? -1 : 1;
    if (a.minor !== b.minor)
        return a.minor < b.minor ? -1 : 1;
    if (a.patch !== b.patch)
        return a.patch < b.patch ? -1 : 1;
    return 0;
}
export function semVer(data, context) {
    if (!context[FLAGD_LOGGER])
        throw new Error('Logger not found in context');
    if (!Array.isArray(data))
        return null;
    const args = data;
    if (args.length !== 3)
        return null;
    const semVer1 = normalizeVersion(args[0]);
    const semVer2 = normalizeVersion(args[2]);
    if (!semVer1 || !semVer2)
        return null;
    const operator = String(args[1]);
    const result = compareVersions(semVer1, semVer2);
    switch (operator) {
        case '=':
            return result === 0;
        case '!=':
            return result !== 0;
        case '<':
            return result < 0;
        case '<=':
            return result <= 0;
        case '>=':
            return result >= 0;
        case '>':
            return result > 0;
        case '^':
            return semVer1.major === semVer2.major;
        case '~':
            return semVer1.major === semVer2.major && semVer1.minor === semVer2.minor;
    }
    return null;
}
//# sourceMappingURL=sem-ver.js.map