/**
 * Shadow traffic for one route: decides per request whether to mirror (sample, method, in-flight cap, body cap),
 * tees the request body while it streams to the primary, captures the primary response the client gets, sends
 * the copy on the mirror's own pool, and once both are complete hands the pair to the diff worker
 * (comparisons.ts); what it answers is recorded here, on the main thread.
 *
 * Fire-and-forget: nothing here can delay, fail or alter the client's exchange. The copy is sent as soon as the
 * request is complete; the client's response never waits for it, and every shadow failure ends as a counted
 * outcome. Taps exist only for sampled requests, so unsampled traffic pays one random draw and a comparison.
 */
import type { IncomingMessage } from 'node:http';
import { Transform, type TransformCallback } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { MirrorConfig } from '../config/schema.js';
import { createDiffSpec, type DiffSpec } from '../diff/compare.js';
import { compileNameRedaction, redactQuery, REDACTED, type NameRedaction } from '../diff/redact.js';
import { createHeaderPolicy, type CapturedResponse } from '../diff/response-diff.js';
import type { Logger } from '../log.js';
import type { RequestHead } from '../proxy/request-head.js';
import type { RequestContext } from '../routing/context.js';
import { BUCKETS, saltedBucketLatin1, saltState, weightToBuckets, type SaltState } from '../routing/hash.js';
import type { RouteDecision } from '../routing/table.js';
import { BodyCapture } from './body-capture.js';
import type { ComparisonAnswer } from './comparisons.js';
import type { MirrorRecords } from './mirror-records.js';
import { sendCopy, type CopyRequest, type CopyResult } from './shadow-client.js';

export interface MirrorSettings {
  readonly buckets: number;
  readonly sampleBy: 'random' | 'sticky';
  /** Salt for sticky sampling: distinct from the routing salt, so the mirrored users are not the canary users. */
  readonly salt: SaltState;
  readonly methods: ReadonlySet<string>;
  readonly maxBodyBytes: number;
  readonly maxInFlight: number;
  readonly timeoutMs: number;
  readonly hostSuffix: string;
  readonly diff: boolean;
  /** What the diff worker compiles to compare this route's exchanges. */
  readonly diffSpec: DiffSpec;
  readonly compareCap: number;
  readonly noiseBuckets: number;
  /** Request header names whose values stored diffs show as [redacted]. */
  readonly redacted: NameRedaction;
  readonly redactQuery: boolean;
  readonly logSample: number;
}

/** `alsoRedacted`: request header names the route itself knows to be secret (an override header with a secret). */
export function compileMirrorSettings(config: MirrorConfig, routeSalt: string, alsoRedacted: readonly string[] = []): MirrorSettings {
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

export interface RouteMirrorDeps {
  readonly settings: MirrorSettings;
  readonly records: MirrorRecords;
  readonly shadowPool: Dispatcher;
  /** The route's stable upstream on a mirror-owned pool, for noise samples; null when noise learning is off. */
  readonly stablePool: Dispatcher | null;
  readonly logger: Logger;
  readonly random: () => number;
}

export class RouteMirror {
  readonly deps: RouteMirrorDeps;

  constructor(deps: RouteMirrorDeps) {
    this.deps = deps;
  }

  /** On the data path, for every request of the route: a tap when this request is mirrored, otherwise null. */
  tap(
    req: IncomingMessage,
    context: RequestContext,
    decision: RouteDecision,
    upstreamHeaders: readonly string[],
    head: RequestHead,
  ): MirrorTap | null {
    const { settings, records, random } = this.deps;
    if (settings.buckets === 0) return null;
    const bucket =
      settings.sampleBy === 'sticky' && context.stickyKey !== null
        ? saltedBucketLatin1(settings.salt, context.stickyKey)
        : Math.floor(random() * BUCKETS);
    if (bucket >= settings.buckets) return null;
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

const enum Settled {
  Pending = 0,
  Done = 1,
  Failed = 2,
}

export class MirrorTap {
  /** What the primary reads the request body from instead of `req`, when there is a body. */
  readonly bodyStream: Transform | null;
  readonly #mirror: RouteMirror;
  readonly #req: IncomingMessage;
  readonly #decision: RouteDecision;
  readonly #headers: readonly string[];
  readonly #requestBody: BodyCapture | null;
  readonly #wantsSecondary: boolean;
  #primaryStatus = 0;
  #primaryHeaders: Record<string, string> = {};
  #primaryBody: BodyCapture | null = null;
  #primary = Settled.Pending;
  #copiesStarted = false;
  #shadow: CopyResult | null = null;
  #secondary: CopyResult | null = null;
  #finished = false;

  constructor(mirror: RouteMirror, req: IncomingMessage, decision: RouteDecision, upstreamHeaders: readonly string[], hasBody: boolean, wantsSecondary: boolean) {
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
        transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback) {
          capture.add(chunk);
          callback(null, chunk);
        },
        flush: (callback: TransformCallback) => {
          callback();
          this.#requestComplete();
        },
      });
      // The primary must see the client's abort as an error of its body stream, as it would reading `req` itself.
      req.on('error', (error) => this.bodyStream?.destroy(error));
      req.on('aborted', () => this.bodyStream?.destroy(new Error('client aborted the request body')));
      // undici listens on this stream only while its request is under way; a client that aborts after that (the
      // upstream answered early, or the request was refused before dispatch) would otherwise be an unhandled
      // 'error' event and take the process down (found by the request fuzz). The primary hears of it from undici
      // while undici listens; after that nothing needs to.
      this.bodyStream.on('error', ignoreLateBodyError);
      // The primary may answer without reading the whole body (a 401 to an upload): the stream then closes without
      // a flush, and the copy can never be sent. End the tap, or its in-flight slot would be held forever.
      this.bodyStream.on('close', () => {
        if (!this.#copiesStarted) this.#finish('primary_error');
      });
      req.pipe(this.bodyStream);
    } else {
      this.#requestBody = null;
      this.bodyStream = null;
      this.#requestComplete();
    }
  }

  // primary side, called by the exchange ------------------------------------------------------------------

  primaryHeaders(status: number, rawHeaders: readonly Buffer[]): void {
    this.#primaryStatus = status;
    const headers: Record<string, string> = {};
    for (let i = 0; i < rawHeaders.length; i += 2) {
      const name = rawHeaders[i].toString('latin1').toLowerCase();
      const value = rawHeaders[i + 1].toString('latin1');
      headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
    }
    this.#primaryHeaders = headers;
    this.#primaryBody = new BodyCapture(this.#mirror.deps.settings.compareCap);
  }

  primaryData(chunk: Buffer): void {
    this.#primaryBody?.add(chunk);
  }

  primaryComplete(): void {
    this.#primary = this.#primaryBody === null ? Settled.Failed : Settled.Done;
    this.#settle();
  }

  primaryFailed(): void {
    this.#primary = Settled.Failed;
    this.#settle();
  }

  // copies --------------------------------------------------------------------------------------------------

  #requestComplete(): void {
    const capture = this.#requestBody;
    if (capture !== null && capture.overCap) {
      this.#finish('skipped_body');
      return;
    }
    this.#copiesStarted = true;
    const { settings, shadowPool, stablePool, records } = this.#mirror.deps;
    const body = capture === null ? null : capture.bytes();
    if (settings.diff) records.comparisons.warm();
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

  #copyRequest(version: string, hostSuffix: string, body: Buffer | null): CopyRequest {
    const source = this.#headers;
    const headers: string[] = [];
    for (let i = 0; i < source.length; i += 2) {
      const name = source[i];
      if (name === 'x-splitgate-version') headers.push(name, version);
      else if (name === 'host' && hostSuffix !== '') headers.push(name, suffixHost(source[i + 1], hostSuffix));
      else headers.push(name, source[i + 1]);
    }
    headers.push('x-splitgate-shadow', '1');
    return { method: this.#req.method ?? 'GET', path: this.#req.url ?? '/', headers, body };
  }

  #settle(): void {
    if (this.#finished) return;
    // A primary that failed before the request was complete: no copy will be sent.
    if (!this.#copiesStarted) {
      if (this.#primary === Settled.Failed) this.#finish('primary_error');
      return;
    }
    if (this.#primary === Settled.Pending || this.#shadow === null) return;
    if (this.#wantsSecondary && this.#mirror.deps.stablePool !== null && this.#secondary === null) return;
    // This runs inside the client's exchange callbacks and inside copy callbacks: whatever a comparison throws must
    // end here, as a counted outcome, never in the data path or as an unhandled rejection.
    try {
      this.#evaluate();
    } catch (error) {
      this.#mirror.deps.logger.error({ route: this.#mirror.deps.records.route, err: error }, 'mirror comparison failed');
      if (!this.#finished) this.#finish('compare_error');
      else this.#mirror.deps.records.count('compare_error');
    }
  }

  #evaluate(): void {
    const shadow = this.#shadow!;
    if (!shadow.ok) {
      this.#finish(shadow.timeout ? 'shadow_timeout' : 'shadow_error');
      return;
    }
    if (this.#primary === Settled.Failed) {
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
    const primaryBody = this.#primaryBody!;
    const primary: CapturedResponse = {
      status: this.#primaryStatus,
      headers: this.#primaryHeaders,
      body: primaryBody.bytes(),
      bodyLength: primaryBody.length,
      bodySha256: primaryBody.sha256(),
    };
    const secondary = this.#secondary !== null && this.#secondary.ok ? this.#secondary.response : null;
    const statuses = { primary: primary.status, shadow: shadow.response.status };
    // Decoding, parsing and diffing run on the diff worker; the closure is per compared exchange, not per request.
    records.comparisons.compare({ primary, shadow: shadow.response, secondary }, settings.diffSpec).then((answer) => this.#record(answer, statuses));
  }

  /** Noise learning, counters and the stored diff stay on the main thread, with the records they update. */
  #record(answer: ComparisonAnswer, status: { readonly primary: number; readonly shadow: number }): void {
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
      if (noiseFields !== null) records.learnNoise(noiseFields.map((field) => ({ field })));
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
    } catch (error) {
      logger.error({ route: records.route, err: error }, 'mirror comparison failed');
      records.count('compare_error');
    }
  }

  #finish(outcome: 'shadow_error' | 'shadow_timeout' | 'primary_error' | 'skipped_body' | 'compare_error'): void {
    if (this.#finished) return;
    this.#finished = true;
    const records = this.#mirror.deps.records;
    records.trackInFlight(-1);
    records.count(outcome);
  }
}

const HOST_PORT = /^(.*?)(:\d*)?$/;

/** The suffix goes on the host name, before any port (RFC 9110 §7.2: Host = uri-host [ ":" port ]). */
function suffixHost(host: string, suffix: string): string {
  const [, name, port] = HOST_PORT.exec(host)!;
  return name + suffix + (port ?? '');
}

/** Credential-like names (authorization, cookie, x-api-key, x-auth-token, ...) and configured ones: [redacted]. */
function redactHeaders(headers: IncomingMessage['headers'], redacted: NameRedaction): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    out[name] = redacted(name) ? REDACTED : Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}

function ignoreLateBodyError(): void {}
