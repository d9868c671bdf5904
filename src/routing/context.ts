/**
 * What the decision reads from a request, extracted once: headers, cookies (parsed only when the route reads
 * any), the client's region and the sticky bucket. Randomness and id generation are passed in, so building a
 * context is deterministic under test.
 *
 * The sticky key is the bytes the client sent, so every implementation of the documented hash agrees: a header's
 * value as node:http hands it over (latin1, one char per byte), a cookie's value as sent (between "=" and ";",
 * spaces trimmed), not percent-decoded like `cookies`, which rules and overrides read.
 */
import { isIP, type BlockList } from 'node:net';
import { parse as parseCookies } from 'cookie';
import { BUCKETS, saltedBucketLatin1 } from './hash.js';
import type { CompiledRoute } from './table.js';

/** Request headers by lower-case name, repeated fields joined (the shape of node:http's `req.headers`). */
export type RequestHeaders = Readonly<Record<string, string | string[] | undefined>>;

const NO_COOKIES: Readonly<Record<string, string | undefined>> = Object.freeze({});
const AS_SENT = Object.freeze({ decode: (value: string) => value });

export class RequestContext {
  constructor(
    readonly headers: RequestHeaders,
    readonly cookies: Readonly<Record<string, string | undefined>>,
    /** Lower-cased region, or undefined when the route has no region header or the request lacks it. */
    readonly region: string | undefined,
    /** 0..9999: from the sticky key when there is one, otherwise random. */
    readonly bucket: number,
    readonly stickyKey: string | null,
    /** A fresh id the proxy must hand out as the sticky cookie, or null. */
    readonly issuedId: string | null,
    /** False when the route limits overrides to source networks and the client is outside them. */
    readonly overridesAllowed = true,
    /**
     * Claims of a JWT that auth/jwt-verifier.ts verified, or null: no token, an invalid one, or a route that reads
     * no claims (then the token is not even looked at). Never unverified claims.
     */
    readonly claims: Readonly<Record<string, unknown>> | null = null,
  ) {}

  /** This context with the verified claims of the request's token (one copy, only on routes that read claims). */
  withClaims(claims: Readonly<Record<string, unknown>> | null): RequestContext {
    if (claims === this.claims) return this;
    return new RequestContext(this.headers, this.cookies, this.region, this.bucket, this.stickyKey, this.issuedId, this.overridesAllowed, claims);
  }
}

/** Where fresh ids and random buckets come from; injected so tests can fix them. */
export interface Entropy {
  readonly newId: () => string;
  /** Uniform in [0, 1), like Math.random. */
  readonly random: () => number;
}

export function buildContext(
  route: CompiledRoute,
  headers: RequestHeaders,
  clientIp: string,
  entropy: Entropy,
): RequestContext {
  const cookieHeader = headers.cookie;
  const cookies = route.readsCookies && typeof cookieHeader === 'string' && cookieHeader !== '' ? parseCookies(cookieHeader) : NO_COOKIES;

  let region: string | undefined;
  if (route.regionHeader !== null) {
    const value = headers[route.regionHeader];
    if (typeof value === 'string' && value !== '') region = value.trim().toLowerCase();
  }

  const overridesAllowed = route.overrideNetworks === null || inNetworks(route.overrideNetworks, clientIp);
  const stickyKey = stickyKeyOf(route, headers, cookies, clientIp);
  if (stickyKey !== null) return new RequestContext(headers, cookies, region, saltedBucketLatin1(route.salt, stickyKey), stickyKey, null, overridesAllowed);
  if (route.stickyCookie !== null) {
    const issuedId = entropy.newId();
    return new RequestContext(headers, cookies, region, saltedBucketLatin1(route.salt, issuedId), issuedId, issuedId, overridesAllowed);
  }
  return new RequestContext(headers, cookies, region, Math.floor(entropy.random() * BUCKETS), null, null, overridesAllowed);
}

/** The client address as routing computed it (peer, or X-Forwarded-For when trusted); anything unparsable is outside. */
function inNetworks(networks: BlockList, clientIp: string): boolean {
  const family = isIP(clientIp);
  // BlockList matches IPv4-mapped IPv6 (::ffff:10.0.0.1, a dual-stack listener's peer) against IPv4 subnets too.
  return family !== 0 && networks.check(clientIp, family === 6 ? 'ipv6' : 'ipv4');
}

/** The route's sticky key of a request that is not routed (an OFREP call naming no targetingKey), or null. */
export function readStickyKey(route: CompiledRoute, headers: RequestHeaders, clientIp: string): string | null {
  const cookieHeader = headers.cookie;
  const cookies = typeof cookieHeader === 'string' && cookieHeader !== '' ? parseCookies(cookieHeader) : NO_COOKIES;
  return stickyKeyOf(route, headers, cookies, clientIp);
}

function stickyKeyOf(
  route: CompiledRoute,
  headers: RequestHeaders,
  cookies: Readonly<Record<string, string | undefined>>,
  clientIp: string,
): string | null {
  const sources = route.stickySources;
  for (let i = 0; i < sources.length; i++) {
    const source = sources[i];
    if (source.kind === 'header') {
      const value = headers[source.name];
      if (typeof value === 'string' && value !== '') return value;
    } else if (source.kind === 'cookie') {
      const value = cookies[source.name];
      // Only a value with a "%" can have been decoded; then the Cookie header is parsed a second time, as sent.
      if (value) return headers.cookie!.indexOf('%') === -1 ? value : parseCookies(headers.cookie as string, AS_SENT)[source.name]!;
    } else if (clientIp !== '') {
      return clientIp;
    }
  }
  return null;
}
