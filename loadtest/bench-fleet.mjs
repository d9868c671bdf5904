#!/usr/bin/env node
/**
 * What a fleet costs, and how fast it agrees (issue 16):
 *
 *   npm run bench:fleet          (builds first; needs redis-server on PATH)
 *
 * 1. CPU per request with `fleet:` vs without, side by side: two splitgate processes with the same route, one of
 *    them a fleet member (Redis on 127.0.0.1, heartbeats, per-second count flushes, pub/sub), loaded at the same
 *    time by two load generators (loadtest/runner.mjs) so both see the same machine. Both proxies are pinned to one
 *    core and the load generators to the other when taskset exists. Printed per round and as the median of the
 *    per-round ratios (target ≤ 1.02×: at most 2 % more CPU per request). Redis's own CPU is printed beside it.
 * 2. Propagation of a kill switch to 3 replicas (one Redis, weight 100 so every request goes to the canary):
 *    FLEET_KILLS kills (default 20), each sent to the next replica's admin API in turn; every replica is then asked
 *    on fresh connections, back to back, until it answers from stable. Printed: p50 and max from the admin call's
 *    start to the first stable answer, for the replica that took the call and for the other two. Between kills the
 *    route is resumed and every replica is seen answering from the canary again.
 *
 *    Before the rounds, both idle for FLEET_IDLE seconds: the member's fixed cost per second (heartbeats, count
 *    flushes, lease renewals), which is a cost per request only divided by the rate.
 *
 * Knobs: BENCH_ROUNDS (4), BENCH_DURATION (8 s per round), BENCH_CONNECTIONS (32 per load generator),
 * FLEET_KILLS (20), FLEET_POLL (the fleet's poll period, default 5s: kills arrive by pub/sub), FLEET_IDLE (20 s).
 */
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { httpCall, median, sleep, waitFor } from './lib/http.mjs';
import { cpuSeconds, freePort, hasTaskset, pinned } from './lib/processes.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = dirname(HERE);
const BIN = join(ROOT, 'dist', 'bin.js');

function envInt(name, fallback) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1) {
    console.error(`${name}: a positive whole number, got ${JSON.stringify(raw)}`);
    process.exit(2);
  }
  return value;
}

const ROUNDS = envInt('BENCH_ROUNDS', 4);
const DURATION = envInt('BENCH_DURATION', 8);
const CONNECTIONS = envInt('BENCH_CONNECTIONS', 32);
const KILLS = envInt('FLEET_KILLS', 20);
const POLL = process.env.FLEET_POLL || '5s';
const IDLE_SECONDS = envInt('FLEET_IDLE', 20);
// The whole run is bounded, whatever happens: rounds, kills and start-up with generous slack.
const HARD_LIMIT_MS = (ROUNDS * (DURATION + 25) + KILLS * 12 + IDLE_SECONDS + 125) * 1000;

if (!existsSync(BIN)) {
  console.error(`${BIN} not found: run \`npm run build\` first (npm run bench:fleet does)`);
  process.exit(2);
}
if (spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status !== 0) {
  console.error('redis-server not found: apt-get install redis-server');
  process.exit(2);
}

const temp = mkdtempSync(join(tmpdir(), 'splitgate-bench-fleet-'));
const children = new Set();

function cleanup() {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  rmSync(temp, { recursive: true, force: true });
}
process.on('exit', cleanup);
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(130));
setTimeout(() => {
  console.error(`bench-fleet: hard time limit (${HARD_LIMIT_MS} ms) reached`);
  process.exit(3);
}, HARD_LIMIT_MS).unref();

const percentile = (values, p) => [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.ceil((p / 100) * values.length) - 1)];

/** stable and canary upstreams in this process: a tiny body and the version in a header. */
async function startUpstream(version) {
  const server = createServer((req, res) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'text/plain', 'x-upstream-version': version });
    res.end(`${version}\n`);
  });
  server.keepAliveTimeout = 60_000;
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${server.address().port}` };
}

async function startRedis() {
  const port = await freePort();
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  children.add(child);
  const url = `redis://127.0.0.1:${port}`;
  await waitFor('redis-server', async () => {
    const { createConnection } = await import('node:net');
    return new Promise((resolve) => {
      const socket = createConnection(port, '127.0.0.1', () => {
        socket.end('PING\r\n');
        resolve(true);
      });
      socket.on('error', () => resolve(false));
    });
  }, 10_000);
  return { child, url };
}

async function startSplitgate(name, { stable, canary, weight, fleet, core }) {
  const [port, adminPort] = [await freePort(), await freePort()];
  const config = {
    listen: `127.0.0.1:${port}`,
    admin: { listen: `127.0.0.1:${adminPort}` },
    watch: false,
    log: { level: 'warn', accessLog: { sample: 0.01 } },
    state: { file: join(temp, `${name}-state.json`) },
    upstreams: { stable: stable.url, canary: canary.url },
    routes: [{ name: 'shop', match: { pathPrefix: '/' }, stable: 'stable', canary: 'canary', weight, sticky: { key: ['header:x-user-id', 'ip'] } }],
    ...(fleet ? { fleet: { name: 'bench', memberId: name, redis: { url: fleet }, poll: POLL } } : {}),
  };
  const configPath = join(temp, `${name}.yaml`);
  writeFileSync(configPath, stringify(config));
  const logFd = openSync(join(temp, `${name}.log`), 'w');
  const [command, args] = core === undefined ? [process.execPath, [BIN, '--config', configPath]] : pinned(core, process.execPath, [BIN, '--config', configPath]);
  const child = spawn(command, args, { stdio: ['ignore', logFd, logFd], cwd: ROOT });
  closeSync(logFd);
  children.add(child);
  const url = `http://127.0.0.1:${port}`;
  const adminUrl = `http://127.0.0.1:${adminPort}`;
  await waitFor(`${name} answering`, async () => {
    if (child.exitCode !== null) throw new Error(`${name} exited: ${readFileSync(join(temp, `${name}.log`), 'utf8').slice(0, 2000)}`);
    return (await httpCall(`${url}/`)).status === 200;
  }, 20_000);
  return { name, url, adminUrl, pid: child.pid, child };
}

/** One load generator run; resolves with its results and the proxy's CPU seconds during the measured part. */
function load(url, pid) {
  const options = { url, connections: CONNECTIONS, duration: DURATION, warmup: 2, users: 1000 };
  const [command, args] = pinned('0', process.execPath, [join(HERE, 'runner.mjs'), JSON.stringify(options)]);
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  children.add(child);
  return new Promise((resolve, reject) => {
    let buffered = '';
    let cpuAtStart = null;
    let outcome = null;
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk) => {
      buffered += chunk;
      let newline;
      while ((newline = buffered.indexOf('\n')) !== -1) {
        const line = buffered.slice(0, newline).trim();
        buffered = buffered.slice(newline + 1);
        if (line === '') continue;
        const message = JSON.parse(line);
        if (message.phase === 'measure') cpuAtStart = cpuSeconds(pid);
        else outcome = { ...message, cpuSeconds: cpuSeconds(pid) - cpuAtStart };
      }
    });
    child.on('exit', (code) => (code === 0 && outcome ? resolve(outcome) : reject(new Error(`load generator exited ${code}`))));
  });
}

async function cpuCost(stable, canary, redis) {
  console.log(`\n## CPU per request, fleet vs no fleet (side by side, ${ROUNDS} rounds of ${DURATION} s, ${CONNECTIONS} connections each${hasTaskset ? '; proxies on core 1, load on core 0' : ''})`);
  const plain = await startSplitgate('plain', { stable, canary, weight: 10, core: '1' });
  const member = await startSplitgate('member', { stable, canary, weight: 10, fleet: redis.url, core: '1' });
  await waitFor('the member in the fleet', async () => JSON.parse((await httpCall(`${member.adminUrl}/fleet`)).body).members.length === 1, 10_000);
  // What a member costs with no traffic at all (heartbeats, count flushes, lease renewals, polls): a cost per second,
  // not per request, so its share of the CPU per request shrinks as the rate grows.
  // After 5 s of settling: start-up's lazy compilation and first collections are not a cost per second.
  await sleep(5_000);
  const idleStart = [cpuSeconds(plain.pid), cpuSeconds(member.pid)];
  await sleep(IDLE_SECONDS * 1000);
  const idle = [cpuSeconds(plain.pid) - idleStart[0], cpuSeconds(member.pid) - idleStart[1]].map((seconds) => (seconds * 1000) / IDLE_SECONDS);
  console.log(`idle, ${IDLE_SECONDS} s without traffic: plain ${idle[0].toFixed(2)} ms CPU per second, fleet member ${idle[1].toFixed(2)} ms CPU per second`);
  const ratios = [];
  console.log('round  plain req/s  fleet req/s  plain µs/req  fleet µs/req  fleet/plain CPU per request  redis CPU s');
  for (let round = 1; round <= ROUNDS; round++) {
    const redisCpuStart = cpuSeconds(redis.child.pid);
    const [a, b] = await Promise.all([load(plain.url, plain.pid), load(member.url, member.pid)]);
    const redisCpu = cpuSeconds(redis.child.pid) - redisCpuStart;
    for (const [name, r] of [['plain', a], ['fleet', b]]) if (r.errors > 0 || r.non2xx > 0) console.log(`  (${name}: ${r.errors} errors, ${r.non2xx} non-2xx)`);
    const plainMicros = (a.cpuSeconds * 1e6) / a.requests;
    const fleetMicros = (b.cpuSeconds * 1e6) / b.requests;
    ratios.push(fleetMicros / plainMicros);
    console.log(`${String(round).padStart(5)}  ${String(Math.round(a.reqPerSec)).padStart(11)}  ${String(Math.round(b.reqPerSec)).padStart(11)}  ${plainMicros.toFixed(1).padStart(12)}  ${fleetMicros.toFixed(1).padStart(12)}  ${(fleetMicros / plainMicros).toFixed(3).padStart(28)}  ${redisCpu.toFixed(2).padStart(11)}`);
  }
  const m = median(ratios);
  const extraPerSecondMs = idle[1] - idle[0];
  for (const rate of [1_000, 10_000]) {
    console.log(`  the idle difference alone, ${extraPerSecondMs.toFixed(2)} ms/s, is ${((extraPerSecondMs * 1000) / rate).toFixed(2)} µs per request at ${rate.toLocaleString('en-US')} req/s`);
  }
  console.log(`fleet/plain CPU per request: median ${m.toFixed(3)}× (rounds ${ratios.map((r) => r.toFixed(3)).join(', ')}); ${m <= 1.02 ? 'meets' : 'ABOVE'} the ≤ 1.02× target`);
  for (const p of [plain, member]) p.child.kill('SIGTERM');
  return m;
}

async function propagation(stable, canary, redis) {
  console.log(`\n## Kill switch propagation to 3 replicas (${KILLS} kills, poll ${POLL}: by pub/sub)`);
  const replicas = [];
  for (const name of ['a', 'b', 'c']) replicas.push(await startSplitgate(name, { stable, canary, weight: 100, fleet: redis.url }));
  await waitFor('three members', async () => JSON.parse((await httpCall(`${replicas[0].adminUrl}/fleet`)).body).members.length === 3, 15_000);

  const answersOnly = async (replica, version) => (await httpCall(`${replica.url}/`)).headers['x-upstream-version'] === version;
  /** ms from `startedAt` to the first answer from `version` through `replica`, asked back to back (bounded). */
  const firstAnswer = async (replica, version, startedAt) => {
    const deadline = startedAt + 5_000;
    while (performance.now() < deadline) {
      if (await answersOnly(replica, version)) return performance.now() - startedAt;
    }
    throw new Error(`${replica.name} still not answering from ${version} 5 s after the change`);
  };
  const taker = [];
  const others = [];
  const calls = [];
  for (let i = 0; i < KILLS; i++) {
    for (const r of replicas) await waitFor(`${r.name} back on the canary`, () => answersOnly(r, 'canary'), 5_000);
    const target = replicas[i % 3];
    const startedAt = performance.now();
    const kill = httpCall(`${target.adminUrl}/routes/shop/kill`, { method: 'POST' }).then((res) => {
      if (res.status !== 200) throw new Error(`kill via ${target.name}: ${res.status} ${res.body}`);
      calls.push(performance.now() - startedAt);
    });
    const times = await Promise.all(replicas.map((r) => firstAnswer(r, 'stable', startedAt)));
    await kill;
    replicas.forEach((r, index) => (r === target ? taker : others).push(times[index]));
    const resume = await httpCall(`${replicas[(i + 1) % 3].adminUrl}/routes/shop/resume`, { method: 'POST' });
    if (resume.status !== 200) throw new Error(`resume: ${resume.status} ${resume.body}`);
  }
  const fmt = (list) => `p50 ${percentile(list, 50).toFixed(1)} ms, max ${Math.max(...list).toFixed(1)} ms`;
  console.log(`admin call (kill stored in Redis and applied there): ${fmt(calls)}`);
  console.log(`first stable answer, replica that took the call:   ${fmt(taker)}`);
  console.log(`first stable answer, the other two replicas:       ${fmt(others)} (${others.length} measurements)`);
  for (const r of replicas) r.child.kill('SIGTERM');
  return { taker, others };
}

async function main() {
  console.log(`bench-fleet: node ${process.version}, ${new Date().toISOString()}, load average ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`);
  const [stable, canary] = await Promise.all([startUpstream('stable'), startUpstream('canary')]);
  const redis = await startRedis();
  await cpuCost(stable, canary, redis);
  await propagation(stable, canary, redis);
  stable.server.close();
  canary.server.close();
  stable.server.closeAllConnections?.();
  canary.server.closeAllConnections?.();
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(error.stack ?? error.message);
    process.exit(1);
  },
);
