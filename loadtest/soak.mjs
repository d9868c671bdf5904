#!/usr/bin/env node
/**
 * Soak: does splitgate stay flat and correct for a long time under steady load, reloads and a flapping canary?
 *
 *   npm run soak -- --minutes 30          (builds first; node loadtest/soak.mjs --minutes 30 after a build)
 *
 * One splitgate process (dist/bin.js) in front of three node:http upstreams run by this script: stable, a canary
 * that answers after 5 ms and flaps (its listener closed and every connection dropped, requests in flight included,
 * for 20 s every 2 minutes, first at 0:30: a crash), and a
 * shadow. One route at 50 % canary, 10 % of GETs mirrored to the shadow. First the capacity is measured (closed
 * loop, 64 requests in flight, --measure seconds); then load runs at half of it for --minutes: 90 % GET (idempotent),
 * 10 % POST with a small body. The config is reloaded once a minute (POST /reload after rewriting the file; first at
 * 0:50). Every 30 s one line: RSS, requests and failures by method, retries and ejections (splitgate_retries_total,
 * splitgate_upstream_ejections_total; "absent" while splitgate does not export them), open fds and sockets
 * (/proc/<pid>/fd), open client connections, and whether the canary is down.
 *
 * At the end, the targets as PASS/FAIL lines (exit code 1 if any fails):
 *   - RSS growth at most 10 % from the end of warm-up (the first fifth of the run, at most 5 minutes) to the end;
 *   - 0 failed GET requests (a failed canary answer must be retried to stable; POSTs are counted, not judged);
 *   - no fd or socket leak: after the load stops and pools idle out, no more than at the end of warm-up (+10 slack).
 *
 * Options: --minutes N (30), --measure S (5), --rate R (requests/s; skips the measurement), --concurrency C (64).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, createServer, request } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = dirname(HERE);

function option(name, fallback) {
  const index = process.argv.indexOf(`--${name}`);
  if (index === -1) return fallback;
  const value = Number(process.argv[index + 1]);
  if (!Number.isFinite(value) || value <= 0) {
    console.error(`soak: --${name} needs a positive number`);
    process.exit(2);
  }
  return value;
}

const minutes = option('minutes', 30);
const measureSeconds = option('measure', 5);
const fixedRate = option('rate', 0);
const concurrency = option('concurrency', 64);
const runMs = minutes * 60_000;
const warmupMs = Math.min(5 * 60_000, runMs / 5);
const REPORT_EVERY_MS = 30_000;
const RELOAD_FIRST_MS = 50_000;
const RELOAD_EVERY_MS = 60_000;
const FLAP_FIRST_MS = 30_000;
const FLAP_EVERY_MS = 120_000;
const FLAP_DOWN_MS = 20_000;
const CANARY_DELAY_MS = 5;
const POST_BODY = JSON.stringify({ item: 42, quantity: 1, note: 'soak' });

const temp = mkdtempSync(join(tmpdir(), 'splitgate-soak-'));
let proxyChild = null;
const cleanup = () => {
  proxyChild?.kill('SIGKILL');
  rmSync(temp, { recursive: true, force: true });
};
process.on('exit', cleanup);
process.on('SIGINT', () => process.exit(130));
// Hard bound: the run, the measurement and a few minutes of start and stop.
setTimeout(() => {
  console.error('soak: time limit reached');
  process.exit(3);
}, runMs + measureSeconds * 1000 + 180_000).unref();

// Upstreams --------------------------------------------------------------------------------------------------

function upstream(version, delayMs = 0) {
  const body = JSON.stringify({ version, ok: true });
  const answer = (res) => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  };
  const server = createServer({ keepAliveTimeout: 65_000 }, (req, res) => {
    req.resume();
    req.on('end', () => (delayMs > 0 ? setTimeout(answer, delayMs, res) : answer(res)));
  });
  return server;
}

function listen(server, port = 0) {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve(server.address().port);
    });
  });
}

const stable = upstream('stable');
// The canary takes a few ms per answer, so each flap cuts off the requests it holds, as a crash does: more of them
// than the concurrent retry budget, which the burst credit must cover (README "When the canary breaks").
const canary = upstream('canary', CANARY_DELAY_MS);
const shadow = upstream('shadow');
const stablePort = await listen(stable);
const canaryPort = await listen(canary);
const shadowPort = await listen(shadow);
let canaryDown = false;

async function flapCanary() {
  canaryDown = true;
  // Connections refused from now on, and every pooled connection dropped: what a crashed canary looks like.
  await new Promise((resolve) => {
    canary.close(resolve);
    canary.closeAllConnections();
  });
  setTimeout(async () => {
    try {
      await listen(canary, canaryPort);
    } catch (error) {
      console.error(`soak: canary could not listen again on ${canaryPort}: ${error.message}`);
    }
    canaryDown = false;
  }, FLAP_DOWN_MS).unref();
}

// splitgate ----------------------------------------------------------------------------------------------------

const configFile = join(temp, 'splitgate.yaml');
let reloads = 0;

function writeConfig() {
  const config = {
    listen: '127.0.0.1:0',
    admin: { listen: '127.0.0.1:0' },
    state: { file: false },
    watch: false,
    upstreams: { stable: `http://127.0.0.1:${stablePort}`, canary: `http://127.0.0.1:${canaryPort}`, shadow: `http://127.0.0.1:${shadowPort}` },
    routes: [{ name: 'api', stable: 'stable', canary: 'canary', weight: 50, mirror: { to: 'shadow', percent: 10 } }],
    // Each reload changes something harmless, so it really swaps a table.
    log: { level: 'info', accessLog: { enabled: true, sample: reloads % 2 === 0 ? 0 : 0.0001, errors: false } },
  };
  writeFileSync(configFile, stringify(config));
}

writeConfig();
proxyChild = spawn(process.execPath, [join(ROOT, 'dist', 'bin.js'), '--config', configFile], { stdio: ['ignore', 'pipe', 'inherit'] });
const { proxyUrl, adminUrl } = await new Promise((resolve, reject) => {
  let pending = '';
  const timer = setTimeout(() => reject(new Error('splitgate did not start within 15 s (npm run build first?)')), 15_000);
  proxyChild.once('exit', (code) => reject(new Error(`splitgate exited (${code}) before listening`)));
  proxyChild.stdout.setEncoding('utf8').on('data', function onData(text) {
    pending += text;
    let newline;
    while ((newline = pending.indexOf('\n')) !== -1) {
      const line = pending.slice(0, newline);
      pending = pending.slice(newline + 1);
      try {
        const entry = JSON.parse(line);
        if (entry.msg === 'splitgate listening') {
          clearTimeout(timer);
          proxyChild.stdout.off('data', onData);
          proxyChild.stdout.resume();
          resolve({ proxyUrl: entry.listen, adminUrl: entry.admin });
        }
      } catch {
        // not a JSON line
      }
    }
  });
});
const pid = proxyChild.pid;
proxyChild.once('exit', (code, signal) => {
  if (!stopping) {
    console.error(`soak: splitgate exited during the run (${code ?? signal})`);
    process.exit(1);
  }
});
let stopping = false;

// Load ---------------------------------------------------------------------------------------------------------

const agent = new Agent({ keepAlive: true, maxSockets: concurrency * 2 });
const proxy = new URL(proxyUrl);
const counts = { GET: { ok: 0, failed: 0 }, POST: { ok: 0, failed: 0 } };
const failures = new Map();
let inFlight = 0;
let sequence = 0;

function fire() {
  const isPost = sequence++ % 10 === 9;
  const method = isPost ? 'POST' : 'GET';
  inFlight++;
  const done = (ok, why) => {
    inFlight--;
    counts[method][ok ? 'ok' : 'failed']++;
    if (!ok) failures.set(`${method} ${why}`, (failures.get(`${method} ${why}`) ?? 0) + 1);
  };
  const req = request(
    {
      host: proxy.hostname,
      port: proxy.port,
      path: `/api/items/${sequence % 1000}`,
      method,
      agent,
      headers: isPost ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(POST_BODY) } : {},
    },
    (res) => {
      res.resume();
      res.on('end', () => done(res.statusCode < 500, String(res.statusCode)));
      res.on('error', () => done(false, 'response error'));
    },
  );
  req.setTimeout(10_000, () => req.destroy(new Error('timeout')));
  req.on('error', (error) => done(false, error.code ?? error.message));
  req.end(isPost ? POST_BODY : undefined);
}

async function measureCapacity(seconds) {
  const before = counts.GET.ok + counts.POST.ok;
  const until = Date.now() + seconds * 1000;
  await new Promise((resolve) => {
    const pump = () => {
      if (Date.now() >= until) {
        if (inFlight === 0) resolve();
        else setTimeout(pump, 10);
        return;
      }
      while (inFlight < concurrency) fire();
      setImmediate(pump);
    };
    pump();
  });
  return (counts.GET.ok + counts.POST.ok - before) / seconds;
}

/** Open-loop pacing at `rate` per second in 10 ms ticks, never more than 4 × concurrency in flight. */
function startLoad(rate) {
  let credit = 0;
  let last = performance.now();
  const timer = setInterval(() => {
    const now = performance.now();
    credit += ((now - last) / 1000) * rate;
    last = now;
    while (credit >= 1 && inFlight < concurrency * 4) {
      fire();
      credit--;
    }
    if (credit > rate) credit = rate;
  }, 10);
  return () => clearInterval(timer);
}

// Observation ----------------------------------------------------------------------------------------------------

function rssBytes() {
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) * 1024 : 0;
}

function descriptors() {
  let fds = 0;
  let sockets = 0;
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    fds++;
    try {
      if (readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith('socket:')) sockets++;
    } catch {
      // closed meanwhile
    }
  }
  return { fds, sockets };
}

function get(url, method = 'GET') {
  return new Promise((resolve, reject) => {
    const req = request(url, { method }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c) => (body += c)).on('end', () => resolve({ status: res.statusCode, body }));
    });
    req.on('error', reject);
    req.setTimeout(5_000, () => req.destroy(new Error('timeout')));
    req.end();
  });
}

/** Sum of a metric's samples, or null when splitgate does not export it. */
function metricSum(text, name) {
  let sum = null;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    sum = (sum ?? 0) + Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

async function sample() {
  let metrics = '';
  try {
    metrics = (await get(`${adminUrl}/metrics`)).body;
  } catch {
    // counted as absent below
  }
  return {
    rss: rssBytes(),
    ...descriptors(),
    retries: metricSum(metrics, 'splitgate_retries_total'),
    ejections: metricSum(metrics, 'splitgate_upstream_ejections_total'),
    clientConnections: metricSum(metrics, 'splitgate_client_connections'),
  };
}

const mib = (bytes) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
const shown = (value) => (value === null ? 'absent' : String(value));
const clock = (ms) => `${Math.floor(ms / 60_000)}:${String(Math.floor((ms % 60_000) / 1000)).padStart(2, '0')}`;

function report(elapsed, s) {
  console.log(
    `  ${clock(elapsed).padStart(6)}  rss ${mib(s.rss).padStart(10)}  GET ok ${String(counts.GET.ok).padStart(8)} failed ${String(counts.GET.failed).padStart(5)}` +
      `  POST ok ${String(counts.POST.ok).padStart(7)} failed ${String(counts.POST.failed).padStart(5)}  retries ${shown(s.retries)}  ejections ${shown(s.ejections)}` +
      `  fds ${s.fds}  sockets ${s.sockets}  client conns ${shown(s.clientConnections)}${canaryDown ? '  (canary down)' : ''}`,
  );
}

// Run ------------------------------------------------------------------------------------------------------------

console.log(`soak: splitgate pid ${pid} on ${proxyUrl} (admin ${adminUrl}), ${minutes} min, warm-up ${clock(warmupMs)}`);
let rate = fixedRate;
if (rate === 0) {
  const capacity = await measureCapacity(measureSeconds);
  rate = Math.max(1, Math.round(capacity / 2));
  console.log(`soak: measured capacity ${Math.round(capacity)} req/s over ${measureSeconds} s (${concurrency} in flight); soaking at half: ${rate} req/s`);
} else {
  console.log(`soak: rate ${rate} req/s (given)`);
}
counts.GET = { ok: 0, failed: 0 };
counts.POST = { ok: 0, failed: 0 };
failures.clear();

const start = Date.now();
const stopLoad = startLoad(rate);
const timers = [];
const at = (delay, every, task) => {
  timers.push(
    setTimeout(function run() {
      task();
      if (every > 0) timers.push(setTimeout(run, every));
    }, delay),
  );
};
at(FLAP_FIRST_MS, FLAP_EVERY_MS, () => {
  if (Date.now() - start + FLAP_DOWN_MS <= runMs) void flapCanary();
});
at(RELOAD_FIRST_MS, RELOAD_EVERY_MS, async () => {
  reloads++;
  writeConfig();
  try {
    const reply = await get(`${adminUrl}/reload`, 'POST');
    if (reply.status !== 200) console.log(`  reload ${reloads}: ${reply.status} ${reply.body.slice(0, 200)}`);
  } catch (error) {
    console.log(`  reload ${reloads} failed: ${error.message}`);
  }
});

let warm = null;
const samples = [];
await new Promise((resolve) => {
  const tick = async () => {
    const elapsed = Date.now() - start;
    const s = await sample();
    samples.push({ elapsed, ...s });
    report(elapsed, s);
    if (warm === null && elapsed >= warmupMs) warm = s;
    if (elapsed >= runMs - 500) resolve();
    else timers.push(setTimeout(tick, Math.min(REPORT_EVERY_MS, Math.max(0, runMs - elapsed))));
  };
  // A sample at the end of warm-up too, when it does not fall on a 30 s tick.
  if (warmupMs % REPORT_EVERY_MS !== 0) {
    timers.push(
      setTimeout(async () => {
        const s = await sample();
        if (warm === null) warm = s;
        console.log(`  ${clock(Date.now() - start).padStart(6)}  end of warm-up: rss ${mib(s.rss)}, fds ${s.fds}, sockets ${s.sockets}`);
      }, warmupMs),
    );
  }
  timers.push(setTimeout(tick, REPORT_EVERY_MS));
});
stopLoad();
for (const timer of timers) clearTimeout(timer);
const last = samples.at(-1);
// Let in-flight requests finish and keep-alive connections on both sides close, then count what is left open.
await new Promise((resolve) => {
  const wait = () => (inFlight === 0 ? resolve() : setTimeout(wait, 50));
  wait();
});
agent.destroy();
await new Promise((r) => setTimeout(r, 3_000));
const idle = descriptors();

console.log('');
console.log(`soak: ${reloads} reloads, requests GET ${counts.GET.ok + counts.GET.failed} (failed ${counts.GET.failed}), POST ${counts.POST.ok + counts.POST.failed} (failed ${counts.POST.failed})`);
if (failures.size > 0) console.log(`soak: failures by kind: ${[...failures].map(([k, n]) => `${k} ×${n}`).join(', ')}`);
const results = [];
const judge = (ok, text) => {
  results.push(ok);
  console.log(`${ok ? 'PASS' : 'FAIL'}  ${text}`);
};
const base = warm ?? samples[0];
const growth = (last.rss - base.rss) / base.rss;
judge(growth <= 0.1, `RSS growth after warm-up ${(growth * 100).toFixed(1)} % (${mib(base.rss)} → ${mib(last.rss)}; target ≤ 10 %)`);
judge(counts.GET.failed === 0, `failed idempotent (GET) requests: ${counts.GET.failed} of ${counts.GET.ok + counts.GET.failed} (target 0)`);
judge(idle.fds <= base.fds + 10, `open fds after the load: ${idle.fds} (end of warm-up, under load: ${base.fds}; target: no more, +10 slack)`);
judge(idle.sockets <= base.sockets + 10, `open sockets after the load: ${idle.sockets} (end of warm-up: ${base.sockets}; target: no more, +10 slack)`);
console.log(`soak: retries ${shown(last.retries)}, ejections ${shown(last.ejections)} (from /metrics)`);

stopping = true;
proxyChild.kill('SIGTERM');
await new Promise((resolve) => proxyChild.once('exit', resolve));
for (const server of [stable, canary, shadow]) {
  server.closeAllConnections();
  server.close();
}
process.exit(results.every(Boolean) ? 0 : 1);
