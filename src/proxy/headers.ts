/**
 * The response's header pass, on flat `[name, value, name, value, ...]` arrays (what undici gives and what
 * `res.writeHead` takes), so no header object is built on the way. The request's pass is in request-head.ts.
 *
 * Hop-by-hop fields are dropped (RFC 9110 §7.6.1): the fixed set and any field named in Connection.
 */
import { connectionTokens, HOP_BY_HOP } from './request-head.js';

/**
 * Upstream response headers (undici's raw Buffers) → the flat string array sent to the client, less hop-by-hop
 * fields. Names keep the upstream's case, as NGINX and Envoy relay them; values stay latin1 byte-for-byte.
 */
export function buildClientHeaders(rawHeaders: readonly Buffer[], setCookie: string | null): string[] {
  const out: string[] = [];
  let tokens: ReadonlySet<string> | null = null;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i].toString('latin1');
    // Only names as long as a hop-by-hop one need lower-casing to be checked; most response fields are not.
    if (HOP_BY_HOP_LENGTHS[name.length] === 1) {
      const lower = name.toLowerCase();
      if (HOP_BY_HOP.has(lower)) {
        if (lower === 'connection') tokens = connectionTokens(rawHeaders[i + 1].toString('latin1'));
        continue;
      }
    }
    out.push(name, rawHeaders[i + 1].toString('latin1'));
  }
  if (tokens !== null) {
    for (let i = out.length - 2; i >= 0; i -= 2) if (tokens.has(out[i].toLowerCase())) out.splice(i, 2);
  }
  if (setCookie !== null) out.push('set-cookie', setCookie);
  return out;
}

/** 1 at the lengths of the hop-by-hop names. */
const HOP_BY_HOP_LENGTHS = new Uint8Array(32);
for (const name of HOP_BY_HOP) HOP_BY_HOP_LENGTHS[name.length] = 1;
