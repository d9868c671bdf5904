/**
 * The one object a fleet member's RolloutManager gets as `deps.fleet`: leadership and the fencing epoch from the
 * LeaderLease, windows from FleetCounts, and the local stale fallback the wiring provides. Wiring (both process
 * shapes; in the supervisor, FleetCounts' `collect` is the workers' collect):
 *
 *   const rollouts = new RolloutManager({ ...deps, fleet: rolloutFleet(lease, counts, { maxStalenessMs, fallBack }) });
 *   const lease = new LeaderLease({ client, fleet, memberId, leaseMs, logger,
 *     onChange: (leading) => { metrics.fleetLeader.set(leading ? 1 : 0); rollouts.leadershipChanged(leading); } });
 *   lease.start(); counts.start();            // on shutdown: await counts.stop(); await lease.stop();
 */
import type { RolloutFleet } from '../rollout/rollout-runner.js';
import type { FleetCounts } from './fleet-counts.js';
import type { LeaderLease } from './leader-lease.js';

export interface RolloutFleetOptions {
  /** Default 60 s (DEFAULT_MAX_STALENESS_MS); a rollout's own limit is at least two of its intervals. */
  readonly maxStalenessMs?: number;
  /** Local-only canary → stable for a stale rollout (see RolloutFleet.fallBack). */
  readonly fallBack?: (route: string, stale: boolean, reason: string) => void;
}

export function rolloutFleet(lease: LeaderLease, counts: FleetCounts, options: RolloutFleetOptions = {}): RolloutFleet {
  return {
    leading: () => lease.leading(),
    epoch: () => lease.epoch(),
    window: (route, version, nowMs, seconds, traffic) => counts.window(route, version, nowMs, seconds, traffic),
    mirror: (route, nowMs, seconds) => counts.mirror(route, nowMs, seconds),
    fenced: (epoch) => lease.stepDown(epoch),
    ...(options.maxStalenessMs !== undefined ? { maxStalenessMs: options.maxStalenessMs } : {}),
    ...(options.fallBack ? { fallBack: options.fallBack } : {}),
  };
}
