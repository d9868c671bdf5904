import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
let re2js;
export const MAX_PATTERN_VALUE_LENGTH = 1024;
export const MAX_PATTERN_INSTRUCTIONS = 100;
export function compileRulePattern(source) {
    let pattern;
    try {
        re2js ??= require('re2js').RE2JS;
        pattern = re2js.compile(source);
    }
    catch (error) {
        const detail = error.message.replace(/^error parsing regexp: /, '');
        throw new Error(`invalid regular expression (RE2 syntax; no lookaround or backreferences): ${detail}`);
    }
    const size = pattern.programSize();
    if (size > MAX_PATTERN_INSTRUCTIONS) {
        throw new Error(`regular expression too large (${size} RE2 instructions; at most ${MAX_PATTERN_INSTRUCTIONS}): use smaller repeat counts`);
    }
    return pattern;
}
export function patternMatches(pattern, value) {
    return value.length <= MAX_PATTERN_VALUE_LENGTH && pattern.test(value);
}
//# sourceMappingURL=pattern.js.map