import { Transform } from 'node:stream';
import { createDiffSpec } from '../diff/compare.js';
import { compileNameRedaction, redactQuery, REDACTED } from '../diff/redact.js';
import { createHeaderPolicy } from '../diff/response-diff.js';
import { BUCKETS, saltedBucketLatin1, saltState, weightToBuckets } from '../routing/hash.js';
import { BodyCapture } from './body-capture.js';
import { sendCopy } from './shadow-client.js';
export function compileMirrorSettings(config, routeSalt, alsoRedacted = []) {
    return Object.freeze({
        buckets: weightToBuckets(config.percent),
        sampleBy: config.sampleBy,
        salt: saltState(`${routeSalt}\nmirror`),
        methods: new Set(config.methods),
        maxBodyBytes: config.maxBodyBytes,
        maxInFlight: config.maxInFlight,
        timeoutMs: config.timeout,
        hostSuffix: config.hostSuffix ?? '',
        diff: config.diff.enabled,
        diffSpec: createDiffSpec({
            headerPolicy: createHeaderPolicy(config.diff.headers),
            ignore: config.diff.ignore,
            maxDecodedBytes: config.diff.maxBodyBytes,
            redact: config.diff.redact,
        }),
        compareCap: config.diff.maxBodyBytes,
        noiseBuckets: weightToBuckets(config.diff.noisePercent),
        redacted: compileNameRedaction([...config.diff.redact, ...alsoRedacted]),
        redactQuery: config.diff.redactQuery,
        logSample: config.diff.logSample,
    });
}
export class RouteMirror {
    deps;
    constructor(deps) {
        this.deps = deps;
    }
    tap(req, context, decision, upstreamHeaders, head) {
        const { settings, records, random } = this.deps;
        if (settings.buckets === 0)
            return null;
        const bucket = settings.sampleBy === 'sticky' && context.stickyKey !== null
            ? saltedBucketLatin1(settings.salt, context.stickyKey)
            : Math.floor(random() * BUCKETS);
        if (bucket >= settings.buckets)
            return null;
        if (!settings.methods.has(req.method ?? '')) {
            records.count('skipped_method');
            return null;
        }
        const contentLength = Number(head.contentLength ?? 0);
        if (contentLength > settings.maxBodyBytes) {
            records.count('skipped_body');
            return null;
        }
        if (records.inFlight >= settings.maxInFlight) {
            records.count('dropped');
            return null;
        }
        const secondary = this.deps.stablePool !== null && decision.version === 'stable' && random() * BUCKETS < settings.noiseBuckets;
        return new MirrorTap(this, req, decision, upstreamHeaders, head.hasBody, secondary);
    }
}
export class MirrorTap {
    bodyStream;
    #mirror;
    #req;
    #decision;
    #headers;
    #requestBody;
    #wantsSecondary;
    #primaryStatus = 0;
    #primaryHeaders = {};
    #primaryBody = null;
    #primary = 0;
    #copiesStarted = false;
    #shadow = null;
    #secondary = null;
    #finished = false;
    constructor(mirror, req, decision, upstreamHeaders, hasBody, wantsSecondary) {
        this.#mirror = mirror;
        this.#req = req;
        this.#decision = decision;
        this.#headers = upstreamHeaders;
        this.#wantsSecondary = wantsSecondary;
        mirror.deps.records.trackInFlight(1);
        if (hasBody) {
            const capture = new BodyCapture(mirror.deps.settings.maxBodyBytes, false);
            this.#requestBody = capture;
            this.bodyStream = new Transform({
                transform(chunk, _encoding, callback) {
                    capture.add(chunk);
                    callback(null, chunk);
                },
                flush: (callback) => {
                    callback();
                    this.#requestComplete();
                },
            });
            req.on('error', (error) => this.bodyStream?.destroy(error));
            req.on('aborted', () => this.bodyStream?.destroy(new Error('client aborted the request body')));
            this.bodyStream.on('error', ignoreLateBodyError);
            this.bodyStream.on('close', () => {
                if (!this.#copiesStarted)
                    this.#finish('primary_error');
            });
            req.pipe(this.bodyStream);
        }
        else {
            this.#requestBody = null;
            this.bodyStream = null;
            this.#requestComplete();
        }
    }
    primaryHeaders(status, rawHeaders) {
        this.#primaryStatus = status;
        const headers = {};
        for (let i = 0; i < rawHeaders.length; i += 2) {
            const name = rawHeaders[i].toString('latin1').toLowerCase();
            const value = rawHeaders[i + 1].toString('latin1');
            headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
        }
        this.#primaryHeaders = headers;
        this.#primaryBody = new BodyCapture(this.#mirror.deps.settings.compareCap);
    }
    primaryData(chunk) {
        this.#primaryBody?.add(chunk);
    }
    primaryComplete() {
        this.#primary = this.#primaryBody === null ? 2 : 1;
        this.#settle();
    }
    primaryFailed() {
        this.#primary = 2;
        this.#settle();
    }
    #requestComplete() {
        const capture = this.#requestBody;
        if (capture !== null && capture.overCap) {
            this.#finish('skipped_body');
            return;
        }
        this.#copiesStarted = true;
        const { settings, shadowPool, stablePool, records } = this.#mirror.deps;
        const body = capture === null ? null : capture.bytes();
        if (settings.diff)
            records.comparisons.warm();
        const shadowRequest = this.#copyRequest('shadow', settings.hostSuffix, body);
        sendCopy(shadowPool, shadowRequest, settings.timeoutMs, settings.compareCap, records.copies).then((result) => {
            records.observeShadow(result.seconds);
            this.#shadow = result;
            this.#settle();
        });
        if (this.#wantsSecondary && stablePool !== null) {
            sendCopy(stablePool, this.#copyRequest('stable', '', body), settings.timeoutMs, settings.compareCap, records.copies).then((result) => {
                this.#secondary = result;
                this.#settle();
            });
        }
    }
    #copyRequest(version, hostSuffix, body) {
        const source = this.#headers;
        const headers = [];
        for (let i = 0; i < source.length; i += 2) {
            const name = source[i];
            if (name === 'x-splitgate-version')
                headers.push(name, version);
            else if (name === 'host' && hostSuffix !== '')
                headers.push(name, suffixHost(source[i + 1], hostSuffix));
            else
                headers.push(name, source[i + 1]);
        }
        headers.push('x-splitgate-shadow', '1');
        return { method: this.#req.method ?? 'GET', path: this.#req.url ?? '/', headers, body };
    }
    #settle() {
        if (this.#finished)
            return;
        if (!this.#copiesStarted) {
            if (this.#primary === 2)
                this.#finish('primary_error');
            return;
        }
        if (this.#primary === 0 || this.#shadow === null)
            return;
        if (this.#wantsSecondary && this.#mirror.deps.stablePool !== null && this.#secondary === null)
            return;
        try {
            this.#evaluate();
        }
        catch (error) {
            this.#mirror.deps.logger.error({ route: this.#mirror.deps.records.route, err: error }, 'mirror comparison failed');
            if (!this.#finished)
                this.#finish('compare_error');
            else
                this.#mirror.deps.records.count('compare_error');
        }
    }
    #evaluate() {
        const shadow = this.#shadow;
        if (!shadow.ok) {
            this.#finish(shadow.timeout ? 'shadow_timeout' : 'shadow_error');
            return;
        }
        if (this.#primary === 2) {
            this.#finish('primary_error');
            return;
        }
        const { settings, records, logger, random } = this.#mirror.deps;
        this.#finished = true;
        records.trackInFlight(-1);
        if (!settings.diff) {
            records.count('sent');
            return;
        }
        const primaryBody = this.#primaryBody;
        const primary = {
            status: this.#primaryStatus,
            headers: this.#primaryHeaders,
            body: primaryBody.bytes(),
            bodyLength: primaryBody.length,
            bodySha256: primaryBody.sha256(),
        };
        const secondary = this.#secondary !== null && this.#secondary.ok ? this.#secondary.response : null;
        const statuses = { primary: primary.status, shadow: shadow.response.status };
        records.comparisons.compare({ primary, shadow: shadow.response, secondary }, settings.diffSpec).then((answer) => this.#record(answer, statuses));
    }
    #record(answer, status) {
        const { settings, records, logger, random } = this.#mirror.deps;
        try {
            if (!answer.ok) {
                if (answer.dropped) {
                    records.count('compare_dropped');
                    return;
                }
                logger.error({ route: records.route, error: answer.error }, 'mirror comparison failed');
                records.count('compare_error');
                return;
            }
            const { differences, noiseFields } = answer.result;
            if (noiseFields !== null)
                records.learnNoise(noiseFields.map((field) => ({ field })));
            const kept = differences.filter((d) => !records.isNoise(d.field));
            const suppressed = differences.filter((d) => records.isNoise(d.field)).map((d) => d.field);
            const url = this.#req.url ?? '';
            const stored = records.recordComparison(kept, {
                time: new Date().toISOString(),
                route: records.route,
                request: {
                    method: this.#req.method ?? '',
                    url: settings.redactQuery ? redactQuery(url) : url,
                    headers: redactHeaders(this.#req.headers, settings.redacted),
                },
                primaryVersion: this.#decision.version,
                status,
                suppressed: [...new Set(suppressed)],
            });
            if (stored !== null && settings.logSample > 0 && random() < settings.logSample) {
                logger.info({ route: stored.route, diffId: stored.id, url: stored.request.url, status: stored.status, fields: stored.differences.map((d) => d.field) }, 'mirror diff');
            }
        }
        catch (error) {
            logger.error({ route: records.route, err: error }, 'mirror comparison failed');
            records.count('compare_error');
        }
    }
    #finish(outcome) {
        if (this.#finished)
            return;
        this.#finished = true;
        const records = this.#mirror.deps.records;
        records.trackInFlight(-1);
        records.count(outcome);
    }
}
const HOST_PORT = /^(.*?)(:\d*)?$/;
function suffixHost(host, suffix) {
    const [, name, port] = HOST_PORT.exec(host);
    return name + suffix + (port ?? '');
}
function redactHeaders(headers, redacted) {
    const out = {};
    for (const [name, value] of Object.entries(headers)) {
        if (value === undefined)
            continue;
        out[name] = redacted(name) ? REDACTED : Array.isArray(value) ? value.join(', ') : value;
    }
    return out;
}
function ignoreLateBodyError() { }
//# sourceMappingURL=mirror.js.map