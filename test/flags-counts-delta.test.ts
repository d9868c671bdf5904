/**
 * splitgate_flag_evaluations_total with workers: a worker ships what it counted since its previous take, the
 * supervisor adds it into its own book, and its one /metrics shows each (flag, variant, reason) once, summed.
 */
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { createMetrics, SeriesBook } from '../src/metrics/metrics.js';
import { applyDeltas, isCounterDeltas, isEmptyDelta, takeDeltas } from '../src/metrics/series-delta.js';
import { MirrorBook } from '../src/mirror/mirror-records.js';

function book() {
  const metrics = createMetrics(new Registry(), { processMetrics: false });
  return { metrics, series: new SeriesBook(metrics), mirrors: new MirrorBook(metrics) };
}

describe('flag evaluation counts across workers', () => {
  it('ships increases only, and the supervisor exposes each series once with the sum', async () => {
    const supervisor = book();
    const workers = [book(), book()];
    workers[0].metrics.flagCounts.cell('new-checkout', 'on', 'SPLIT').value += 3;
    workers[1].metrics.flagCounts.cell('new-checkout', 'on', 'SPLIT').value += 4;
    workers[1].metrics.flagCounts.cell('auth-v2', 'v1', 'DEFAULT').value += 1;
    // A cell compiled but never counted ships nothing.
    workers[1].metrics.flagCounts.cell('limit', 'low', 'STATIC');

    for (const worker of workers) {
      const deltas = takeDeltas(worker.series, worker.mirrors, worker.metrics);
      expect(isCounterDeltas(deltas)).toBe(true);
      applyDeltas(supervisor.series, supervisor.mirrors, supervisor.metrics, structuredClone(deltas));
    }
    // Nothing new since the take: nothing to send.
    expect(isEmptyDelta(takeDeltas(workers[0].series, workers[0].mirrors, workers[0].metrics))).toBe(true);
    workers[0].metrics.flagCounts.cell('new-checkout', 'on', 'SPLIT').value += 2;
    const again = takeDeltas(workers[0].series, workers[0].mirrors, workers[0].metrics);
    expect(again.flags).toEqual([['new-checkout', 'on', 'SPLIT', 2]]);
    applyDeltas(supervisor.series, supervisor.mirrors, supervisor.metrics, again);

    const text = await supervisor.metrics.registry.metrics();
    const lines = text.split('\n').filter((line) => line.startsWith('splitgate_flag_evaluations_total{'));
    expect(lines).toEqual([
      'splitgate_flag_evaluations_total{flag="new-checkout",variant="on",reason="SPLIT"} 9',
      'splitgate_flag_evaluations_total{flag="auth-v2",variant="v1",reason="DEFAULT"} 1',
    ]);
  });

  it('refuses malformed flag counts from IPC', () => {
    expect(isCounterDeltas({ series: [], mirrors: [], flags: [['a', 'b', 'c', 'four']] })).toBe(false);
    expect(isCounterDeltas({ series: [], mirrors: [], flags: [['a', 'b', 'c', 4]] })).toBe(true);
  });
});
