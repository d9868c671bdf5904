#!/usr/bin/env node
/**
 * CPU profile of one proxy under the benchmark's load: where splitgate (or the bare proxy) spends its time.
 *
 *   npm run build && node loadtest/profile.mjs [splitgate|bare-undici|bare-headers]
 *
 * Starts nginx (or the node fallback) on core 0, the proxy under `node --cpu-prof` on core 1, one runner.mjs
 * measurement (BENCH_WARMUP + BENCH_DURATION, defaults 2 + 10 s; BENCH_CONNECTIONS, BENCH_USERS as in bench.mjs),
 * stops the proxy with SIGTERM so the profile is written, and prints the top self-time functions: all of them,
 * then splitgate's own (dist/), then a breakdown by package. The .cpuprofile file is kept in
 * loadtest/results/ (open it in Chrome DevTools or speedscope).
 */
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = dirname(HERE);
const BODY = '0123456789abcdef'.repeat(4);
const target = process.argv[2] ?? 'splitgate';
if (target !== 'splitgate' && target !== 'bare-undici' && target !== 'bare-headers') {
  console.error('usage: node loadtest/profile.mjs [splitgate|bare-undici|bare-headers]');
  process.exit(2);
}
/** The proxy's node (as in bench.mjs) and extra node flags for it, e.g. PROFILE_NODE_FLAGS='--trace-deopt'. */
const NODE = process.env.BENCH_NODE || process.execPath;
const EXTRA_FLAGS = (process.env.PROFILE_NODE_FLAGS ?? '').split(' ').filter(Boolean);
const num = (name, fallback) => (process.env[name] ? Number(process.env[name]) : fallback);
const load = {
  duration: num('BENCH_DURATION', 10),
  warmup: num('BENCH_WARMUP', 2),
  connections: num('BENCH_CONNECTIONS', 64),
  users: num('BENCH_USERS', 1000),
};

const children = new Set();
const temp = mkdtempSync(join(tmpdir(), 'splitgate-profile-'));
process.on('exit', () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  rmSync(temp, { recursive: true, force: true });
});
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(130));

const hasTaskset = spawnSync('taskset', ['-V'], { stdio: 'ignore' }).status === 0;
const pinned = (core, command, args) => (hasTaskset ? ['taskset', ['-c', core, command, ...args]] : [command, args]);
function start(core, command, args, options = {}) {
  const [cmd, argv] = pinned(core, command, args);
  const child = spawn(cmd, argv, { stdio: ['ignore', 'ignore', 'inherit'], ...options });
  children.add(child);
  child.on('exit', () => children.delete(child));
  return child;
}
function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer().once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}
function get(url) {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent: false, timeout: 1_000, headers: { 'x-user-id': 'user-probe' } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}
async function waitFor(url, label) {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    try {
      const res = await get(url);
      if (res.status === 200 && res.body === BODY) return;
    } catch {}
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${label} did not answer ${url}`);
}
function stop(child) {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', resolve);
    child.kill('SIGTERM');
    setTimeout(() => child.kill('SIGKILL'), 15_000).unref();
  });
}

try {
  // upstream
  const upPort = await freePort();
  const upstreamUrl = `http://127.0.0.1:${upPort}`;
  let upstream;
  if (existsSync('/usr/sbin/nginx')) {
    const prefix = join(temp, 'nginx');
    mkdirSync(prefix);
    const conf = readFileSync(join(HERE, 'nginx-upstream.conf'), 'utf8')
      .replaceAll('{{PREFIX}}', prefix)
      .replaceAll('{{PORT}}', String(upPort))
      .replaceAll('{{BODY}}', BODY);
    writeFileSync(join(prefix, 'nginx.conf'), conf);
    upstream = start('0', '/usr/sbin/nginx', ['-p', prefix, '-e', join(prefix, 'error.log'), '-c', join(prefix, 'nginx.conf')]);
  } else {
    upstream = start('0', process.execPath, [join(HERE, 'upstream-node.mjs'), String(upPort), BODY]);
  }
  await waitFor(upstreamUrl, 'upstream');

  // proxy under --cpu-prof
  const profDir = join(temp, 'prof');
  const nodeArgs = ['--cpu-prof', `--cpu-prof-dir=${profDir}`, '--cpu-prof-interval=250', ...EXTRA_FLAGS];
  const port = await freePort();
  let proxy;
  if (target === 'splitgate') {
    const config = parseYaml(readFileSync(join(HERE, 'splitgate-bench.yaml'), 'utf8'));
    config.listen = `127.0.0.1:${port}`;
    config.admin = { ...(config.admin ?? {}), listen: `127.0.0.1:${await freePort()}` };
    for (const name of Object.keys(config.upstreams)) config.upstreams[name] = upstreamUrl;
    writeFileSync(join(temp, 'splitgate.yaml'), stringifyYaml(config));
    const log = openSync(join(temp, 'splitgate.log'), 'w');
    proxy = start('1', NODE, [...nodeArgs, join(ROOT, 'dist', 'bin.js'), '--config', join(temp, 'splitgate.yaml')], {
      stdio: ['ignore', log, 'inherit'],
      cwd: ROOT,
    });
    closeSync(log);
  } else {
    proxy = start('1', NODE, [...nodeArgs, join(HERE, 'bare-proxy.mjs'), ...(target === 'bare-headers' ? ['--forwarding-headers'] : []), String(port), upstreamUrl]);
  }
  const proxyUrl = `http://127.0.0.1:${port}`;
  await waitFor(proxyUrl, target);

  // one measurement
  const [cmd, argv] = pinned('0', process.execPath, [join(HERE, 'runner.mjs'), JSON.stringify({ url: proxyUrl, ...load })]);
  const out = spawnSync(cmd, argv, { encoding: 'utf8', timeout: (load.warmup + load.duration + 30) * 1000 });
  const result = JSON.parse(out.stdout.trim().split('\n').pop());
  console.log(
    `${target} on node ${spawnSync(NODE, ['--version'], { encoding: 'utf8' }).stdout.trim()} under --cpu-prof: ${Math.round(result.reqPerSec)} req/s, p99 ${result.latencyMs.p99} ms, ` +
      `non-2xx ${result.non2xx}, errors ${result.errors} (profiling slows it down; compare shares, not speed)`,
  );
  await stop(proxy);
  await stop(upstream);

  // analysis
  const file = readdirSync(profDir).find((f) => f.endsWith('.cpuprofile'));
  if (!file) throw new Error('no .cpuprofile written');
  mkdirSync(join(HERE, 'results'), { recursive: true });
  const nodeVersion = spawnSync(NODE, ['--version'], { encoding: 'utf8' }).stdout.trim();
  const kept = join(HERE, 'results', `${target}-${nodeVersion}.cpuprofile`);
  copyFileSync(join(profDir, file), kept);
  const profile = JSON.parse(readFileSync(kept, 'utf8'));
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map();
  let total = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const dt = profile.timeDeltas[i] ?? 0;
    total += dt;
    const node = byId.get(profile.samples[i]);
    self.set(node, (self.get(node) ?? 0) + dt);
  }
  const shorten = (url) =>
    url.replace(`file://${ROOT}/`, '').replace(/^.*node_modules\//, 'node_modules/').replace(/^node:/, 'node:');
  const byFunction = new Map();
  const byPackage = new Map();
  for (const [node, time] of self) {
    const { functionName, url, lineNumber } = node.callFrame;
    const where = url ? `${shorten(url)}:${lineNumber + 1}` : '';
    const key = `${functionName || '(anonymous)'} ${where}`;
    byFunction.set(key, (byFunction.get(key) ?? 0) + time);
    let pkg;
    if (!url) pkg = functionName.startsWith('(') ? functionName : '(native)';
    else if (url.includes('/node_modules/')) pkg = `node_modules/${url.split('/node_modules/').pop().split('/')[0]}`;
    else if (url.startsWith('node:')) pkg = 'node: internals';
    else if (url.includes('/dist/')) pkg = 'splitgate dist/';
    else pkg = shorten(url);
    byPackage.set(pkg, (byPackage.get(pkg) ?? 0) + time);
  }
  const busy = total - (byPackage.get('(idle)') ?? 0);
  const pct = (t) => `${((100 * t) / busy).toFixed(1).padStart(5)} %`;
  const top = (map, filter, n) =>
    [...map.entries()].filter(([k]) => filter(k)).sort((a, b) => b[1] - a[1]).slice(0, n);
  console.log(`\nself time, % of non-idle samples (${(busy / 1e6).toFixed(1)} s busy of ${(total / 1e6).toFixed(1)} s)`);
  console.log('\nby package:');
  for (const [k, t] of top(byPackage, (k) => k !== '(idle)', 12)) console.log(`  ${pct(t)}  ${k}`);
  console.log('\ntop functions:');
  for (const [k, t] of top(byFunction, (k) => !k.startsWith('(idle)'), 25)) console.log(`  ${pct(t)}  ${k}`);
  if (target === 'splitgate') {
    console.log("\nsplitgate's own code (dist/):");
    for (const [k, t] of top(byFunction, (k) => k.includes(' dist/'), 20)) console.log(`  ${pct(t)}  ${k}`);
  }
  console.log(`\nprofile kept: ${shorten('file://' + kept)}`);
  process.exit(0);
} catch (error) {
  console.error(`profile failed: ${error?.stack ?? error}`);
  process.exit(1);
}
