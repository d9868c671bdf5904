#!/usr/bin/env node
/**
 * What feature flags at the edge cost (issue 18):
 *
 *   npm run bench:flags          (builds first; nginx from Debian's package as the upstream)
 *
 * 1. Side by side: two splitgate processes, both pinned to core 1, loaded at the same time by two load generators
 *    (loadtest/runner.mjs, core 0, half the connections each). `flags` runs splitgate-flags-bench.yaml: the bench
 *    route (10 % canary, sticky, metrics, sampled access log) plus 10 flags (flags-bench.flagd.json: `fractional`
 *    splits with 2–4 variants, rules with `starts_with`, `ends_with`, `sem_ver`, `in` on request headers, a shared
 *    `$evaluators` rule, one DISABLED flag) evaluated for every request and sent upstream in x-splitgate-flags.
 *    `plain` runs the same file without its `flags` block. Both get the same requests: 1000 users, each with an
 *    x-user-id (the targeting key, so `fractional` hashes a different key per request) and the four headers the
 *    rules read. Printed per round and as medians: req/s of each, flags/plain (target ≥ 0.90: at most 10 % fewer),
 *    CPU µs per request of each and plain/flags of those.
 *    Correctness, checked before and after the rounds (the run aborts otherwise): nginx echoes the flags header it
 *    received on /flags-probe, which must carry a member for each of the 9 enabled flags through `flags` and nothing
 *    through `plain`; and per round `splitgate_flag_evaluations_total` must grow by 10 per request served.
 * 2. OFREP: a third splitgate (the flags config with `flags.ofrep` on), alone on core 1, loaded with
 *    `POST /ofrep/v1/evaluate/flags` (bulk) and `POST /ofrep/v1/evaluate/flags/ui-theme` (one flag) in interleaved
 *    rounds, each request with its own user's context (targetingKey + the four attributes). Printed: bulk requests/s
 *    and flag evaluations/s (× the 10 flags asked for; the disabled one answers FLAG_NOT_FOUND without evaluation, so
 *    9 are evaluated), single-flag requests/s, CPU µs per request.
 *
 * Knobs: BENCH_ROUNDS (5 side-by-side rounds; OFREP: as many of each), BENCH_DURATION (10 s), BENCH_WARMUP (2 s),
 * BENCH_CONNECTIONS (64, split over the pair), BENCH_USERS (1000), BENCH_FLAGS_PARTS (`sidebyside,ofrep`),
 * BENCH_FLAGS_PROFILE=1 (every splitgate under `node --cpu-prof`, profiles kept in loadtest/results/flags-profiles/),
 * BENCH_FLAGS_FILE (another flags file with the same keys, e.g. without targeting, to tell evaluation from the rest),
 * BENCH_FLAGS_BASELINE_DIST (a second build's dist/: the other side then runs the flags config on it, `baseline`
 * instead of `plain`, an A/B of a change to flag evaluation).
 * `--plan` prints the settings as JSON and starts nothing (test/bench-plan.test.ts).
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve as resolvePath } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { httpCall, median, waitFor } from './lib/http.mjs';
import { cpuSeconds, freePort, hasTaskset, pinned } from './lib/processes.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = dirname(HERE);
const BIN = join(ROOT, 'dist', 'bin.js');
const NGINX = '/usr/sbin/nginx';
const BODY = '0123456789abcdef'.repeat(4);
const CPU_PROXY = '1';
const CPU_LOAD = '0';
const CONFIG_FILE = join(HERE, 'splitgate-flags-bench.yaml');
const FLAGS_FILE = process.env.BENCH_FLAGS_FILE ? resolvePath(process.env.BENCH_FLAGS_FILE) : join(HERE, 'flags-bench.flagd.json');
const FLAG_COUNT = 10;
const OFREP_SINGLE_FLAG = 'ui-theme';
const COUNTRIES = ['de', 'us', 'fr', 'jp', 'ca', 'br', 'nl', 'in'];
const PLATFORMS = ['ios-17.2', 'android-14', 'web'];

function envInt(name, fallback, min = 1) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min) {
    console.error(`${name}: a whole number ≥ ${min}, got ${JSON.stringify(raw)}`);
    process.exit(2);
  }
  return value;
}

const PARTS = (process.env.BENCH_FLAGS_PARTS || 'sidebyside,ofrep').split(',').map((part) => part.trim());
for (const part of PARTS) {
  if (part !== 'sidebyside' && part !== 'ofrep') {
    console.error(`BENCH_FLAGS_PARTS: sidebyside and/or ofrep, got ${JSON.stringify(part)}`);
    process.exit(2);
  }
}
const settings = {
  parts: PARTS,
  rounds: envInt('BENCH_ROUNDS', 5),
  durationSeconds: envInt('BENCH_DURATION', 10),
  warmupSeconds: envInt('BENCH_WARMUP', 2, 0),
  connections: envInt('BENCH_CONNECTIONS', 64, 2),
  users: envInt('BENCH_USERS', 1000),
  configFile: CONFIG_FILE,
  flagsFile: FLAGS_FILE,
  flags: FLAG_COUNT,
  ofrepSingleFlag: OFREP_SINGLE_FLAG,
  profile: process.env.BENCH_FLAGS_PROFILE === '1',
  baselineDist: process.env.BENCH_FLAGS_BASELINE_DIST ? resolvePath(process.env.BENCH_FLAGS_BASELINE_DIST) : null,
};
const PROFILE_DIR = join(HERE, 'results', 'flags-profiles');

if (process.argv.includes('--plan')) {
  process.stdout.write(JSON.stringify(settings, null, 2) + '\n');
  process.exit(0);
}

if (settings.baselineDist !== null && !existsSync(join(settings.baselineDist, 'bin.js'))) {
  console.error(`BENCH_FLAGS_BASELINE_DIST: no bin.js in ${settings.baselineDist}`);
  process.exit(2);
}
if (!existsSync(BIN)) {
  console.error(`${BIN} not found: run \`npm run build\` first (npm run bench:flags does)`);
  process.exit(2);
}
if (!existsSync(NGINX)) {
  console.error(`${NGINX} not found: apt-get install -y nginx (the upstream must echo the flags header it received)`);
  process.exit(2);
}

// The whole run is bounded, whatever happens.
const perRun = settings.warmupSeconds + settings.durationSeconds + 10;
const HARD_LIMIT_MS = (settings.rounds * perRun * 3 + 120) * 1000;
const temp = mkdtempSync(join(tmpdir(), 'splitgate-bench-flags-'));
const children = new Set();
const alive = (child) => child.exitCode === null && child.signalCode === null;

function cleanup() {
  for (const child of children) if (alive(child)) child.kill('SIGKILL');
  rmSync(temp, { recursive: true, force: true });
}
process.on('exit', cleanup);
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(130));
setTimeout(() => {
  console.error(`bench-flags: hard time limit (${HARD_LIMIT_MS} ms) reached`);
  process.exit(3);
}, HARD_LIMIT_MS).unref();

function track(child) {
  children.add(child);
  child.on('exit', () => children.delete(child));
  return child;
}

const range = (values) => `${Math.min(...values).toFixed(3)}–${Math.max(...values).toFixed(3)}`;
const fmtInt = (n) => (n === null || n === undefined ? '-' : Math.round(n).toLocaleString('en-US'));

/** One user's request attributes: what the rules read (email domain, app version, country, platform). */
function userAttributes(id) {
  return {
    email: id % 10 === 0 ? `user-${id}@example.com` : `user-${id}@mail.test`,
    appVersion: `${1 + (id % 3)}.${id % 7}.${id % 4}`,
    country: COUNTRIES[id % COUNTRIES.length],
    platform: PLATFORMS[id % PLATFORMS.length],
  };
}
const userId = (id) => `user-${String(id).padStart(6, '0')}`;

function userHeaders(id) {
  const a = userAttributes(id);
  return { 'x-user-id': userId(id), 'x-user-email': a.email, 'x-app-version': a.appVersion, 'x-country': a.country, 'x-platform': a.platform };
}

function writeRequests(name, build) {
  const file = join(temp, `${name}.json`);
  writeFileSync(file, JSON.stringify(Array.from({ length: settings.users }, (_, id) => build(id))));
  return file;
}

// ------------------------------------------------------------------------------------------------------------
// processes

/** nginx answering the bench body on / and echoing the flags header it received on /flags-probe. */
async function startUpstream() {
  const prefix = join(temp, 'nginx');
  mkdirSync(prefix, { recursive: true });
  const port = await freePort();
  const template = readFileSync(join(HERE, 'nginx-upstream.conf'), 'utf8');
  const probe = 'location = /flags-probe {\n            return 200 "$http_x_splitgate_flags";\n        }\n        location / {';
  if (!template.includes('location / {')) throw new Error('nginx-upstream.conf: no `location / {` to add the probe before');
  const conf = template.replace('location / {', probe).replaceAll('{{PREFIX}}', prefix).replaceAll('{{PORT}}', String(port)).replaceAll('{{BODY}}', BODY);
  writeFileSync(join(prefix, 'nginx.conf'), conf);
  const [command, args] = pinned(CPU_LOAD, NGINX, ['-p', prefix, '-e', join(prefix, 'error.log'), '-c', join(prefix, 'nginx.conf')]);
  const child = track(spawn(command, args, { stdio: 'ignore' }));
  const url = `http://127.0.0.1:${port}`;
  await waitFor('nginx', async () => (await httpCall(url)).body === BODY);
  return { url, child };
}

async function startSplitgate(name, upstream, { flags, ofrep = false, bin = BIN }) {
  const [port, adminPort] = [await freePort(), await freePort()];
  const config = parseYaml(readFileSync(CONFIG_FILE, 'utf8'));
  config.listen = `127.0.0.1:${port}`;
  config.admin = { ...(config.admin ?? {}), listen: `127.0.0.1:${adminPort}` };
  for (const upstreamName of Object.keys(config.upstreams)) config.upstreams[upstreamName] = upstream.url;
  if (flags) {
    config.flags.file = FLAGS_FILE;
    if (ofrep) config.flags.ofrep = { path: '/ofrep' };
  } else delete config.flags;
  const configPath = join(temp, `${name}.yaml`);
  writeFileSync(configPath, stringifyYaml(config));
  const logFd = openSync(join(temp, `${name}.log`), 'w');
  const profiling = settings.profile ? ['--cpu-prof', `--cpu-prof-dir=${PROFILE_DIR}`, `--cpu-prof-name=${name}-${Date.now()}.cpuprofile`] : [];
  const [command, args] = pinned(CPU_PROXY, process.execPath, [...profiling, bin, '--config', configPath]);
  const child = track(spawn(command, args, { stdio: ['ignore', logFd, 'inherit'], cwd: ROOT }));
  closeSync(logFd);
  const url = `http://127.0.0.1:${port}`;
  await waitFor(`splitgate ${name}`, async () => alive(child) && (await httpCall(url, { headers: userHeaders(1) })).body === BODY);
  return { name, url, adminUrl: `http://127.0.0.1:${adminPort}`, child, pid: child.pid };
}

async function stop(child) {
  if (!alive(child)) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  // A profiled process writes its profile on the way out.
  const timer = setTimeout(() => alive(child) && child.kill('SIGKILL'), settings.profile ? 20_000 : 3_000);
  await exited;
  clearTimeout(timer);
}

/** Sum of splitgate_flag_evaluations_total over its series (0 when the series are absent). */
async function flagEvaluations(proxy) {
  const res = await httpCall(`${proxy.adminUrl}/metrics`, { timeoutMs: 5_000 });
  let total = 0;
  for (const line of res.body.split('\n')) {
    const m = /^splitgate_flag_evaluations_total\{[^}]*\}\s+(\S+)/.exec(line);
    if (m) total += Number(m[1]);
  }
  return total;
}

/** One warm-up + measured autocannon run (runner.mjs, core 0); the proxy's CPU sampled over the measured run. */
function runLoad(url, pid, connections, requestsFile) {
  const options = { url, connections, duration: settings.durationSeconds, warmup: settings.warmupSeconds, requestsFile };
  const [command, args] = pinned(CPU_LOAD, process.execPath, [join(HERE, 'runner.mjs'), JSON.stringify(options)]);
  const child = track(spawn(command, args, { stdio: ['ignore', 'pipe', 'inherit'] }));
  let cpuAtStart = null;
  let cpuSecondsUsed = null;
  let result = null;
  // runner.mjs prints `{"phase":"measure"}` as the measured run starts, then its result: one JSON object a line.
  createInterface({ input: child.stdout }).on('line', (line) => {
    if (line.trim() === '') return;
    const message = JSON.parse(line);
    if (message.phase === 'measure') {
      cpuAtStart = cpuSeconds(pid);
      return;
    }
    const cpuAtEnd = cpuSeconds(pid);
    if (cpuAtStart !== null && cpuAtEnd !== null) cpuSecondsUsed = cpuAtEnd - cpuAtStart;
    result = message;
  });
  return new Promise((resolve, reject) => {
    // 'close' comes after the runner's output has been read to the end.
    child.on('close', (code, signal) => {
      if (code !== 0 || result === null) return reject(new Error(`load generator failed (code ${code}, signal ${signal})`));
      const served = result.status2xx ?? result.requests;
      resolve({ ...result, cpuMicrosPerRequest: cpuSecondsUsed !== null && served > 0 ? (cpuSecondsUsed * 1e6) / served : null });
    });
  });
}

// ------------------------------------------------------------------------------------------------------------
// correctness: the upstream received the flags

async function checkProbe(flagsProxy, plainProxy, when) {
  const members = (text) => (text === '' ? [] : text.split(', ').map((member) => member.split('=')[0]));
  for (const id of [0, 1, 7, 42, 999]) {
    const flagged = await httpCall(`${flagsProxy.url}/flags-probe`, { headers: userHeaders(id) });
    const keys = members(flagged.body);
    if (flagged.status !== 200 || keys.length !== FLAG_COUNT - 1 || keys.includes('legacy-export')) {
      throw new Error(`bench-flags (${when}): the upstream got x-splitgate-flags ${JSON.stringify(flagged.body)} through the flags proxy for ${userId(id)}; expected the ${FLAG_COUNT - 1} enabled flags`);
    }
    const plain = await httpCall(`${plainProxy.url}/flags-probe`, { headers: userHeaders(id) });
    // A baseline build runs the flags config too: it must send the same header.
    const expected = settings.baselineDist === null ? '' : flagged.body;
    if (plain.status !== 200 || plain.body !== expected) throw new Error(`bench-flags (${when}): ${plainProxy.name} sent ${JSON.stringify(plain.body)} upstream, expected ${JSON.stringify(expected)}`);
  }
  const sample = await httpCall(`${flagsProxy.url}/flags-probe`, { headers: userHeaders(0) });
  return sample.body;
}

// ------------------------------------------------------------------------------------------------------------
// the parts

async function sideBySide(upstream) {
  const flagsProxy = await startSplitgate('flags', upstream, { flags: true });
  const plainProxy =
    settings.baselineDist === null
      ? await startSplitgate('plain', upstream, { flags: false })
      : await startSplitgate('baseline', upstream, { flags: true, bin: join(settings.baselineDist, 'bin.js') });
  const other = plainProxy.name;
  const sample = await checkProbe(flagsProxy, plainProxy, 'before the rounds');
  console.log(`upstream received (user ${userId(0)}): x-splitgate-flags: ${sample}`);
  const requestsFile = writeRequests('proxy-requests', (id) => ({ method: 'GET', path: '/', headers: userHeaders(id) }));
  const half = Math.max(1, Math.floor(settings.connections / 2));
  const rounds = [];
  for (let round = 1; round <= settings.rounds; round++) {
    const evaluationsBefore = await flagEvaluations(flagsProxy);
    // Alternate which one starts first; both run at once on core 1.
    const pair = round % 2 ? [flagsProxy, plainProxy] : [plainProxy, flagsProxy];
    const results = await Promise.all(pair.map((proxy) => runLoad(proxy.url, proxy.pid, half, requestsFile)));
    const [flags, plain] = pair[0] === flagsProxy ? results : [results[1], results[0]];
    const evaluations = (await flagEvaluations(flagsProxy)) - evaluationsBefore;
    if (evaluations < flags.requests * FLAG_COUNT) {
      throw new Error(`bench-flags: round ${round}: ${evaluations} flag evaluations for ${flags.requests} requests (expected ≥ ${FLAG_COUNT} per request)`);
    }
    for (const [label, r] of [['flags', flags], [other, plain]]) {
      if (r.non2xx > 0 || r.errors > 0) throw new Error(`bench-flags: round ${round}: ${label} had ${r.non2xx} non-2xx answers and ${r.errors} errors`);
    }
    const row = {
      round,
      flagsReqPerSec: flags.reqPerSec,
      plainReqPerSec: plain.reqPerSec,
      ratio: flags.reqPerSec / plain.reqPerSec,
      flagsCpuMicros: flags.cpuMicrosPerRequest,
      plainCpuMicros: plain.cpuMicrosPerRequest,
      cpuRatio: plain.cpuMicrosPerRequest / flags.cpuMicrosPerRequest,
      flagsP99: flags.latencyMs.p99,
      plainP99: plain.latencyMs.p99,
      evaluationsPerRequest: evaluations / flags.requests,
    };
    rounds.push(row);
    console.log(
      `  round ${round}: flags ${fmtInt(row.flagsReqPerSec)} req/s (${row.flagsCpuMicros.toFixed(1)} µs/req, p99 ${row.flagsP99} ms), ` +
        `${other} ${fmtInt(row.plainReqPerSec)} req/s (${row.plainCpuMicros.toFixed(1)} µs/req, p99 ${row.plainP99} ms); ` +
        `flags/${other} req/s ${row.ratio.toFixed(3)}, CPU ${other}/flags ${row.cpuRatio.toFixed(3)}`,
    );
  }
  await checkProbe(flagsProxy, plainProxy, 'after the rounds');
  await Promise.all([stop(flagsProxy.child), stop(plainProxy.child)]);
  const summary = {
    flagsReqPerSec: median(rounds.map((r) => r.flagsReqPerSec)),
    plainReqPerSec: median(rounds.map((r) => r.plainReqPerSec)),
    ratio: median(rounds.map((r) => r.ratio)),
    ratioRange: range(rounds.map((r) => r.ratio)),
    flagsCpuMicros: median(rounds.map((r) => r.flagsCpuMicros)),
    plainCpuMicros: median(rounds.map((r) => r.plainCpuMicros)),
    cpuRatio: median(rounds.map((r) => r.cpuRatio)),
    cpuRatioRange: range(rounds.map((r) => r.cpuRatio)),
  };
  console.log(
    `side by side, median of ${rounds.length} rounds: flags ${fmtInt(summary.flagsReqPerSec)} req/s (${summary.flagsCpuMicros.toFixed(1)} µs/req), ` +
      `${other} ${fmtInt(summary.plainReqPerSec)} req/s (${summary.plainCpuMicros.toFixed(1)} µs/req)`,
  );
  if (settings.baselineDist !== null) {
    console.log(`  flags/baseline req/s ${summary.ratio.toFixed(3)}× (${summary.ratioRange}); CPU per request baseline/flags ${summary.cpuRatio.toFixed(3)}× (${summary.cpuRatioRange}): above 1, this build is cheaper`);
  } else {
    console.log(`  flags/plain req/s ${summary.ratio.toFixed(3)}× (${summary.ratioRange}), target ≥ 0.90`);
    console.log(`  CPU per request plain/flags ${summary.cpuRatio.toFixed(3)}× (${summary.cpuRatioRange}): ${summary.cpuRatio >= 0.9 ? 'MEETS' : 'MISSES'} the ≤ 10 % target`);
  }
  return { rounds, summary };
}

async function ofrep(upstream) {
  const proxy = await startSplitgate('ofrep', upstream, { flags: true, ofrep: true });
  const context = (id) => ({ targetingKey: userId(id), ...userAttributes(id) });
  const post = (path) => (id) => ({ method: 'POST', path, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ context: context(id) }) });
  const bulkFile = writeRequests('ofrep-bulk', post('/ofrep/v1/evaluate/flags'));
  const singleFile = writeRequests('ofrep-single', post(`/ofrep/v1/evaluate/flags/${OFREP_SINGLE_FLAG}`));
  // What a bulk answer holds: the 9 enabled flags, each with a value.
  const check = await httpCall(`${proxy.url}/ofrep/v1/evaluate/flags`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ context: context(7) }) });
  const answered = check.status === 200 ? JSON.parse(check.body).flags : [];
  if (answered.length !== FLAG_COUNT - 1 || answered.some((flag) => flag.errorCode !== undefined)) {
    throw new Error(`bench-flags: OFREP bulk answered ${check.status} ${check.body.slice(0, 400)}`);
  }
  const rounds = [];
  for (let round = 1; round <= settings.rounds; round++) {
    const order = round % 2 ? ['bulk', 'single'] : ['single', 'bulk'];
    const row = { round };
    for (const kind of order) {
      const r = await runLoad(proxy.url, proxy.pid, settings.connections, kind === 'bulk' ? bulkFile : singleFile);
      if (r.non2xx > 0 || r.errors > 0) throw new Error(`bench-flags: OFREP ${kind} round ${round}: ${r.non2xx} non-2xx, ${r.errors} errors`);
      row[kind] = { reqPerSec: r.reqPerSec, cpuMicros: r.cpuMicrosPerRequest, cpuPercent: (r.reqPerSec * r.cpuMicrosPerRequest) / 1e4, p99: r.latencyMs.p99 };
    }
    rounds.push(row);
    console.log(
      `  round ${round}: bulk ${fmtInt(row.bulk.reqPerSec)} req/s = ${fmtInt(row.bulk.reqPerSec * FLAG_COUNT)} evaluations/s (${row.bulk.cpuMicros.toFixed(1)} µs/req, splitgate CPU ${row.bulk.cpuPercent.toFixed(0)} %, p99 ${row.bulk.p99} ms), ` +
        `single flag ${fmtInt(row.single.reqPerSec)} req/s (${row.single.cpuMicros.toFixed(1)} µs/req, CPU ${row.single.cpuPercent.toFixed(0)} %, p99 ${row.single.p99} ms)`,
    );
  }
  await stop(proxy.child);
  const summary = {
    bulkReqPerSec: median(rounds.map((r) => r.bulk.reqPerSec)),
    bulkEvaluationsPerSec: median(rounds.map((r) => r.bulk.reqPerSec * FLAG_COUNT)),
    bulkCpuMicros: median(rounds.map((r) => r.bulk.cpuMicros)),
    singleReqPerSec: median(rounds.map((r) => r.single.reqPerSec)),
    singleCpuMicros: median(rounds.map((r) => r.single.cpuMicros)),
    splitgateCpuPercent: median(rounds.map((r) => r.bulk.cpuPercent)),
  };
  // Below ~100 % CPU the load generator (one core, POSTs, ~1 KB answers) is the limit, not splitgate: one core of
  // splitgate's CPU would serve 1e6 / (µs per request).
  summary.bulkEvaluationsPerCoreSecond = (1e6 / summary.bulkCpuMicros) * FLAG_COUNT;
  summary.singlePerCoreSecond = 1e6 / summary.singleCpuMicros;
  console.log(
    `OFREP, median of ${rounds.length} rounds, one core: bulk ${fmtInt(summary.bulkReqPerSec)} req/s × ${FLAG_COUNT} flags = ` +
      `${fmtInt(summary.bulkEvaluationsPerSec)} evaluations/s (${summary.bulkCpuMicros.toFixed(1)} µs/req); ` +
      `single flag ${fmtInt(summary.singleReqPerSec)} req/s (${summary.singleCpuMicros.toFixed(1)} µs/req)`,
  );
  console.log(
    `  per core of splitgate CPU (1e6 / µs per request): ${fmtInt(summary.bulkEvaluationsPerCoreSecond)} bulk evaluations/s, ` +
      `${fmtInt(summary.singlePerCoreSecond)} single-flag req/s` +
      (summary.splitgateCpuPercent < 90 ? ` (splitgate at ${summary.splitgateCpuPercent.toFixed(0)} % CPU: the load generator was the limit)` : ''),
  );
  return { rounds, summary };
}

async function main() {
  console.log(
    `bench-flags: node ${process.version}, ${settings.rounds} rounds × ${settings.durationSeconds} s (+${settings.warmupSeconds} s warm-up), ` +
      `${settings.connections} connections, ${settings.users} users, ${hasTaskset ? `splitgate on core ${CPU_PROXY}, nginx and load on core ${CPU_LOAD}` : 'unpinned (no taskset)'}`,
  );
  const upstream = await startUpstream();
  const out = { settings, node: process.version, date: new Date().toISOString() };
  if (PARTS.includes('sidebyside')) {
    console.log('10 flags per request vs the same config without flags, side by side:');
    out.sideBySide = await sideBySide(upstream);
  }
  if (PARTS.includes('ofrep')) {
    console.log(`OFREP bulk (${FLAG_COUNT} flags) and single flag (${OFREP_SINGLE_FLAG}), interleaved:`);
    out.ofrep = await ofrep(upstream);
  }
  const resultsDir = join(HERE, 'results');
  mkdirSync(resultsDir, { recursive: true });
  writeFileSync(join(resultsDir, 'flags-latest.json'), JSON.stringify(out, null, 2) + '\n');
  console.log('written: loadtest/results/flags-latest.json');
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(error?.stack ?? String(error));
    process.exit(1);
  },
);
