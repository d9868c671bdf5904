export const EXPERIMENTS_SCRIPT = String.raw `
function liftText(conversion, alpha) {
  const valid = conversion.alwaysValid || {};
  const pct = (r) => (r >= 0 ? '+' : '−') + (Math.abs(r) * 100).toFixed(1) + ' %';
  const lift = valid.lift === null || valid.lift === undefined ? 'n/a' : pct(valid.lift);
  const interval = valid.liftInterval ? ' (' + Math.round((1 - alpha) * 1000) / 10 + ' % CI ' + pct(valid.liftInterval[0]) + ' to ' + pct(valid.liftInterval[1]) + ')' : '';
  const p = typeof valid.pValue === 'number' ? ', always-valid p = ' + (valid.pValue < 0.0001 ? valid.pValue.toExponential(1) : valid.pValue.toFixed(4)) : '';
  return conversion.name + ': lift ' + lift + interval + p;
}

function experimentCard(report) {
  const key = report.key;
  const id = (what) => 'exp-' + what + '-' + key;
  const conversions = report.conversions || [];
  const head = el('tr', {}, el('th', { text: 'arm' }), el('th', { text: 'users' }), el('th', { text: 'expected' }),
    ...conversions.flatMap((c) => [el('th', { text: c.name }), el('th', { text: 'rate' })]));
  const rows = (report.arms || []).map((arm, index) => el('tr', { 'data-testid': id('arm') + '-' + arm.arm },
    el('td', { text: arm.arm + ' (' + arm.version + ')' }), el('td', { text: String(arm.users) }),
    el('td', { text: (arm.expectedShare * 100).toFixed(1) + ' %' }),
    ...conversions.flatMap((c) => {
      const counts = (c.arms || [])[index] || {};
      return [el('td', { text: String(counts.converters ?? '—') }), el('td', { text: counts.rate === null || counts.rate === undefined ? '—' : (counts.rate * 100).toFixed(2) + ' %' })];
    })));
  const stopped = report.stopped ? 'stopped' + (typeof report.stopped === 'object' && report.stopped.reason ? ': ' + report.stopped.reason : '') : '';
  const guardrails = Array.isArray(report.guardrails) ? report.guardrails : [];
  return el('section', { class: 'card', 'data-testid': 'experiment-' + key },
    el('div', {}, el('h2', { text: key }), el('span', { class: 'muted', text: 'route ' + report.route }), ' ',
      el('b', { class: 'warn', 'data-testid': id('stopped'), text: stopped })),
    el('div', { class: 'verdict', 'data-testid': id('verdict'), text: experimentVerdictText(report) }),
    el('table', { 'data-testid': id('arms') }, el('thead', {}, head), el('tbody', {}, ...rows)),
    ...conversions.map((c) => el('div', { 'data-testid': id('lift') + '-' + c.name, text: liftText(c, report.alpha || 0.05) })),
    ...guardrails.map((g) => el('div', { class: 'muted', text: 'guardrail ' + (g.name || g.metric || '') + ': ' + (g.text || g.status || g.verdict || JSON.stringify(g)) })),
    el('div', { class: 'muted', text: 'sample ratio p = ' + (report.sampleRatio ? report.sampleRatio.pValue.toPrecision(3) : '—') }));
}

function renderExperiments(experiments) {
  const box = byId('experiments');
  box.hidden = experiments.length === 0;
  byId('experiments-list').replaceChildren(...experiments.map(experimentCard));
}
`;
//# sourceMappingURL=experiments-script.js.map