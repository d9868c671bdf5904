/**
 * Header passes, one direction each, on flat `[name, value, name, value, ...]` arrays (what node:http gives as
 * rawHeaders and what undici and `res.writeHead` take), so no header object is built or mutated on the way.
 *
 * Hop-by-hop fields are dropped in both directions (RFC 9110 §7.6.1): the fixed set and any field named in
 * Connection. The client's `req.headers` is never modified, so mirroring and logging see the original request.
 */

/** RFC 9110 §7.6.1 plus `proxy-connection` (obsolete but still sent) and `keep-alive` (RFC 7230 §A.1.2). */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade']);

const enum Action {
  Keep = 0,
  Drop = 1,
  ForwardedFor = 2,
  RequestId = 3,
  Via = 4,
  ForwardedProto = 5,
  ForwardedHost = 6,
}

/**
 * Request fields the proxy owns. `expect` is answered by node:http itself (100-continue) and undici refuses to
 * send it; x-forwarded-proto/-host are set by the proxy, and kept from the request only behind a trusted proxy.
 */
const REQUEST_ACTIONS = new Map<string, Action>([
  ...[...HOP_BY_HOP].map((name) => [name, Action.Drop] as const),
  ['expect', Action.Drop],
  ['x-forwarded-proto', Action.ForwardedProto],
  ['x-forwarded-host', Action.ForwardedHost],
  ['x-forwarded-for', Action.ForwardedFor],
  ['x-request-id', Action.RequestId],
  ['via', Action.Via],
]);

export const VIA = '1.1 splitgate';

export interface UpstreamHeaderValues {
  /** The address appended to X-Forwarded-For: the peer that connected to splitgate. */
  readonly peerIp: string;
  /** Behind a trusted proxy, its X-Forwarded-Proto/-Host describe the client's request and are kept. */
  readonly trustForwarded: boolean;
  /** The scheme the client used to reach splitgate. */
  readonly proto: string;
  readonly version: string;
  readonly requestId: string;
  /** Extra names to drop: those listed in the request's Connection header (lower case), or null. */
  readonly connectionTokens: ReadonlySet<string> | null;
}

export function buildUpstreamHeaders(rawHeaders: readonly string[], values: UpstreamHeaderValues): string[] {
  const out: string[] = [];
  let forwardedFor = '';
  let via = '';
  let host = '';
  let forwardedProto = '';
  let forwardedHost = '';
  const tokens = values.connectionTokens;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i].toLowerCase();
    const action = REQUEST_ACTIONS.get(name);
    if (action === undefined) {
      // Clients may not speak for splitgate: x-splitgate-* is set only by the proxy itself.
      // Host is never hop-by-hop, whatever Connection lists: dropping it would send the upstream's own name.
      if (name.startsWith('x-splitgate-') || (tokens !== null && tokens.has(name) && name !== 'host')) continue;
      if (name === 'host') host = rawHeaders[i + 1];
      out.push(name, rawHeaders[i + 1]);
    } else if (action === Action.ForwardedFor) {
      forwardedFor = forwardedFor === '' ? rawHeaders[i + 1] : `${forwardedFor}, ${rawHeaders[i + 1]}`;
    } else if (action === Action.Via) {
      via = via === '' ? rawHeaders[i + 1] : `${via}, ${rawHeaders[i + 1]}`;
    } else if (action === Action.ForwardedProto) {
      if (values.trustForwarded && forwardedProto === '') forwardedProto = rawHeaders[i + 1];
    } else if (action === Action.ForwardedHost) {
      if (values.trustForwarded && forwardedHost === '') forwardedHost = rawHeaders[i + 1];
    }
  }
  out.push(
    'x-forwarded-for',
    forwardedFor === '' ? values.peerIp : `${forwardedFor}, ${values.peerIp}`,
    'x-forwarded-proto',
    forwardedProto === '' ? values.proto : forwardedProto,
    'via',
    via === '' ? VIA : `${via}, ${VIA}`,
    'x-request-id',
    values.requestId,
    'x-splitgate-version',
    values.version,
  );
  if (forwardedHost !== '') out.push('x-forwarded-host', forwardedHost);
  else if (host !== '') out.push('x-forwarded-host', host);
  return out;
}

/** Names listed in a Connection header, other than the `close`/`keep-alive` options, or null when none. */
export function connectionTokens(connection: string | undefined): ReadonlySet<string> | null {
  if (connection === undefined || connection === 'keep-alive' || connection === 'close') return null;
  let tokens: Set<string> | null = null;
  for (const part of connection.split(',')) {
    const token = part.trim().toLowerCase();
    if (token === '' || token === 'close' || token === 'keep-alive') continue;
    (tokens ??= new Set()).add(token);
  }
  return tokens;
}

/**
 * Upstream response headers (undici's raw Buffers) → the flat string array sent to the client, less hop-by-hop
 * fields. Values stay latin1 byte-for-byte, as they came off the wire.
 */
export function buildClientHeaders(rawHeaders: readonly Buffer[], setCookie: string | null): string[] {
  const out: string[] = [];
  let tokens: ReadonlySet<string> | null = null;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i].toString('latin1').toLowerCase();
    if (HOP_BY_HOP.has(name)) {
      if (name === 'connection') tokens = connectionTokens(rawHeaders[i + 1].toString('latin1'));
      continue;
    }
    out.push(name, rawHeaders[i + 1].toString('latin1'));
  }
  if (tokens !== null) {
    for (let i = out.length - 2; i >= 0; i -= 2) if (tokens.has(out[i])) out.splice(i, 2);
  }
  if (setCookie !== null) out.push('set-cookie', setCookie);
  return out;
}
