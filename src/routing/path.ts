/**
 * How a request path is read for route matching with `pathMatching: normalized`. Route prefixes are matched on the
 * bytes as received, but upstreams resolve paths in ways that differ from those bytes and from each other: they
 * decode `%61` or `%2F`, read `\` as `/`, cut `;params` from segments (Servlet containers), merge `//`, resolve `.`
 * and `..` (in different orders: merging slashes first turns `/api/admin//..` into `/api/`, a WHATWG URL parser into
 * `/api/admin/`). A client could then reach a path past the route, or the rule, meant for it. No one reading is every
 * server's, so splitgate refuses what servers disagree on rather than guessing (match.ts answers AMBIGUOUS_PATH):
 * - a path with a dot-segment (`.` or `..`, also as `%2e`, behind `\`, `%2F` or `%5C`, or followed by `;...`), a
 *   fragment (`#`) or an encoded NUL: conforming clients resolve dot-segments before sending and never send a
 *   fragment, and servers resolve them differently;
 * - a path whose broadest reading (every octet decoded, `\` as `/`, `;` parameters cut, slashes merged) picks
 *   another route than its bytes do. Without dot-segments, and with prefixes made of plain characters only
 *   (`isPlainPrefix`, enforced by the config), any other server's reading lies between those two: when they agree,
 *   every reading picks that route.
 * The request is forwarded with its bytes unchanged. The query is never part of it.
 */

const PERCENT = 37;
const SLASH = 47;
const DOT = 46;
const BACKSLASH = 92;
const SEMICOLON = 59;
const HASH = 35;

/** What matching a path needs: nothing (most requests), its broadest reading, or that it is refused. */
export type PathReading = null | { readonly broadest: string } | 'ambiguous';

/** Reads `target`'s path (before `?`): null when it has nothing a server could read another way. */
export function readPath(target: string): PathReading {
  let end = target.indexOf('?');
  if (end === -1) end = target.length;
  for (let i = 0; i < end; i++) {
    const c = target.charCodeAt(i);
    if (c === PERCENT || c === BACKSLASH || c === SEMICOLON || c === HASH || (c === SLASH && i + 1 < end && isSlashOrDot(target.charCodeAt(i + 1)))) {
      return broadestReading(target.slice(0, end));
    }
  }
  return null;
}

function isSlashOrDot(c: number): boolean {
  return c === SLASH || c === DOT;
}

function broadestReading(path: string): PathReading {
  if (path.indexOf('#') !== -1) return 'ambiguous';
  const decoded = percentDecoded(path);
  if (decoded.indexOf('\0') !== -1) return 'ambiguous';
  const segments: string[] = [];
  const parts = decoded.replaceAll('\\', '/').split('/');
  // parts[0] is what precedes the leading "/": empty for an origin-form target.
  for (let k = 1; k < parts.length; k++) {
    const part = parts[k];
    const semicolon = part.indexOf(';');
    const segment = semicolon === -1 ? part : part.slice(0, semicolon);
    if (segment === '.' || segment === '..') return 'ambiguous';
    if (segment !== '' || k === parts.length - 1) segments.push(segment);
  }
  return { broadest: `/${segments.join('/')}` };
}

/** `%XX` → the octet (one latin1 char); a `%` not followed by two hex digits stays as it is. */
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

/** RFC 3986 pchar without pct-encoded and ";" (unreserved, sub-delims but ";", ":", "@"), and "/". */
const PLAIN_PREFIX = /^\/[A-Za-z0-9\-._~!$&'()*+,=:@/]*$/;

/**
 * A prefix every server reads the same way: plain characters only, no empty or dot-segment. What the readings above
 * rely on; the config refuses others with `pathMatching: normalized`.
 */
export function isPlainPrefix(prefix: string): boolean {
  if (!PLAIN_PREFIX.test(prefix)) return false;
  const segments = prefix.split('/');
  for (let k = 1; k < segments.length; k++) {
    const segment = segments[k];
    if (segment === '.' || segment === '..') return false;
    if (segment === '' && k !== segments.length - 1) return false;
  }
  return true;
}
