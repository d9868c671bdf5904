/**
 * The rollout side of a fleet member: its LeaderLease, its FleetCounts, and the `RolloutDeps.fleet` object the
 * RolloutManager gets, built in one place so both process shapes wire it the same way:
 *
 *   const leadership = fleet ? createFleetLeadership({ client: fleet.client, fleet: fleet.name, memberId, ...,
 *     collect: () => workers.collect(),                      // supervisor only: the workers' counts
 *     onLeader: (leading) => fleet.setLeader(leading),        // splitgate_fleet_leader, /fleet
 *     fallBack: (route, stale, reason) => controller.setStaleFallback(route, stale, reason) }) : null;
 *   const rollouts = new RolloutManager({ ...deps, ...(leadership ? { fleet: leadership.rolloutFleet } : {}) });
 *   leadership?.start(rollouts);
 *   // stopping: await rollouts.stop(); await leadership?.stop(); then the fleet's client closes.
 */
import type { Logger } from '../log.js';
import type { GuardCounts, SeriesBook } from '../metrics/metrics.js';
import type { MirrorBook } from '../mirror/mirror-records.js';
import type { RolloutFleet } from '../rollout/rollout-runner.js';
import { FleetCounts } from './fleet-counts.js';
import { FleetSloReader } from './fleet-slo.js';
import { LeaderLease, type FleetRedisClient } from './leader-lease.js';

export interface RolloutFleetOptions {
  /** Default 60 s (DEFAULT_MAX_STALENESS_MS); a rollout's own limit is at least two of its intervals. */
  readonly maxStalenessMs?: number;
  /** Local-only canary → stable for a stale rollout (see RolloutFleet.fallBack). */
  readonly fallBack?: (route: string, stale: boolean, reason: string) => void;
}

export function rolloutFleet(lease: LeaderLease, counts: FleetCounts, options: RolloutFleetOptions = {}, slo?: FleetSloReader): RolloutFleet {
  return {
    ...(slo ? { slo: (route: string, nowMs: number, windowMs: number) => slo.countsOver(route, nowMs, windowMs) } : {}),
    leading: () => lease.leading(),
    epoch: () => lease.epoch(),
    window: (route, version, nowMs, seconds, traffic) => counts.window(route, version, nowMs, seconds, traffic),
    mirror: (route, nowMs, seconds) => counts.mirror(route, nowMs, seconds),
    ejections: (route, nowMs, seconds, afterSecond) => counts.ejections(route, nowMs, seconds, afterSecond),
    fenced: (epoch) => lease.stepDown(epoch),
    ...(options.maxStalenessMs !== undefined ? { maxStalenessMs: options.maxStalenessMs } : {}),
    ...(options.fallBack ? { fallBack: options.fallBack } : {}),
  };
}

export interface FleetLeadershipOptions extends RolloutFleetOptions {
  readonly client: FleetRedisClient;
  readonly fleet: string;
  readonly memberId: string;
  readonly leaseMs?: number;
  readonly series: SeriesBook;
  readonly mirrors: MirrorBook;
  readonly logger: Logger;
  /** The supervisor's workers' counts, brought in before each flush. */
  readonly collect?: () => Promise<void>;
  /** This member's canary guards, whose ejections the leader's windows count (FleetCounts). */
  readonly guards?: () => Iterable<GuardCounts>;
  /** Routes whose per-minute guardrail counts are pushed (route-split A/B experiments; FleetCounts). */
  readonly guardrailed?: (route: string) => boolean;
  /** Bound on one flush or read of the counts (the fleet's `redis.commandTimeout`). */
  readonly timeoutMs?: number;
  /** Routes whose window counts are pushed (those with a rollout block); all when absent. Not the SLO counts: see sloWindow. */
  readonly include?: (route: string) => boolean;
  /**
   * The route's SLO window (ms), null without `slo:` (or with a Prometheus SLI). Every such route, with a rollout or
   * without, has its per-minute counts pushed, and its error budget (pacing, gauges) computed from the fleet's counts.
   */
  readonly sloWindow?: (route: string) => number | null;
  /** Leadership moved (for splitgate_fleet_leader and /fleet). */
  readonly onLeader?: (leading: boolean, epoch: number | null) => void;
}

export interface FleetLeadership {
  readonly lease: LeaderLease;
  readonly counts: FleetCounts;
  readonly rolloutFleet: RolloutFleet;
  /** Starts pushing counts and contending for the lease; leadership changes reach `rollouts`. */
  start(rollouts: { leadershipChanged(leading: boolean): void }): void;
  /** Last flush of complete seconds, then the lease released (if ours) so another member takes over at once. */
  stop(): Promise<void>;
}

export function createFleetLeadership(options: FleetLeadershipOptions): FleetLeadership {
  let rollouts: { leadershipChanged(leading: boolean): void } | null = null;
  const counts = new FleetCounts({
    client: options.client,
    fleet: options.fleet,
    series: options.series,
    mirrors: options.mirrors,
    logger: options.logger,
    ...(options.collect ? { collect: options.collect } : {}),
    ...(options.guards ? { guards: options.guards } : {}),
    ...(options.guardrailed ? { guardrailed: options.guardrailed } : {}),
    ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
    ...(options.include ? { include: options.include } : {}),
    ...(options.sloWindow ? { sloWindow: options.sloWindow } : {}),
  });
  const slo = options.sloWindow ? new FleetSloReader({ client: options.client, fleet: options.fleet, logger: options.logger, sloWindow: options.sloWindow }) : undefined;
  const lease = new LeaderLease({
    client: options.client,
    fleet: options.fleet,
    memberId: options.memberId,
    ...(options.leaseMs !== undefined ? { leaseMs: options.leaseMs } : {}),
    logger: options.logger,
    onChange: (leading, epoch) => {
      options.onLeader?.(leading, epoch);
      rollouts?.leadershipChanged(leading);
    },
  });
  return {
    lease,
    counts,
    rolloutFleet: rolloutFleet(lease, counts, options, slo),
    start(manager) {
      rollouts = manager;
      counts.start();
      lease.start();
    },
    async stop() {
      await counts.stop();
      await lease.stop();
    },
  };
}
