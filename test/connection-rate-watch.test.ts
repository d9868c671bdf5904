/**
 * When a `node:cluster` supervisor gets its optimizing compilers back (src/process-footprint.ts): client connections
 * at `perSecond` or more in `windows` readings in a row, hand-computed from readings of the workers' accepted total.
 */
import { describe, expect, it } from 'vitest';
import { ConnectionRateWatch } from '../src/process-footprint.js';

/** Feeds readings 2 s apart from t = 0 and returns what each said. */
function feed(watch: ConnectionRateWatch, totals: readonly number[]): boolean[] {
  return totals.map((total, i) => watch.observe(i * 2_000, total));
}

describe('ConnectionRateWatch (100 a second, 3 readings in a row)', () => {
  it('says so at the third window of 200 connections in 2 s, and keeps saying so', () => {
    const watch = new ConnectionRateWatch(100, 3);
    // Windows: 200, 200, 200 connections in 2 s = 100 a second each; then none at all.
    expect(feed(watch, [0, 200, 400, 600, 600, 600])).toEqual([false, false, false, true, true, true]);
  });

  it('starts counting again after a slow window', () => {
    const watch = new ConnectionRateWatch(100, 3);
    // 100/s, 100/s, then 0.5/s (one connection in 2 s), then three fast windows.
    expect(feed(watch, [0, 200, 400, 401, 601, 801, 1001])).toEqual([false, false, false, false, false, false, true]);
  });

  it('never says so just under the rate, nor with keep-alive traffic that opens a few connections', () => {
    const under = new ConnectionRateWatch(100, 3);
    // 199 connections in 2 s: 99.5 a second.
    expect(feed(under, Array.from({ length: 20 }, (_, i) => i * 199)).some(Boolean)).toBe(false);
    const keepAlive = new ConnectionRateWatch(100, 3);
    expect(feed(keepAlive, [0, 64, 64, 64, 70, 70, 70, 70]).some(Boolean)).toBe(false);
  });

  it('reads windows of any length as a rate, and starts the next window from a reading at the same instant (no window, no rate)', () => {
    const watch = new ConnectionRateWatch(100, 3);
    expect(watch.observe(10_000, 0)).toBe(false);
    expect(watch.observe(10_500, 50)).toBe(false); // 100/s over 0.5 s
    expect(watch.observe(10_500, 500)).toBe(false); // same instant: no window; the next one starts here
    expect(watch.observe(15_500, 1_000)).toBe(false); // 100/s over 5 s
    expect(watch.observe(16_500, 1_100)).toBe(true); // 100/s over 1 s: the third window in a row
  });
});
