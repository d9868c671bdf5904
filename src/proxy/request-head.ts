/**
 * One pass over a request's raw header lines (node:http's `rawHeaders`): it reads what routing needs and copies
 * what the upstream gets. node:http builds `req.headers` lazily, on first read; the data path never reads it, so
 * that object is not built for a proxied request and no header is looked up by name twice.
 *
 * Hop-by-hop fields (RFC 9110 §7.6.1: the fixed set and any field named in Connection) are not forwarded, nor are
 * fields splitgate owns: X-Forwarded-*, Via and X-Request-Id are rebuilt by `upstreamHeaders`, and a client may
 * not speak for splitgate (`x-splitgate-*`). `Forwarded` (RFC 7239) passes only from a trusted proxy: splitgate
 * does not write one, and an upstream that reads it must not read a client's.
 */

import { isIPv6 } from 'node:net';
import { interned } from '../routing/interned.js';

/** RFC 9110 §7.6.1 plus `proxy-connection` (obsolete but still sent) and `keep-alive` (RFC 7230 §A.1.2). */
export const HOP_BY_HOP: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

export const VIA = '1.1 splitgate';

const enum Field {
  /** Forwarded as it came (a routing-only name lands here). */
  Forward = 0,
  Drop,
  Host,
  Cookie,
  ContentLength,
  TransferEncoding,
  Connection,
  Upgrade,
  ForwardedFor,
  ForwardedProto,
  ForwardedHost,
  /** RFC 7239 `Forwarded`. */
  Forwarded,
  Via,
  RequestId,
  Authorization,
}

/**
 * Fields that are read, or not forwarded as they came. `expect` is answered by node:http itself (100-continue)
 * and undici refuses to send it.
 */
const FIELDS: ReadonlyArray<readonly [string, Field]> = [
  ...[...HOP_BY_HOP].map((name) => [name, Field.Drop] as const),
  ['expect', Field.Drop],
  ['host', Field.Host],
  ['cookie', Field.Cookie],
  ['content-length', Field.ContentLength],
  ['transfer-encoding', Field.TransferEncoding],
  ['connection', Field.Connection],
  ['upgrade', Field.Upgrade],
  ['x-forwarded-for', Field.ForwardedFor],
  ['x-forwarded-proto', Field.ForwardedProto],
  ['x-forwarded-host', Field.ForwardedHost],
  ['forwarded', Field.Forwarded],
  ['via', Field.Via],
  ['authorization', Field.Authorization],
  ['x-request-id', Field.RequestId],
];

/**
 * Fields node:http keeps the first of when repeated (`IncomingMessage#headers`); routing sees them the same way.
 * Any other repeated field is joined with ", " (Cookie with "; "), as node:http does.
 */
const FIRST_WINS = new Set([
  'age', 'authorization', 'content-length', 'content-type', 'etag', 'expires', 'from', 'host', 'if-modified-since',
  'if-unmodified-since', 'last-modified', 'location', 'max-forwards', 'proxy-authorization', 'referer', 'retry-after',
  'server', 'user-agent',
]);

interface NameEntry {
  /** Lower-case and interned: routing values are stored under it, so routing's reads hit V8's property cache. */
  readonly name: string;
  readonly field: Field;
  /** Some route reads this field. */
  readonly routing: boolean;
  readonly firstWins: boolean;
}

/**
 * The field names the header pass treats specially, grouped by length. A request's names are fresh strings:
 * comparing one with the few names of its length costs less than hashing it for a Set or Map (measured with
 * loadtest/hot-path.mjs). Built once per routing table.
 */
export class HeaderNameIndex {
  readonly #byLength: Array<NameEntry[] | undefined> = [];
  /**
   * Every routing field, undefined, in one fixed order. A request's routing values are a copy of it, so all of them
   * share one hidden class and each routing read (`headers[route.overrideHeader]`, ...) stays a monomorphic load.
   */
  readonly #routingTemplate: Record<string, string | undefined> = {};

  /**
   * `routingNames`: lower-case names of the fields routing reads (see RoutingTable.headerNames). `droppedNames`:
   * fields splitgate writes for the upstream whose client copies are never forwarded (the flags headers).
   */
  constructor(routingNames: Iterable<string>, droppedNames: Iterable<string> = []) {
    const routing = new Set(routingNames);
    for (const name of routing) this.#routingTemplate[interned(name)] = undefined;
    const fields = new Map<string, Field>(FIELDS);
    for (const name of droppedNames) if (!fields.has(name)) fields.set(name, Field.Drop);
    for (const name of new Set([...fields.keys(), ...routing])) {
      const entry: NameEntry = Object.freeze({
        name: interned(name),
        field: fields.get(name) ?? Field.Forward,
        routing: routing.has(name),
        firstWins: FIRST_WINS.has(name),
      });
      (this.#byLength[name.length] ??= []).push(entry);
    }
  }

  /** A fresh record for one request's routing values, every field present and undefined. */
  newRoutingValues(): Record<string, string | undefined> {
    return { ...this.#routingTemplate };
  }

  find(lowerName: string): NameEntry | undefined {
    const candidates = this.#byLength[lowerName.length];
    if (candidates === undefined) return undefined;
    for (let i = 0; i < candidates.length; i++) if (candidates[i].name === lowerName) return candidates[i];
    return undefined;
  }
}

const NO_VALUES: Readonly<Record<string, string>> = Object.freeze({});

export class RequestHead {
  /** The first Host field (what node:http reports), or undefined. */
  host: string | undefined = undefined;
  /** More than one Host field: RFC 9112 §3.2 says answer 400. */
  hostRepeated = false;
  contentLength: string | undefined = undefined;
  chunked = false;
  /**
   * A Transfer-Encoding field whose final coding is not `chunked` (an empty value included): RFC 9112 §6.1 says
   * the body's length cannot be determined, answer 400 and close. node:http refuses most such fields itself, but
   * Node 20 reads `Transfer-Encoding:` with an empty value as no body at all, while Node 24 refuses it.
   */
  transferEncodingInvalid = false;
  upgrade: string | undefined = undefined;
  /** X-Forwarded-For, Via and Forwarded as received, repeated fields joined; '' when absent. */
  forwardedFor = '';
  via = '';
  forwarded = '';
  /**
   * The last X-Forwarded-Proto/-Host field, used only behind a trusted proxy: a proxy adds its line after any the
   * client sent (as it appends to X-Forwarded-For), so the last is the nearest proxy's (see `rightMostEntry`).
   */
  forwardedProto = '';
  forwardedHost = '';
  /**
   * Authorization fields seen. Routing (JWT claims) reads the first, an upstream may read the last: more than one
   * is ambiguous and refused.
   */
  authorizations = 0;
  requestId: string | undefined = undefined;
  /**
   * Lower-case name → value of the fields routing reads (Cookie, and every header some route's sticky key,
   * override, region or rule names), joined as node:http joins repeated fields. Shared and empty when none came.
   */
  routing: Readonly<Record<string, string | undefined>> = NO_VALUES;
  /** Client fields forwarded as they came (names lower-cased); `upstreamHeaders` appends splitgate's own. */
  readonly forward: string[] = [];

  /** A request body follows the head (RFC 9112 §6.3): chunked, or a non-zero Content-Length. */
  get hasBody(): boolean {
    return this.chunked || (this.contentLength !== undefined && this.contentLength !== '0');
  }
}

function endsWithChunked(value: string): boolean {
  const comma = value.lastIndexOf(',');
  return (comma === -1 ? value : value.slice(comma + 1)).trim().toLowerCase() === 'chunked';
}

export function readRequestHead(rawHeaders: readonly string[], names: HeaderNameIndex): RequestHead {
  const head = new RequestHead();
  const forward = head.forward;
  let routing: Record<string, string | undefined> | null = null;
  let connection: string | undefined;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i].toLowerCase();
    const value = rawHeaders[i + 1];
    const entry = names.find(name);
    if (entry === undefined) {
      if (!name.startsWith('x-splitgate-')) forward.push(name, value);
      continue;
    }
    if (entry.routing) {
      const key = entry.name;
      routing ??= names.newRoutingValues();
      const previous = routing[key];
      routing[key] = previous === undefined ? value : entry.firstWins ? previous : `${previous}${key === 'cookie' ? '; ' : ', '}${value}`;
    }
    const field = entry.field;
    switch (field) {
      case Field.Forward:
        if (!name.startsWith('x-splitgate-')) forward.push(entry.name, value);
        break;
      case Field.Host:
        if (head.host === undefined) {
          head.host = value;
          forward.push(entry.name, value);
        } else {
          head.hostRepeated = true;
        }
        break;
      case Field.Cookie:
      case Field.ContentLength:
        if (field === Field.ContentLength) head.contentLength ??= value;
        forward.push(entry.name, value);
        break;
      case Field.TransferEncoding:
        head.chunked = true;
        // Repeated fields are one list (RFC 9110 §5.3): the last field's last element is the final coding.
        head.transferEncodingInvalid = !endsWithChunked(value);
        break;
      case Field.Connection:
        connection = connection === undefined ? value : `${connection}, ${value}`;
        break;
      case Field.Upgrade:
        head.upgrade ??= value;
        break;
      case Field.ForwardedFor:
        head.forwardedFor = head.forwardedFor === '' ? value : `${head.forwardedFor}, ${value}`;
        break;
      case Field.Via:
        head.via = head.via === '' ? value : `${head.via}, ${value}`;
        break;
      case Field.ForwardedProto:
        head.forwardedProto = value;
        break;
      case Field.ForwardedHost:
        head.forwardedHost = value;
        break;
      case Field.Forwarded:
        head.forwarded = head.forwarded === '' ? value : `${head.forwarded}, ${value}`;
        break;
      case Field.Authorization:
        head.authorizations++;
        forward.push(entry.name, value);
        break;
      case Field.RequestId:
        // Repeated, it is joined (", ") and so no longer a valid id: splitgate makes a fresh one.
        head.requestId = head.requestId === undefined ? value : `${head.requestId}, ${value}`;
        break;
      default:
        break;
    }
  }
  if (routing !== null) head.routing = routing;
  const tokens = connectionTokens(connection);
  if (tokens !== null) {
    // Host is never hop-by-hop, whatever Connection lists: dropping it would send the upstream's own name.
    for (let i = forward.length - 2; i >= 0; i -= 2) if (tokens.has(forward[i]) && forward[i] !== 'host') forward.splice(i, 2);
  }
  return head;
}

export interface ProxyFields {
  /** The address appended to X-Forwarded-For: the peer that connected to splitgate. */
  readonly peerIp: string;
  /** Behind a trusted proxy, its X-Forwarded-Proto/-Host and Forwarded describe the client's request and are kept. */
  readonly trustForwarded: boolean;
  /** The scheme the client used to reach splitgate. */
  readonly proto: string;
  readonly version: string;
  readonly requestId: string;
}

/**
 * The header list sent upstream: the forwarded client fields, then X-Forwarded-For (appended to), X-Forwarded-Proto,
 * Via (appended to), X-Request-Id, X-Splitgate-Version, X-Forwarded-Host, and a trusted proxy's Forwarded. Appends to
 * `head.forward` and returns it.
 */
export function upstreamHeaders(head: RequestHead, fields: ProxyFields): string[] {
  const out = head.forward;
  const trusted = fields.trustForwarded;
  const forwardedProto = trusted ? rightMostEntry(head.forwardedProto) : '';
  out.push(
    'x-forwarded-for',
    head.forwardedFor === '' ? fields.peerIp : `${head.forwardedFor}, ${fields.peerIp}`,
    'x-forwarded-proto',
    forwardedProto !== '' ? forwardedProto : fields.proto,
    'via',
    head.via === '' ? VIA : `${head.via}, ${VIA}`,
    'x-request-id',
    fields.requestId,
    'x-splitgate-version',
    fields.version,
  );
  const trustedHost = trusted ? rightMostEntry(head.forwardedHost) : '';
  const forwardedHost = trustedHost !== '' ? trustedHost : (head.host ?? '');
  if (forwardedHost !== '') out.push('x-forwarded-host', forwardedHost);
  if (trusted && head.forwarded !== '') out.push('forwarded', head.forwarded);
  return out;
}

/**
 * The last entry of a comma-separated list (repeated fields already joined), trimmed; '' for an empty list. Behind a
 * trusted proxy, entries further left were written by whoever sent the request and can be anything.
 */
export function rightMostEntry(list: string): string {
  if (list === '') return '';
  const comma = list.lastIndexOf(',');
  return comma === -1 ? list.trim() : list.slice(comma + 1).trim();
}

/**
 * A route whose overrides carry a secret keeps it between the client and splitgate: the override header, and the
 * override cookie's pair in Cookie, are not forwarded (the upstream, a shadow, or their logs would learn the secret).
 * Runs only for such routes; `forward` is the request's own list, changed in place.
 */
export function dropOverrideFields(forward: string[], header: string | null, cookie: string | null): void {
  for (let i = forward.length - 2; i >= 0; i -= 2) {
    const name = forward[i];
    if (name === header) {
      forward.splice(i, 2);
    } else if (cookie !== null && name === 'cookie') {
      const value = forward[i + 1];
      // A Cookie field that does not contain the name cannot carry the pair: no split for it.
      if (value.indexOf(cookie) === -1) continue;
      const kept = value.split(';').filter((pair) => cookiePairName(pair) !== cookie);
      if (kept.length === 0 || kept.every((pair) => pair.trim() === '')) forward.splice(i, 2);
      else forward[i + 1] = kept.join(';').trimStart();
    }
  }
}

/**
 * A Cookie pair's name as the `cookie` parser reads it (routing/context.ts), so that the pair routing honours is the
 * pair stripped: the text before the first `=`, spaces and tabs trimmed on both sides (`canary =x` is `canary`).
 * A pair without `=` has no name (the parser skips it).
 */
function cookiePairName(pair: string): string | null {
  const equals = pair.indexOf('=');
  if (equals === -1) return null;
  let start = 0;
  let end = equals;
  while (start < end && isSpaceOrTab(pair.charCodeAt(start))) start++;
  while (end > start && isSpaceOrTab(pair.charCodeAt(end - 1))) end--;
  return pair.slice(start, end);
}

function isSpaceOrTab(code: number): boolean {
  return code === 0x20 || code === 0x09;
}

/**
 * RFC 3986 §3.2.2 reg-name characters: unreserved (ALPHA DIGIT - . _ ~) and sub-delims (! $ & ' ( ) * + , ; =);
 * `%` is checked apart (pct-encoded). An IPv4 address is a reg-name too.
 */
const REG_NAME = new Uint8Array(128);
for (const c of "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+,;=") REG_NAME[c.charCodeAt(0)] = 1;

function isHexDigit(code: number): boolean {
  return (code >= 0x30 && code <= 0x39) || ((code | 0x20) >= 0x61 && (code | 0x20) <= 0x66);
}

/**
 * A Host field value is `uri-host [ ":" port ]` (RFC 9112 §3.2, RFC 3986 §3.2.2-3.2.3): a reg-name (possibly empty,
 * possibly ending in a dot) or IPv4 address, or an IP literal in brackets; then an optional `:` and digits. Anything
 * else (spaces, `/`, `@`, a second `:`, a bare IPv6 address, non-ASCII) is refused with 400, as §3.2 requires: such
 * a value would reach route matching and the upstream's generated links. One pass over the common name, no regex.
 */
export function isValidHost(host: string): boolean {
  const length = host.length;
  let i = 0;
  if (length !== 0 && host.charCodeAt(0) === 0x5b /* [ */) {
    const close = host.indexOf(']');
    if (close === -1 || !isIpLiteral(host.slice(1, close))) return false;
    i = close + 1;
  } else {
    for (; i < length; i++) {
      const code = host.charCodeAt(i);
      if (code < 128 && REG_NAME[code] === 1) continue;
      if (code === 0x25 /* % */ && isHexDigit(host.charCodeAt(i + 1)) && isHexDigit(host.charCodeAt(i + 2))) {
        i += 2;
        continue;
      }
      break;
    }
  }
  if (i === length) return true;
  if (host.charCodeAt(i) !== 0x3a /* : */) return false;
  for (i++; i < length; i++) {
    const code = host.charCodeAt(i);
    if (code < 0x30 || code > 0x39) return false;
  }
  return true;
}

/**
 * `isValidHost` remembering the last valid value: most requests carry the Host of the one before, and comparing with
 * it costs a fraction of the scan (measured on `api.example.com:8080`: ~7 ns against ~35 ns). One per service.
 */
export class HostCheck {
  #lastValid = '';

  valid(host: string): boolean {
    if (host === this.#lastValid) return true;
    if (!isValidHost(host)) return false;
    this.#lastValid = host;
    return true;
  }
}

/** IPv6address or IPvFuture (RFC 3986 §3.2.2), the part between the brackets. No zone id: a URI has none. */
function isIpLiteral(inside: string): boolean {
  if ((inside.charCodeAt(0) | 0x20) !== 0x76 /* v */) return inside.indexOf('%') === -1 && isIPv6(inside);
  // IPvFuture: "v" 1*HEXDIG "." 1*( unreserved / sub-delims / ":" )
  let i = 1;
  while (i < inside.length && isHexDigit(inside.charCodeAt(i))) i++;
  if (i === 1 || inside.charCodeAt(i) !== 0x2e /* . */ || i + 1 === inside.length) return false;
  for (i++; i < inside.length; i++) {
    const code = inside.charCodeAt(i);
    if (!(code === 0x3a || (code < 128 && REG_NAME[code] === 1))) return false;
  }
  return true;
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
