import { BodyCapture } from './body-capture.js';
const TIMEOUT_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT', 'SG_MIRROR_TIMEOUT']);
export class CopyControllers {
    #active = new Set();
    #stopped = null;
    add(copy) {
        if (this.#stopped !== null)
            copy.abort(this.#stopped);
        else
            this.#active.add(copy);
    }
    delete(copy) {
        this.#active.delete(copy);
    }
    abortAll(reason) {
        this.#stopped = reason;
        for (const copy of this.#active)
            copy.abort(reason);
        this.#active.clear();
    }
}
class CopyTimeout extends Error {
    code = 'SG_MIRROR_TIMEOUT';
}
class CopyExchange {
    #started = performance.now();
    #capture;
    #copies;
    #resolve;
    #timer;
    #abortUpstream = null;
    #pendingAbort = null;
    #status = 0;
    #headers = {};
    #done = false;
    constructor(captureCap, timeoutMs, copies, resolve) {
        this.#capture = new BodyCapture(captureCap);
        this.#copies = copies;
        this.#resolve = resolve;
        this.#timer = setTimeout(abortOnTimeout, timeoutMs, this).unref();
        copies.add(this);
    }
    abort(reason) {
        if (this.#abortUpstream !== null)
            this.#abortUpstream(reason);
        else
            this.#pendingAbort = reason;
    }
    onConnect(abort) {
        if (this.#pendingAbort !== null)
            abort(this.#pendingAbort);
        else
            this.#abortUpstream = abort;
    }
    onHeaders(statusCode, rawHeaders) {
        if (statusCode < 200)
            return true;
        this.#status = statusCode;
        const headers = {};
        for (let i = 0; i < rawHeaders.length; i += 2) {
            const name = rawHeaders[i].toString('latin1').toLowerCase();
            const value = rawHeaders[i + 1].toString('latin1');
            headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
        }
        this.#headers = headers;
        return true;
    }
    onData(chunk) {
        this.#capture.add(chunk);
        return true;
    }
    onComplete() {
        const capture = this.#capture;
        this.#finish({
            ok: true,
            seconds: this.#seconds(),
            response: { status: this.#status, headers: this.#headers, body: capture.bytes(), bodyLength: capture.length, bodySha256: capture.sha256() },
        });
    }
    onError(error) {
        const code = errorCode(error);
        this.#finish({ ok: false, timeout: TIMEOUT_CODES.has(code), code, seconds: this.#seconds() });
    }
    #seconds() {
        return (performance.now() - this.#started) / 1000;
    }
    #finish(result) {
        if (this.#done)
            return;
        this.#done = true;
        clearTimeout(this.#timer);
        this.#copies.delete(this);
        this.#resolve(result);
    }
}
export function sendCopy(pool, request, timeoutMs, captureCap, copies) {
    return new Promise((resolve) => {
        const copy = new CopyExchange(captureCap, timeoutMs, copies, resolve);
        pool.dispatch({
            method: request.method,
            path: request.path,
            headers: request.headers,
            body: request.body,
            headersTimeout: timeoutMs,
            bodyTimeout: timeoutMs,
        }, copy);
    });
}
function abortOnTimeout(copy) {
    copy.abort(new CopyTimeout('mirror copy timed out'));
}
function errorCode(error) {
    if (error !== null && typeof error === 'object') {
        const { code, name } = error;
        if (typeof code === 'string')
            return code === 'ABORT_ERR' && name === 'TimeoutError' ? 'TimeoutError' : code;
        if (typeof name === 'string')
            return name;
    }
    return 'UNKNOWN';
}
//# sourceMappingURL=shadow-client.js.map