import { isIP } from 'node:net';
import { parse as parseCookies } from 'cookie';
import { BUCKETS, saltedBucketLatin1 } from './hash.js';
const NO_COOKIES = Object.freeze({});
const AS_SENT = Object.freeze({ decode: (value) => value });
export class RequestContext {
    headers;
    cookies;
    region;
    bucket;
    stickyKey;
    issuedId;
    overridesAllowed;
    claims;
    constructor(headers, cookies, region, bucket, stickyKey, issuedId, overridesAllowed = true, claims = null) {
        this.headers = headers;
        this.cookies = cookies;
        this.region = region;
        this.bucket = bucket;
        this.stickyKey = stickyKey;
        this.issuedId = issuedId;
        this.overridesAllowed = overridesAllowed;
        this.claims = claims;
    }
    withClaims(claims) {
        if (claims === this.claims)
            return this;
        return new RequestContext(this.headers, this.cookies, this.region, this.bucket, this.stickyKey, this.issuedId, this.overridesAllowed, claims);
    }
}
export function buildContext(route, headers, clientIp, entropy) {
    const cookieHeader = headers.cookie;
    const cookies = route.readsCookies && typeof cookieHeader === 'string' && cookieHeader !== '' ? parseCookies(cookieHeader) : NO_COOKIES;
    let region;
    if (route.regionHeader !== null) {
        const value = headers[route.regionHeader];
        if (typeof value === 'string' && value !== '')
            region = value.trim().toLowerCase();
    }
    const overridesAllowed = route.overrideNetworks === null || inNetworks(route.overrideNetworks, clientIp);
    const stickyKey = stickyKeyOf(route, headers, cookies, clientIp);
    if (stickyKey !== null)
        return new RequestContext(headers, cookies, region, saltedBucketLatin1(route.salt, stickyKey), stickyKey, null, overridesAllowed);
    if (route.stickyCookie !== null) {
        const issuedId = entropy.newId();
        return new RequestContext(headers, cookies, region, saltedBucketLatin1(route.salt, issuedId), issuedId, issuedId, overridesAllowed);
    }
    return new RequestContext(headers, cookies, region, Math.floor(entropy.random() * BUCKETS), null, null, overridesAllowed);
}
function inNetworks(networks, clientIp) {
    const family = isIP(clientIp);
    return family !== 0 && networks.check(clientIp, family === 6 ? 'ipv6' : 'ipv4');
}
export function readStickyKey(route, headers, clientIp) {
    const cookieHeader = headers.cookie;
    const cookies = typeof cookieHeader === 'string' && cookieHeader !== '' ? parseCookies(cookieHeader) : NO_COOKIES;
    return stickyKeyOf(route, headers, cookies, clientIp);
}
function stickyKeyOf(route, headers, cookies, clientIp) {
    const sources = route.stickySources;
    for (let i = 0; i < sources.length; i++) {
        const source = sources[i];
        if (source.kind === 'header') {
            const value = headers[source.name];
            if (typeof value === 'string' && value !== '')
                return value;
        }
        else if (source.kind === 'cookie') {
            const value = cookies[source.name];
            if (value)
                return headers.cookie.indexOf('%') === -1 ? value : parseCookies(headers.cookie, AS_SENT)[source.name];
        }
        else if (clientIp !== '') {
            return clientIp;
        }
    }
    return null;
}
//# sourceMappingURL=context.js.map