/**
 * When a `node:cluster` supervisor gets its optimizing compilers back (src/process-footprint.ts): client connections
 * at `perSecond` or more on average over the last `windows` intervals between readings, hand-computed from readings
 * of the workers' accepted total.
 */
import { describe, expect, it } from 'vitest';
import { ConnectionRateWatch } from '../src/process-footprint.js';

/** Feeds readings 2 s apart from t = 0 and returns what each said. */
function feed(watch: ConnectionRateWatch, totals: readonly number[]): boolean[] {
  return totals.map((total, i) => watch.observe(i * 2_000, total));
}

describe('ConnectionRateWatch (100 a second over the last 3 intervals)', () => {
  it('says so once 3 intervals hold 600 connections in 6 s, and keeps saying so', () => {
    const watch = new ConnectionRateWatch(100, 3);
    expect(feed(watch, [0, 200, 400, 600, 600, 600])).toEqual([false, false, false, true, true, true]);
    expect(watch.rate).toBe(100);
  });

  it('averages over the intervals: shipments that land unevenly between readings still add up', () => {
    const watch = new ConnectionRateWatch(100, 3);
    // 150 a second, shipped once a second, read every 2 s out of step: the intervals held 150, 450, 300, 300.
    expect(feed(watch, [0, 150, 600, 900, 1200])).toEqual([false, false, false, true, true]);
    expect(watch.rate).toBe(150);
  });

  it('looks only at the last 3 intervals: a slow one among them keeps the average under the rate', () => {
    const watch = new ConnectionRateWatch(100, 3);
    // Intervals: 200, 200, 1 (0.5 a second), 200, 200, 200. Over the last three: 401/6 s, 401/6 s, then 600/6 s.
    expect(feed(watch, [0, 200, 400, 401, 601, 801, 1001])).toEqual([false, false, false, false, false, false, true]);
  });

  it('never says so just under the rate, nor with keep-alive traffic that opens a few connections', () => {
    const under = new ConnectionRateWatch(100, 3);
    // 199 connections every 2 s: 99.5 a second.
    expect(feed(under, Array.from({ length: 20 }, (_, i) => i * 199)).some(Boolean)).toBe(false);
    const keepAlive = new ConnectionRateWatch(100, 3);
    expect(feed(keepAlive, [0, 64, 64, 64, 70, 70, 70, 70]).some(Boolean)).toBe(false);
  });

  it('reads intervals of any length, and skips a reading that is not later than the one before', () => {
    const watch = new ConnectionRateWatch(100, 3);
    expect(watch.observe(10_000, 0)).toBe(false);
    expect(watch.observe(10_500, 50)).toBe(false);
    expect(watch.observe(10_500, 500)).toBe(false); // skipped: no time passed
    expect(watch.observe(15_500, 550)).toBe(false); // 550 in 5.5 s: two intervals so far
    expect(watch.observe(16_000, 640)).toBe(true); // 640 in 6 s: 106.7 a second over three intervals
    expect(watch.rate).toBeCloseTo(106.67, 1);
  });
});
