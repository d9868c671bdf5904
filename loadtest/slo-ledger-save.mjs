// How long a save of the SLO ledger book holds the event loop (the synchronous part of saveSoon: building the
// file's text), for full ledgers (every minute of the window holding counts), 1 and 2 routes, 30 and 90 days.
//   npm run build && node loadtest/slo-ledger-save.mjs [path/to/dist/metrics/slo-ledger.js]
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const modulePath = resolve(process.argv[2] ?? new URL('../dist/metrics/slo-ledger.js', import.meta.url).pathname);
const { SloLedgerBook } = await import(pathToFileURL(modulePath).href);
const DAY = 86_400_000;

for (const [days, routes] of [[30, 1], [30, 2], [90, 2]]) {
  const dir = mkdtempSync(join(tmpdir(), 'sg-slo-bench-'));
  const file = join(dir, 'state.json.slo');
  let now = Date.now();
  const book = new SloLedgerBook({ file, now: () => now });
  const spanMs = days * DAY;
  for (let r = 0; r < routes; r++) {
    const entry = book.entryFor(`route-${r}`, spanMs);
    for (let t = now - spanMs; t < now; t += 60_000) entry.ledger.add(t, 1234, 5);
  }
  const times = [];
  for (let i = 0; i < 8; i++) {
    now += 61_000;
    const t0 = performance.now();
    book.saveSoon();
    times.push(performance.now() - t0);
    await new Promise((r) => setTimeout(r, 300));
  }
  const sorted = [...times].sort((a, b) => a - b);
  console.log(`${days}d × ${routes} route(s): saveSoon() holds the event loop first ${times[0].toFixed(2)} ms, median ${sorted[4].toFixed(2)} ms, max ${sorted[7].toFixed(2)} ms; file ${(statSync(file).size / 1e6).toFixed(2)} MB`);
  rmSync(dir, { recursive: true, force: true });
}
