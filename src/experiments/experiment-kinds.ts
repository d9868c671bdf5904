/**
 * What kind of experiment a config describes and whether its route has users without a key: asked by the config
 * checks (experiment-schema.ts) and by the plan a worker compiles (plan.ts), so kept apart from the zod schema a
 * worker never runs.
 */
import type { ExperimentConfig, RouteShape } from '../config/experiment-schema.js';

/**
 * True when some request on the route can arrive without a sticky key: the route issues no cookie
 * (`sticky.cookie: false`) and does not fall back to the client address.
 */
export function routeHasAnonymousUsers(route: RouteShape): boolean {
  return route.sticky !== undefined && route.sticky.cookie === false && !route.sticky.key.some((source) => source.kind === 'ip');
}

/** Users without a key get the flag's default variant (no targeting key, no split): they are in no arm. */
export function isFlagExperiment(experiment: ExperimentConfig): boolean {
  return experiment.flag !== undefined || experiment.arms === 'flag';
}

/** `route` has an experiment on its own stable/canary split: the one kind whose guardrails compare the two versions. */
export function hasGuardrails(config: { readonly experiments: readonly ExperimentConfig[] }, route: string): boolean {
  return config.experiments.some((experiment) => experiment.route === route && !isFlagExperiment(experiment));
}
