export { createFleet } from './fleet.js';
export { sloWindowOf } from './fleet-slo.js';
export { createFleetLeadership } from './rollout-fleet.js';
export { FleetExperiments } from '../experiments/fleet-experiments.js';
export { hasGuardrails } from '../experiments/experiment-kinds.js';
//# sourceMappingURL=fleet-kit.js.map