import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import type { ResponseDifference } from '../src/diff/response-diff.js';
import { createMetrics } from '../src/metrics/metrics.js';
import { SLOTS } from '../src/metrics/rolling-window.js';
import { MirrorBook, MirrorRecords, type MirrorCountsDelta } from '../src/mirror/mirror-records.js';

const ENTRY = {
  time: '2026-01-01T00:00:00.000Z',
  route: 'api',
  request: { method: 'GET', url: '/x', headers: {} },
  primaryVersion: 'stable',
  status: { primary: 200, shadow: 200 },
  suppressed: [],
};

function difference(field: string, primary: unknown = 1, shadow: unknown = 2): ResponseDifference {
  return { field, path: field, primary, shadow };
}

function fresh(keep = 10) {
  const metrics = createMetrics(new Registry(), { processMetrics: false });
  return { metrics, records: new MirrorRecords('api', metrics, keep) };
}

describe('MirrorRecords', () => {
  it("keeps comparisons by second for a window's match rate: a worker's by their arrival, none older than SLOTS seconds", () => {
    const { records } = fresh();
    const t = Date.parse('2026-12-01T10:00:00Z');
    records.recordComparison([difference('body.$.a')], null, t - 5_000);
    records.recordComparison([], null, t - 1_000);
    const fromWorker: MirrorCountsDelta = { outcomes: [['match', 3]], compared: 4, matched: 3, fields: [], noise: [], noiseSamples: 0, inFlight: 0, duration: null, stored: [] };
    records.addCounts(fromWorker, t);
    expect(records.window.snapshot(t, 1)).toEqual({ compared: 4, matched: 3 });
    expect(records.window.snapshot(t, 2)).toEqual({ compared: 5, matched: 4 });
    expect(records.window.snapshot(t, 6)).toEqual({ compared: 6, matched: 4 });
    // SLOTS seconds on, the slot of t - 1 s is reused: its comparisons are gone, not added to the new second's.
    records.recordComparison([], null, t - 1_000 + SLOTS * 1000);
    expect(records.window.snapshot(t + SLOTS * 1000, SLOTS + 100)).toEqual({ compared: 1, matched: 1 });
    expect(records.summary()).toMatchObject({ compared: 7, matched: 5 });
  });

  it('counts matches and diffs and computes the match rate', () => {
    const { records } = fresh();
    expect(records.summary().matchRate).toBeNull();
    records.recordComparison([], ENTRY);
    records.recordComparison([], ENTRY);
    records.recordComparison([difference('body.$.a')], ENTRY);
    records.count('dropped');
    const summary = records.summary();
    expect(summary).toMatchObject({ compared: 3, matched: 2, outcomes: { match: 2, diff: 1, dropped: 1 } });
    expect(summary.matchRate).toBeCloseTo(2 / 3);
  });

  it('keeps the last N differing exchanges, newest first, with values truncated', () => {
    const { records } = fresh(3);
    for (let i = 0; i < 5; i++) records.recordComparison([difference('body.$.a', 'x'.repeat(300), i)], { ...ENTRY, request: { ...ENTRY.request, url: `/${i}` } });
    const recent = records.recent();
    expect(recent.map((d) => d.request.url)).toEqual(['/4', '/3', '/2']);
    expect(recent[0].differences[0].primary).toMatch(/^x{200}… \(300 chars\)$/);
    expect(recent[0].differences[0].shadow).toBe('4');
    expect(records.recent(1)).toHaveLength(1);
    records.resize(1);
    expect(records.recent().map((d) => d.request.url)).toEqual(['/4']);
  });

  it('counts a field once per exchange, ranks top fields, and flags likely noise', () => {
    const { records } = fresh();
    for (let i = 0; i < 20; i++) {
      const fields = [difference('body.$.ts'), difference('body.$.items[].id'), difference('body.$.items[].id')];
      if (i < 3) fields.push(difference('status'));
      records.recordComparison(fields, ENTRY);
    }
    expect(records.summary().topFields).toEqual([
      { field: 'body.$.items[].id', count: 20, likelyNoise: true },
      { field: 'body.$.ts', count: 20, likelyNoise: true },
      { field: 'status', count: 3, likelyNoise: false },
    ]);
  });

  it('learns noise fields from stable-vs-stable samples', () => {
    const { records } = fresh();
    expect(records.isNoise('body.$.requestId')).toBe(false);
    records.learnNoise([difference('body.$.requestId')]);
    records.learnNoise([difference('body.$.requestId'), difference('headers.x-trace')]);
    expect(records.isNoise('body.$.requestId')).toBe(true);
    expect(records.summary()).toMatchObject({
      noiseSamples: 2,
      noiseFields: [
        { field: 'body.$.requestId', count: 2 },
        { field: 'headers.x-trace', count: 1 },
      ],
    });
  });

  it('caps metric label values per route at 20 distinct fields', async () => {
    const { records, metrics } = fresh();
    for (let i = 0; i < 30; i++) records.recordComparison([difference(`body.$.f${i}`)], null);
    const values = (await metrics.mirrorDiffs.get()).values;
    expect(values).toHaveLength(21);
    expect(values.find((v) => v.labels.field === 'other')?.value).toBe(10);
  });

  it('exports outcomes and in-flight as metrics', async () => {
    const { records, metrics } = fresh();
    records.count('shadow_timeout');
    records.trackInFlight(1);
    records.trackInFlight(1);
    records.trackInFlight(-1);
    expect((await metrics.mirrorRequests.get()).values).toEqual([{ labels: { route: 'api', outcome: 'shadow_timeout' }, value: 1 }]);
    expect((await metrics.mirrorInFlight.get()).values[0].value).toBe(1);
  });
});

describe('MirrorBook', () => {
  it('returns the same records for a route across table generations', () => {
    const book = new MirrorBook(createMetrics(new Registry(), { processMetrics: false }));
    const first = book.recordsFor('api', 5);
    first.count('match');
    expect(book.recordsFor('api', 5)).toBe(first);
    expect(book.get('api')?.summary().outcomes.match).toBe(1);
    expect(book.all()).toHaveLength(1);
  });
});
