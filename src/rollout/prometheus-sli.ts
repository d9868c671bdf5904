/**
 * An SLO whose error ratio comes from Prometheus (`slo.sli.prometheus`): the `errorRatio` query is run once per
 * window the reading needs (each Workbook pair's long and short window, scaled, and the SLO window for the budget),
 * with `$window` replaced by that window's length as a PromQL duration; burn rate = ratio ÷ (1 − objective). No data
 * or NaN (no requests in the window) is no burn, as with splitgate's own counters; a query that fails makes the
 * whole reading unknown, so no stage advances on a partial picture.
 */
import { budgetSpans, promqlDuration, ratioBurnRate, readBurn, type BudgetReading, type PrometheusSli, type SloSpec } from './error-budget.js';
import { queryPrometheus } from './prometheus-query.js';

export function windowQuery(sli: PrometheusSli, spanMs: number): string {
  return sli.errorRatio.replaceAll('$window', promqlDuration(spanMs));
}

export async function readPrometheusBudget(sli: PrometheusSli, slo: SloSpec): Promise<{ reading: BudgetReading } | { error: string }> {
  const spans = budgetSpans(slo.window);
  const answers = await Promise.all(spans.map((span) => queryPrometheus(sli.address, windowQuery(sli, span), sli.timeout)));
  const rates = new Map<number, number | null>();
  for (const [i, span] of spans.entries()) {
    const answer = answers[i];
    if (typeof answer === 'number') rates.set(span, ratioBurnRate(answer, slo.objective));
    else if (answer === 'no data' || answer === 'NaN') rates.set(span, null);
    else return { error: `Prometheus error ratio over ${promqlDuration(span)}: ${answer}` };
  }
  return { reading: readBurn((span) => rates.get(span) ?? null, slo) };
}
