/**
 * Errors of the fleet store. A write carrying a fencing epoch that is no longer the fleet's current one (a newer
 * leader was elected since) is refused inside the same Redis script that would have written it.
 */
import { SplitgateError } from '../errors.js';

export class FencedError extends SplitgateError {
  constructor(message = 'refused: this member is no longer the rollout leader (a newer fencing epoch is in force)') {
    super('SG_FENCED', message, 409);
    this.name = 'FencedError';
  }
}
