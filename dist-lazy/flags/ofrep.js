import { hash } from 'node:crypto';
import { resolveFlag, targetingData } from './flag-set.js';
import { sameSecret } from '../auth/same-secret.js';
export const MAX_OFREP_BODY_BYTES = 64 * 1024;
export function ofrepRoute(settings, url) {
    const query = url.indexOf('?');
    const path = query === -1 ? url : url.slice(0, query);
    const base = `${settings.path}/v1/evaluate/flags`;
    if (path === base)
        return { key: null };
    if (!path.startsWith(`${base}/`))
        return null;
    const raw = path.slice(base.length + 1);
    try {
        return raw === '' || raw.includes('/') ? null : { key: decodeURIComponent(raw) };
    }
    catch {
        return null;
    }
}
function parseRequest(text, key, fallbackKey) {
    let body;
    try {
        body = text === '' ? {} : JSON.parse(text);
    }
    catch {
        return failure(400, key, 'PARSE_ERROR', 'request body is not JSON');
    }
    if (body === null || typeof body !== 'object' || Array.isArray(body))
        return failure(400, key, 'PARSE_ERROR', 'request body must be a JSON object');
    const context = body.context ?? {};
    if (context === null || typeof context !== 'object' || Array.isArray(context))
        return failure(400, key, 'INVALID_CONTEXT', 'context must be a JSON object');
    const targetingKey = context.targetingKey;
    if (targetingKey !== undefined && typeof targetingKey !== 'string')
        return failure(400, key, 'INVALID_CONTEXT', 'targetingKey must be a string');
    if ((targetingKey === undefined || targetingKey === '') && fallbackKey !== null)
        return { context: { ...context, targetingKey: fallbackKey } };
    return { context: context };
}
function failure(status, key, errorCode, errorDetails) {
    return { status, body: key === null ? { errorCode, errorDetails } : { key, errorCode, errorDetails } };
}
export function evaluateOne(set, key, text, fallbackKey = null) {
    const parsed = parseRequest(text, key, fallbackKey);
    if ('status' in parsed)
        return parsed;
    const flag = set.flags.get(key);
    if (flag === undefined)
        return failure(404, key, 'FLAG_NOT_FOUND', `flag "${key}" is not defined`);
    const result = resultOf(flag, parsed.context);
    return 'errorCode' in result ? { status: result.errorCode === 'FLAG_NOT_FOUND' ? 404 : 400, body: result } : { status: 200, body: result };
}
export function evaluateBulk(set, text, fallbackKey = null) {
    const parsed = parseRequest(text, null, fallbackKey);
    if ('status' in parsed)
        return parsed;
    const flags = [];
    const data = targetingData(parsed.context);
    for (const flag of set.list) {
        if (!flag.enabled)
            continue;
        flags.push(resultOf(flag, parsed.context, data));
    }
    return { status: 200, body: { flags } };
}
function resultOf(flag, context, data) {
    const key = flag.key;
    if (!flag.enabled)
        return { key, errorCode: 'FLAG_NOT_FOUND', errorDetails: `flag "${key}" is disabled` };
    if (flag.needsTargetingKey && (typeof context.targetingKey !== 'string' || context.targetingKey === '')) {
        return { key, errorCode: 'TARGETING_KEY_MISSING', errorDetails: `flag "${key}" splits by targetingKey, and the context has none` };
    }
    const outcome = resolveFlag(flag, context, data);
    if (outcome.errorCode !== null)
        return { key, errorCode: outcome.errorCode === 'PARSE_ERROR' ? 'PARSE_ERROR' : 'GENERAL', errorDetails: `flag "${key}" could not be evaluated` };
    if (outcome.variant === null)
        return { key, errorCode: 'GENERAL', errorDetails: `flag "${key}" resolved to no variant and has no default variant` };
    return { key, value: outcome.value, reason: outcome.reason, variant: outcome.variant, metadata: flag.metadata };
}
export function entityTag(body) {
    return `"${hash('sha256', body, 'base64url').slice(0, 32)}"`;
}
export function noneMatch(header, tag) {
    if (header === undefined)
        return false;
    for (const part of header.split(',')) {
        const candidate = part.trim();
        if (candidate === '*' || candidate === tag || candidate === `W/${tag}`)
            return true;
    }
    return false;
}
export class OfrepEndpoint {
    handle(req, res, settings, set, key, fallbackKey, done) {
        if (req.method !== 'POST') {
            send(res, 405, { errorCode: 'GENERAL', errorDetails: 'OFREP evaluations are POST requests' }, { allow: 'POST' });
            done(405);
            return;
        }
        if (!authorized(req, settings)) {
            send(res, 401, { errorCode: 'GENERAL', errorDetails: 'missing or wrong OFREP credentials' }, { 'www-authenticate': 'Bearer' });
            done(401);
            return;
        }
        const chunks = [];
        let bytes = 0;
        let refused = false;
        req.on('data', (chunk) => {
            if (refused)
                return;
            bytes += chunk.length;
            if (bytes > MAX_OFREP_BODY_BYTES) {
                refused = true;
                res.shouldKeepAlive = false;
                send(res, 413, { errorCode: 'GENERAL', errorDetails: `request body is larger than ${MAX_OFREP_BODY_BYTES} bytes` });
                done(413);
                return;
            }
            chunks.push(chunk);
        });
        req.on('error', () => undefined);
        req.on('end', () => {
            if (refused)
                return;
            const text = Buffer.concat(chunks).toString('utf8');
            const answer = key === null ? evaluateBulk(set, text, fallbackKey) : evaluateOne(set, key, text, fallbackKey);
            if (key === null && answer.status === 200) {
                const body = JSON.stringify(answer.body);
                const tag = entityTag(body);
                const ifNoneMatch = req.headers['if-none-match'];
                if (noneMatch(ifNoneMatch, tag)) {
                    res.writeHead(304, { etag: tag });
                    res.end();
                    done(304);
                    return;
                }
                sendText(res, 200, body, { etag: tag });
                done(200);
                return;
            }
            send(res, answer.status, answer.body);
            done(answer.status);
        });
    }
}
function authorized(req, settings) {
    if (settings.apiKey === null && settings.bearerToken === null)
        return true;
    const apiKey = req.headers['x-api-key'];
    if (settings.apiKey !== null && typeof apiKey === 'string' && sameSecret(apiKey, settings.apiKey))
        return true;
    const authorization = req.headers.authorization;
    if (settings.bearerToken !== null && typeof authorization === 'string' && /^bearer /i.test(authorization)) {
        return sameSecret(authorization.slice(7).trim(), settings.bearerToken);
    }
    return false;
}
function send(res, status, body, headers = {}) {
    sendText(res, status, JSON.stringify(body), headers);
}
function sendText(res, status, body, headers) {
    if (res.headersSent)
        return;
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store', ...headers });
    res.end(body);
}
//# sourceMappingURL=ofrep.js.map