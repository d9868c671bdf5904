import { SplitgateError } from '../errors.js';
export class FencedError extends SplitgateError {
    epoch;
    current;
    constructor(epoch, current, options) {
        super('SG_FENCED', `write refused: fencing epoch ${epoch} is not the fleet's current epoch (${current ?? 'none'})`, 409, options);
        this.name = 'FencedError';
        this.epoch = epoch;
        this.current = current;
    }
}
export class FleetUnavailableError extends SplitgateError {
    constructor(message = 'the fleet store (Redis) is unreachable; only the kill switch works until it returns', options) {
        super('SG_FLEET_UNAVAILABLE', message, 503, options);
        this.name = 'FleetUnavailableError';
    }
}
//# sourceMappingURL=errors.js.map