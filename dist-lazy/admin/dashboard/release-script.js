export const RELEASE_SCRIPT = String.raw `
const CHARTS = [
  { key: 'rps', title: 'req/s', unit: '' },
  { key: 'errorRate', title: 'error rate', unit: ' %' },
  { key: 'p99Ms', title: 'p99', unit: ' ms' },
];
const VERSION_COLOURS = { stable: '#1f5fae', canary: '#c76a00' };

function buildReleaseParts(name) {
  const id = (what) => what + '-' + name;
  return [
    el('div', { class: 'verdict', 'data-testid': id('verdict'), 'data-level': 'none' }),
    el('div', { class: 'muted', 'data-testid': id('budget'), hidden: '' }),
    el('div', { class: 'plan', 'data-testid': id('plan'), hidden: '' }),
    el('button', { 'data-testid': id('approve'), hidden: '', onclick: (event) => {
      if (!window.confirm('Approve stage "' + event.target.dataset.stage + '" of route "' + name + '"? The release plan moves on.')) return;
      mutate('POST', routePath(name, 'rollout/approve'), undefined, 'approve ' + name);
    } }, 'Approve'),
    el('div', { class: 'charts', 'data-testid': id('charts') }),
  ];
}

function formatMs(ms) {
  const seconds = Math.round(ms / 1000);
  if (seconds < 60) return seconds + 's';
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return minutes + 'm ' + (seconds % 60) + 's';
  return Math.floor(minutes / 60) + 'h ' + (minutes % 60) + 'm';
}

function renderRelease(card, route, rollout) {
  const name = route.name;
  const verdict = route.verdict || { level: 'none', text: '' };
  const line = setText(card, 'verdict-' + name, verdict.text);
  line.dataset.level = verdict.level;
  line.title = ['judged over the last ' + verdict.windowSeconds + ' s', ...(verdict.checks || []).map((c) => c.check + ': ' + c.result + ' (' + c.detail + ')')].join('\n');
  const budget = card.querySelector('[data-testid="' + CSS.escape('budget-' + name) + '"]');
  budget.hidden = !route.budget;
  if (route.budget) {
    const left = route.budget.remaining;
    budget.textContent = 'error budget (SLO ' + route.budget.objective + ' %): ' + (left === null ? 'no analysed traffic yet' : (left * 100).toFixed(1) + ' % left');
    budget.classList.toggle('warn', left !== null && left < 0.25);
  }
  renderPlan(card.querySelector('[data-testid="' + CSS.escape('plan-' + name) + '"]'), name, rollout);
  const approve = card.querySelector('[data-testid="' + CSS.escape('approve-' + name) + '"]');
  const waiting = rollout && rollout.plan && rollout.plan.phase === 'AwaitingApproval' ? rollout.plan.stages.find((stage) => stage.state === 'current') : undefined;
  approve.hidden = !waiting;
  approve.dataset.stage = waiting ? waiting.name : '';
}

function renderPlan(box, name, rollout) {
  const plan = rollout && rollout.plan;
  box.hidden = !plan;
  if (!plan) return;
  const items = plan.stages.map((stage) => {
    const parts = [stage.name + ' ' + stage.weight + ' %' + (stage.audience ? ' + audience' : '')];
    if (stage.state === 'done') parts.push('done' + (stage.how ? ': ' + stage.how : ''));
    else if (stage.state === 'current') {
      parts.push('now: ' + formatMs(stage.bakeLeftMs || 0) + ' of ' + stage.bake + ' bake left');
      if (stage.minRequests > 0) parts.push((stage.requestsSeen || 0) + ' of ' + stage.minRequests + ' canary requests');
      if (stage.approval) parts.push('needs approval');
    } else parts.push('bake ' + stage.bake + (stage.approval ? ', needs approval' : ''));
    return el('li', { class: stage.state, 'data-testid': 'plan-' + name + '-stage-' + stage.stage, 'data-state': stage.state, text: parts.join(' · ') });
  });
  const head = 'release plan' + (plan.schedule ? ' (' + plan.schedule + ')' : '') + ': ' + plan.phase + (plan.expectedEndAt ? ', done at the earliest ' + new Date(plan.expectedEndAt).toLocaleTimeString() : '');
  box.replaceChildren(el('b', { text: head }), el('ol', {}, ...items));
}

const compactNumber = (v) => (Math.abs(v) >= 1000 ? (v / 1000).toFixed(1) + 'k' : String(Math.round(v * 100) / 100));

// One uPlot per figure, made once per card; later reads only replace their data.
function renderCharts(entry, name, series) {
  const box = entry.card.querySelector('.charts');
  if (typeof uPlot !== 'function') {
    box.textContent = 'charts unavailable (uplot is not installed)';
    return;
  }
  const versions = series.versions.canary ? ['stable', 'canary'] : ['stable'];
  if (entry.charts && entry.chartVersions !== versions.join()) {
    for (const chart of entry.charts) chart.plot.destroy();
    box.replaceChildren();
    entry.charts = null;
  }
  if (!entry.charts) {
    entry.chartVersions = versions.join();
    const width = Math.max(260, box.clientWidth || 400);
    entry.charts = CHARTS.map((chart) => {
      const target = el('div', { class: 'chart', 'data-testid': 'chart-' + name + '-' + chart.key });
      box.append(target);
      const opts = {
        title: chart.title + ' (15 min)',
        width,
        height: 110,
        cursor: { drag: { x: false, y: false } },
        legend: { show: true },
        scales: { x: { time: true } },
        axes: [{ size: 24 }, { size: 58, values: (u, ticks) => ticks.map((v) => compactNumber(v) + chart.unit) }],
        series: [{}, ...versions.map((version) => ({ label: version, stroke: VERSION_COLOURS[version], width: 1.5, spanGaps: true, value: (u, v) => (v === null || v === undefined ? '—' : v + chart.unit) }))],
      };
      return { key: chart.key, plot: new uPlot(opts, [[], ...versions.map(() => [])], target) };
    });
  }
  for (const chart of entry.charts) chart.plot.setData([series.t, ...versions.map((version) => series.versions[version][chart.key])]);
}

// The charts move every 2 s; a failed read leaves them as they were.
let chartsReadAt = 0;
async function refreshCharts() {
  if (Date.now() - chartsReadAt < 2000) return;
  chartsReadAt = Date.now();
  await Promise.all([...cards.entries()].map(async ([name, entry]) => {
    try {
      renderCharts(entry, name, await getJson('/series?route=' + encodeURIComponent(name)));
    } catch (error) {
      entry.card.querySelector('.charts').dataset.error = error.message;
    }
  }));
}
`;
//# sourceMappingURL=release-script.js.map