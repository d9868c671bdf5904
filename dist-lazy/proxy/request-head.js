import { interned } from '../routing/interned.js';
export const HOP_BY_HOP = new Set([
    'connection',
    'keep-alive',
    'proxy-connection',
    'te',
    'trailer',
    'transfer-encoding',
    'upgrade',
]);
export const VIA = '1.1 splitgate';
const FIELDS = [
    ...[...HOP_BY_HOP].map((name) => [name, 1]),
    ['expect', 1],
    ['host', 2],
    ['cookie', 3],
    ['content-length', 4],
    ['transfer-encoding', 5],
    ['connection', 6],
    ['upgrade', 7],
    ['x-forwarded-for', 8],
    ['x-forwarded-proto', 9],
    ['x-forwarded-host', 10],
    ['via', 11],
    ['x-request-id', 12],
];
const FIRST_WINS = new Set([
    'age', 'authorization', 'content-length', 'content-type', 'etag', 'expires', 'from', 'host', 'if-modified-since',
    'if-unmodified-since', 'last-modified', 'location', 'max-forwards', 'proxy-authorization', 'referer', 'retry-after',
    'server', 'user-agent',
]);
export class HeaderNameIndex {
    #byLength = [];
    #routingTemplate = {};
    constructor(routingNames, droppedNames = []) {
        const routing = new Set(routingNames);
        for (const name of routing)
            this.#routingTemplate[interned(name)] = undefined;
        const fields = new Map(FIELDS);
        for (const name of droppedNames)
            if (!fields.has(name))
                fields.set(name, 1);
        for (const name of new Set([...fields.keys(), ...routing])) {
            const entry = Object.freeze({
                name: interned(name),
                field: fields.get(name) ?? 0,
                routing: routing.has(name),
                firstWins: FIRST_WINS.has(name),
            });
            (this.#byLength[name.length] ??= []).push(entry);
        }
    }
    newRoutingValues() {
        return { ...this.#routingTemplate };
    }
    find(lowerName) {
        const candidates = this.#byLength[lowerName.length];
        if (candidates === undefined)
            return undefined;
        for (let i = 0; i < candidates.length; i++)
            if (candidates[i].name === lowerName)
                return candidates[i];
        return undefined;
    }
}
const NO_VALUES = Object.freeze({});
export class RequestHead {
    host = undefined;
    hostRepeated = false;
    contentLength = undefined;
    chunked = false;
    transferEncodingInvalid = false;
    upgrade = undefined;
    forwardedFor = '';
    via = '';
    forwardedProto = '';
    forwardedHost = '';
    requestId = undefined;
    routing = NO_VALUES;
    forward = [];
    get hasBody() {
        return this.chunked || (this.contentLength !== undefined && this.contentLength !== '0');
    }
}
function endsWithChunked(value) {
    const comma = value.lastIndexOf(',');
    return (comma === -1 ? value : value.slice(comma + 1)).trim().toLowerCase() === 'chunked';
}
export function readRequestHead(rawHeaders, names) {
    const head = new RequestHead();
    const forward = head.forward;
    let routing = null;
    let connection;
    for (let i = 0; i < rawHeaders.length; i += 2) {
        const name = rawHeaders[i].toLowerCase();
        const value = rawHeaders[i + 1];
        const entry = names.find(name);
        if (entry === undefined) {
            if (!name.startsWith('x-splitgate-'))
                forward.push(name, value);
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
            case 0:
                if (!name.startsWith('x-splitgate-'))
                    forward.push(entry.name, value);
                break;
            case 2:
                if (head.host === undefined) {
                    head.host = value;
                    forward.push(entry.name, value);
                }
                else {
                    head.hostRepeated = true;
                }
                break;
            case 3:
            case 4:
                if (field === 4)
                    head.contentLength ??= value;
                forward.push(entry.name, value);
                break;
            case 5:
                head.chunked = true;
                head.transferEncodingInvalid = !endsWithChunked(value);
                break;
            case 6:
                connection = connection === undefined ? value : `${connection}, ${value}`;
                break;
            case 7:
                head.upgrade ??= value;
                break;
            case 8:
                head.forwardedFor = head.forwardedFor === '' ? value : `${head.forwardedFor}, ${value}`;
                break;
            case 11:
                head.via = head.via === '' ? value : `${head.via}, ${value}`;
                break;
            case 9:
                if (head.forwardedProto === '')
                    head.forwardedProto = value;
                break;
            case 10:
                if (head.forwardedHost === '')
                    head.forwardedHost = value;
                break;
            case 12:
                head.requestId = head.requestId === undefined ? value : `${head.requestId}, ${value}`;
                break;
            default:
                break;
        }
    }
    if (routing !== null)
        head.routing = routing;
    const tokens = connectionTokens(connection);
    if (tokens !== null) {
        for (let i = forward.length - 2; i >= 0; i -= 2)
            if (tokens.has(forward[i]) && forward[i] !== 'host')
                forward.splice(i, 2);
    }
    return head;
}
export function upstreamHeaders(head, fields) {
    const out = head.forward;
    const trusted = fields.trustForwarded;
    out.push('x-forwarded-for', head.forwardedFor === '' ? fields.peerIp : `${head.forwardedFor}, ${fields.peerIp}`, 'x-forwarded-proto', trusted && head.forwardedProto !== '' ? head.forwardedProto : fields.proto, 'via', head.via === '' ? VIA : `${head.via}, ${VIA}`, 'x-request-id', fields.requestId, 'x-splitgate-version', fields.version);
    const forwardedHost = trusted && head.forwardedHost !== '' ? head.forwardedHost : (head.host ?? '');
    if (forwardedHost !== '')
        out.push('x-forwarded-host', forwardedHost);
    return out;
}
export function dropOverrideFields(forward, header, cookie) {
    for (let i = forward.length - 2; i >= 0; i -= 2) {
        const name = forward[i];
        if (name === header) {
            forward.splice(i, 2);
        }
        else if (cookie !== null && name === 'cookie') {
            const kept = forward[i + 1].split(';').filter((pair) => {
                const trimmed = pair.trimStart();
                return !(trimmed.startsWith(cookie) && trimmed.charCodeAt(cookie.length) === 61);
            });
            if (kept.length === 0 || kept.every((pair) => pair.trim() === ''))
                forward.splice(i, 2);
            else
                forward[i + 1] = kept.join(';').trimStart();
        }
    }
}
export function connectionTokens(connection) {
    if (connection === undefined || connection === 'keep-alive' || connection === 'close')
        return null;
    let tokens = null;
    for (const part of connection.split(',')) {
        const token = part.trim().toLowerCase();
        if (token === '' || token === 'close' || token === 'keep-alive')
            continue;
        (tokens ??= new Set()).add(token);
    }
    return tokens;
}
//# sourceMappingURL=request-head.js.map