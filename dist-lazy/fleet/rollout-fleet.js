import { FleetCounts } from './fleet-counts.js';
import { FleetSloReader } from './fleet-slo.js';
import { LeaderLease } from './leader-lease.js';
export function rolloutFleet(lease, counts, options = {}, slo) {
    return {
        ...(slo ? { slo: (route, nowMs, windowMs) => slo.countsOver(route, nowMs, windowMs) } : {}),
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
export function createFleetLeadership(options) {
    let rollouts = null;
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
//# sourceMappingURL=rollout-fleet.js.map