#!/usr/bin/env node
/**
 * splitgate's own per-request JavaScript, in nanoseconds, without sockets: the proxy's request handler against the
 * bare baseline's, both driven by the same fake request, response and upstream (a dispatch that answers at once
 * with nginx's headers and a 64-byte body). It leaves out what the two share (node:http parsing and writing, undici
 * and the kernel), so the figure is steady to a few % where `npm run bench` moves by 10–20 % between rounds: use it
 * to tell whether a change to the data path made it cheaper.
 *
 *   npm run build && node loadtest/hot-path.mjs [CONFIG]          (default: loadtest/splitgate-bench.yaml)
 *
 * The real cost on a live proxy is a multiple of this (cold caches, GC, undici's work on the extra headers): read it
 * as a relative figure. HOT_PATH_REQUESTS (default 1 000 000) requests per measurement, 3 measurements each.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';

const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));
const { Splitgate } = await import(join(ROOT, 'dist/splitgate.js'));
const { loadConfigFile } = await import(join(ROOT, 'dist/config/load.js'));
const { createLogger } = await import(join(ROOT, 'dist/log.js'));

const REQUESTS = Number(process.env.HOT_PATH_REQUESTS ?? 1_000_000);
const config = await loadConfigFile(process.argv[2] ?? join(ROOT, 'loadtest/splitgate-bench.yaml'));
const logger = createLogger({ level: 'info', destination: pino.destination({ dest: '/dev/null', sync: true }) });
const splitgate = await Splitgate.start({
  config: {
    ...config,
    listen: { ...config.listen, host: '127.0.0.1', port: 0 },
    admin: { ...config.admin, listen: { ...config.admin.listen, host: '127.0.0.1', port: 0 } },
    state: { file: false },
    watch: false,
  },
  logger,
});

const upstreamHead = ['Server', 'nginx/1.22.1', 'Date', 'Sun, 22 Nov 2026 07:20:25 GMT', 'Content-Type', 'text/plain',
  'Content-Length', '64', 'Connection', 'keep-alive'].map((text) => Buffer.from(text, 'latin1'));
const upstreamBody = Buffer.alloc(64, 0x61);

/** An upstream that answers at once, through the same handler callbacks undici calls. */
function answerAtOnce(_options, handler) {
  handler.onConnect(() => {});
  handler.onHeaders(200, upstreamHead, () => {}, 'OK');
  handler.onData(upstreamBody);
  handler.onComplete([]);
  return true;
}
for (const binding of splitgate.store.current.bindings) {
  for (const backend of [binding.stable, binding.canary]) if (backend) backend.upstream.pool.dispatch = answerAtOnce;
}

const socket = Object.assign(new (await import('node:events')).EventEmitter(), { remoteAddress: '127.0.0.1', destroyed: false });
const users = Array.from({ length: 1000 }, (_, i) => `user-${String(i).padStart(6, '0')}`);
const request = (i) => ({ rawHeaders: ['Host', '127.0.0.1:18080', 'x-user-id', users[i % 1000]], url: '/', method: 'GET', socket });
const response = () => ({
  shouldKeepAlive: true,
  destroyed: false,
  writableFinished: false,
  socket,
  on() { return this; },
  once() { return this; },
  writeHead() { return this; },
  write() { return true; },
  end() { this.writableFinished = true; },
});

// The baseline's handler, as in bare-proxy.mjs, on the same fakes.
const isHopByHop = (name) => name === 'connection' || name === 'keep-alive' || name === 'transfer-encoding';
class BareExchange {
  constructor(res) { this.res = res; this.abort = null; this.resume = null; this.done = false; this.gone = false; this.streaming = false; }
  onConnect(abort) { this.abort = abort; }
  onHeaders(statusCode, rawHeaders, resume, statusText) {
    this.resume = resume;
    const headers = [];
    for (let i = 0; i < rawHeaders.length; i += 2) {
      const name = rawHeaders[i].toString('latin1');
      if (isHopByHop(name.toLowerCase())) continue;
      headers.push(name, rawHeaders[i + 1].toString('latin1'));
    }
    this.res.writeHead(statusCode, statusText || undefined, headers);
    this.streaming = true;
    return true;
  }
  onData(chunk) { return this.res.write(chunk); }
  onComplete() { this.done = true; this.res.end(); }
}
function bareHandle(req, res) {
  const exchange = new BareExchange(res);
  res.on('close', () => { if (!exchange.done) exchange.gone = true; });
  const raw = req.rawHeaders;
  const headers = [];
  for (let i = 0; i < raw.length; i += 2) if (!isHopByHop(raw[i].toLowerCase())) headers.push(raw[i], raw[i + 1]);
  answerAtOnce({ path: req.url, method: req.method, headers, body: null }, exchange);
}

const service = splitgate.service;
const candidates = [['bare-undici', bareHandle], ['splitgate', (req, res) => service.handle(req, res)]];
const results = { 'bare-undici': [], splitgate: [] };
for (let round = 0; round <= 3; round++) {
  for (const [name, handle] of candidates) {
    const started = process.hrtime.bigint();
    for (let i = 0; i < REQUESTS; i++) handle(request(i), response());
    const nanos = Number(process.hrtime.bigint() - started) / REQUESTS;
    if (round > 0) results[name].push(nanos); // round 0 warms the JIT up
  }
}
await splitgate.stop(100);

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const bare = median(results['bare-undici']);
const ours = median(results.splitgate);
for (const [name, values] of Object.entries(results)) {
  console.log(`${name.padEnd(12)} ${Math.round(median(values)).toString().padStart(5)} ns/request  (runs: ${values.map((v) => Math.round(v)).join(', ')})`);
}
console.log(`splitgate's own work over the baseline's: ${Math.round(ours - bare)} ns/request (${REQUESTS.toLocaleString('en-US')} requests a run)`);
process.exit(0);
