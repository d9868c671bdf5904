/**
 * Sends one copy of a request to a shadow (or a second time to stable) on the mirror's own pool, and reads the
 * answer into a CapturedResponse. Never touches the client's exchange; every failure becomes a value.
 */
import type { Dispatcher } from 'undici';
import type { CapturedResponse } from '../diff/response-diff.js';
import { BodyCapture } from './body-capture.js';

export interface CopyRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: readonly string[];
  readonly body: Buffer | null;
}

export type CopyResult =
  | { readonly ok: true; readonly response: CapturedResponse; readonly seconds: number }
  | { readonly ok: false; readonly timeout: boolean; readonly code: string; readonly seconds: number };

const TIMEOUT_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT', 'ABORT_ERR', 'TimeoutError']);

/**
 * The copies in flight, each with an AbortController of its own: a copy ends by itself at its timeout, and
 * `abortAll` ends every one at once when the instance stops (closing a pool waits for the requests still on it).
 * One controller per copy rather than `AbortSignal.any` with a shared stop signal: on Node 20 that shared signal
 * keeps a reference to every signal ever combined with it.
 */
export class CopyControllers {
  readonly #active = new Set<AbortController>();
  #stopped: Error | null = null;

  open(): AbortController {
    const controller = new AbortController();
    if (this.#stopped !== null) controller.abort(this.#stopped);
    else this.#active.add(controller);
    return controller;
  }

  close(controller: AbortController): void {
    this.#active.delete(controller);
  }

  abortAll(reason: Error): void {
    this.#stopped = reason;
    for (const controller of this.#active) controller.abort(reason);
    this.#active.clear();
  }
}

export async function sendCopy(pool: Dispatcher, request: CopyRequest, timeoutMs: number, captureCap: number, copies: CopyControllers): Promise<CopyResult> {
  const started = performance.now();
  const controller = copies.open();
  const timer = setTimeout(abortOnTimeout, timeoutMs, controller).unref();
  try {
    const response = await pool.request({
      method: request.method as Dispatcher.HttpMethod,
      path: request.path,
      headers: request.headers as string[],
      body: request.body,
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
      signal: controller.signal,
    });
    const capture = new BodyCapture(captureCap);
    for await (const chunk of response.body) capture.add(chunk as Buffer);
    return {
      ok: true,
      seconds: (performance.now() - started) / 1000,
      response: {
        status: response.statusCode,
        headers: flattenHeaders(response.headers),
        body: capture.bytes(),
        bodyLength: capture.length,
        bodySha256: capture.sha256(),
      },
    };
  } catch (error) {
    const code = errorCode(error);
    return { ok: false, timeout: TIMEOUT_CODES.has(code), code, seconds: (performance.now() - started) / 1000 };
  } finally {
    clearTimeout(timer);
    copies.close(controller);
  }
}

function abortOnTimeout(controller: AbortController): void {
  controller.abort(new DOMException('mirror copy timed out', 'TimeoutError'));
}

export function flattenHeaders(headers: Record<string, string | string[] | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined) out[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}

function errorCode(error: unknown): string {
  if (error !== null && typeof error === 'object') {
    const { code, name } = error as { code?: unknown; name?: unknown };
    if (typeof code === 'string') return code === 'ABORT_ERR' && name === 'TimeoutError' ? 'TimeoutError' : code;
    if (typeof name === 'string') return name;
  }
  return 'UNKNOWN';
}
