/**
 * The path a route prefix is matched against. An origin server resolves `/api/%61dmin`, `/api//admin`,
 * `/api/x/../admin` and `/api%2Fadmin` to `/api/admin`; matching the bytes as received would let a client reach a
 * path past the route (or the rule) meant for it. So, as NGINX does before location matching: percent-encoded
 * octets decoded (RFC 3986 §6.2.2.2, slashes included), dot-segments removed (§6.2.2.3, §5.2.4), repeated slashes
 * merged. Only the match uses it; the request is forwarded with its bytes unchanged. The query is left as is.
 *
 * The result is a byte string (one char per octet, latin1): `/caf%C3%A9` becomes the two octets of `é`, the same
 * string a prefix `/café` in the config becomes (see matchablePrefix).
 */

const PERCENT = 37;
const SLASH = 47;
const DOT = 46;

/** The request-target's path as matched; the target itself when there is nothing to resolve (most requests). */
export function matchablePath(target: string): string {
  let end = target.indexOf('?');
  if (end === -1) end = target.length;
  for (let i = 0; i < end; i++) {
    const c = target.charCodeAt(i);
    if (c === PERCENT) return resolved(target, end);
    if (c === SLASH && i + 1 < end) {
      const next = target.charCodeAt(i + 1);
      if (next === SLASH || next === DOT) return resolved(target, end);
    }
  }
  return target;
}

/** A configured prefix in the form matchablePath gives (UTF-8 octets, resolved the same way). */
export function matchablePrefix(prefix: string): string {
  const octets = Buffer.from(prefix, 'utf8').toString('latin1');
  // A prefix ending in "/" keeps it: `/api/` must not turn into `/api` and match `/apis`.
  const path = matchablePath(octets);
  return octets.endsWith('/') && !path.endsWith('/') ? `${path}/` : path;
}

function resolved(target: string, end: number): string {
  const decoded = percentDecoded(target.slice(0, end));
  const parts = decoded.split('/');
  const segments: string[] = [];
  let trailingSlash = false;
  // parts[0] is what precedes the leading "/": empty for an origin-form target.
  for (let k = 1; k < parts.length; k++) {
    const segment = parts[k];
    const last = k === parts.length - 1;
    if (segment === '' || segment === '.') {
      if (last) trailingSlash = true;
    } else if (segment === '..') {
      segments.pop();
      if (last) trailingSlash = true;
    } else {
      segments.push(segment);
    }
  }
  let path = `/${segments.join('/')}`;
  if (trailingSlash && segments.length > 0) path += '/';
  return end === target.length ? path : path + target.slice(end);
}

/** `%XX` → the octet; a `%` not followed by two hex digits stays as it is. */
function percentDecoded(text: string): string {
  let out = '';
  let from = 0;
  for (let i = text.indexOf('%'); i !== -1 && i + 2 < text.length; i = text.indexOf('%', i + 1)) {
    const high = hexValue(text.charCodeAt(i + 1));
    const low = hexValue(text.charCodeAt(i + 2));
    if (high === -1 || low === -1) continue;
    out += text.slice(from, i) + String.fromCharCode(high * 16 + low);
    from = i + 3;
    i += 2;
  }
  return from === 0 ? text : out + text.slice(from);
}

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 65 && c <= 70) return c - 55;
  if (c >= 97 && c <= 102) return c - 87;
  return -1;
}
