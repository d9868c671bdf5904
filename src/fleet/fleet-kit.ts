/**
 * What a process needs only with `fleet:`: the Redis-backed state authority, the leader lease with the shared rollout
 * windows and SLO counts, and the shared experiment totals. The single process and the supervisor `import()` this
 * module at start only when their config has `fleet:` (a reload cannot add one: it takes effect at the next
 * restart), so without a fleet they hold none of it: ~0.7 MB of heap when imported on its own; with the dashboard
 * page also loaded lazily (admin-server.ts), a supervisor's heap is ~1 MB smaller (issue 15's goal: supervisor
 * ≤ 60 MB of RSS).
 */
export { createFleet } from './fleet.js';
export { sloWindowOf } from './fleet-slo.js';
export { createFleetLeadership } from './rollout-fleet.js';
export { FleetExperiments } from '../experiments/fleet-experiments.js';
export { hasGuardrails } from '../experiments/experiment-kinds.js';

export type FleetKit = typeof import('./fleet-kit.js');
