#!/usr/bin/env node
/**
 * What mirroring costs the real traffic, and whether a hung shadow makes memory grow.
 *
 *   npm run build && node loadtest/bench-mirror.mjs        (or npm run bench:mirror)
 *
 * One splitgate (pinned to core 1) with four routes on the same fast JSON upstream (nginx, core 0):
 *   /off   no mirroring            /ten   10 % mirrored, JSON diffed       /all   100 % mirrored, JSON diffed
 *   /hung  100 % mirrored to a shadow that accepts connections and never answers (timeout 2 s, maxInFlight 64)
 * Rounds interleave /off, /m10, /m100 (autocannon on core 0, runner.mjs); the table gives req/s and p99 with the
 * ratio to /off. Then a soak: load on /hung for MIRROR_SOAK seconds, splitgate's RSS before and after, and the
 * mirror outcomes (the copies must be dropped and timed out, not queued).
 *
 * Then "large JSON": a node upstream (core 0) answers `/big` with a gzip'd 14 MB JSON document (~680 KB sent) and
 * anything else with a small one; LARGE_RATE big requests per second go through /large-off (not mirrored) or
 * /large-on (100 % mirrored, the shadow's document differs, diff.maxBodyBytes 32 MiB so every one is decoded, parsed
 * and diffed), while autocannon measures the p99 of small requests on /small (same upstream, never mirrored): both
 * p99s and their ratio.
 *
 * Knobs: BENCH_ROUNDS (3), BENCH_DURATION (8 s), BENCH_CONNECTIONS (64), MIRROR_SOAK (30 s), LARGE_RATE (2 /s),
 * LARGE_CONNECTIONS (16); MIRROR_ONLY=large-json runs only that scenario (no nginx needed).
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { freePort, pinned, rssBytes } from './lib/processes.mjs';

// Child mode: the large-JSON upstream (`--large-json-upstream <primaryPort> <shadowPort>`), spawned pinned below.
if (process.argv[2] === '--large-json-upstream') {
  const { createServer: createHttpServer } = await import('node:http');
  const { gzipSync } = await import('node:zlib');
  const document = (version) => {
    const items = Array.from({ length: 120_000 }, (_, i) => ({ id: i, name: `item-${i}`, tags: ['a', 'b', 'c'], price: i % 100, note: 'x'.repeat(40) }));
    return gzipSync(JSON.stringify({ version, items }));
  };
  const small = JSON.stringify({ id: 42, name: 'widget', price: 9.5 });
  for (const [port, version] of [[process.argv[3], 'primary'], [process.argv[4], 'shadow']]) {
    const big = document(version);
    const server = createHttpServer((req, res) => {
      req.resume();
      if (req.url.endsWith('/big')) {
        res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip', 'content-length': big.length });
        res.end(big);
      } else {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(small) });
        res.end(small);
      }
    });
    server.keepAliveTimeout = 65_000;
    await new Promise((resolve) => server.listen(Number(port), '127.0.0.1', resolve));
  }
  process.stdout.write('ready\n');
  await new Promise(() => undefined);
}

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = dirname(HERE);
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
const duration = Number(process.env.BENCH_DURATION ?? 8);
const connections = Number(process.env.BENCH_CONNECTIONS ?? 64);
const soakSeconds = Number(process.env.MIRROR_SOAK ?? 30);
const largeRate = Number(process.env.LARGE_RATE ?? 2);
const largeConnections = Number(process.env.LARGE_CONNECTIONS ?? 16);
const onlyLarge = process.env.MIRROR_ONLY === 'large-json';
const NGINX = '/usr/sbin/nginx';
const JSON_BODY = JSON.stringify({ id: 42, name: 'widget', price: 9.5, tags: ['a', 'b'], stock: { warehouse: 3, store: 1 } });

const children = new Set();
const temp = mkdtempSync(join(tmpdir(), 'splitgate-bench-mirror-'));
const cleanup = () => {
  for (const child of children) child.kill('SIGKILL');
  rmSync(temp, { recursive: true, force: true });
};
process.on('exit', cleanup);
process.on('SIGINT', () => process.exit(130));
// Hard bound for the whole run.
setTimeout(() => {
  console.error('bench-mirror: time limit reached');
  process.exit(3);
}, (rounds * 5 * (duration + 4) + soakSeconds + 180) * 1000).unref();

function track(child) {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

function get(url) {
  return new Promise((resolve, reject) => {
    const req = request(url, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c) => (body += c)).on('end', () => resolve({ status: res.statusCode, body }));
    });
    req.on('error', reject);
    req.setTimeout(2_000, () => req.destroy(new Error('timeout')));
    req.end();
  });
}

async function waitUntilAnswers(url) {
  for (let i = 0; i < 100; i++) {
    try {
      if ((await get(url)).status < 500) return;
    } catch {
      // not yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} did not answer`);
}

function measure(path) {
  const options = JSON.stringify({ url: proxy, path, connections, duration, warmup: 1, users: 1000 });
  const [command, args] = pinned(0, process.execPath, [join(HERE, 'runner.mjs'), options]);
  const result = spawnSync(command, args, { encoding: 'utf8', timeout: (duration + 30) * 1000 });
  const last = result.stdout.trim().split('\n').pop();
  if (result.status !== 0 || !last) throw new Error(`runner failed: ${result.stderr}`);
  return JSON.parse(last);
}

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

// -- upstreams: nginx answers JSON on two ports (primary, shadow); a hung shadow accepts and never answers.
const [primaryPort, shadowPort, proxyPort, adminPort, largePrimaryPort, largeShadowPort] = await Promise.all(
  [1, 2, 3, 4, 5, 6].map(() => freePort()),
);
const nginxConf = `daemon off;
worker_processes 1;
pid ${temp}/nginx.pid;
error_log ${temp}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  default_type application/json;
  client_body_temp_path ${temp}/cb; proxy_temp_path ${temp}/p; fastcgi_temp_path ${temp}/f; uwsgi_temp_path ${temp}/u; scgi_temp_path ${temp}/s;
  keepalive_requests 100000000;
  keepalive_timeout 65s;
  server { listen 127.0.0.1:${primaryPort}; location / { return 200 '${JSON_BODY}'; } }
  server { listen 127.0.0.1:${shadowPort}; location / { return 200 '${JSON_BODY}'; } }
}
`;
writeFileSync(join(temp, 'nginx.conf'), nginxConf);
if (!onlyLarge) {
  const [nginxCommand, nginxArgs] = pinned(0, NGINX, ['-p', temp, '-e', join(temp, 'error.log'), '-c', join(temp, 'nginx.conf')]);
  track(spawn(nginxCommand, nginxArgs, { stdio: 'ignore' }));
}
const hungSockets = new Set();
const hung = createServer((socket) => {
  hungSockets.add(socket);
  socket.on('close', () => hungSockets.delete(socket));
  socket.on('error', () => undefined);
});
await new Promise((resolve) => hung.listen(0, '127.0.0.1', resolve));
if (!onlyLarge) await waitUntilAnswers(`http://127.0.0.1:${primaryPort}/`);
const [largeCommand, largeArgs] = pinned(0, process.execPath, [fileURLToPath(import.meta.url), '--large-json-upstream', String(largePrimaryPort), String(largeShadowPort)]);
const largeUpstream = track(spawn(largeCommand, largeArgs, { stdio: ['ignore', 'pipe', 'inherit'] }));
await new Promise((resolve, reject) => {
  largeUpstream.stdout.once('data', resolve);
  largeUpstream.once('exit', () => reject(new Error('the large-JSON upstream exited')));
});

// -- splitgate
const mirror = (to, percent, extra = {}) => ({ to, percent, ...extra });
const config = {
  listen: `127.0.0.1:${proxyPort}`,
  admin: { listen: `127.0.0.1:${adminPort}` },
  state: { file: false },
  watch: false,
  log: { level: 'info', accessLog: { sample: 0.01 } },
  upstreams: {
    primary: `http://127.0.0.1:${primaryPort}`,
    shadow: `http://127.0.0.1:${shadowPort}`,
    hung: `http://127.0.0.1:${hung.address().port}`,
    largePrimary: `http://127.0.0.1:${largePrimaryPort}`,
    largeShadow: `http://127.0.0.1:${largeShadowPort}`,
  },
  routes: [
    { name: 'off', match: { pathPrefix: '/off' }, stable: 'primary' },
    { name: 'ten', match: { pathPrefix: '/ten' }, stable: 'primary', mirror: mirror('shadow', 10) },
    { name: 'all', match: { pathPrefix: '/all' }, stable: 'primary', mirror: mirror('shadow', 100) },
    { name: 'hung', match: { pathPrefix: '/hung' }, stable: 'primary', mirror: mirror('hung', 100, { timeout: '2s', maxInFlight: 64 }) },
    { name: 'small', match: { pathPrefix: '/small' }, stable: 'largePrimary' },
    { name: 'large-off', match: { pathPrefix: '/large-off' }, stable: 'largePrimary' },
    { name: 'large-on', match: { pathPrefix: '/large-on' }, stable: 'largePrimary', mirror: mirror('largeShadow', 100, { diff: { maxBodyBytes: 32 * 1024 * 1024 } }) },
  ],
};
const configFile = join(temp, 'splitgate.yaml');
writeFileSync(configFile, stringify(config));
// MIRROR_PROFILE=1: splitgate runs under --cpu-prof; the profile lands in loadtest/results/ when it exits.
const profileArgs = process.env.MIRROR_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${join(HERE, 'results')}`] : [];
const [sgCommand, sgArgs] = pinned(1, process.execPath, [...profileArgs, join(ROOT, 'dist', 'bin.js'), '--config', configFile]);
const splitgate = track(spawn(sgCommand, sgArgs, { stdio: ['ignore', 'ignore', 'inherit'] }));
const proxy = `http://127.0.0.1:${proxyPort}`;
const admin = `http://127.0.0.1:${adminPort}`;
await waitUntilAnswers(`${proxy}/small`);

/** Like `measure`, without blocking this process (it sends the big requests meanwhile). */
function measureAsync(path, runConnections) {
  const options = JSON.stringify({ url: proxy, path, connections: runConnections, duration, warmup: 1, users: 1000 });
  const [command, args] = pinned(0, process.execPath, [join(HERE, 'runner.mjs'), options]);
  return new Promise((resolve, reject) => {
    const child = track(spawn(command, args, { stdio: ['ignore', 'pipe', 'inherit'] }));
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (chunk) => (out += chunk));
    child.once('exit', (code) => {
      const last = out.trim().split('\n').pop();
      if (code !== 0 || !last) reject(new Error(`runner exited with ${code}`));
      else resolve(JSON.parse(last));
    });
  });
}

/** GET `path` LARGE_RATE times a second (gzip accepted, body discarded) until `stop()`; at most 8 at once. */
function largeLoad(path) {
  let active = 0;
  let sent = 0;
  let failed = 0;
  const timer = setInterval(() => {
    if (active >= 8) return;
    active++;
    sent++;
    const req = request(`${proxy}${path}`, { headers: { 'accept-encoding': 'gzip' } }, (res) => {
      res.resume().on('end', () => active--);
      if (res.statusCode !== 200) failed++;
    });
    req.on('error', () => {
      failed++;
      active--;
    });
    req.end();
  }, 1000 / largeRate);
  return { stop: () => clearInterval(timer), stats: () => ({ sent, failed }) };
}

async function largeJsonScenario() {
  console.log(`\nlarge JSON: ${largeRate}/s big requests (14 MB JSON, gzip'd) + small requests (${largeConnections} connections, ${duration} s), ${rounds} rounds`);
  const runs = { off: [], on: [] };
  for (let round = 1; round <= rounds; round++) {
    for (const mode of ['off', 'on']) {
      const load = largeLoad(`/large-${mode}/big`);
      const result = await measureAsync('/small', largeConnections);
      load.stop();
      runs[mode].push(result.latencyMs.p99);
      const { sent, failed } = load.stats();
      console.log(`  round ${round}/${rounds}  mirror ${mode.padEnd(3)}  small p99 ${String(result.latencyMs.p99).padStart(5)} ms  ${Math.round(result.reqPerSec).toLocaleString('en').padStart(7)} req/s  non-2xx ${result.non2xx}  errors ${result.errors}  big sent ${sent}, failed ${failed}`);
      // Let the diff worker's queue drain before the next run.
      await new Promise((r) => setTimeout(r, 2_000));
    }
  }
  const on = JSON.parse((await get(`${admin}/diffs/summary`)).body).routes.find((s) => s.route === 'large-on');
  const offP99 = median(runs.off);
  const onP99 = median(runs.on);
  console.log(`  small-request p99 (median of rounds): mirror off ${offP99} ms, mirror on ${onP99} ms, ratio ${(onP99 / offP99).toFixed(2)}×`);
  console.log(`  large-on outcomes: ${Object.entries(on.outcomes).filter(([, n]) => n > 0).map(([k, n]) => `${k} ${n}`).join(', ')}`);
}

if (onlyLarge) {
  await largeJsonScenario();
  process.exit(0);
}
await waitUntilAnswers(`${proxy}/off`);

console.log(`bench-mirror: ${rounds} rounds × (off, 10 %, 100 %) × ${duration} s, ${connections} connections; then a ${soakSeconds} s soak with a hung shadow`);
const candidates = [
  { name: 'mirror off', path: '/off', runs: [] },
  { name: 'mirror 10 %', path: '/ten', runs: [] },
  { name: 'mirror 100 %', path: '/all', runs: [] },
];
for (let round = 1; round <= rounds; round++) {
  for (const candidate of candidates) {
    const result = measure(candidate.path);
    candidate.runs.push(result);
    if (result.non2xx > 0 || result.errors > 0) console.log(`  !!! ${candidate.name}: ${result.non2xx} non-2xx, ${result.errors} errors`);
    console.log(`  round ${round}/${rounds}  ${candidate.name.padEnd(13)} ${Math.round(result.reqPerSec).toLocaleString('en').padStart(7)} req/s  p99 ${result.latencyMs.p99} ms  non-2xx ${result.non2xx}  errors ${result.errors}`);
  }
}
const summaries = JSON.parse((await get(`${admin}/diffs/summary`)).body).routes;
const baseline = median(candidates[0].runs.map((r) => r.reqPerSec));
console.log('\ncandidate       req/s (median, min–max)      p99 ms   vs off   mirror outcomes');
for (const candidate of candidates) {
  const rates = candidate.runs.map((r) => r.reqPerSec);
  const route = candidate.path.slice(1);
  const outcomes = summaries.find((s) => s.route === route)?.outcomes ?? {};
  const shown = Object.entries(outcomes).filter(([, n]) => n > 0).map(([k, n]) => `${k} ${n}`).join(', ') || '–';
  const paired = candidate.runs.map((r, i) => r.reqPerSec / candidates[0].runs[i].reqPerSec);
  console.log(
    `${candidate.name.padEnd(14)} ${Math.round(median(rates)).toLocaleString('en').padStart(7)} (${Math.round(Math.min(...rates)).toLocaleString('en')}–${Math.round(Math.max(...rates)).toLocaleString('en')})`.padEnd(44) +
      `${String(median(candidate.runs.map((r) => r.latencyMs.p99))).padStart(6)}   ${(median(paired)).toFixed(2)}×   ${shown}`,
  );
}
console.log(`(vs off: median of per-round ratios; mirror 100 % also diffs every JSON response. Baseline ${Math.round(baseline).toLocaleString('en')} req/s.)`);

// -- soak with a hung shadow
const before = rssBytes(splitgate.pid);
const soak = (() => {
  const options = JSON.stringify({ url: proxy, path: '/hung', connections, duration: soakSeconds, warmup: 0, users: 1000 });
  const [command, args] = pinned(0, process.execPath, [join(HERE, 'runner.mjs'), options]);
  const result = spawnSync(command, args, { encoding: 'utf8', timeout: (soakSeconds + 30) * 1000 });
  return JSON.parse(result.stdout.trim().split('\n').pop());
})();
await new Promise((r) => setTimeout(r, 2_500));
const after = rssBytes(splitgate.pid);
const hungSummary = JSON.parse((await get(`${admin}/diffs/summary`)).body).routes.find((s) => s.route === 'hung');
const mb = (bytes) => `${(bytes / 1048576).toFixed(0)} MB`;
console.log(`\nsoak: ${soakSeconds} s at ${Math.round(soak.reqPerSec).toLocaleString('en')} req/s on /hung (shadow never answers), p99 ${soak.latencyMs.p99} ms, non-2xx ${soak.non2xx}, errors ${soak.errors}`);
console.log(`  splitgate RSS before ${mb(before)}, after ${mb(after)} (${after >= before ? '+' : ''}${mb(after - before)})`);
console.log(`  mirror outcomes: ${Object.entries(hungSummary.outcomes).filter(([, n]) => n > 0).map(([k, n]) => `${k} ${n}`).join(', ')}; in flight now ${hungSummary.inFlight}; open sockets at the hung shadow ${hungSockets.size}`);
for (const socket of hungSockets) socket.destroy();
hung.close();
await largeJsonScenario();
if (process.env.MIRROR_PROFILE) {
  splitgate.kill('SIGTERM');
  await new Promise((resolve) => splitgate.once('exit', resolve));
}
process.exit(0);
