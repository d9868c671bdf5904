export const FLAGS_SCRIPT = String.raw `
const flagPath = (key) => '/flags/' + encodeURIComponent(key);

function shareText(flag) {
  const evaluations = flag.evaluations || {};
  if (!evaluations.total) return 'no evaluations yet';
  const parts = Object.keys(flag.variants || {}).map((variant) => variant + ' ' + (((evaluations.shares || {})[variant] || 0) * 100).toFixed(1) + ' %');
  if (evaluations.none) parts.push('none ' + ((evaluations.none / evaluations.total) * 100).toFixed(1) + ' %');
  return parts.join(' · ') + ' of ' + evaluations.total;
}

function flagRow(flag) {
  const key = flag.key;
  const id = (what) => 'flag-' + what + '-' + key;
  const effective = flag.effective || {};
  const killed = effective.state === 'DISABLED';
  const state = killed ? (flag.override && flag.override.state === 'DISABLED' ? 'killed' : 'disabled in the file') : 'on';
  const variant = effective.pinned !== null && effective.pinned !== undefined ? 'pinned: ' + effective.pinned : (effective.defaultVariant ?? '—');
  const kill = el('button', { class: 'kill', 'data-testid': id('kill'), onclick: () => {
    if (!window.confirm('KILL flag "' + key + '"? It is evaluated as DISABLED on the next request.')) return;
    mutate('PUT', flagPath(key), { state: 'DISABLED' }, 'kill flag ' + key);
  } }, 'KILL');
  kill.disabled = killed;
  const restore = el('button', { 'data-testid': id('restore'), onclick: () => mutate('DELETE', flagPath(key), undefined, 'restore flag ' + key) }, 'Restore');
  restore.disabled = !flag.override;
  return el('tr', { 'data-testid': 'flag-' + key },
    el('td', { text: key }),
    el('td', {}, el('span', { class: 'badge ' + (killed ? 'killed' : 'live'), 'data-testid': id('state'), text: state })),
    el('td', { 'data-testid': id('variant'), text: variant }),
    el('td', { class: 'muted', 'data-testid': id('shares'), text: shareText(flag) }),
    el('td', {}, kill, ' ', restore));
}

function renderFlags(flags) {
  byId('flags').hidden = flags.length === 0;
  byId('flags-body').replaceChildren(...flags.map(flagRow));
}
`;
//# sourceMappingURL=flags-script.js.map