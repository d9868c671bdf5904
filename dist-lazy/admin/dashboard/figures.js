export function differenceText(kind, stable, canary) {
    if (stable === null || stable === undefined || canary === null || canary === undefined)
        return '';
    const signed = (value, unit) => {
        const rounded = Math.abs(value) >= 10 ? Math.round(Math.abs(value)).toString() : (Math.round(Math.abs(value) * 10) / 10).toString();
        if (rounded === '0')
            return '±0 ' + unit + ' vs stable';
        return (value > 0 ? '+' : '−') + rounded + ' ' + unit + ' vs stable';
    };
    if (kind === 'points')
        return signed(canary - stable, 'pp');
    if (stable === 0)
        return canary === 0 ? signed(0, '%') : 'n/a (stable 0)';
    return signed((canary / stable - 1) * 100, '%');
}
export function experimentVerdictText(report) {
    const given = report.verdict;
    if (typeof given === 'string' && given !== '')
        return given;
    if (given !== null && typeof given === 'object' && typeof given.text === 'string')
        return given.text;
    const percent = (ratio) => (ratio >= 0 ? '+' : '−') + (Math.round(Math.abs(ratio) * 1000) / 10).toString() + ' %';
    const users = (report.arms ?? []).map((arm) => arm.users);
    const counts = 'A ' + (users[0] ?? 0) + ', B ' + (users[1] ?? 0);
    if (report.sampleRatio?.mismatch)
        return 'SRM detected: users per arm (' + counts + ') do not match the configured split; no winner is declared';
    const minimum = report.minUsersPerArm ?? 0;
    if (users.length < 2 || users.some((n) => n < minimum))
        return 'collecting: ' + counts + ' of ' + minimum + ' users per arm';
    const valid = report.conversions?.[0]?.alwaysValid;
    const alpha = report.alpha ?? 0.05;
    if (valid === undefined || valid.pValue === undefined)
        return 'collecting: no conversion measured yet';
    const lift = valid.lift === null || valid.lift === undefined ? 'n/a' : percent(valid.lift);
    const interval = valid.liftInterval ? ', ' + Math.round((1 - alpha) * 1000) / 10 + ' % CI ' + percent(valid.liftInterval[0]) + ' to ' + percent(valid.liftInterval[1]) : '';
    const p = 'p = ' + (valid.pValue < 0.0001 ? valid.pValue.toExponential(1) : (Math.round(valid.pValue * 10000) / 10000).toString());
    if (valid.pValue < alpha && typeof valid.difference === 'number') {
        const detail = '(' + (interval === '' ? '' : interval.slice(2) + ', ') + p + ')';
        return valid.difference > 0 ? 'B wins: ' + lift + ' ' + detail : 'A wins: B ' + lift + ' ' + detail;
    }
    return 'no difference (lift ' + lift + interval + ', ' + p + ')';
}
export const BROWSER_FIGURES = [differenceText, experimentVerdictText].map((fn) => fn.toString()).join('\n');
//# sourceMappingURL=figures.js.map