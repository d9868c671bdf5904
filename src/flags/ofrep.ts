/**
 * OFREP, the OpenFeature Remote Evaluation Protocol (https://github.com/open-feature/protocol), on the proxy
 * listener: `POST {path}/v1/evaluate/flags/{key}` and the bulk `POST {path}/v1/evaluate/flags`, so an app's
 * OpenFeature SDK (with the OFREP provider) gets exactly what the edge computes: the same flag set, the same
 * evaluation (flag-set.ts), for the context the client sends.
 *
 * The evaluation is pure (`evaluateOne`, `evaluateBulk`: JSON in, status and JSON out); `OfrepEndpoint` does the
 * I/O: method and auth checks, a bounded body read, ETag / If-None-Match on the bulk answer.
 */
import { hash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RequestHeaders } from '../routing/context.js';
import { resolveFlag, targetingData, type CompiledFlag, type FlagContext, type FlagSet } from './flag-set.js';
import type { TargetingData } from './flagd-core.js';
import { sameSecret } from '../auth/same-secret.js';
import { clientConnection, closeAfter } from '../proxy/client-connections.js';

export interface OfrepSettings {
  /** Path prefix without a trailing slash (`/ofrep`): the protocol's paths follow it. */
  readonly path: string;
  /** When set, requests must carry it in `X-API-Key`, or `Authorization: Bearer <it>`. */
  readonly apiKey: string | null;
  readonly bearerToken: string | null;
  /** `targetingKeyFrom`: that route's sticky key of the OFREP request, for a context without a targetingKey. */
  readonly targetingKeyOf: ((headers: RequestHeaders, clientIp: string) => string | null) | null;
}

export interface OfrepAnswer {
  readonly status: number;
  readonly body: unknown;
}

/** Request bodies above this are refused (a context is a handful of attributes). */
export const MAX_OFREP_BODY_BYTES = 64 * 1024;

/** The part of a request path after the OFREP prefix, or null when it is not an OFREP path. */
export function ofrepRoute(settings: OfrepSettings, url: string): { readonly key: string | null } | null {
  const query = url.indexOf('?');
  const path = query === -1 ? url : url.slice(0, query);
  const base = `${settings.path}/v1/evaluate/flags`;
  if (path === base) return { key: null };
  if (!path.startsWith(`${base}/`)) return null;
  const raw = path.slice(base.length + 1);
  try {
    return raw === '' || raw.includes('/') ? null : { key: decodeURIComponent(raw) };
  } catch {
    return null;
  }
}

type ParsedRequest = { readonly context: FlagContext } | OfrepAnswer;

/**
 * The request body: `{}` or `{"context": {...}}`; PARSE_ERROR / INVALID_CONTEXT otherwise. A context without a
 * targetingKey gets `fallbackKey` when there is one (the sticky key of `targetingKeyFrom`).
 */
function parseRequest(text: string, key: string | null, fallbackKey: string | null): ParsedRequest {
  let body: unknown;
  try {
    body = text === '' ? {} : JSON.parse(text);
  } catch {
    return failure(400, key, 'PARSE_ERROR', 'request body is not JSON');
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return failure(400, key, 'PARSE_ERROR', 'request body must be a JSON object');
  const context = (body as { context?: unknown }).context ?? {};
  if (context === null || typeof context !== 'object' || Array.isArray(context)) return failure(400, key, 'INVALID_CONTEXT', 'context must be a JSON object');
  const targetingKey = (context as { targetingKey?: unknown }).targetingKey;
  if (targetingKey !== undefined && typeof targetingKey !== 'string') return failure(400, key, 'INVALID_CONTEXT', 'targetingKey must be a string');
  if ((targetingKey === undefined || targetingKey === '') && fallbackKey !== null) return { context: { ...(context as FlagContext), targetingKey: fallbackKey } };
  return { context: context as FlagContext };
}

function failure(status: number, key: string | null, errorCode: string, errorDetails: string): OfrepAnswer {
  return { status, body: key === null ? { errorCode, errorDetails } : { key, errorCode, errorDetails } };
}

/** `POST .../flags/{key}`. */
export function evaluateOne(set: FlagSet, key: string, text: string, fallbackKey: string | null = null): OfrepAnswer {
  const parsed = parseRequest(text, key, fallbackKey);
  if ('status' in parsed) return parsed;
  const flag = set.flags.get(key);
  if (flag === undefined) return failure(404, key, 'FLAG_NOT_FOUND', `flag "${key}" is not defined`);
  const result = resultOf(flag, parsed.context);
  return 'errorCode' in result ? { status: result.errorCode === 'FLAG_NOT_FOUND' ? 404 : 400, body: result } : { status: 200, body: result };
}

/** `POST .../flags`: every enabled flag that resolves to a value or an error, in definition order. */
export function evaluateBulk(set: FlagSet, text: string, fallbackKey: string | null = null): OfrepAnswer {
  const parsed = parseRequest(text, null, fallbackKey);
  if ('status' in parsed) return parsed;
  const flags: object[] = [];
  const data = targetingData(parsed.context);
  for (const flag of set.list) {
    if (!flag.enabled) continue;
    flags.push(resultOf(flag, parsed.context, data));
  }
  return { status: 200, body: { flags } };
}

type FlagResult = { key: string; value: unknown; reason: string; variant: string; metadata: object } | { key: string; errorCode: string; errorDetails: string };

/**
 * One flag's OFREP result. Where the header would carry nothing (the app keeps its code default), OFREP says why
 * with an error, so the SDK falls back to the code default too: a disabled flag is FLAG_NOT_FOUND (as flagd's OFREP
 * answers), a flag that resolves to no variant is GENERAL. A split (bare `fractional` or migration bucketing) needs
 * a targeting key: TARGETING_KEY_MISSING without one, where the header path would send the default variant.
 */
function resultOf(flag: CompiledFlag, context: FlagContext, data?: TargetingData): FlagResult {
  const key = flag.key;
  if (!flag.enabled) return { key, errorCode: 'FLAG_NOT_FOUND', errorDetails: `flag "${key}" is disabled` };
  if (flag.needsTargetingKey && (typeof context.targetingKey !== 'string' || context.targetingKey === '')) {
    return { key, errorCode: 'TARGETING_KEY_MISSING', errorDetails: `flag "${key}" splits by targetingKey, and the context has none` };
  }
  const outcome = resolveFlag(flag, context, data);
  if (outcome.errorCode !== null) return { key, errorCode: outcome.errorCode === 'PARSE_ERROR' ? 'PARSE_ERROR' : 'GENERAL', errorDetails: `flag "${key}" could not be evaluated` };
  if (outcome.variant === null) return { key, errorCode: 'GENERAL', errorDetails: `flag "${key}" resolved to no variant and has no default variant` };
  return { key, value: outcome.value, reason: outcome.reason, variant: outcome.variant, metadata: flag.metadata };
}

/** Strong validator of a bulk answer: the same flags, context and definitions give the same body, so the same tag. */
export function entityTag(body: string): string {
  return `"${hash('sha256', body, 'base64url').slice(0, 32)}"`;
}

/** Does `If-None-Match` (RFC 9110 §13.1.2, weak comparison) list `tag`, or `*`? */
export function noneMatch(header: string | undefined, tag: string): boolean {
  if (header === undefined) return false;
  for (const part of header.split(',')) {
    const candidate = part.trim();
    if (candidate === '*' || candidate === tag || candidate === `W/${tag}`) return true;
  }
  return false;
}

/** The I/O side: one per proxy service; the settings and the flag set come from the table the request started with. */
export class OfrepEndpoint {
  /** Answers an OFREP request; `done` gets the status, for the proxy's metrics. Never throws. */
  handle(req: IncomingMessage, res: ServerResponse, settings: OfrepSettings, set: FlagSet, key: string | null, fallbackKey: string | null, done: (status: number) => void): void {
    if (req.method !== 'POST') {
      send(res, 405, { errorCode: 'GENERAL', errorDetails: 'OFREP evaluations are POST requests' }, { allow: 'POST' });
      done(405);
      return;
    }
    if (!authorized(req, settings)) {
      send(res, 401, { errorCode: 'GENERAL', errorDetails: 'missing or wrong OFREP credentials' }, { 'www-authenticate': 'Bearer' });
      done(401);
      return;
    }
    const chunks: Buffer[] = [];
    let bytes = 0;
    let refused = false;
    req.on('data', (chunk: Buffer) => {
      if (refused) return;
      bytes += chunk.length;
      if (bytes > MAX_OFREP_BODY_BYTES) {
        refused = true;
        closeAfter(res, clientConnection(req.socket));
        send(res, 413, { errorCode: 'GENERAL', errorDetails: `request body is larger than ${MAX_OFREP_BODY_BYTES} bytes` });
        done(413);
        return;
      }
      chunks.push(chunk);
    });
    req.on('error', () => undefined);
    req.on('end', () => {
      if (refused) return;
      const text = Buffer.concat(chunks).toString('utf8');
      const answer = key === null ? evaluateBulk(set, text, fallbackKey) : evaluateOne(set, key, text, fallbackKey);
      if (key === null && answer.status === 200) {
        const body = JSON.stringify(answer.body);
        const tag = entityTag(body);
        const ifNoneMatch = req.headers['if-none-match'];
        if (noneMatch(ifNoneMatch, tag)) {
          res.writeHead(304, { etag: tag });
          res.end();
          done(304);
          return;
        }
        sendText(res, 200, body, { etag: tag });
        done(200);
        return;
      }
      send(res, answer.status, answer.body);
      done(answer.status);
    });
  }
}

function authorized(req: IncomingMessage, settings: OfrepSettings): boolean {
  if (settings.apiKey === null && settings.bearerToken === null) return true;
  const apiKey = req.headers['x-api-key'];
  if (settings.apiKey !== null && typeof apiKey === 'string' && sameSecret(apiKey, settings.apiKey)) return true;
  const authorization = req.headers.authorization;
  if (settings.bearerToken !== null && typeof authorization === 'string' && /^bearer /i.test(authorization)) {
    return sameSecret(authorization.slice(7).trim(), settings.bearerToken);
  }
  return false;
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  sendText(res, status, JSON.stringify(body), headers);
}

function sendText(res: ServerResponse, status: number, body: string, headers: Record<string, string>): void {
  if (res.headersSent) return;
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store', ...headers });
  res.end(body);
}
