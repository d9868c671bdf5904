/**
 * The response's header pass, on flat `[name, value, name, value, ...]` arrays (what undici gives and what
 * `res.writeHead` takes), so no header object is built on the way. The request's pass is in request-head.ts.
 *
 * Hop-by-hop fields are dropped (RFC 9110 §7.6.1): the fixed set and any field named in Connection.
 */
import { FieldNameCache } from './field-names.js';
import { connectionTokens } from './request-head.js';

/** Shared by every exchange: upstreams send the same few names over and over. */
const responseNames = new FieldNameCache();

/**
 * Upstream response headers (undici's raw Buffers) → the flat string array sent to the client, less hop-by-hop
 * fields. Names keep the upstream's case, as NGINX and Envoy relay them; values stay latin1 byte-for-byte.
 * Null when the response uses a transfer coding other than chunked (`gzip, chunked`): undici undoes only the
 * chunking, and the body it hands on is still coded, which no header left would tell the client (RFC 9112 §7).
 */
export function buildClientHeaders(rawHeaders: readonly Buffer[], setCookie: string | null): string[] | null {
  const out: string[] = [];
  let connection: string | undefined;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = responseNames.get(rawHeaders[i]);
    if (name.hopByHop) {
      if (name.lower === 'connection') {
        // Repeated Connection lines are one list (RFC 9110 §5.3): a field named on any of them is hop-by-hop.
        const value = name.value(rawHeaders[i + 1]);
        connection = connection === undefined ? value : `${connection}, ${value}`;
      } else if (name.lower === 'transfer-encoding' && !onlyChunked(rawHeaders[i + 1])) return null;
      continue;
    }
    out.push(name.text, name.value(rawHeaders[i + 1]));
  }
  const tokens = connectionTokens(connection);
  if (tokens !== null) {
    for (let i = out.length - 2; i >= 0; i -= 2) if (tokens.has(out[i].toLowerCase())) out.splice(i, 2);
  }
  if (setCookie !== null) out.push('set-cookie', setCookie);
  return out;
}

const CHUNKED = Buffer.from('chunked');

/** The common case compared as bytes (no string); anything else read as a list of codings. */
function onlyChunked(value: Buffer): boolean {
  if (value.equals(CHUNKED)) return true;
  const codings = value.toString('latin1').split(',').map((c) => c.trim().toLowerCase()).filter((c) => c !== '');
  return codings.length > 0 && codings.every((c) => c === 'chunked');
}
