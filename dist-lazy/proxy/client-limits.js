import { Transform } from 'node:stream';
import { SplitgateError } from '../errors.js';
export const REJECTION_REASONS = [
    'connection_limit',
    'header_too_large',
    'too_many_headers',
    'body_too_large',
    'request_timeout',
    'bad_request',
    'upgrade_idle_timeout',
];
export class ClientRejections {
    counts = new Map(REJECTION_REASONS.map((reason) => [reason, 0]));
    count(reason) {
        this.counts.set(reason, this.counts.get(reason) + 1);
    }
}
export const BODY_TOO_LARGE_CODE = 'SG_BODY_TOO_LARGE';
export class BodyTooLargeError extends SplitgateError {
    constructor(limit) {
        super(BODY_TOO_LARGE_CODE, `request body is larger than ${limit} bytes (limits.maxBodyBytes)`, 413);
    }
}
function ignoreLateError() { }
export class BodyLimit extends Transform {
    #limit;
    #seen = 0;
    constructor(source, limit) {
        super();
        this.#limit = limit;
        source.on('error', (error) => this.destroy(error));
        this.on('error', ignoreLateError);
        source.pipe(this);
    }
    _transform(chunk, _encoding, callback) {
        this.#seen += chunk.length;
        if (this.#seen > this.#limit)
            callback(new BodyTooLargeError(this.#limit));
        else
            callback(null, chunk);
    }
}
//# sourceMappingURL=client-limits.js.map