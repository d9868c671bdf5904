/**
 * Client-side overload limits: what is refused, counted by reason (a closed set, so a client cannot mint label
 * values), and the request-body cap for bodies whose size is not announced. node:http enforces the connection,
 * header-size and timeout limits itself (proxy-listener.ts sets them); the service checks header count and body
 * size per request.
 */
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { SplitgateError } from '../errors.js';

export const REJECTION_REASONS = [
  /** A connection beyond `limits.maxConnections`, closed at once. */
  'connection_limit',
  /** 431: request line and headers above `limits.maxHeaderBytes`. */
  'header_too_large',
  /** 431: more than `limits.maxHeaderCount` header fields. */
  'too_many_headers',
  /** 413: a body above `limits.maxBodyBytes`. */
  'body_too_large',
  /** 408: the head (or the whole request) did not arrive within `limits.headersTimeout` (`requestTimeout`). */
  'request_timeout',
  /** 400 from node:http's parser: not HTTP, or ambiguous framing. */
  'bad_request',
  /** An upgraded connection idle for `limits.upgradeIdleTimeout`, closed. */
  'upgrade_idle_timeout',
] as const;

export type RejectionReason = (typeof REJECTION_REASONS)[number];

/** Counts per reason, read by the metrics at scrape time (splitgate_client_rejections_total{reason}). */
export class ClientRejections {
  readonly counts = new Map<RejectionReason, number>(REJECTION_REASONS.map((reason) => [reason, 0]));

  count(reason: RejectionReason): void {
    this.counts.set(reason, this.counts.get(reason)! + 1);
  }
}

export const BODY_TOO_LARGE_CODE = 'SG_BODY_TOO_LARGE';

export class BodyTooLargeError extends SplitgateError {
  constructor(limit: number) {
    super(BODY_TOO_LARGE_CODE, `request body is larger than ${limit} bytes (limits.maxBodyBytes)`, 413);
  }
}

/**
 * Passes a chunked request body through while counting it, and fails the stream (and so the upstream request)
 * once it exceeds the limit. Only made for chunked bodies while a limit is set: an announced Content-Length is
 * checked before anything is forwarded, and the common request makes none.
 */
function ignoreLateError(): void {}

export class BodyLimit extends Transform {
  readonly #limit: number;
  #seen = 0;

  /** Reads `source` (the request, or the mirror's tee of it); undici reads this stream instead. */
  constructor(source: Readable, limit: number) {
    super();
    this.#limit = limit;
    // pipe() does not pass errors on, and undici listens on this stream only: an error of the source (a client
    // that aborts its body) must reach undici through it, or it would be an unhandled 'error' event. One closure
    // per limited chunked body.
    source.on('error', (error) => this.destroy(error));
    // undici stops listening once its request is done (an upstream that answered before the body ended); a limit
    // tripped after that would be an unhandled 'error' event and take the process down (seen under the request
    // fuzz on Node 24). The exchange learns of the limit from undici while undici listens; after that nothing needs to.
    this.on('error', ignoreLateError);
    source.pipe(this);
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#seen += chunk.length;
    if (this.#seen > this.#limit) callback(new BodyTooLargeError(this.#limit));
    else callback(null, chunk);
  }
}
