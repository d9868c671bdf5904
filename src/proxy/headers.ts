/**
 * The response's header pass, on flat `[name, value, name, value, ...]` arrays (what undici gives and what
 * `res.writeHead` takes), so no header object is built on the way. The request's pass is in request-head.ts.
 *
 * Hop-by-hop fields are dropped (RFC 9110 §7.6.1): the fixed set and any field named in Connection.
 */
import { connectionTokens, HOP_BY_HOP } from './request-head.js';

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
