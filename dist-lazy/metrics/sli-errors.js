import { compileRulePattern } from '../routing/pattern.js';
const SIZE = 1000;
const FIRST_CODE = 100;
const SELECTOR = /^\s*code\s*(=~|!~|!=|=)\s*(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)'|([^\s"']+))\s*$/;
export const SERVER_ERROR_STATUSES = statusesWhere((code) => code >= 500);
export function compileErrorStatuses(selector) {
    const parsed = SELECTOR.exec(selector);
    if (parsed === null)
        throw new Error(`must be a matcher on the status code such as code=~"5..|429" (got ${JSON.stringify(selector)})`);
    const operator = parsed[1];
    const value = parsed[4] ?? (parsed[2] ?? parsed[3]).replace(/\\(["'\\])/g, '$1');
    let matches;
    if (operator === '=' || operator === '!=')
        matches = (code) => code === value;
    else {
        const pattern = compileRulePattern(`^(?:${value})$`);
        matches = (code) => pattern.test(code);
    }
    const negated = operator.startsWith('!');
    const statuses = statusesWhere((code) => matches(String(code)) !== negated);
    if (!statuses.includes(1))
        throw new Error(`matches no status code (${FIRST_CODE}-${SIZE - 1}): ${selector}`);
    return statuses;
}
function statusesWhere(bad) {
    const statuses = new Uint8Array(SIZE);
    for (let code = FIRST_CODE; code < SIZE; code++)
        statuses[code] = bad(code) ? 1 : 0;
    return statuses;
}
export function isSloError(statuses, status, cutShort) {
    return statuses[status] === 1 || (cutShort && status < 500);
}
//# sourceMappingURL=sli-errors.js.map