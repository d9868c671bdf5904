export function routeHasAnonymousUsers(route) {
    return route.sticky !== undefined && route.sticky.cookie === false && !route.sticky.key.some((source) => source.kind === 'ip');
}
export function isFlagExperiment(experiment) {
    return experiment.flag !== undefined || experiment.arms === 'flag';
}
export function hasGuardrails(config, route) {
    return config.experiments.some((experiment) => experiment.route === route && !isFlagExperiment(experiment));
}
//# sourceMappingURL=experiment-kinds.js.map