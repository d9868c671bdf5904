#!/usr/bin/env node
/**
 * One load measurement, run as its own process so bench.mjs can pin it (`taskset -c 0`): an optional warm-up,
 * then the measured run, both with autocannon against the same request mix. Prints `{"phase":"measure"}` when
 * the measured run starts, then one JSON object with the results, each on its own stdout line.
 *
 *   node loadtest/runner.mjs '{"url":"http://127.0.0.1:8080","connections":64,"duration":10,"warmup":2,"users":1000}'
 *
 * The request mix: GET / with an `x-user-id` header cycling through `users` ids (1000 by default). With
 * `requestsFile` (a JSON array of autocannon requests: `{method, path, headers, body}`), that list instead, shared
 * out over the connections the same way (too long for a command-line argument, hence a file).
 */
import { readFileSync } from 'node:fs';
import autocannon from 'autocannon';

const options = JSON.parse(process.argv[2] ?? '{}');
const url = options.url;
const connections = options.connections ?? 64;
const duration = options.duration ?? 10;
const warmup = options.warmup ?? 2;
const users = options.users ?? 1000;
const path = options.path ?? '/';
const requestList = options.requestsFile ? JSON.parse(readFileSync(options.requestsFile, 'utf8')) : null;

if (!url) {
  process.stderr.write('runner: no url given\n');
  process.exit(2);
}

// Hard bound, whatever autocannon does: warm-up + run + 15 s of slack.
setTimeout(() => {
  process.stderr.write('runner: hard time limit reached\n');
  process.exit(3);
}, (warmup + duration + 15) * 1000).unref();

/**
 * The same users for every candidate: connection i sends ids i, i+C, i+2C, ... (C = connections) in turn, so all
 * `users` ids are in play at once. Each connection's requests are static and prebuilt when it is set up, so
 * autocannon does not rebuild a request per send (handing all 1000 to every connection would make it build
 * 64 000 requests up front, stalling the run's first second).
 */
function userRequests(connectionIndex) {
  const list = [];
  if (requestList !== null) {
    for (let i = connectionIndex % requestList.length; i < requestList.length; i += connections) list.push(requestList[i]);
    return list;
  }
  for (let id = connectionIndex % users; id < users; id += connections) {
    list.push({ method: 'GET', path, headers: { 'x-user-id': `user-${String(id).padStart(6, '0')}` } });
  }
  return list;
}

function run(seconds) {
  let nextConnection = 0;
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url,
        connections,
        duration: seconds,
        pipelining: 1,
        timeout: 10,
        requests: userRequests(0).slice(0, 1),
        setupClient: (client) => client.setRequests(userRequests(nextConnection++)),
      },
      (error, result) => (error ? reject(error) : resolve(result)),
    );
    instance.on('error', () => {});
  });
}

try {
  if (warmup > 0) await run(warmup);
  // Tells bench.mjs the measured run starts now (it samples the proxy's CPU time between this line and the end).
  process.stdout.write(JSON.stringify({ phase: 'measure' }) + '\n');
  const cpuBefore = process.cpuUsage();
  const wallBefore = process.hrtime.bigint();
  const r = await run(duration);
  const cpu = process.cpuUsage(cpuBefore);
  const wallMicros = Number(process.hrtime.bigint() - wallBefore) / 1000;
  const seconds = r.duration || duration;
  const out = {
    url,
    connections,
    durationSeconds: seconds,
    requests: r.requests.total,
    reqPerSec: r.requests.total / seconds,
    latencyMs: { p50: r.latency.p50, p90: r.latency.p90, p99: r.latency.p99, mean: r.latency.mean, max: r.latency.max },
    status2xx: r['2xx'],
    non2xx: r.non2xx,
    errors: r.errors,
    timeouts: r.timeouts,
    resets: r.resets ?? 0,
    mismatches: r.mismatches ?? 0,
    statusCodeStats: r.statusCodeStats ?? {},
    /** This load generator's own CPU during the measured run, in % of one core. */
    cpuPercent: (100 * (cpu.user + cpu.system)) / wallMicros,
  };
  process.stdout.write(JSON.stringify(out) + '\n');
  process.exit(0);
} catch (error) {
  process.stderr.write(`runner: ${error?.stack ?? error}\n`);
  process.exit(1);
}
