#!/usr/bin/env node
/**
 * `npm run bench`: splitgate against its peers and against the upstream itself, measured in interleaved rounds and
 * side by side on a pinned 2-core machine (see ../../shared/BENCHMARKING.md and loadtest/README.md).
 *
 *   upstream     nginx (Debian's /usr/sbin/nginx, own config, 1 worker) or, without it, loadtest/upstream-node.mjs
 *   candidates   direct (to the upstream), nginx-proxy (nginx proxy_pass, loadtest/nginx-proxy.conf), http-proxy
 *                (loadtest/http-proxy-peer.mjs), bare-undici (loadtest/bare-proxy.mjs), splitgate (dist/bin.js);
 *                on request also bare-headers (bare-proxy.mjs --forwarding-headers), splitgate-w2 (`workers: 2`)
 *                and splitgate-b (a second build)
 *   pinning      proxies on core 1 (splitgate-w2: BENCH_W2_CPUS); upstream, load generator (loadtest/runner.mjs)
 *                and this script on core 0
 *   CPU          per candidate, summed over its process tree (nginx master + worker, splitgate supervisor + workers)
 *   knobs        BENCH_ROUNDS (3), BENCH_DURATION (10 s), BENCH_WARMUP (2 s), BENCH_CONNECTIONS (64), BENCH_USERS
 *                (1000), BENCH_CANDIDATES, BENCH_SIDE_BY_SIDE (4), BENCH_PAIR, BENCH_FRESH_PAIRS (1), BENCH_SPLITGATE_B, BENCH_NODE,
 *                BENCH_W2_CPUS (see loadtest/README.md)
 *
 * Each proxy is started once, before the first round, kept for every sequential round; each side-by-side pair runs
 * fresh copies. Everything is killed at the end (also on error, SIGINT and SIGTERM). Results are printed as a table and written to loadtest/results/latest.json.
 */
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { CLK_TCK, cpuSeconds, freePort, hasTaskset, memoryShares, pinned, rssBytes as readRssBytes, statFields } from './lib/processes.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = dirname(HERE);
const NGINX = '/usr/sbin/nginx';
const BODY = '0123456789abcdef'.repeat(4); // 64 bytes, nothing nginx would need escaped
const CPU_PROXY = '1';
const CPU_LOAD = '0';
const AUTOCANNON_CEILING = '~21 k req/s';
/** Other processes' share of the proxies' core during a measured run above which the round is called noisy. */
const NOISE_LIMIT_PERCENT = 5;

function envInt(name, fallback, min = 1) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < min) {
    console.error(`${name} must be a number >= ${min} (got ${JSON.stringify(raw)})`);
    process.exit(2);
  }
  return value;
}

const settings = {
  rounds: envInt('BENCH_ROUNDS', 3),
  durationSeconds: envInt('BENCH_DURATION', 10),
  warmupSeconds: envInt('BENCH_WARMUP', 2, 0),
  connections: envInt('BENCH_CONNECTIONS', 64),
  users: envInt('BENCH_USERS', 1000),
  sideBySideRounds: envInt('BENCH_SIDE_BY_SIDE', 4, 0),
  bodyBytes: BODY.length,
};
// `bare-headers`: the baseline plus the request fields splitgate must add, to tell their cost from the rest of splitgate's.
// `splitgate-b`: a second splitgate build (BENCH_SPLITGATE_B = its dist directory), for A/B-testing a change side by side.
// `splitgate-w2`: splitgate with `workers: 2` (supervisor + 2 workers), only when named in BENCH_CANDIDATES: builds
// without the `workers` key refuse that config, and the run goes on without it (with a WARNING).
// `nginx-proxy` and `http-proxy`: the peers (Debian's nginx as a reverse proxy; node-http-proxy with a keep-alive agent).
// `bare-undici-b`: the bare proxy again, on BENCH_NODE_B: beside bare-undici it measures what a Node version changes.
const ALL_CANDIDATES = ['direct', 'nginx-proxy', 'http-proxy', 'bare-undici', 'bare-headers', 'splitgate', 'splitgate-w2', 'splitgate-b', 'bare-undici-b'];
const OPT_IN = new Set(['bare-headers', 'splitgate-w2', 'bare-undici-b']);
const SPLITGATE_B = process.env.BENCH_SPLITGATE_B ?? null;
const DEFAULT_CANDIDATES = ALL_CANDIDATES.filter((name) => !OPT_IN.has(name) && (name !== 'splitgate-b' || SPLITGATE_B !== null));
const wanted = (process.env.BENCH_CANDIDATES ?? DEFAULT_CANDIDATES.join(',')).split(',').map((s) => s.trim()).filter(Boolean);
if (wanted.includes('splitgate-b') && SPLITGATE_B === null) {
  console.error('BENCH_CANDIDATES: splitgate-b needs BENCH_SPLITGATE_B, the dist directory of the other build');
  process.exit(2);
}
for (const name of wanted) {
  if (!ALL_CANDIDATES.includes(name)) {
    console.error(`BENCH_CANDIDATES: unknown candidate ${JSON.stringify(name)} (known: ${ALL_CANDIDATES.join(', ')})`);
    process.exit(2);
  }
}
/**
 * The pairs measured side by side, `baseline,subject;baseline,subject`; each ratio is the baseline's CPU per request
 * over the subject's. Default: bare-undici beside splitgate (target ≥ 0.90×), http-proxy beside splitgate when
 * http-proxy runs (target ≥ 1.5×), splitgate beside splitgate-w2 when that runs (the scaling efficiency).
 */
const DEFAULT_PAIRS = [
  ['bare-undici', 'splitgate'],
  ...(wanted.includes('http-proxy') ? [['http-proxy', 'splitgate']] : []),
  ...(wanted.includes('splitgate-w2') ? [['splitgate', 'splitgate-w2']] : []),
];
/** Targets of the default pairs (issue 15): ≥ 0.9× bare undici, ≥ 1.5× http-proxy, scaling efficiency ≥ 0.9. */
const PAIR_TARGETS = { 'bare-undici,splitgate': 0.9, 'http-proxy,splitgate': 1.5, 'splitgate,splitgate-w2': 0.9 };
const SIDE_BY_SIDE_PAIRS =
  process.env.BENCH_PAIR === undefined || process.env.BENCH_PAIR === ''
    ? DEFAULT_PAIRS
    : process.env.BENCH_PAIR.split(';').map((pair) => pair.split(',').map((s) => s.trim()));
for (const pair of SIDE_BY_SIDE_PAIRS) {
  if (pair.length !== 2 || pair[0] === pair[1] || !pair.every((name) => ALL_CANDIDATES.includes(name) && name !== 'direct')) {
    console.error(`BENCH_PAIR: pairs of two proxy candidates, e.g. bare-undici,splitgate or bare-undici,splitgate;http-proxy,splitgate (got ${JSON.stringify(process.env.BENCH_PAIR)})`);
    process.exit(2);
  }
}
/** BENCH_FRESH_PAIRS=0: the side-by-side rounds reuse the sequential rounds' processes (the method before 2026-12-02). */
const FRESH_PAIRS = process.env.BENCH_FRESH_PAIRS !== '0';
/** The Node binary for every Node candidate (the proxies; not the load generator, which stays on this script's node). */
const NODE = process.env.BENCH_NODE || process.execPath;
if (!existsSync(NODE)) {
  console.error(`BENCH_NODE: ${JSON.stringify(NODE)} does not exist`);
  process.exit(2);
}
/** The Node binary for the `-b` candidates (splitgate-b, bare-undici-b): one Node version beside another. */
const NODE_B = process.env.BENCH_NODE_B || NODE;
if (!existsSync(NODE_B)) {
  console.error(`BENCH_NODE_B: ${JSON.stringify(NODE_B)} does not exist`);
  process.exit(2);
}
/**
 * Cores for splitgate-w2's supervisor and workers (they inherit the supervisor's affinity). Default: the proxies'
 * core alone, like every other proxy, so its CPU µs per request and the scaling efficiency compare like with like
 * and the workers do not take the load generator's core; `0,1` spreads them over both cores (raw speed-up, but the
 * load generator then competes with a worker).
 */
const W2_CPUS = process.env.BENCH_W2_CPUS || '1';
/**
 * Extra node flags for the `-b` candidates (space-separated, e.g. `--max-semi-space-size=4`): with
 * BENCH_SPLITGATE_B=dist, one build beside itself under a V8 setting, which is how a flag's CPU cost is measured.
 */
const NODE_FLAGS_B = (process.env.BENCH_NODE_FLAGS_B ?? '').split(/\s+/).filter(Boolean);
if (NODE_FLAGS_B.some((flag) => !flag.startsWith('--'))) {
  console.error(`BENCH_NODE_FLAGS_B: node flags such as --max-semi-space-size=4 (got ${JSON.stringify(process.env.BENCH_NODE_FLAGS_B)})`);
  process.exit(2);
}
if (!/^\d+(,\d+)*$/.test(W2_CPUS)) {
  console.error(`BENCH_W2_CPUS: a core list such as 1 or 0,1 (got ${JSON.stringify(W2_CPUS)})`);
  process.exit(2);
}

if (process.argv.includes('--plan')) {
  // What a run would measure, as JSON, without starting anything (the tests check the defaults this way).
  console.log(
    JSON.stringify({
      candidates: wanted,
      // The first pair (kept for the tests and scripts that read one) and all of them.
      sideBySidePair: SIDE_BY_SIDE_PAIRS[0],
      sideBySidePairs: SIDE_BY_SIDE_PAIRS,
      settings: { ...settings, node: NODE, nodeB: NODE_B, nodeFlagsB: NODE_FLAGS_B, w2Cpus: W2_CPUS },
    }),
  );
  process.exit(0);
}

// ------------------------------------------------------------------------------------------------------------
// process bookkeeping: everything started here is killed on the way out, whatever the way out is

const children = new Set();
let tempDir = null;

function alive(child) {
  return child.exitCode === null && child.signalCode === null;
}

function track(child, label) {
  child.label = label;
  children.add(child);
  child.on('exit', () => children.delete(child));
  return child;
}

async function stopChild(child, graceMs = 3_000) {
  if (!alive(child)) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => alive(child) && child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

async function stopAll() {
  await Promise.all([...children].map((child) => stopChild(child)));
}

function removeTemp() {
  if (tempDir !== null) {
    rmSync(tempDir, { recursive: true, force: true });
    tempDir = null;
  }
}

process.on('exit', () => {
  for (const child of children) if (alive(child)) child.kill('SIGKILL');
  removeTemp();
});
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    console.error(`\n${signal}: stopping everything started by the benchmark`);
    const hardExit = setTimeout(() => process.exit(130), 5_000);
    hardExit.unref();
    stopAll().finally(() => process.exit(130));
  });
}

// ------------------------------------------------------------------------------------------------------------
// helpers

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function httpGet(url, headers = {}, timeoutMs = 1_000) {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers, agent: false, timeout: timeoutMs }, (res) => {
      const chunks = [];
      res.on('data', (chunk) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

/** Polls until `url` answers 200 with the upstream's body, the child dies, or `timeoutMs` passes. */
async function waitUntilAnswers(url, child, label, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer';
  while (Date.now() < deadline) {
    if (child && !alive(child)) throw new Error(`${label} exited (code ${child.exitCode}, signal ${child.signalCode}) before answering`);
    try {
      const res = await httpGet(url, { 'x-user-id': 'user-readiness' });
      if (res.status === 200 && res.body === BODY) return;
      last = `status ${res.status}, body ${JSON.stringify(res.body.slice(0, 120))}`;
    } catch (error) {
      last = error.message;
    }
    await sleep(100);
  }
  throw new Error(`${label} did not answer ${url} within ${timeoutMs} ms (last: ${last})`);
}

/** A process and all its descendants (children of any of its threads), root first. */
function treePids(pid) {
  const out = [];
  const queue = [pid];
  while (queue.length > 0 && out.length < 256) {
    const next = queue.shift();
    out.push(next);
    let tasks = [];
    try {
      tasks = readdirSync(`/proc/${next}/task`);
    } catch {}
    for (const task of tasks) {
      try {
        queue.push(...readFileSync(`/proc/${next}/task/${task}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number));
      } catch {}
    }
  }
  return out;
}

/**
 * CPU seconds of a process tree, per pid, plus the reaped children's time the root has collected (cutime+cstime),
 * so a worker that exits (or is replaced) during a run still counts. Multi-process candidates (splitgate with
 * workers, nginx master + worker) are measured as the sum over their tree.
 */
function treeCpu(pid) {
  const perPid = new Map();
  for (const p of treePids(pid)) {
    const seconds = cpuSeconds(p);
    if (seconds !== null) perPid.set(p, seconds);
  }
  const rootFields = statFields(pid);
  if (rootFields === null) return null;
  return { perPid, reaped: (Number(rootFields[13]) + Number(rootFields[14])) / CLK_TCK };
}

/** CPU seconds the tree used between two treeCpu samples (a pid first seen at the end counts from its start). */
function treeCpuDelta(start, end) {
  if (start === null || end === null) return null;
  let total = end.reaped - start.reaped;
  for (const [p, seconds] of end.perPid) total += seconds - (start.perPid.get(p) ?? 0);
  return total;
}

/**
 * RSS of the root and of each descendant (supervisor and workers; for nginx: master and worker); a splitgate
 * supervisor's idle spare worker (`sparePid`) is reported on its own, not as a worker that serves.
 */
function treeRss(pid, sparePid = null) {
  const [root, ...rest] = treePids(pid);
  return {
    main: readRssBytes(root),
    children: rest.filter((p) => p !== sparePid).map(readRssBytes).filter((bytes) => bytes !== null),
    spare: sparePid !== null && rest.includes(sparePid) ? readRssBytes(sparePid) : null,
    // The same processes split into private and proportional shares (the RSS above counts the shared node binary in each).
    shares: { main: memoryShares(root), children: rest.filter((p) => p !== sparePid).map(memoryShares).filter((m) => m !== null) },
  };
}

/** Busy and total jiffies of one core from /proc/stat (busy: user, nice, system, irq, softirq, steal). */
function coreTicks(core) {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n').find((l) => l.startsWith(`cpu${core} `));
    const [user, nice, system, idle, iowait, irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number);
    return { userSystem: user + nice + system, steal, total: user + nice + system + idle + iowait + irq + softirq + steal };
  } catch {
    return null;
  }
}

function childPids(pid) {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

function collectStderr(child, limit = 16_384) {
  let text = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk) => {
    if (text.length < limit) text += chunk;
  });
  return () => text;
}

const median = (values) => {
  const sorted = values.filter((v) => typeof v === 'number' && Number.isFinite(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return null;
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

// ------------------------------------------------------------------------------------------------------------
// the upstream

async function startUpstream() {
  const port = await freePort();
  if (existsSync(NGINX)) {
    const prefix = join(tempDir, 'nginx');
    mkdirSync(prefix, { recursive: true });
    const conf = readFileSync(join(HERE, 'nginx-upstream.conf'), 'utf8')
      .replaceAll('{{PREFIX}}', prefix)
      .replaceAll('{{PORT}}', String(port))
      .replaceAll('{{BODY}}', BODY);
    const confPath = join(prefix, 'nginx.conf');
    writeFileSync(confPath, conf);
    const version = (spawnSync(NGINX, ['-v'], { encoding: 'utf8' }).stderr ?? '').trim().replace(/^nginx version:\s*/, '');
    const [command, args] = pinned(CPU_LOAD, NGINX, ['-p', prefix, '-e', join(prefix, 'error.log'), '-c', confPath]);
    const child = track(spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'] }), 'nginx');
    const stderr = collectStderr(child);
    const url = `http://127.0.0.1:${port}`;
    try {
      await waitUntilAnswers(url, child, 'nginx');
    } catch (error) {
      let log = '';
      try {
        log = readFileSync(join(prefix, 'error.log'), 'utf8');
      } catch {}
      throw new Error(`${error.message}\n${stderr()}${log}`);
    }
    // The worker does the serving; its RSS and CPU are the ones worth reporting.
    const worker = childPids(child.pid)[0] ?? child.pid;
    return { kind: 'nginx', description: `${version} (1 worker, return 200, ${BODY.length}-byte body)`, url, child, pid: worker };
  }
  const [command, args] = pinned(CPU_LOAD, process.execPath, [join(HERE, 'upstream-node.mjs'), String(port), BODY]);
  const child = track(spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'] }), 'node upstream');
  collectStderr(child);
  const url = `http://127.0.0.1:${port}`;
  await waitUntilAnswers(url, child, 'node upstream');
  return {
    kind: 'node',
    description: `node:http upstream (FALLBACK: ${NGINX} not found; slower, shares core 0 with the load generator)`,
    url,
    child,
    pid: child.pid,
  };
}

// ------------------------------------------------------------------------------------------------------------
// the candidates

async function startBareProxy(upstream, name = 'bare-undici') {
  const port = await freePort();
  const flags = name === 'bare-headers' ? ['--forwarding-headers'] : [];
  return startNodeProxy(name, join(HERE, 'bare-proxy.mjs'), [...flags, String(port), upstream.url], port, name === 'bare-undici-b' ? NODE_B : NODE);
}

async function startHttpProxyPeer(upstream) {
  const port = await freePort();
  return startNodeProxy('http-proxy', join(HERE, 'http-proxy-peer.mjs'), [String(port), upstream.url], port);
}

/** BENCH_NODE_FLAGS_B for the `-b` candidates, nothing for the others. */
function nodeFlagsOf(name) {
  return name.endsWith('-b') ? NODE_FLAGS_B : [];
}

async function startNodeProxy(name, script, args, port, node = NODE) {
  const [command, argv] = pinned(CPU_PROXY, node, [...nodeFlagsOf(name), script, ...args]);
  const child = track(spawn(command, argv, { stdio: ['ignore', 'ignore', 'pipe'], cwd: ROOT }), `${name} proxy`);
  const stderr = collectStderr(child);
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitUntilAnswers(url, child, `${name} proxy`);
  } catch (error) {
    throw new Error(`${error.message}\n${stderr()}`);
  }
  return { url, child, pid: child.pid, stderr };
}

/** Debian's nginx as a reverse proxy (loadtest/nginx-proxy.conf), pinned to the proxies' core; measured as master + worker. */
async function startNginxProxy(upstream) {
  const port = await freePort();
  const prefix = join(tempDir, 'nginx-proxy');
  mkdirSync(prefix, { recursive: true });
  const conf = readFileSync(join(HERE, 'nginx-proxy.conf'), 'utf8')
    .replaceAll('{{PREFIX}}', prefix)
    .replaceAll('{{PORT}}', String(port))
    .replaceAll('{{UPSTREAM}}', new URL(upstream.url).host);
  const confPath = join(prefix, 'nginx.conf');
  writeFileSync(confPath, conf);
  const [command, args] = pinned(CPU_PROXY, NGINX, ['-p', prefix, '-e', join(prefix, 'error.log'), '-c', confPath]);
  const child = track(spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'] }), 'nginx-proxy');
  const stderr = collectStderr(child);
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitUntilAnswers(url, child, 'nginx-proxy');
  } catch (error) {
    let log = '';
    try {
      log = readFileSync(join(prefix, 'error.log'), 'utf8');
    } catch {}
    throw new Error(`${error.message}\n${stderr()}${log}`);
  }
  return { url, child, pid: child.pid, stderr };
}

async function startSplitgate(upstream, name = 'splitgate', dist = join(ROOT, 'dist'), workers = 1, node = NODE) {
  const bin = join(dist, 'bin.js');
  if (!existsSync(bin)) throw new Error(`${bin} not found: run \`npm run build\` first (npm run bench does)`);
  const [port, adminPort] = [await freePort(), await freePort()];
  const config = parseYaml(readFileSync(join(HERE, 'splitgate-bench.yaml'), 'utf8'));
  config.listen = `127.0.0.1:${port}`;
  config.admin = { ...(config.admin ?? {}), listen: `127.0.0.1:${adminPort}` };
  for (const name of Object.keys(config.upstreams)) config.upstreams[name] = upstream.url;
  // `workers: 1` is the default and stays unwritten, so builds from before the key run the same config.
  if (workers > 1) config.workers = workers;
  const configPath = join(tempDir, `${name}.yaml`);
  writeFileSync(configPath, stringifyYaml(config));
  const logPath = join(tempDir, `${name}.log`);
  const logFd = openSync(logPath, 'w');
  const [command, args] = pinned(workers > 1 ? W2_CPUS : CPU_PROXY, node, [...nodeFlagsOf(name), bin, '--config', configPath]);
  const child = track(spawn(command, args, { stdio: ['ignore', logFd, 'pipe'], cwd: ROOT }), name);
  closeSync(logFd);
  const stderr = collectStderr(child);
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitUntilAnswers(url, child, name);
  } catch (error) {
    let log = '';
    try {
      log = readFileSync(logPath, 'utf8').slice(0, 4_000);
    } catch {}
    throw new Error(`${error.message}\n${stderr()}${log}`);
  }
  if (workers > 1) {
    // The port answers as soon as one worker listens: wait (bounded) until all of them run before measuring.
    const deadline = Date.now() + 15_000;
    while (treePids(child.pid).length - 1 < workers && Date.now() < deadline) await sleep(100);
    const found = treePids(child.pid).length - 1;
    if (found < workers) throw new Error(`${name}: ${found} worker processes after 15 s, expected ${workers}\n${stderr()}`);
  }
  // The supervisor's idle spare worker (builds that have one say `sparePid` in /status), forked once the workers
  // listen: its RSS is reported apart from the serving workers'.
  let sparePid = null;
  if (workers > 1) {
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline) {
      const status = await httpGet(`http://127.0.0.1:${adminPort}/status`, {}, 2_000).catch(() => null);
      const body = status?.status === 200 ? JSON.parse(status.body) : null;
      if (body !== null && !('sparePid' in body)) break;
      if (typeof body?.sparePid === 'number') {
        sparePid = body.sparePid;
        break;
      }
      await sleep(100);
    }
  }
  return { url, child, pid: child.pid, stderr, adminUrl: `http://127.0.0.1:${adminPort}`, logPath, config, sparePid };
}

/** splitgate's own view after the run: routing decisions by version and non-2xx answers, from /metrics. */
async function splitgateMetrics(adminUrl) {
  const res = await httpGet(`${adminUrl}/metrics`, {}, 5_000);
  if (res.status !== 200) return { error: `GET /metrics answered ${res.status}` };
  const decisions = {};
  const codes = {};
  let upstreamErrors = 0;
  for (const line of res.body.split('\n')) {
    let m = /^splitgate_routing_decisions_total\{([^}]*)\}\s+(\S+)/.exec(line);
    if (m) {
      const version = /version="([^"]*)"/.exec(m[1])?.[1] ?? '?';
      const reason = /reason="([^"]*)"/.exec(m[1])?.[1] ?? '?';
      decisions[`${version}/${reason}`] = (decisions[`${version}/${reason}`] ?? 0) + Number(m[2]);
      continue;
    }
    m = /^http_requests_total\{([^}]*)\}\s+(\S+)/.exec(line);
    if (m) {
      const code = /code="([^"]*)"/.exec(m[1])?.[1] ?? '?';
      codes[code] = (codes[code] ?? 0) + Number(m[2]);
      continue;
    }
    m = /^splitgate_upstream_errors_total\{[^}]*\}\s+(\S+)/.exec(line);
    if (m) upstreamErrors += Number(m[1]);
  }
  let canary = 0;
  let total = 0;
  for (const [key, count] of Object.entries(decisions)) {
    total += count;
    if (key.startsWith('canary/')) canary += count;
  }
  return { decisions, responseCodes: codes, upstreamErrors, canaryShare: total > 0 ? canary / total : null };
}

function logProblems(logPath) {
  try {
    const lines = readFileSync(logPath, 'utf8').split('\n').filter(Boolean);
    const bad = lines.filter((line) => /"level":"(warn|error|fatal)"/.test(line));
    return { lines: lines.length, warnOrWorse: bad.length, sample: bad.slice(0, 3) };
  } catch {
    return { lines: 0, warnOrWorse: 0, sample: [] };
  }
}

// ------------------------------------------------------------------------------------------------------------
// one measurement

function runLoad(url, pid, pinnedToProxyCore, connections = settings.connections, sparePid = null) {
  const options = {
    url,
    connections,
    duration: settings.durationSeconds,
    warmup: settings.warmupSeconds,
    users: settings.users,
  };
  const [command, args] = pinned(CPU_LOAD, process.execPath, [join(HERE, 'runner.mjs'), JSON.stringify(options)]);
  const child = track(spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] }), 'load generator');
  const stderr = collectStderr(child);
  const limitMs = (settings.warmupSeconds + settings.durationSeconds + 30) * 1000;
  return new Promise((resolve, reject) => {
    let stdout = '';
    let result = null;
    let cpuAtStart = null;
    let wallAtStart = null;
    let proxyCpuPercent = null;
    let serverCpuSeconds = null;
    let coreAtStart = null;
    let otherOnCorePercent = null;
    let stealPercent = null;
    let rss = null;
    let processes = null;
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
      let newline;
      while ((newline = stdout.indexOf('\n')) !== -1) {
        const line = stdout.slice(0, newline);
        stdout = stdout.slice(newline + 1);
        if (line.trim() === '') continue;
        const message = JSON.parse(line);
        if (message.phase === 'measure') {
          cpuAtStart = treeCpu(pid);
          coreAtStart = coreTicks(CPU_PROXY);
          wallAtStart = performance.now();
        } else {
          // Sampled as soon as the results arrive, before the runner's exit.
          const cpuAtEnd = treeCpu(pid);
          const coreAtEnd = coreTicks(CPU_PROXY);
          // Under load, before the runner closes its connections: the figure to hold against the RSS goals.
          rss = treeRss(pid, sparePid);
          processes = cpuAtEnd?.perPid.size ?? null;
          if (cpuAtStart !== null && cpuAtEnd !== null) {
            serverCpuSeconds = treeCpuDelta(cpuAtStart, cpuAtEnd);
            proxyCpuPercent = (100 * serverCpuSeconds) / ((performance.now() - wallAtStart) / 1000);
          }
          // Anything else that ran on the proxies' core meanwhile (other users' processes, unpinned jobs):
          // user+system time on core 1 beyond the measured process's own. Only meaningful for the proxies.
          if (coreAtStart !== null && coreAtEnd !== null && serverCpuSeconds !== null) {
            const total = coreAtEnd.total - coreAtStart.total;
            if (total > 0) {
              const foreign = (coreAtEnd.userSystem - coreAtStart.userSystem) / CLK_TCK - (pinnedToProxyCore ? serverCpuSeconds : 0);
              otherOnCorePercent = Math.max(0, (100 * foreign * CLK_TCK) / total);
              stealPercent = (100 * (coreAtEnd.steal - coreAtStart.steal)) / total;
            }
          }
          result = message;
        }
      }
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`load generator ran past its ${limitMs} ms limit`));
    }, limitMs);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0 && result !== null) {
        resolve({
          ...result,
          serverCpuPercent: proxyCpuPercent,
          serverCpuMicrosPerRequest: serverCpuSeconds !== null && result.requests > 0 ? (serverCpuSeconds * 1e6) / result.requests : null,
          otherOnProxyCorePercent: otherOnCorePercent,
          proxyCoreStealPercent: stealPercent,
          rss,
          processes,
        });
      }
      else reject(new Error(`load generator failed (code ${code}, signal ${signal})\n${stderr()}`));
    });
  });
}

// ------------------------------------------------------------------------------------------------------------
// output

const fmtInt = (n) => (n === null || n === undefined ? '-' : Math.round(n).toLocaleString('en-US'));
// autocannon records latencies in whole milliseconds; medians of those can end in .5.
const fmtMs = (n) => (n === null || n === undefined ? '-' : Number.isInteger(n) ? String(n) : n.toFixed(1));
const fmtMb = (bytes) => (bytes === null || bytes === undefined ? '-' : `${(bytes / 1024 / 1024).toFixed(0)} MB`);
/** The root's RSS, and its descendants' (workers; nginx's worker) after a `+`. */
const fmtRss = (main, children = []) => (children.length === 0 ? fmtMb(main) : `${fmtMb(main)} + ${children.map(fmtMb).join(' + ')}`);
const fmtPct = (n) => (n === null || n === undefined ? '-' : `${n.toFixed(0)} %`);
const fmtRatio = (n) => (n === null || n === undefined ? '-' : `${n.toFixed(2)}×`);

function table(rows) {
  const widths = rows[0].map((_, col) => Math.max(...rows.map((row) => String(row[col]).length)));
  return rows
    .map((row, i) => {
      const line = row.map((cell, col) => (col === 0 ? String(cell).padEnd(widths[col]) : String(cell).padStart(widths[col]))).join('  ');
      return i === 0 ? `${line}\n${widths.map((w) => '-'.repeat(w)).join('  ')}` : line;
    })
    .join('\n');
}


/**
 * Starts candidate `name` and returns it as `{ name, url, pid, proxy?, what }`, or null (with a warning pushed) when
 * it cannot run here.
 */
async function startCandidate(name, upstream, { nodeVersion, nodeBVersion, warnings }) {
  if (name === 'direct') return { name, url: upstream.url, pid: upstream.pid, what: upstream.kind === 'nginx' ? 'nginx worker' : 'node upstream' };
  if (name === 'nginx-proxy') {
    if (!existsSync(NGINX)) {
      warnings.push(`nginx-proxy left out: ${NGINX} not found`);
      return null;
    }
    const proxy = await startNginxProxy(upstream);
    return { name, url: proxy.url, pid: proxy.pid, proxy, what: 'nginx master+worker' };
  }
  if (name === 'http-proxy') {
    const proxy = await startHttpProxyPeer(upstream);
    return { name, url: proxy.url, pid: proxy.pid, proxy, what: `node ${nodeVersion}` };
  }
  if (name === 'bare-undici' || name === 'bare-headers' || name === 'bare-undici-b') {
    const proxy = await startBareProxy(upstream, name);
    return { name, url: proxy.url, pid: proxy.pid, proxy, what: `node ${name === 'bare-undici-b' ? nodeBVersion : nodeVersion}` };
  }
  if (name === 'splitgate' || name === 'splitgate-b') {
    const proxy = name === 'splitgate' ? await startSplitgate(upstream) : await startSplitgate(upstream, name, SPLITGATE_B, 1, NODE_B);
    return { name, url: proxy.url, pid: proxy.pid, proxy, what: `node ${name === 'splitgate-b' ? nodeBVersion : nodeVersion}` };
  }
  if (name === 'splitgate-w2') {
    try {
      const proxy = await startSplitgate(upstream, name, join(ROOT, 'dist'), 2);
      return { name, url: proxy.url, pid: proxy.pid, proxy, what: `node ${nodeVersion}, supervisor+workers on cores ${W2_CPUS}` };
    } catch (error) {
      // Opt-in, and builds without the `workers` key refuse the config: go on with the others.
      const reason = String(error.message).split('\n').find((line) => /workers|Unrecognized|error/i.test(line)) ?? String(error.message).split('\n')[0];
      warnings.push(`splitgate-w2 left out: it did not start with workers: 2 (does this build know the \`workers\` key?): ${reason.slice(0, 300)}`);
      for (const child of [...children]) if (child.label === name) await stopChild(child);
    }
  }
  return null;
}

// ------------------------------------------------------------------------------------------------------------
// main

async function main() {
  if (hasTaskset) {
    // This script mostly waits, but keep it off the proxies' core.
    spawnSync('taskset', ['-a', '-p', '-c', CPU_LOAD, String(process.pid)], { stdio: 'ignore' });
  } else {
    console.warn('WARNING: taskset not found; nothing is pinned and figures are not comparable with pinned runs.');
  }
  tempDir = mkdtempSync(join(tmpdir(), 'splitgate-bench-'));
  const startedAt = new Date();

  const upstream = await startUpstream();
  const startWarnings = [];
  const nodeVersion = spawnSync(NODE, ['--version'], { encoding: 'utf8' }).stdout?.trim() ?? '?';
  const nodeBVersion = spawnSync(NODE_B, ['--version'], { encoding: 'utf8' }).stdout?.trim() ?? '?';
  const candidates = [];
  for (const name of wanted) {
    const candidate = await startCandidate(name, upstream, { nodeVersion, nodeBVersion, warnings: startWarnings });
    if (candidate !== null) candidates.push(candidate);
  }
  for (const warning of startWarnings) console.log(`WARNING: ${warning}`);

  const noisyRounds = [];
  const perRound = settings.warmupSeconds + settings.durationSeconds;
  const runnablePairs = SIDE_BY_SIDE_PAIRS.filter((pair) => pair.every((name) => candidates.some((c) => c.name === name)));
  const sideBySidePlanned = runnablePairs.length * settings.sideBySideRounds;
  const estimate = (settings.rounds * candidates.length + sideBySidePlanned) * (perRound + 1);
  console.log(
    `splitgate bench: ${settings.rounds} rounds × ${candidates.length} candidates × (${settings.warmupSeconds} s warm-up + ` +
      `${settings.durationSeconds} s), then ${sideBySidePlanned} side-by-side rounds, ${settings.connections} connections, ${settings.users} user ids; ` +
      `about ${Math.ceil(estimate / 60)} min`,
  );
  console.log(
    `Node candidates run on ${NODE} (${nodeVersion})${NODE_B !== NODE ? `, the -b candidates on ${NODE_B} (${nodeBVersion})` : ''}` +
      `${NODE_FLAGS_B.length > 0 ? `, the -b candidates with ${NODE_FLAGS_B.join(' ')}` : ''}; ` +
      `the load generator on ${process.execPath} (${process.version})`,
  );
  console.log(`upstream: ${upstream.description} at ${upstream.url}`);

  for (let round = 1; round <= settings.rounds; round++) {
    // Counterbalanced: odd rounds run the candidates in order, even rounds in reverse, so no candidate always
    // runs first (or right after another's load) — measured here, position alone moved one proxy by a few %.
    const order = round % 2 === 1 ? candidates : [...candidates].reverse();
    for (const candidate of order) {
      if (candidate.proxy && !alive(candidate.proxy.child)) {
        throw new Error(`${candidate.name} died before round ${round}\n${candidate.proxy.stderr()}`);
      }
      const result = await runLoad(candidate.url, candidate.pid, candidate.name !== 'direct', settings.connections, candidate.proxy?.sparePid ?? null);
      (candidate.rounds ??= []).push(result);
      console.log(
        `  round ${round}/${settings.rounds}  ${candidate.name.padEnd(12)} ${fmtInt(result.reqPerSec).padStart(7)} req/s  ` +
          `p50 ${fmtMs(result.latencyMs.p50)} ms  p99 ${fmtMs(result.latencyMs.p99)} ms  ` +
          `non-2xx ${result.non2xx}  errors ${result.errors}  ` +
          `server CPU ${fmtPct(result.serverCpuPercent)} (${fmtInt(result.serverCpuMicrosPerRequest)} µs/req)  ` +
          `load-gen CPU ${fmtPct(result.cpuPercent)}  other load on core ${CPU_PROXY}: ${fmtPct(result.otherOnProxyCorePercent)}`,
      );
      if (candidate.name !== 'direct' && result.otherOnProxyCorePercent > NOISE_LIMIT_PERCENT) {
        noisyRounds.push(`${candidate.name} round ${round}: ${result.otherOnProxyCorePercent.toFixed(0)} %`);
      }
      if (round === settings.rounds) candidate.rss = result.rss;
    }
  }

  // Side by side: both proxies on core 1 at the same time, each with half the connections, so whatever slows the
  // machine down slows both alike; the ratio of their CPU time per request is splitgate's throughput per core
  // relative to the baseline. Measured here: two copies of the same proxy came out within 1 % of each other,
  // where back-to-back rounds differed by up to 40 %.
  // Read before the side-by-side rounds, which run fresh copies (so: the sequential rounds' requests).
  const splitgate = candidates.find((c) => c.name === 'splitgate');
  if (splitgate) {
    splitgate.metrics = await splitgateMetrics(splitgate.proxy.adminUrl).catch((error) => ({ error: error.message }));
  }

  const sideBySide = [];
  const half = Math.max(1, Math.floor(settings.connections / 2));
  for (const names of runnablePairs) {
    // Fresh processes for each pair, started together: a proxy's CPU per request depends on its own history (V8
    // sizes its heap from what the process went through; an idle spell lets it shrink and compact). After the
    // sequential rounds each candidate's history differs, and bare-undici and bare-headers (bare-proxy.mjs with and without six header fields) measured 0.86x
    // beside each other with it, 0.96x started fresh (loadtest/README.md, "History").
    const pair = [];
    for (const name of names) {
      const sequential = candidates.find((c) => c.name === name);
      if (!FRESH_PAIRS) {
        pair.push(sequential);
        continue;
      }
      if (sequential.proxy) await stopChild(sequential.proxy.child);
      const fresh = await startCandidate(name, upstream, { nodeVersion, nodeBVersion, warnings: [] });
      if (fresh === null) throw new Error(`${name} did not start again for the side-by-side rounds`);
      pair.push(fresh);
    }
    const pairRounds = [];
    console.log(`side by side: ${pair[0].name} and ${pair[1].name} both on core ${CPU_PROXY} at once, ${half} connections each`);
    for (let round = 1; round <= settings.sideBySideRounds; round++) {
      for (const c of pair) if (!alive(c.proxy.child)) throw new Error(`${c.name} died before side-by-side round ${round}\n${c.proxy.stderr()}`);
      // Started in alternating order, as the rounds above.
      const order = round % 2 === 1 ? pair : [...pair].reverse();
      const results = await Promise.all(order.map((c) => runLoad(c.url, c.pid, true, half, c.proxy?.sparePid ?? null)));
      const [baseline, subject] = order[0] === pair[0] ? results : [...results].reverse();
      const ratio =
        baseline.serverCpuMicrosPerRequest && subject.serverCpuMicrosPerRequest ? baseline.serverCpuMicrosPerRequest / subject.serverCpuMicrosPerRequest : null;
      pairRounds.push({ baseline, subject, ratio });
      console.log(
        `  side by side ${round}/${settings.sideBySideRounds}  ${pair[0].name} ${fmtInt(baseline.reqPerSec)} req/s ${fmtInt(baseline.serverCpuMicrosPerRequest)} µs/req  ` +
          `${pair[1].name} ${fmtInt(subject.reqPerSec)} req/s ${fmtInt(subject.serverCpuMicrosPerRequest)} µs/req  ` +
          `CPU per request ${pair[0].name}/${pair[1].name} ${ratio === null ? '-' : ratio.toFixed(3)}  ` +
          `non-2xx ${baseline.non2xx + subject.non2xx}  errors ${baseline.errors + subject.errors}`,
      );
    }
    sideBySide.push({ pair: names, rounds: pairRounds });
  }

  // -- summarize
  const summary = {};
  for (const c of candidates) {
    const rates = c.rounds.map((r) => r.reqPerSec);
    summary[c.name] = {
      reqPerSec: { median: median(rates), min: Math.min(...rates), max: Math.max(...rates), rounds: rates },
      latencyMs: { p50: median(c.rounds.map((r) => r.latencyMs.p50)), p99: median(c.rounds.map((r) => r.latencyMs.p99)) },
      // Under load at the end of the last round: the root process (supervisor, nginx master) and each descendant.
      rssBytes: c.rss?.main ?? null,
      rssChildrenBytes: c.rss?.children ?? [],
      // splitgate-w2: the loaded, idle worker that replaces one that exits (null for builds without one).
      rssSpareBytes: c.rss?.spare ?? null,
      memoryShares: c.rss?.shares ?? null,
      rssOf: c.what,
      processes: c.rounds.at(-1)?.processes ?? null,
      serverCpuPercent: median(c.rounds.map((r) => r.serverCpuPercent)),
      serverCpuMicrosPerRequest: median(c.rounds.map((r) => r.serverCpuMicrosPerRequest)),
      otherOnProxyCorePercent: median(c.rounds.map((r) => r.otherOnProxyCorePercent)),
      loadGeneratorCpuPercent: median(c.rounds.map((r) => r.cpuPercent)),
      requests: c.rounds.reduce((sum, r) => sum + r.requests, 0),
      non2xx: c.rounds.reduce((sum, r) => sum + r.non2xx, 0),
      errors: c.rounds.reduce((sum, r) => sum + r.errors, 0),
      timeouts: c.rounds.reduce((sum, r) => sum + r.timeouts, 0),
      resets: c.rounds.reduce((sum, r) => sum + (r.resets ?? 0), 0),
      statusCodes: c.rounds.reduce((acc, r) => {
        for (const [code, stats] of Object.entries(r.statusCodeStats)) acc[code] = (acc[code] ?? 0) + stats.count;
        return acc;
      }, {}),
    };
  }
  const rate = (name) => summary[name]?.reqPerSec.median ?? null;
  const ratio = (a, b) => (rate(a) !== null && rate(b) ? rate(a) / rate(b) : null);
  // Each round runs bare-undici and splitgate back to back (in alternating order), so the ratio within a round
  // cancels most of the machine's drift between rounds (seen here: the same proxy varying 8 k–14 k req/s from one round to the next).
  const paired = (a, b) => {
    const left = candidates.find((c) => c.name === a)?.rounds ?? [];
    const right = candidates.find((c) => c.name === b)?.rounds ?? [];
    const perRound = left.map((r, i) => (right[i]?.reqPerSec ? r.reqPerSec / right[i].reqPerSec : null)).filter((x) => x !== null);
    return perRound.length ? { median: median(perRound), rounds: perRound } : null;
  };
  const pairSummaries = sideBySide.map(({ pair, rounds }) => {
    const values = rounds.map((r) => r.ratio).filter((x) => x !== null);
    return {
      pair,
      target: PAIR_TARGETS[pair.join(',')] ?? null,
      ...(values.length ? { median: median(values), min: Math.min(...values), max: Math.max(...values), rounds: values } : { median: null, rounds: [] }),
    };
  });
  const cpuPerRequest = (name) => summary[name]?.serverCpuMicrosPerRequest ?? null;
  const cpuRatio = (a, b) => (cpuPerRequest(a) && cpuPerRequest(b) ? cpuPerRequest(a) / cpuPerRequest(b) : null);
  /**
   * Scaling efficiency of splitgate-w2 over splitgate, per sequential round: (req/s with 2 ÷ req/s with 1) ÷
   * (CPU used with 2 ÷ CPU used with 1), CPU used = the process tree's CPU over the run. It reduces to the ratio of
   * CPU per request, so it says whether workers add per-request cost; it does not need the cores to be free.
   */
  const efficiencyRounds = (() => {
    const one = candidates.find((c) => c.name === 'splitgate')?.rounds ?? [];
    const two = candidates.find((c) => c.name === 'splitgate-w2')?.rounds ?? [];
    return two
      .map((r, i) =>
        one[i]?.reqPerSec && one[i]?.serverCpuPercent && r.serverCpuPercent ? r.reqPerSec / one[i].reqPerSec / (r.serverCpuPercent / one[i].serverCpuPercent) : null,
      )
      .filter((x) => x !== null);
  })();
  const firstPair = pairSummaries[0];
  const ratios = {
    // The first pair's (BENCH_PAIR; by default bare-undici over splitgate): baseline CPU per request over the subject's.
    sideBySideCpu: firstPair?.median != null ? { median: firstPair.median, min: firstPair.min, max: firstPair.max, rounds: firstPair.rounds } : null,
    sideBySidePairs: pairSummaries,
    splitgateOverBarePaired: paired('splitgate', 'bare-undici'),
    splitgateOverBare: ratio('splitgate', 'bare-undici'),
    splitgateOverHttpProxyPaired: paired('splitgate', 'http-proxy'),
    splitgateOverHttpProxy: ratio('splitgate', 'http-proxy'),
    splitgateOverNginxProxy: ratio('splitgate', 'nginx-proxy'),
    splitgateOverDirect: ratio('splitgate', 'direct'),
    bareOverDirect: ratio('bare-undici', 'direct'),
    // Proxy CPU time per request, bare over splitgate: the same "how fast" question as the req/s ratio, but much
    // less sensitive to other load on the machine (a process's own CPU time is counted only while it runs).
    bareOverSplitgateCpuPerRequest: cpuRatio('bare-undici', 'splitgate'),
    httpProxyOverSplitgateCpuPerRequest: cpuRatio('http-proxy', 'splitgate'),
    scalingEfficiency: efficiencyRounds.length
      ? { median: median(efficiencyRounds), rounds: efficiencyRounds, reqPerSecW2OverW1: ratio('splitgate-w2', 'splitgate'), cpuPerRequestW1OverW2: cpuRatio('splitgate', 'splitgate-w2') }
      : null,
  };

  const warnings = [];
  if (noisyRounds.length > 0) {
    warnings.push(
      `NOISY: other processes used more than ${NOISE_LIMIT_PERCENT} % of core ${CPU_PROXY} (the proxies' core) during ` +
        `${noisyRounds.join(', ')}. Those req/s figures are low; rerun on a quiet machine or lean on CPU µs/req.`,
    );
  }
  for (const c of candidates) {
    const s = summary[c.name];
    if (s.non2xx + s.errors > 0) {
      warnings.push(`${c.name}: ${s.non2xx} non-2xx, ${s.errors} errors (${s.timeouts} of them timeouts); status codes ${JSON.stringify(s.statusCodes)}`);
    }
  }
  let splitgateFailed = false;
  if (splitgate) {
    const s = summary.splitgate;
    const log = logProblems(splitgate.proxy.logPath);
    splitgate.log = log;
    // splitgate's own failures in the side-by-side rounds, whichever side of each pair it was on.
    let sideBySideFailures = 0;
    for (const { pair, rounds } of sideBySide) {
      const side = pair[0] === 'splitgate' ? 'baseline' : pair[1] === 'splitgate' ? 'subject' : null;
      if (side !== null) sideBySideFailures += rounds.reduce((sum, r) => sum + r[side].non2xx + r[side].errors, 0);
    }
    splitgateFailed = s.non2xx + s.errors + sideBySideFailures > 0 || (splitgate.metrics.upstreamErrors ?? 0) > 0;
    if (sideBySideFailures > 0) warnings.push(`splitgate: ${sideBySideFailures} non-2xx or errors in the side-by-side rounds`);
    if (log.warnOrWorse > 0) warnings.push(`splitgate logged ${log.warnOrWorse} warn/error lines, e.g. ${log.sample[0]}`);
  }
  if (upstream.kind !== 'nginx') warnings.push(`upstream is the node:http fallback (${NGINX} not found): figures are lower than with nginx`);
  if (!hasTaskset) warnings.push('taskset not found: nothing was pinned');

  // -- print
  console.log('');
  console.log(`Results: median of ${settings.rounds} rounds (min–max), ${settings.durationSeconds} s each; load generator autocannon 8, ${settings.connections} connections`);
  console.log('');
  const rows = [['candidate', 'req/s', 'min–max', 'p50 ms', 'p99 ms', 'RSS (+ children)', 'what', 'server CPU', 'CPU µs/req', `other on core ${CPU_PROXY}`, 'load-gen CPU', 'non-2xx', 'errors']];
  for (const c of candidates) {
    const s = summary[c.name];
    rows.push([
      c.name,
      fmtInt(s.reqPerSec.median),
      `${fmtInt(s.reqPerSec.min)}–${fmtInt(s.reqPerSec.max)}`,
      fmtMs(s.latencyMs.p50),
      fmtMs(s.latencyMs.p99),
      fmtRss(s.rssBytes, s.rssChildrenBytes),
      c.what,
      fmtPct(s.serverCpuPercent),
      fmtInt(s.serverCpuMicrosPerRequest),
      c.name === 'direct' ? '-' : fmtPct(s.otherOnProxyCorePercent),
      fmtPct(s.loadGeneratorCpuPercent),
      String(s.non2xx),
      String(s.errors),
    ]);
  }
  console.log(table(rows));
  console.log('');
  if (ratios.splitgateOverBarePaired !== null) {
    const { median: m, rounds } = ratios.splitgateOverBarePaired;
    console.log(
      `splitgate / bare-undici  ${fmtRatio(m)}  (median of per-round ratios: ${rounds.map((r) => r.toFixed(2)).join(', ')}; ` +
        `${m >= 0.9 ? 'meets' : 'BELOW'} the ≥ 0.90× target)`,
    );
  }
  if (ratios.splitgateOverBare !== null) {
    const verdict = ratios.splitgateOverBare >= 0.9 ? 'meets the ≥ 0.90× target' : 'BELOW the ≥ 0.90× target';
    console.log(`splitgate / bare-undici  ${fmtRatio(ratios.splitgateOverBare)}  (ratio of the median req/s; ${verdict})`);
  }
  if (ratios.splitgateOverDirect !== null) console.log(`splitgate / direct       ${fmtRatio(ratios.splitgateOverDirect)}  (req/s)`);
  if (ratios.bareOverDirect !== null) console.log(`bare-undici / direct     ${fmtRatio(ratios.bareOverDirect)}  (req/s)`);
  if (ratios.bareOverSplitgateCpuPerRequest !== null) {
    console.log(
      `CPU per request, bare-undici / splitgate: ${fmtRatio(ratios.bareOverSplitgateCpuPerRequest)}  ` +
        `(${fmtInt(summary['bare-undici'].serverCpuMicrosPerRequest)} vs ${fmtInt(summary.splitgate.serverCpuMicrosPerRequest)} µs; ` +
        'the throughput ratio splitgate would reach on a quiet, saturated core)',
    );
  }
  if (ratios.splitgateOverHttpProxyPaired !== null) {
    const { median: m, rounds } = ratios.splitgateOverHttpProxyPaired;
    console.log(
      `splitgate / http-proxy   ${fmtRatio(m)}  (req/s, median of per-round ratios: ${rounds.map((r) => r.toFixed(2)).join(', ')}; ` +
        `${m >= 1.5 ? 'meets' : 'BELOW'} the ≥ 1.5× target)`,
    );
  }
  if (ratios.httpProxyOverSplitgateCpuPerRequest !== null) {
    console.log(
      `CPU per request, http-proxy / splitgate: ${fmtRatio(ratios.httpProxyOverSplitgateCpuPerRequest)}  ` +
        `(${fmtInt(summary['http-proxy'].serverCpuMicrosPerRequest)} vs ${fmtInt(summary.splitgate.serverCpuMicrosPerRequest)} µs)`,
    );
  }
  if (ratios.splitgateOverNginxProxy !== null) {
    console.log(
      `splitgate / nginx-proxy  ${fmtRatio(ratios.splitgateOverNginxProxy)}  (ratio of the median req/s; CPU per request ` +
        `${fmtInt(summary['nginx-proxy'].serverCpuMicrosPerRequest)} vs ${fmtInt(summary.splitgate.serverCpuMicrosPerRequest)} µs)`,
    );
  }
  if (ratios.scalingEfficiency !== null) {
    const { median: m, rounds, reqPerSecW2OverW1, cpuPerRequestW1OverW2 } = ratios.scalingEfficiency;
    const w2 = summary['splitgate-w2'];
    console.log(
      `scaling efficiency, splitgate-w2 over splitgate: ${fmtRatio(m)}  ((req/s ratio) ÷ (CPU ratio) per round: ${rounds.map((r) => r.toFixed(2)).join(', ')}; ` +
        `req/s ${fmtRatio(reqPerSecW2OverW1)}, CPU per request w1/w2 ${fmtRatio(cpuPerRequestW1OverW2)}; ${m >= 0.9 ? 'meets' : 'BELOW'} the ≥ 0.9 target; ` +
        `cores ${W2_CPUS})`,
    );
    console.log(
      `splitgate-w2 RSS under load: supervisor ${fmtMb(w2.rssBytes)} (goal ≤ 60 MB), workers ${w2.rssChildrenBytes.map(fmtMb).join(', ') || '-'} (goal ≤ 80 MB each)` +
        `${w2.rssSpareBytes === null ? '' : `, idle spare worker ${fmtMb(w2.rssSpareBytes)}`}`,
    );
    const shares = w2.memoryShares;
    if (shares?.main) {
      const fmtShare = (m) => `${fmtMb(m.private)} private, ${fmtMb(m.proportional)} proportional`;
      console.log(
        `splitgate-w2 memory by who pays for it (RSS counts the node binary's ~40 MB of shared code in every process): ` +
          `supervisor ${fmtShare(shares.main)}; workers ${shares.children.map(fmtShare).join('; ')}; all processes together ` +
          `${fmtMb(shares.main.proportional + shares.children.reduce((sum, m) => sum + m.proportional, 0))} (sum of proportional shares)`,
      );
    }
  }
  for (const p of ratios.sideBySidePairs) {
    if (p.median === null) continue;
    const verdict = p.target === null ? '' : `; ${p.median >= p.target ? 'meets' : 'BELOW'} the ≥ ${p.target}× target`;
    const what = p.pair.join(',') === 'splitgate,splitgate-w2' ? ' = scaling efficiency' : '';
    console.log(
      `side by side, CPU per request ${p.pair.join(' / ')}${what}: ${fmtRatio(p.median)}  (median of ${p.rounds.length} rounds: ` +
        `${p.rounds.map((r) => r.toFixed(3)).join(', ')}; both on one core at once, so the machine's drift cancels${verdict})`,
    );
  }
  console.log('');
  console.log(
    `Note: autocannon tops out near ${AUTOCANNON_CEILING} on this machine, so the \`direct\` figure is load-generator bound ` +
      '(nginx alone does ~57 k with wrk); it is not the upstream\'s ceiling. The proxies run on core 1 alone; "server CPU" ' +
      'is the proxy process (for direct: the nginx worker, which shares core 0 with the load generator).',
  );
  if (splitgate?.metrics && !splitgate.metrics.error) {
    const share = splitgate.metrics.canaryShare;
    console.log(
      `splitgate's /metrics: canary share ${share === null ? '-' : `${(share * 100).toFixed(1)} %`} of routing decisions ` +
        `(route weight 10 %, sticky on x-user-id), responses by code ${JSON.stringify(splitgate.metrics.responseCodes)}, ` +
        `upstream errors ${splitgate.metrics.upstreamErrors}; ${splitgate.log.lines} log lines written.`,
    );
    if (splitgate.metrics.responseCodes['499']) {
      console.log(
        `(499 = client gone before the response: autocannon closes its connections with requests in flight at the end ` +
          `of every warm-up and run; autocannon never sees these, so they are not failures.)`,
      );
    }
  } else if (splitgate?.metrics?.error) {
    warnings.push(`could not read splitgate's /metrics: ${splitgate.metrics.error}`);
  }
  warnings.push(...startWarnings);
  for (const warning of warnings) console.log(`WARNING: ${warning}`);
  if (splitgateFailed) {
    const s = summary.splitgate;
    console.log('');
    console.log('!'.repeat(100));
    console.log(
      `!!! SPLITGATE FAILED REQUESTS: ${s.non2xx} non-2xx, ${s.errors} errors (${s.timeouts} timeouts), ` +
        `${splitgate.metrics.upstreamErrors ?? '?'} upstream errors. Its req/s figure is not valid.`,
    );
    console.log('!'.repeat(100));
  }

  // -- JSON
  const report = {
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model ?? null, node: process.version, candidatesNode: nodeVersion, candidatesNodePath: NODE, nodeB: nodeBVersion, nodeBPath: NODE_B, pinned: hasTaskset },
    settings: { ...settings, node: NODE, nodeB: NODE_B, nodeFlagsB: NODE_FLAGS_B, w2Cpus: W2_CPUS, loadGenerator: 'autocannon 8', upstream: upstream.description, proxyCore: CPU_PROXY, loadCore: CPU_LOAD, proxiesKeptAcrossRounds: true },
    candidates: Object.fromEntries(candidates.map((c) => [c.name, { ...summary[c.name], roundsDetail: c.rounds }])),
    ratios,
    sideBySide: { pair: SIDE_BY_SIDE_PAIRS[0], rounds: sideBySide[0]?.rounds ?? [], pairs: sideBySide },
    splitgate: splitgate ? { config: splitgate.proxy.config, metrics: splitgate.metrics, log: splitgate.log, failed: splitgateFailed } : null,
    warnings,
    notes: [`autocannon tops out near ${AUTOCANNON_CEILING} on this machine: the direct figure is load-generator bound`],
  };
  const resultsDir = join(HERE, 'results');
  mkdirSync(resultsDir, { recursive: true });
  writeFileSync(join(resultsDir, 'latest.json'), JSON.stringify(report, null, 2) + '\n');
  console.log(`\nwritten: ${join('loadtest', 'results', 'latest.json')}`);
  return splitgateFailed ? 1 : 0;
}

let exitCode = 1;
try {
  exitCode = await main();
} catch (error) {
  console.error(`\nbench failed: ${error?.stack ?? error}`);
  exitCode = 1;
} finally {
  await stopAll();
  removeTemp();
}
process.exit(exitCode);
