export function formatExperimentReport(report) {
    const lines = [`${report.key} (route ${report.route}${report.flag ? `, flag ${report.flag}` : ''}): ${report.verdict}`];
    if (report.stopped)
        lines.push(`  stopped at ${report.stopped.at} by ${report.stopped.actor}: totals frozen`);
    const srm = report.sampleRatio;
    lines.push(`  users: ${report.arms.map((a) => `${a.arm} (${a.version}) ${a.users}, expected ${fmt(a.expectedShare * 100)} %`).join('; ')}; sample-ratio p = ${fmtP(srm.pValue)}${srm.mismatch ? ' MISMATCH' : ''}`);
    for (const c of report.conversions) {
        lines.push(`  ${c.name}: ${c.arms.map((a) => `${a.arm} ${a.converters}/${a.users}${a.rate === null ? '' : ` = ${fmt(a.rate * 100)} %`}`).join(', ')}`);
        const v = c.alwaysValid;
        const interval = v.liftInterval === null ? '' : ` [${pct(v.liftInterval[0])}, ${pct(v.liftInterval[1])}]`;
        lines.push(`    always-valid: p = ${fmtP(v.pValue)}, lift ${v.lift === null ? '–' : pct(v.lift)}${interval}`);
        lines.push(`    fixed-horizon z-test: p = ${c.fixedHorizon.pValue === null ? '–' : fmtP(c.fixedHorizon.pValue)} (${c.fixedHorizon.note})`);
        if (c !== report.conversions[0])
            lines.push(`    ${c.verdict}`);
    }
    const guardrails = report.guardrails;
    if (guardrails !== undefined) {
        if (guardrails.checks.length === 0)
            lines.push(`  guardrails: none (${guardrails.note ?? 'not judged'})`);
        for (const g of guardrails.checks) {
            const value = (v) => (v === null ? '–' : `${fmt(v)} ${g.unit}`);
            lines.push(`  guardrail ${g.check}: B ${value(g.treatment)} vs A ${value(g.control)} (${g.threshold}): ${g.result === 'fail' ? 'BREACHED' : g.result}`);
        }
    }
    if (report.tracking.evictions > 0)
        lines.push(`  note: ${report.tracking.evictions} users forgotten beyond maxUsers ${report.tracking.maxUsers}; they count again if they return`);
    return `${lines.join('\n')}\n`;
}
function fmt(value) {
    return (Math.round(value * 100) / 100).toString();
}
function pct(ratio) {
    return `${ratio >= 0 ? '+' : '−'}${fmt(Math.abs(ratio) * 100)} %`;
}
function fmtP(p) {
    return p < 0.0001 ? p.toExponential(1) : fmt(p * 100) === '0' ? p.toExponential(1) : (Math.round(p * 10_000) / 10_000).toString();
}
//# sourceMappingURL=format-report.js.map