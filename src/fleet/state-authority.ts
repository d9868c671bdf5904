/**
 * The seam between the controller and wherever runtime state is decided (DESIGN.md § One machine, many workers):
 * the controller computes a route's next runtime state, the authority stores it (or refuses it), and only then is
 * it applied here. Local: this process decides alone (the state file is written by the controller, as before).
 * Fleet: a versioned document per route in Redis, written by compare-and-set (fleet/fleet.ts).
 */
import type { RouteRuntimeState } from '../control/state-file.js';
import type { StoredDocument } from './redis-state.js';

export interface CommitOptions {
  /** Fencing: the write is refused (FencedError) unless this is still the fleet's epoch (the rollout leader's). */
  readonly fenceEpoch?: number;
  /** The version to store (default expected + 1); re-seeding a Redis that lost its data keeps a member's own. */
  readonly version?: number;
}

/** How far a stored change has spread, from the members' heartbeats. */
export interface FleetAcknowledgement {
  readonly version: number;
  /** Members that report this version (or a later one) applied, this replica included. */
  readonly acknowledged: number;
  /** Members with a live heartbeat. */
  readonly members: number;
}

export interface StateAuthority {
  readonly shared: boolean;
  /**
   * Stores `next` as the route's state if the stored version is still `expected`; resolves with the new version.
   * Rejects with ConflictError (another write came first), FencedError, or FleetUnavailableError.
   */
  commit(route: string, next: RouteRuntimeState, expected: number, options?: CommitOptions): Promise<number>;
  /** The route's stored document (shared authorities only): to catch up after a conflict. */
  read?(route: string): Promise<StoredDocument>;
  /** After a commit is applied here: how many members have it so far. */
  acknowledgement(route: string, version: number): Promise<FleetAcknowledgement | null>;
}

/** One process (or one supervisor) decides alone: every commit succeeds, versions only count changes. */
export class LocalStateAuthority implements StateAuthority {
  readonly shared = false;

  commit(_route: string, _next: RouteRuntimeState, expected: number): Promise<number> {
    return Promise.resolve(expected + 1);
  }

  acknowledgement(): Promise<FleetAcknowledgement | null> {
    return Promise.resolve(null);
  }
}
