/**
 * The spellings of a request path an upstream may act on. Route prefixes are matched on the bytes as received, but
 * an origin server resolves `/api/%61dmin`, `/api/x/../admin` or `/api//admin` (and, depending on the server,
 * `/api%2Fadmin`, `/api\admin` or `/api;x/admin`) to `/api/admin`: a client could reach a path past the route (or
 * the rule) meant for it. No one resolution is right for every upstream (merging slashes before removing
 * dot-segments turns `/api/admin//..` into `/api/`, a WHATWG URL parser into `/api/admin/`), so splitgate takes the
 * route only when every spelling below picks it, and refuses the request when they disagree (see match.ts):
 * - as received;
 * - RFC 3986's normalization (§6.2.2): percent-encoded unreserved octets decoded, dot-segments removed (§5.2.4);
 * - the most an origin server may do: every octet decoded (`%2F` included), `\` read as `/`, `;` parameters cut
 *   from segments, repeated slashes merged, dot-segments removed.
 * The request is forwarded with its bytes unchanged. The query is never part of it.
 *
 * Results are byte strings (one char per octet, latin1): `/caf%C3%A9` becomes the two octets of `é`, the same string
 * a prefix `/café` in the config becomes (see prefixSpellings).
 */

const PERCENT = 37;
const SLASH = 47;
const DOT = 46;
const BACKSLASH = 92;
const SEMICOLON = 59;

/** Which spelling: as received, RFC 3986's, the broadest. */
export type PathSpellings = readonly [asSent: string, rfc3986: string, broadest: string];

/** The spellings of `target`'s path, or null when it has nothing to resolve (most requests): all three are itself. */
export function pathSpellings(target: string): PathSpellings | null {
  let end = target.indexOf('?');
  if (end === -1) end = target.length;
  for (let i = 0; i < end; i++) {
    const c = target.charCodeAt(i);
    if (c === PERCENT || c === BACKSLASH || c === SEMICOLON || (c === SLASH && i + 1 < end && isSlashOrDot(target.charCodeAt(i + 1)))) return spellingsOf(target.slice(0, end));
  }
  return null;
}

/**
 * A configured prefix in each spelling's form: its UTF-8 octets outside printable ASCII percent-encoded for the first
 * two (as a client sends them), decoded for the broadest; a trailing "/" kept.
 */
export function prefixSpellings(prefix: string): PathSpellings {
  let encoded = '';
  for (const octet of Buffer.from(prefix, 'utf8')) encoded += octet > 0x20 && octet < 0x7f ? String.fromCharCode(octet) : `%${octet.toString(16).toUpperCase().padStart(2, '0')}`;
  const spellings = spellingsOf(encoded);
  const slash = (path: string): string => (encoded.endsWith('/') && !path.endsWith('/') ? `${path}/` : path);
  return [spellings[0], slash(spellings[1]), slash(spellings[2])];
}

function spellingsOf(path: string): PathSpellings {
  // Hex digits in upper case (RFC 3986 §6.2.2.1): %c3 and %C3 are one octet to every server.
  const asSent = path.indexOf('%') === -1 ? path : path.replace(/%[0-9a-f]{2}/gi, (escape) => escape.toUpperCase());
  return [asSent, withoutDotSegments(percentDecoded(asSent, true), false), withoutDotSegments(cutParameters(percentDecoded(asSent, false).replaceAll('\\', '/')), true)];
}

function isSlashOrDot(c: number): boolean {
  return c === SLASH || c === DOT;
}

/** RFC 3986 §5.2.4, on segments; `mergeSlashes` drops empty ones first (NGINX's merge_slashes). */
function withoutDotSegments(path: string, mergeSlashes: boolean): string {
  const parts = path.split('/');
  const segments: string[] = [];
  let trailingSlash = false;
  // parts[0] is what precedes the leading "/": empty for an origin-form target.
  for (let k = 1; k < parts.length; k++) {
    const segment = parts[k];
    const last = k === parts.length - 1;
    if ((segment === '' && mergeSlashes) || segment === '.') {
      if (last) trailingSlash = true;
    } else if (segment === '..') {
      segments.pop();
      if (last) trailingSlash = true;
    } else {
      segments.push(segment);
    }
  }
  let resolved = `/${segments.join('/')}`;
  if (trailingSlash && segments.length > 0) resolved += '/';
  return resolved;
}

/** `a;x=1/b;y` → `a/b`: matrix parameters, which Servlet containers cut from each segment before matching. */
function cutParameters(path: string): string {
  if (path.indexOf(';') === -1) return path;
  return path
    .split('/')
    .map((segment) => {
      const semicolon = segment.indexOf(';');
      return semicolon === -1 ? segment : segment.slice(0, semicolon);
    })
    .join('/');
}

/** `%XX` → the octet (only unreserved ones with `unreservedOnly`); a `%` not followed by two hex digits stays. */
function percentDecoded(text: string, unreservedOnly: boolean): string {
  let out = '';
  let from = 0;
  for (let i = text.indexOf('%'); i !== -1 && i + 2 < text.length; i = text.indexOf('%', i + 1)) {
    const high = hexValue(text.charCodeAt(i + 1));
    const low = hexValue(text.charCodeAt(i + 2));
    if (high === -1 || low === -1) continue;
    const octet = high * 16 + low;
    if (unreservedOnly && !isUnreserved(octet)) continue;
    out += text.slice(from, i) + String.fromCharCode(octet);
    from = i + 3;
    i += 2;
  }
  return from === 0 ? text : out + text.slice(from);
}

/** RFC 3986 §2.3: ALPHA / DIGIT / "-" / "." / "_" / "~". */
function isUnreserved(c: number): boolean {
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 45 || c === 46 || c === 95 || c === 126;
}

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 65 && c <= 70) return c - 55;
  if (c >= 97 && c <= 102) return c - 87;
  return -1;
}
