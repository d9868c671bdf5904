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
 *
 * It also prints the bytes each handler allocates per request (the heap's growth over 2 000 requests with no GC in
 * between; the fakes' own share included, the same for both). Run it as `node --expose-gc loadtest/hot-path.mjs`
 * for that figure: without a collection just before each batch one nearly always falls inside it.
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
/** A request as node:http hands it over: `headers` is built from `rawHeaders` on first read, as node does. */
class FakeRequest {
  constructor(rawHeaders) {
    this.rawHeaders = rawHeaders;
    this.url = '/';
    this.method = 'GET';
    this.socket = socket;
    this.built = null;
  }
  get headers() {
    if (this.built === null) {
      this.built = {};
      for (let i = 0; i < this.rawHeaders.length; i += 2) this.built[this.rawHeaders[i].toLowerCase()] ??= this.rawHeaders[i + 1];
    }
    return this.built;
  }
}
const request = (i) => new FakeRequest(['Host', '127.0.0.1:18080', 'x-user-id', users[i % 1000]]);
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

// The baseline's own handler (bare-proxy.mjs), on the same fakes.
const { createBareHandler } = await import(join(ROOT, 'loadtest/bare-proxy.mjs'));
const bareHandle = createBareHandler({ dispatch: answerAtOnce });

const service = splitgate.service;
const candidates = [['bare-undici', bareHandle], ['splitgate', (req, res) => service.handle(req, res)]];
const results = { 'bare-undici': [], splitgate: [] };
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
for (let round = 0; round <= 3; round++) {
  for (const [name, handle] of candidates) {
    const started = process.hrtime.bigint();
    for (let i = 0; i < REQUESTS; i++) handle(request(i), response());
    const nanos = Number(process.hrtime.bigint() - started) / REQUESTS;
    if (round > 0) results[name].push(nanos); // round 0 warms the JIT up
  }
}

// Bytes allocated per request: the heap's growth over a batch small enough that no GC runs in it (checked).
const { getHeapStatistics } = await import('node:v8');
const { PerformanceObserver } = await import('node:perf_hooks');
let collections = 0;
const gcObserver = new PerformanceObserver((list) => { collections += list.getEntries().length; });
gcObserver.observe({ entryTypes: ['gc'] });
const allocated = {};
for (const [name, handle] of candidates) {
  const samples = [];
  for (let attempt = 0; attempt < 20 && samples.length < 3; attempt++) {
    global.gc?.();
    // The observer hears of a collection a tick or two later.
    for (let tick = 0; tick < 3; tick++) await new Promise((resolve) => setTimeout(resolve, 1));
    const before = collections;
    const heapBefore = getHeapStatistics().used_heap_size;
    for (let i = 0; i < 2000; i++) handle(request(i), response());
    const heapAfter = getHeapStatistics().used_heap_size;
    for (let tick = 0; tick < 3; tick++) await new Promise((resolve) => setTimeout(resolve, 1));
    if (collections === before && heapAfter > heapBefore) samples.push((heapAfter - heapBefore) / 2000);
  }
  allocated[name] = samples.length === 0 ? null : median(samples);
}
gcObserver.disconnect();
await splitgate.stop(100);

const bare = median(results['bare-undici']);
const ours = median(results.splitgate);
for (const [name, values] of Object.entries(results)) {
  console.log(`${name.padEnd(12)} ${Math.round(median(values)).toString().padStart(5)} ns/request  (runs: ${values.map((v) => Math.round(v)).join(', ')})`);
}
for (const [name, bytes] of Object.entries(allocated)) {
  console.log(`${name.padEnd(12)} ${bytes === null ? '(a GC ran in every batch: run with --expose-gc)' : `${Math.round(bytes)} bytes allocated/request`}`);
}
console.log(`splitgate's own work over the baseline's: ${Math.round(ours - bare)} ns/request (${REQUESTS.toLocaleString('en-US')} requests a run)`);
process.exit(0);
