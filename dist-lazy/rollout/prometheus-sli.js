import { budgetSpans, promqlDuration, ratioBurnRate, readBurn } from './error-budget.js';
import { queryPrometheus } from './prometheus-query.js';
export function windowQuery(sli, spanMs) {
    return sli.errorRatio.replaceAll('$window', promqlDuration(spanMs));
}
export async function readPrometheusBudget(sli, slo) {
    const spans = budgetSpans(slo.window);
    const answers = await Promise.all(spans.map((span) => queryPrometheus(sli.address, windowQuery(sli, span), sli.timeout)));
    const rates = new Map();
    for (const [i, span] of spans.entries()) {
        const answer = answers[i];
        if (typeof answer === 'number')
            rates.set(span, ratioBurnRate(answer, slo.objective));
        else if (answer === 'no data' || answer === 'NaN')
            rates.set(span, null);
        else
            return { error: `Prometheus error ratio over ${promqlDuration(span)}: ${answer}` };
    }
    return { reading: readBurn((span) => rates.get(span) ?? null, slo) };
}
//# sourceMappingURL=prometheus-sli.js.map