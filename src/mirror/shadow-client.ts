/**
 * Sends one copy of a request to a shadow (or a second time to stable) on the mirror's own pool, and reads the
 * answer into a CapturedResponse. Never touches the client's exchange; every failure becomes a value.
 */
import type { Dispatcher } from 'undici';
import type { CapturedResponse } from '../diff/response-diff.js';
import { BodyCapture } from './body-capture.js';
import { repeatable, staleRace } from '../proxy/upstream-errors.js';

export interface CopyRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: readonly string[];
  readonly body: Buffer | null;
}

export type CopyResult =
  | { readonly ok: true; readonly response: CapturedResponse; readonly seconds: number }
  | { readonly ok: false; readonly timeout: boolean; readonly code: string; readonly seconds: number };

const TIMEOUT_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT', 'SG_MIRROR_TIMEOUT']);

/**
 * The copies in flight: a copy ends by itself at its timeout, and `abortAll` ends every one at once when the
 * instance stops (closing a pool waits for the requests still on it).
 */
export class CopyControllers {
  readonly #active = new Set<CopyExchange>();
  #stopped: Error | null = null;

  add(copy: CopyExchange): void {
    if (this.#stopped !== null) copy.abort(this.#stopped);
    else this.#active.add(copy);
  }

  delete(copy: CopyExchange): void {
    this.#active.delete(copy);
  }

  abortAll(reason: Error): void {
    this.#stopped = reason;
    for (const copy of this.#active) copy.abort(reason);
    this.#active.clear();
  }
}

class CopyTimeout extends Error {
  readonly code = 'SG_MIRROR_TIMEOUT';
}

/**
 * One copy as an undici dispatch handler, like the primary exchange: `pool.request` with a promise, an
 * AbortSignal and an async body iterator cost about twice as much per copy (measured with
 * loadtest/bench-mirror.mjs), and at 100 % mirroring every request pays for a copy.
 */
class CopyExchange {
  readonly #started = performance.now();
  readonly #pool: Dispatcher;
  readonly #request: CopyRequest;
  readonly #timeoutMs: number;
  #staleReplays = 0;
  /** When undici took this attempt onto a connection, and whether the shadow had begun an answer (a 1xx). */
  #sentAt = 0;
  #informed = false;
  readonly #capture: BodyCapture;
  readonly #copies: CopyControllers;
  readonly #resolve: (result: CopyResult) => void;
  readonly #timer: NodeJS.Timeout;
  #abortUpstream: ((reason?: Error) => void) | null = null;
  #pendingAbort: Error | null = null;
  #status = 0;
  #headers: Record<string, string> = {};
  #done = false;

  constructor(pool: Dispatcher, request: CopyRequest, captureCap: number, timeoutMs: number, copies: CopyControllers, resolve: (result: CopyResult) => void) {
    this.#pool = pool;
    this.#request = request;
    this.#timeoutMs = timeoutMs;
    this.#capture = new BodyCapture(captureCap);
    this.#copies = copies;
    this.#resolve = resolve;
    this.#timer = setTimeout(abortOnTimeout, timeoutMs, this).unref();
    copies.add(this);
  }

  abort(reason: Error): void {
    if (this.#abortUpstream !== null) this.#abortUpstream(reason);
    else this.#pendingAbort = reason;
  }

  onConnect(abort: (reason?: Error) => void): void {
    this.#sentAt = performance.now();
    if (this.#pendingAbort !== null) abort(this.#pendingAbort);
    else this.#abortUpstream = abort;
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[]): boolean {
    if (statusCode < 200) {
      this.#informed = true;
      return true;
    }
    this.#status = statusCode;
    const headers: Record<string, string> = {};
    for (let i = 0; i < rawHeaders.length; i += 2) {
      const name = rawHeaders[i].toString('latin1').toLowerCase();
      const value = rawHeaders[i + 1].toString('latin1');
      headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
    }
    this.#headers = headers;
    return true;
  }

  onData(chunk: Buffer): boolean {
    this.#capture.add(chunk);
    return true;
  }

  onComplete(): void {
    const capture = this.#capture;
    this.#finish({
      ok: true,
      seconds: this.#seconds(),
      response: { status: this.#status, headers: this.#headers, body: capture.bytes(), bodyLength: capture.length, bodySha256: capture.sha256() },
    });
  }

  /** Sends the copy (again, after a pooled connection closed under it: see the primary's ProxyExchange#staleReplayable). */
  dispatch(): void {
    const request = this.#request;
    this.#pool.dispatch(
      {
        method: request.method as Dispatcher.HttpMethod,
        path: request.path,
        headers: request.headers as string[],
        body: request.body,
        headersTimeout: this.#timeoutMs,
        bodyTimeout: this.#timeoutMs,
      },
      this,
    );
  }

  onError(error: Error): void {
    // The shadow never read it: a closed pooled connection is not the shadow's answer, and would read as a difference.
    if (this.#staleReplayable(error)) {
      this.#staleReplays++;
      this.#abortUpstream = null;
      this.#informed = false;
      this.dispatch();
      return;
    }
    const code = errorCode(error);
    this.#finish({ ok: false, timeout: TIMEOUT_CODES.has(code), code, seconds: this.#seconds() });
  }

  /** The primary's rule (ProxyExchange#staleReplayable): a keep-alive race, and a copy that may be sent again. */
  #staleReplayable(error: Error): boolean {
    if (this.#done || this.#pendingAbort !== null || this.#status !== 0) return false;
    const sentAt = this.#abortUpstream === null ? null : this.#sentAt;
    return staleRace(error, this.#staleReplays, sentAt, this.#informed, repeatable(this.#request.method, this.#request.body !== null));
  }

  #seconds(): number {
    return (performance.now() - this.#started) / 1000;
  }

  #finish(result: CopyResult): void {
    if (this.#done) return;
    this.#done = true;
    clearTimeout(this.#timer);
    this.#copies.delete(this);
    this.#resolve(result);
  }
}

export function sendCopy(pool: Dispatcher, request: CopyRequest, timeoutMs: number, captureCap: number, copies: CopyControllers): Promise<CopyResult> {
  return new Promise((resolve) => new CopyExchange(pool, request, captureCap, timeoutMs, copies, resolve).dispatch());
}

function abortOnTimeout(copy: CopyExchange): void {
  copy.abort(new CopyTimeout('mirror copy timed out'));
}

function errorCode(error: unknown): string {
  if (error !== null && typeof error === 'object') {
    const { code, name } = error as { code?: unknown; name?: unknown };
    if (typeof code === 'string') return code === 'ABORT_ERR' && name === 'TimeoutError' ? 'TimeoutError' : code;
    if (typeof name === 'string') return name;
  }
  return 'UNKNOWN';
}
