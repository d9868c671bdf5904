import { createHash } from 'node:crypto';
import { EXPERIMENTS_SCRIPT } from './dashboard/experiments-script.js';
import { FLAGS_SCRIPT } from './dashboard/flags-script.js';
import { BROWSER_FIGURES } from './dashboard/figures.js';
import { RELEASE_SCRIPT } from './dashboard/release-script.js';
import { loadUplot } from './dashboard/uplot-assets.js';
const UPLOT = loadUplot();
const STYLE = `
[hidden]{display:none!important}
body{font:14px/1.4 system-ui,sans-serif;margin:0;background:#f4f5f7;color:#1d2330}
header{display:flex;gap:1.5em;align-items:baseline;flex-wrap:wrap;padding:.8em 1.2em;background:#1d2330;color:#e8ebf1}
header h1{font-size:1.2em;margin:0}#updated[data-ok=false]{color:#ffb4b4;font-weight:600}header code{color:#9fd3ff}
main{padding:1em 1.2em;display:grid;gap:1em;align-items:start;grid-template-columns:repeat(auto-fill,minmax(430px,1fr))}
.card{background:#fff;border:1px solid #d6dae1;border-radius:6px;padding:.8em 1em}
.card.killed{border-color:#c62828;box-shadow:0 0 0 2px #f3c0c0}
.card h2{font-size:1.1em;margin:0 .5em 0 0;display:inline}
.muted{color:#66708a}.badge{padding:.1em .5em;border-radius:3px;font-size:.85em;font-weight:600}
.badge.live{background:#e1f3e4;color:#1b6e2a}.badge.killed{background:#c62828;color:#fff}
table{border-collapse:collapse;width:100%;margin:.5em 0}
th,td{text-align:right;padding:.2em .5em;border-bottom:1px solid #eceef2;font-variant-numeric:tabular-nums}
th:first-child,td:first-child{text-align:left}.events td,.events th{text-align:left}
.stable{color:#1f5fae}.canary{color:#c76a00}.warn{color:#c62828}
.controls{display:flex;gap:.4em;flex-wrap:wrap;align-items:center;margin-top:.4em}
.controls input{width:5em}button{cursor:pointer}button.kill{background:#c62828;color:#fff;border:1px solid #9d1f1f;font-weight:600}
button:disabled{opacity:.35;cursor:default}.mirror{margin-top:.6em;padding-top:.4em;border-top:1px solid #eceef2}
.mirror ul{margin:.2em 0 0;padding-left:1.4em}
#message{margin:0 1.2em;padding:.5em .8em;border-radius:4px}#message:empty{display:none}
#message.error{background:#fdecea;color:#8e1b1b;border:1px solid #f3c0c0}#message.ok{background:#e1f3e4;color:#1b6e2a}
.alert{margin:1em 1.2em 0;padding:.5em .8em;background:#fff4e0;border:1px solid #f0c36d;border-radius:4px}
.events-box{margin:0 1.2em 1.2em}.events-box h2{font-size:1.1em}
td.diff{font-size:.85em;color:#66708a;text-align:left}td.diff.worse{color:#c62828}
.verdict{margin:.4em 0;padding:.3em .6em;border-radius:4px;font-weight:600;background:#eceef2}
.verdict[data-level=healthy]{background:#e1f3e4;color:#1b6e2a}.verdict[data-level=collecting]{background:#eef3fb;color:#1f5fae}
.verdict[data-level=warning],.verdict[data-level=paused]{background:#fff4e0;color:#8a5300}
.verdict[data-level=failing],.verdict[data-level=rolling-back],.verdict[data-level=rolled-back],.verdict[data-level=killed]{background:#fdecea;color:#8e1b1b}
.plan ol{margin:.2em 0;padding-left:1.4em}.plan li.done{color:#66708a}.plan li.current{font-weight:600}
.charts .chart{margin-top:.3em}.charts .u-title{font-size:.85em;font-weight:600}.charts .u-legend{font-size:.8em}
.panel{margin:0 1.2em 1em}.panel>h2{font-size:1.1em}.panel>div{display:grid;gap:1em;grid-template-columns:repeat(auto-fill,minmax(430px,1fr))}
`;
const CORE_SCRIPT = String.raw `
const TOKEN_KEY = 'splitgate.adminToken';
let token = sessionStorage.getItem(TOKEN_KEY);
const cards = new Map();
let routeNames = '';

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key === 'text') node.textContent = value;
    else if (key === 'onclick') node.addEventListener('click', value);
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child);
  return node;
}
const byId = (id) => document.getElementById(id);
const show = (value, unit, digits) => (value === null || value === undefined ? '—' : Number(value).toFixed(digits) + unit);

function message(text, kind) {
  const box = byId('message');
  box.textContent = text;
  box.className = kind;
}

function withToken(headers) {
  if (token) headers.authorization = 'Bearer ' + token;
  return headers;
}

// After a 401: forget the token that was refused and ask for one; null when the user declines.
function askToken(what) {
  const wrong = token !== null;
  token = null;
  sessionStorage.removeItem(TOKEN_KEY);
  const answer = window.prompt((wrong ? 'Wrong token. ' : '') + 'Admin token for ' + what + ':');
  if (answer === null || answer === '') return null;
  token = answer;
  return token;
}

// Kept only once the API has accepted it.
function keepToken() {
  if (token) sessionStorage.setItem(TOKEN_KEY, token);
}

class Unauthorized extends Error {}

async function getJson(path) {
  const sent = token;
  const res = await fetch(path, { cache: 'no-store', headers: withToken({}) });
  if (res.status === 401) throw Object.assign(new Unauthorized(path + ': HTTP 401'), { sent });
  if (!res.ok) throw new Error(path + ': HTTP ' + res.status);
  return res.json();
}

// Mutations: try with the remembered token (or none); on 401 ask for the token, and again while it is wrong.
async function mutate(method, path, body, what) {
  for (let attempt = 0; attempt < 5; attempt++) {
    const headers = withToken({ 'content-type': 'application/json', 'x-actor': 'dashboard' });
    const sent = token;
    let res;
    try {
      res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    } catch (error) {
      message(what + ' failed: ' + error.message, 'error');
      return;
    }
    const reply = await res.json().catch(() => ({}));
    if (res.status === 401) {
      // Another prompt (the polling's) changed the token while this call was out: try that one first.
      if (sent !== token) continue;
      message(what + ' refused: ' + (sent !== null ? 'wrong admin token' : 'an admin token is needed') + '; nothing changed', 'error');
      if (askToken(what) === null) return;
      continue;
    }
    if (!res.ok) {
      const error = reply.error || {};
      message(what + ' failed (' + res.status + ' ' + (error.code || '') + '): ' + (error.message || 'unknown error'), 'error');
      return;
    }
    keepToken();
    message(what + ': done' + (reply.warning ? ' (' + reply.warning + ')' : ''), 'ok');
    refresh();
    return;
  }
}

const routePath = (name, action) => '/routes/' + encodeURIComponent(name) + '/' + action;

function buildCard(route) {
  const name = route.name;
  const id = (what) => what + '-' + name;
  const cell = (what, version) => el('td', { 'data-testid': what + '-' + name + '-' + version, class: version, text: '—' });
  // The canary's figure against stable's, next to it (figures.ts differenceText).
  const diff = (what) => el('td', { 'data-testid': 'diff-' + what + '-' + name, class: 'diff' });
  const row = (label, what, compared) => el('tr', {}, el('th', { text: label }), cell(what, 'stable'), cell(what, 'canary'), compared ? diff(what) : el('td', {}));
  const input = el('input', { type: 'number', min: '0', max: '100', step: '0.01', 'data-testid': id('weight-input'), 'aria-label': 'canary weight' });
  const card = el('section', { class: 'card', 'data-testid': id('route') },
    el('div', {}, el('h2', { text: name }), el('span', { class: 'badge', 'data-testid': id('killed') }), ' ',
      el('span', { class: 'muted', 'data-testid': id('match') })),
    el('div', {}, 'canary weight ', el('b', { 'data-testid': id('weight') }), ' ',
      el('span', { class: 'muted', 'data-testid': id('weight-source') }), ' ', el('b', { class: 'warn', 'data-testid': id('effective') })),
    el('table', {},
      el('thead', {}, el('tr', {}, el('th', { class: 'muted', 'data-testid': id('window') }),
        el('th', { class: 'stable', 'data-testid': id('upstream-stable') }), el('th', { class: 'canary', 'data-testid': id('upstream-canary') }), el('th', { class: 'muted', text: 'canary vs stable' }))),
      el('tbody', {}, row('requests', 'requests'), row('req/s', 'rps', true), row('success', 'success'), row('error rate', 'errors', true),
        row('p50', 'p50', true), row('p99', 'p99', true))),
    ...buildReleaseParts(name),
    el('div', { class: 'controls', 'data-testid': id('controls') },
      el('button', { class: 'kill', 'data-testid': id('kill'), onclick: () => {
        if (!window.confirm('KILL canary of route "' + name + '"? All its traffic goes to stable.')) return;
        mutate('POST', routePath(name, 'kill'), undefined, 'kill ' + name);
      } }, 'KILL'),
      el('button', { 'data-testid': id('resume'), onclick: () => mutate('POST', routePath(name, 'resume'), undefined, 'resume ' + name) }, 'Resume'),
      input,
      el('button', { 'data-testid': id('weight-set'), onclick: () => {
        const weight = input.value === '' ? NaN : Number(input.value);
        if (!Number.isFinite(weight)) return message('weight must be a number between 0 and 100', 'error');
        input.dataset.dirty = '';
        mutate('PUT', routePath(name, 'weight'), { weight }, 'set weight of ' + name + ' to ' + weight + '%');
      } }, 'Set weight'),
      el('button', { 'data-testid': id('promote'), onclick: () => {
        if (!window.confirm('Promote canary of route "' + name + '" to 100%?')) return;
        mutate('POST', routePath(name, 'promote'), undefined, 'promote ' + name);
      } }, 'Promote')),
    el('div', { class: 'mirror', 'data-testid': id('mirror'), hidden: '' }));
  input.addEventListener('input', () => (input.dataset.dirty = '1'));
  return { card, input, charts: null };
}

function setText(card, testid, text) {
  const node = card.querySelector('[data-testid="' + CSS.escape(testid) + '"]');
  if (node) node.textContent = text;
  return node;
}

const errorRate = (stats) => (stats && stats.successRate !== null ? 100 - stats.successRate : null);

// A difference that makes the canary look worse (slower, failing more) is shown in red; req/s only follows the weight.
function renderDifferences(card, name, stable, canary) {
  const figures = [['rps', 'ratio', (s) => s.rps, false], ['errors', 'points', errorRate, true], ['p50', 'ratio', (s) => s.p50Ms, true], ['p99', 'ratio', (s) => s.p99Ms, true]];
  for (const [what, kind, pick, higherIsWorse] of figures) {
    const a = stable ? pick(stable) : null;
    const b = canary ? pick(canary) : null;
    const node = setText(card, 'diff-' + what + '-' + name, differenceText(kind, a, b));
    node.classList.toggle('worse', higherIsWorse && a !== null && b !== null && b > a);
  }
}

function renderVersion(card, name, version, stats) {
  const put = (what, text) => setText(card, what + '-' + name + '-' + version, text);
  put('requests', stats ? String(stats.requests) : '—');
  put('rps', stats ? show(stats.rps, '', 2) : '—');
  put('success', stats ? show(stats.successRate, ' %', 1) : '—');
  put('errors', stats ? show(errorRate(stats), ' %', 1) : '—');
  put('p50', stats ? show(stats.p50Ms, ' ms', 1) : '—');
  put('p99', stats ? show(stats.p99Ms, ' ms', 1) : '—');
}

function renderMirror(box, mirror, summary) {
  box.hidden = mirror === null;
  if (mirror === null) return;
  const fields = (summary && summary.topFields) || mirror.topFields || [];
  const rate = mirror.matchRate === null ? 'nothing compared yet' : (mirror.matchRate * 100).toFixed(1) + ' % match';
  const list = el('ul', {});
  for (const field of fields.slice(0, 5)) {
    list.append(el('li', {}, el('code', { text: field.field }), ' ×' + field.count + (field.likelyNoise ? ' (likely noise)' : '')));
  }
  box.replaceChildren(el('b', { text: 'mirror → ' + mirror.to + ' (' + mirror.percent + ' %' + (mirror.active ? '' : ', inactive') + '): ' }),
    el('span', { 'data-testid': 'mirror-rate-' + box.dataset.route, text: rate + ' of ' + mirror.compared + ' compared' }),
    fields.length ? el('div', { class: 'muted', text: 'most frequent differing fields:' }) : '', fields.length ? list : '');
}

function renderRoutes(status, diffs, rollouts) {
  const names = status.routes.map((r) => r.name).join('\n');
  if (names !== routeNames) {
    routeNames = names;
    cards.clear();
    for (const route of status.routes) cards.set(route.name, buildCard(route));
    byId('routes').replaceChildren(...[...cards.values()].map((c) => c.card));
  }
  const summaries = new Map((diffs.routes || []).map((s) => [s.route, s]));
  for (const route of status.routes) {
    const { card, input } = cards.get(route.name);
    const name = route.name;
    const hasCanary = route.versions.canary !== null;
    card.classList.toggle('killed', route.killed);
    const badge = setText(card, 'killed-' + name, route.killed ? 'killed' : 'live');
    badge.className = 'badge ' + (route.killed ? 'killed' : 'live');
    badge.dataset.killed = String(route.killed);
    setText(card, 'match-' + name, [route.match.host, route.match.pathPrefix].filter(Boolean).join(' ') || 'all requests');
    setText(card, 'weight-' + name, hasCanary ? route.weight + ' %' : 'none (no canary)');
    setText(card, 'weight-source-' + name, !hasCanary ? '' : 'from ' + route.weightSource + (route.weightSource === 'config' ? '' : ', config says ' + route.configWeight + ' %'));
    setText(card, 'window-' + name, 'last ' + status.windowSeconds + ' s');
    const outlier = route.outlier;
    setText(card, 'effective-' + name, route.killed ? 'killed: all traffic to stable'
      : outlier && outlier.ejected && outlier.unhealthy ? 'canary failing health checks: its traffic goes to stable'
      : outlier && outlier.ejected && outlier.workers && outlier.workers.ejected < outlier.workers.reporting
        ? 'canary ejected by ' + outlier.workers.ejected + ' of ' + outlier.workers.reporting + ' workers: their share of its traffic goes to stable'
      : outlier && outlier.ejected ? 'canary ejected: its traffic goes to stable'
      : outlier && outlier.phase === 'probing' ? 'canary probed after an ejection' : '');
    for (const version of ['stable', 'canary']) {
      const upstream = route.upstreams[version];
      setText(card, 'upstream-' + version + '-' + name, version + (upstream && upstream !== version ? ' (' + upstream + ')' : ''));
    }
    for (const version of ['stable', 'canary']) renderVersion(card, name, version, route.versions[version]);
    renderDifferences(card, name, route.versions.stable, route.versions.canary);
    renderRelease(card, route, rollouts[name]);
    if (document.activeElement !== input && !input.dataset.dirty) input.value = String(route.weight);
    card.querySelector('.controls').hidden = !hasCanary;
    card.querySelector('.kill').disabled = route.killed;
    setText(card, 'resume-' + name, 'Resume').disabled = !route.killed;
    setText(card, 'promote-' + name, 'Promote').disabled = route.killed;
    const mirrorBox = card.querySelector('.mirror');
    mirrorBox.dataset.route = name;
    renderMirror(mirrorBox, route.mirror, summaries.get(name));
  }
}

function change(event) {
  const before = event.before || {};
  const after = event.after || {};
  const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])];
  const parts = keys.filter((k) => JSON.stringify(before[k]) !== JSON.stringify(after[k]))
    .map((k) => k + ': ' + (k in before ? JSON.stringify(before[k]) : '·') + ' → ' + (k in after ? JSON.stringify(after[k]) : '·'));
  if (event.message) parts.push(event.message);
  return parts.join('; ');
}

function renderEvents(events) {
  byId('events-body').replaceChildren(...events.map((event) => el('tr', { 'data-testid': 'event-' + event.id },
    el('td', { text: new Date(event.time).toLocaleTimeString(), title: event.time }), el('td', { text: event.actor }),
    el('td', { text: event.action }), el('td', { text: event.route || '' }), el('td', { text: change(event) }))));
}

function renderHeader(status) {
  byId('generation').textContent = String(status.generation);
  byId('config-hash').textContent = status.configHash;
  byId('ready').textContent = status.ready ? 'ready' : 'not ready';
  byId('uptime').textContent = status.uptimeSeconds + ' s';
  const error = status.lastReloadError;
  byId('reload-error').hidden = error === null;
  byId('reload-error').textContent = error === null ? '' : 'last reload rejected at ' + error.time + ' (the running config stays): ' + error.errors.join('; ');
  byId('state-error').hidden = !status.stateError;
  byId('state-error').textContent = status.stateError ? 'runtime state file ignored: ' + status.stateError : '';
}

// Without an accepted token the page shows nothing it had shown before, and says why.
function showLocked() {
  cards.clear();
  routeNames = '';
  byId('routes').replaceChildren();
  byId('experiments-list').replaceChildren();
  byId('experiments').hidden = true;
  byId('events-body').replaceChildren();
  byId('updated').textContent = 'an admin token is needed to show data';
  byId('updated').dataset.ok = 'false';
  byId('token-button').hidden = false;
}

// One poll at a time: a refresh asked for while one runs (after a mutation) runs right after it, not beside it.
// A 401 asks for the token once per refusal; declining stops the polling until the token button is used.
let timer = null;
let running = false;
let again = false;
async function refresh() {
  if (running) return void (again = true);
  running = true;
  clearTimeout(timer);
  let poll = true;
  try {
    const [status, events, diffs, rollouts, experiments, flags] = await Promise.all([getJson('/status'), getJson('/events?limit=50'), getJson('/diffs/summary'), getJson('/rollouts'), getJson('/experiments'), getJson('/flags')]);
    keepToken();
    byId('token-button').hidden = true;
    renderHeader(status);
    renderRoutes(status, diffs, rollouts.rollouts);
    renderExperiments(experiments.experiments);
    renderFlags(flags.flags);
    renderEvents(events.events);
    await refreshCharts();
    byId('updated').textContent = 'updated ' + new Date().toLocaleTimeString();
    byId('updated').dataset.ok = 'true';
  } catch (error) {
    if (error instanceof Unauthorized) {
      // A token given meanwhile (to a mutation's prompt) is tried before asking again.
      if (error.sent !== token) again = true;
      else if (askToken('the dashboard') === null) {
        showLocked();
        poll = false;
      } else {
        again = true;
      }
    } else {
      byId('updated').textContent = 'refresh failed: ' + error.message;
      byId('updated').dataset.ok = 'false';
    }
  }
  running = false;
  if (again) {
    again = false;
    refresh();
  } else if (poll) {
    timer = setTimeout(refresh, 1000);
  }
}
byId('token-button').addEventListener('click', () => {
  if (askToken('the dashboard') !== null) refresh();
});
refresh();
`;
const SCRIPT = `'use strict';\n${BROWSER_FIGURES}\n${RELEASE_SCRIPT}\n${EXPERIMENTS_SCRIPT}\n${FLAGS_SCRIPT}\n${CORE_SCRIPT}`;
const scriptHash = (script) => `'sha256-${createHash('sha256').update(script).digest('base64')}'`;
export const DASHBOARD_CSP = `default-src 'none'; script-src ${[SCRIPT, ...(UPLOT ? [UPLOT.script] : [])].map(scriptHash).join(' ')}; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'`;
export const DASHBOARD_HTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${DASHBOARD_CSP}">
<meta name="viewport" content="width=device-width,initial-scale=1">
<link rel="icon" href="data:,">
<title>splitgate dashboard</title><style>${STYLE}${UPLOT?.style ?? ''}</style></head>
<body>
<header><h1>splitgate</h1>
<span>generation <b id="generation" data-testid="generation">—</b></span>
<span>config <code id="config-hash" data-testid="config-hash">—</code></span>
<span id="ready" data-testid="ready"></span><span>up <span id="uptime"></span></span>
<span id="updated" data-testid="updated" class="muted">loading…</span>
<button id="token-button" data-testid="token-button" type="button" hidden>Enter admin token</button></header>
<div id="reload-error" class="alert" data-testid="reload-error" hidden></div>
<div id="state-error" class="alert" data-testid="state-error" hidden></div>
<p id="message" data-testid="message" role="status"></p>
<main id="routes" data-testid="routes"></main>
<section id="experiments" class="panel" data-testid="experiments" hidden><h2>Experiments</h2><div id="experiments-list"></div></section>
<section id="flags" class="panel flags" data-testid="flags" hidden><h2>Feature flags</h2>
<table class="card"><thead><tr><th>flag</th><th>state</th><th>variant</th><th>evaluations sent upstream</th><th></th></tr></thead>
<tbody id="flags-body"></tbody></table></section>
<section class="events-box"><h2>Events <span class="muted">(newest first)</span></h2>
<table class="events card" data-testid="events"><thead><tr><th>time</th><th>actor</th><th>action</th><th>route</th><th>before → after</th></tr></thead>
<tbody id="events-body"></tbody></table></section>
${UPLOT ? `<script>${UPLOT.script}</script>\n` : ''}<script>${SCRIPT}</script>
</body></html>
`;
//# sourceMappingURL=dashboard-page.js.map