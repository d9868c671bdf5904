#!/usr/bin/env node
/**
 * The flags header's per-request cost in nanoseconds, without sockets: `requestFlagsHeader` on the bench route of
 * splitgate-flags-bench.yaml (the 10 flags of flags-bench.flagd.json, the four attribute headers bench-flags.mjs
 * sends), over the bench's 1000 users in turn (`repeat`: with the memo, hits after the first pass) and over users
 * never seen before (`new`: every request a miss). Both context building and evaluation are in the figure; the
 * header's writing (undici) is not.
 *
 *   npm run build && node loadtest/flags-header-cost.mjs [DIST]     (default: this checkout's dist/)
 *
 * DIST may be another build's dist/ (e.g. one without the memo), to compare the two on the same machine.
 * FLAGS_COST_REQUESTS (default 1 000 000) requests per measurement, 5 measurements each, the median printed.
 */
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));
const DIST = resolve(process.argv[2] ?? join(ROOT, 'dist'));
const REQUESTS = Number(process.env.FLAGS_COST_REQUESTS ?? 1_000_000);

const { loadConfigFile } = await import(join(DIST, 'config/load.js'));
const { compileTable } = await import(join(DIST, 'routing/table.js'));
const { RequestContext } = await import(join(DIST, 'routing/context.js'));
const { requestFlagsHeader } = await import(join(DIST, 'flags/route-flags.js'));

process.chdir(ROOT); // the config names its flags file relative to the repository root
const config = await loadConfigFile(join(ROOT, 'loadtest/splitgate-flags-bench.yaml'));
const flags = compileTable(config, 1).routes[0].flags;

// bench-flags.mjs's users: what the rules read (email domain, app version, country, platform).
const COUNTRIES = ['de', 'us', 'fr', 'jp', 'ca', 'br', 'nl', 'in'];
const PLATFORMS = ['ios-17.2', 'android-14', 'web'];
function contextOf(id) {
  const headers = {
    'x-user-id': `user-${String(id).padStart(6, '0')}`,
    'x-user-email': id % 10 === 0 ? `user-${id}@example.com` : `user-${id}@mail.test`,
    'x-app-version': `${1 + (id % 3)}.${id % 7}.${id % 4}`,
    'x-country': COUNTRIES[id % COUNTRIES.length],
    'x-platform': PLATFORMS[id % PLATFORMS.length],
  };
  return new RequestContext(headers, {}, undefined, 0, headers['x-user-id'], null);
}

const users = Array.from({ length: 1000 }, (_, id) => contextOf(id));
// 100 000 other users built in advance (their allocation is not in the figure), taken in turn: far more than a
// route's memo holds, so each one is evicted long before it comes back.
const FRESH = 100_000;
const fresh = Array.from({ length: FRESH }, (_, i) => contextOf(1_000_000 + i));

let sink = 0;
function measure(name, contextAt) {
  const runs = [];
  for (let round = 0; round <= 5; round++) {
    const started = process.hrtime.bigint();
    for (let i = 0; i < REQUESTS; i++) sink += requestFlagsHeader(flags, contextAt(i, round), undefined).length;
    if (round > 0) runs.push(Number(process.hrtime.bigint() - started) / REQUESTS); // round 0 warms the JIT up
  }
  const median = [...runs].sort((a, b) => a - b)[Math.floor(runs.length / 2)];
  console.log(`${name.padEnd(28)} ${Math.round(median).toString().padStart(5)} ns/request  (runs: ${runs.map((v) => Math.round(v)).join(', ')})`);
}

console.log(`dist: ${DIST}`);
measure('repeat (1000 users)', (i) => users[i % 1000]);
measure('new (a user per request)', (i) => fresh[i % FRESH]);
if (sink === 0) console.log('');
process.exit(0);
