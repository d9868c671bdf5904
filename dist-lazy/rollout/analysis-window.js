export function analysisWindow(spec, step) {
    return {
        seconds: Math.ceil(spec.interval / 1000) + 1,
        traffic: spec.analysis.traffic,
        checks: [...spec.checks, ...(spec.stages?.[step]?.checks ?? [])],
    };
}
//# sourceMappingURL=analysis-window.js.map