#!/usr/bin/env node
/**
 * What saving running experiments costs (src/experiments/experiment-file.ts): one experiment with 100 000 keyed users
 * (maxUsers' default), half of them converted once, as a single process holds them and as a supervisor merges them
 * from its workers. Prints the file's size, the synchronous snapshot (the longest the event loop is held; wall and
 * CPU time, which differ on a machine other processes load), the whole
 * save with its digest slices (the longest event-loop delay seen meanwhile), the write, and the restore at start.
 *
 *   npm run build && node loadtest/experiment-file.mjs        (EXPERIMENT_USERS, default 100 000; 5 rounds)
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));
const { validateConfig } = await import(join(ROOT, 'dist/config/load.js'));
const { ExperimentBook } = await import(join(ROOT, 'dist/experiments/experiment-book.js'));
const { ExperimentFile, parseExperimentFile, snapshotBook } = await import(join(ROOT, 'dist/experiments/experiment-file.js'));

const USERS = Number(process.env.EXPERIMENT_USERS ?? 100_000);
const config = validateConfig({
  upstreams: { stable: 'http://127.0.0.1:3001', canary: 'http://127.0.0.1:3002' },
  routes: [{ name: 'shop', stable: 'stable', canary: 'canary', weight: 50, sticky: { key: ['header:x-user-id'] } }],
  experiments: [{ key: 'checkout', route: 'shop', exposure: { match: { pathPrefix: '/shop' } }, conversions: [{ name: 'order', match: { method: 'POST', path: '/orders', status: '2xx' } }, { name: 'purchase', header: true }], maxUsers: USERS }],
});
// Keys as splitgate's issued sg_uid cookie looks (22 characters), or a UUID-sized header.
const keyOf = (i) => `user-${String(i).padStart(8, '0')}-${(i * 2654435761 >>> 0).toString(16)}`;

function singleProcess() {
  const book = new ExperimentBook();
  book.planOf(config);
  for (let i = 0; i < USERS; i++) {
    book.begin(config, 'shop', i % 2 ? 'canary' : 'stable', keyOf(i), 'GET', '/shop', undefined).responded(200, []);
    if (i % 2 === 0) book.begin(config, 'shop', 'stable', keyOf(i), 'POST', '/orders', undefined).responded(201, []);
  }
  return book;
}

function supervisor() {
  const book = new ExperimentBook();
  book.planOf(config);
  const at = Date.now();
  const events = [];
  for (let i = 0; i < USERS; i++) {
    events.push({ experiment: 'checkout', user: keyOf(i), arm: i % 2, at: at + i, conversion: null, value: 0 });
    if (i % 2 === 0) events.push({ experiment: 'checkout', user: keyOf(i), arm: i % 2, at: at + i + 5, conversion: 'purchase', value: 12.5 });
  }
  book.applyEvents(events);
  return book;
}

const dir = mkdtempSync(join(tmpdir(), 'sg-experiment-file-bench-'));
try {
  for (const [name, build, kind] of [['single process', singleProcess, 'users'], ['supervisor (merged)', supervisor, 'merged']]) {
    const book = build();
    const file = join(dir, `${kind}.experiments`);
    const saver = new ExperimentFile({ file, book, kind, onWarning: (message) => console.error(message) });
    const rows = [];
    for (let round = 0; round < 5; round++) {
      let t = performance.now();
      const cpu = process.cpuUsage();
      const snapshot = snapshotBook(book);
      const snapshotMs = performance.now() - t;
      const used = process.cpuUsage(cpu);
      const snapshotCpuMs = (used.user + used.system) / 1000;
      const delay = monitorEventLoopDelay({ resolution: 1 });
      delay.enable();
      t = performance.now();
      const bytes = await snapshot.finish();
      const encodeMs = performance.now() - t;
      delay.disable();
      t = performance.now();
      await saver.save();
      const saveMs = performance.now() - t;
      t = performance.now();
      const fresh = new ExperimentBook();
      fresh.planOf(config);
      new ExperimentFile({ file, book: fresh, kind, onWarning: (message) => console.error(message) }).restore();
      const restoreMs = performance.now() - t;
      if (fresh.record('checkout').trackedUsers !== USERS) throw new Error(`restored ${fresh.record('checkout').trackedUsers} users, not ${USERS}`);
      rows.push({ bytes: bytes.length, snapshotMs, snapshotCpuMs, encodeMs, maxDelayMs: delay.max / 1e6, saveMs, restoreMs });
    }
    const median = (key) => rows.map((r) => r[key]).sort((a, b) => a - b)[2].toFixed(1);
    console.log(
      `${name}: ${USERS} users, file ${(statSync(file).size / 1e6).toFixed(2)} MB; snapshot (sync) ${median('snapshotMs')} ms (CPU ${median('snapshotCpuMs')} ms); ` +
        `digests in slices ${median('encodeMs')} ms (longest event-loop delay ${median('maxDelayMs')} ms); whole save with write+fsync ${median('saveMs')} ms; ` +
        `restore at start ${median('restoreMs')} ms (medians of 5)`,
    );
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
