/**
 * Errors of the fleet store. Their codes are part of the admin API contract (scripts and alerts match on them), and
 * the rollout leader (fleet-leader) reacts to FencedError, so these stay stable.
 */
import { SplitgateError } from '../errors.js';

/** A write carried a fencing epoch that is no longer the fleet's: the writer is a former leader. */
export class FencedError extends SplitgateError {
  readonly epoch: number;
  readonly current: number | null;

  constructor(epoch: number, current: number | null, options?: { cause?: unknown }) {
    super('SG_FENCED', `write refused: fencing epoch ${epoch} is not the fleet's current epoch (${current ?? 'none'})`, 409, options);
    this.name = 'FencedError';
    this.epoch = epoch;
    this.current = current;
  }
}

/** Redis cannot be reached (or did not answer in time): the change was not stored for the fleet. */
export class FleetUnavailableError extends SplitgateError {
  constructor(message = 'the fleet store (Redis) is unreachable; only the kill switch works until it returns', options?: { cause?: unknown }) {
    super('SG_FLEET_UNAVAILABLE', message, 503, options);
    this.name = 'FleetUnavailableError';
  }
}
