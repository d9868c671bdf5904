/**
 * The config's shape and its field-level rules. Everything a user can write is described here once; cross-field
 * rules (an upstream that does not exist, two routes with one name) are checked in `validateReferences` so that
 * every problem is reported together with its path.
 */
import { z } from 'zod';
import { MAX_TIMER_MS, parseDuration } from './duration.js';
import { isLoopback, parseListenAddress } from './listen.js';
import { compileRulePattern } from '../routing/pattern.js';
import { compileErrorStatuses } from '../metrics/sli-errors.js';
import { REDACT_ENTRY } from '../diff/redact.js';
import { experimentSchema, experimentSettingsSchema } from './experiment-schema.js';
import { flagDefinitionsSchema } from '../flags/definitions.js';
import { DEFAULT_FLAGS_MEMO_SIZE, MAX_FLAGS_MEMO_SIZE } from '../flags/flags-memo.js';
import { expandSchedule, SCHEDULES } from './rollout-presets.js';
import { IDEMPOTENT_METHODS } from '../proxy/upstream-errors.js';
import { parseSourceNetwork } from './source-network.js';

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const COOKIE_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

const anyDuration = z.union([z.number(), z.string()]).transform((value, ctx) => {
  const ms = parseDuration(value);
  if (ms === undefined) {
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: `must be a duration such as 500ms, 5s or 1m (got ${JSON.stringify(value)})` });
    return z.NEVER;
  }
  return ms;
});

/** A duration something waits for (a timeout, an interval): at most what a Node timer can hold (~24.8 days). */
// zod runs the refinement even after the transform reported a bad value (z.NEVER): only judge a parsed duration.
const duration = anyDuration.refine((ms) => typeof ms !== 'number' || ms <= MAX_TIMER_MS, 'must be at most 24 days');

/** Cookie lifetimes follow Set-Cookie's Max-Age: a bare number is seconds; a string is a duration. */
const seconds = z.union([z.number().int().min(0).transform((s) => s * 1000), anyDuration]);

const listenAddress = z.string().transform((value, ctx) => {
  const parsed = parseListenAddress(value);
  if (!parsed) {
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: `must be host:port with a port from 0 to 65535 (got ${JSON.stringify(value)})` });
    return z.NEVER;
  }
  return parsed;
});

const headerName = z
  .string()
  .regex(HEADER_NAME, 'must be a valid HTTP header name')
  .transform((name) => name.toLowerCase());

const cookieName = z.string().regex(COOKIE_NAME, 'must be a valid cookie name');

/** A weight in percent with at most two decimals: the bucket space is 0..9999, so 0.01 % is one bucket. */
const weight = z
  .number()
  .min(0, 'must be between 0 and 100')
  .max(100, 'must be between 0 and 100')
  .refine((value) => Math.abs(value * 100 - Math.round(value * 100)) < 1e-6, 'must have at most two decimals (0.01 % steps)')
  // Stored as the step routing uses (Math.round(w * 100) buckets), as the admin API stores it: /status, the state
  // file and splitgate_route_weight then show the weight in force, not 50.000000001.
  .transform((value) => Math.round(value * 100) / 100);

const timeouts = z
  .object({
    connect: duration.optional(),
    headers: duration.optional(),
    body: duration.optional(),
    /** The client accepted no response bytes for this long while the upstream waits on it (NGINX send_timeout). */
    send: duration.optional(),
    /** The client sent no request-body bytes for this long while the upstream waits for them (client_body_timeout). */
    clientBody: duration.optional(),
    /** A request waited this long for a connection to the upstream (all `connections` busy). */
    queue: duration.optional(),
  })
  .strict();

/**
 * Client-side overload limits of the proxy listener (README "Limits" has each with its NGINX and Envoy
 * counterpart). Per process: with `workers: N`, each worker applies them to its own connections. 0 turns a limit off.
 */
const limits = z
  .object({
    /** Open client connections; beyond it new connections are closed at once (NGINX worker_connections). */
    maxConnections: z.number().int().min(0).max(10_000_000).default(10_000),
    /** Request line plus header section, in bytes; beyond it 431 (Node's maxHeaderSize; NGINX large_client_header_buffers). */
    maxHeaderBytes: z.number().int().min(1024).max(1024 * 1024).default(16 * 1024),
    /** Header fields in one request; beyond it 431 (Envoy max_request_headers_count). */
    maxHeaderCount: z.number().int().min(1).max(10_000).default(100),
    /** Request body bytes; beyond it 413 (NGINX client_max_body_size). 0: no limit, the default (see README). */
    maxBodyBytes: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).default(0),
    /** The request head must be complete this long after its first byte (NGINX client_header_timeout): 408. */
    headersTimeout: duration.default('60s'),
    /** The whole request, body included, must arrive within this (Envoy request_timeout); 0 = off, the default. */
    requestTimeout: duration.default(0),
    /** An idle keep-alive connection is closed after this (NGINX keepalive_timeout, Envoy idle_timeout). */
    keepAliveTimeout: duration.default('65s'),
    /** An upgraded (WebSocket) connection with no bytes either way for this long is closed (Envoy stream_idle_timeout). */
    upgradeIdleTimeout: duration.default('5m'),
  })
  .strict()
  .superRefine((spec, ctx) => {
    // node:http refuses a headers timeout above the request timeout.
    if (spec.requestTimeout > 0 && spec.headersTimeout > spec.requestTimeout) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['headersTimeout'], message: 'must not exceed requestTimeout' });
    }
  });

const upstreamUrl = z.string().superRefine((value, ctx) => {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: `must be an absolute http:// or https:// URL (got ${JSON.stringify(value)})` });
    return;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: `must use http:// or https:// (got ${url.protocol})` });
  }
  if (url.pathname !== '/' || url.search || url.hash) {
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'must be an origin only (scheme, host, port); paths are passed through unchanged' });
  }
});

/**
 * A DNS host name (RFC 6066 §3: SNI carries host names only, never addresses), without a trailing dot and at most
 * 253 characters.
 */
const serverName = z
  .string()
  .max(253, 'must be at most 253 characters')
  .regex(/^(?!-)[A-Za-z0-9-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*$/, 'must be a DNS host name such as api.internal')
  .refine((name) => !/^[0-9.]+$/.test(name), 'must be a host name, not an IP address (SNI carries names only)')
  .transform((name) => name.toLowerCase());

/**
 * Active health checks of one upstream (Envoy's health_check): GET `path` every `interval`; `unhealthy` failures in a
 * row mark it unhealthy, `healthy` successes in a row healthy again. Only a canary's health changes routing.
 */
const health = z
  .object({
    path: z.string().startsWith('/', 'must start with "/"'),
    interval: duration.default('5s').refine((ms) => ms >= 100, 'must be at least 100ms'),
    timeout: duration.default('2s').refine((ms) => ms >= 1, 'must be at least 1ms'),
    unhealthy: z.number().int().min(1).max(100).default(3),
    healthy: z.number().int().min(1).max(100).default(2),
  })
  .strict();

/** An upstream is a URL, or an object with the URL and options; the short form is normalized to the long one. */
const upstream = z.preprocess(
  (value) => (typeof value === 'string' ? { url: value } : value),
  z
    .object({
      url: upstreamUrl,
      connections: z.number().int().min(1).max(4096).optional(),
      /** Requests in flight to this upstream, queued ones included; beyond it new requests get 503 at once. */
      maxRequests: z.number().int().min(1).max(1_000_000).optional(),
      timeouts: timeouts.optional(),
      /** TLS verification is on unless this says otherwise; only for test rigs and self-signed demos. */
      insecureSkipVerify: z.boolean().optional(),
      /** https:// only: the name sent as SNI and checked against the certificate; defaults to the URL's host name. */
      servername: serverName.optional(),
      /** https:// only: a PEM file of the CA certificates trusted for this upstream, instead of Node's bundled ones. */
      ca: z.string().min(1).optional(),
      health: health.optional(),
    })
    .strict()
    // The certificates of `ca`, read by load.ts (as admin.tokenFile is): the content is part of the config, so a
    // reload after the file changed is a change (config hash, pool key).
    .transform((spec): typeof spec & { caPem?: string } => spec),
);

const stickySource = z.string().transform((value, ctx) => {
  if (value === 'ip') return { kind: 'ip' as const, name: '' };
  const colon = value.indexOf(':');
  const kind = colon > 0 ? value.slice(0, colon) : '';
  const name = colon > 0 ? value.slice(colon + 1) : '';
  if (kind === 'header' && HEADER_NAME.test(name)) return { kind: 'header' as const, name: name.toLowerCase() };
  if (kind === 'cookie' && COOKIE_NAME.test(name)) return { kind: 'cookie' as const, name };
  ctx.addIssue({
    code: z.ZodIssueCode.custom,
    message: `must be header:NAME, cookie:NAME or ip (got ${JSON.stringify(value)})`,
  });
  return z.NEVER;
});

/** RFC 6265 §4.1.1 path-value: any CHAR except CTLs and ";" (a ";" would start an attribute of its own). */
const COOKIE_PATH = /^\/[\x20-\x3a\x3c-\x7e]*$/;
/** RFC 6265 §4.1.1 domain-value (RFC 1034 labels), optionally with the leading dot §5.2.3 ignores; no port. */
const COOKIE_DOMAIN = /^\.?[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

const stickyCookie = z
  .object({
    name: cookieName,
    maxAge: seconds.optional(),
    path: z.string().regex(COOKIE_PATH, 'must start with "/" and contain only printable ASCII other than ";"').optional(),
    domain: z
      .string()
      .regex(COOKIE_DOMAIN, 'must be a host name such as example.com or .example.com (letters, digits, "-" and dots; no port)')
      .refine((domain) => domain.length - (domain.startsWith('.') ? 1 : 0) <= 253, 'must be at most 253 characters')
      .optional(),
    secure: z.boolean().optional(),
    httpOnly: z.boolean().optional(),
    sameSite: z.enum(['strict', 'lax', 'none']).optional(),
  })
  .strict()
  .superRefine((cookie, ctx) => {
    // Browsers reject a SameSite=None cookie without Secure, so every request would be re-bucketed.
    if (cookie.sameSite === 'none' && cookie.secure !== true) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['sameSite'], message: 'none requires secure: true (browsers drop SameSite=None cookies without Secure)' });
    }
  });

const sticky = z
  .object({
    key: z.array(stickySource).min(1, 'must list at least one key source'),
    cookie: z.union([stickyCookie, z.literal(false)]).optional(),
  })
  .strict();

/** A match value: an exact string, or `~` followed by an RE2 regular expression (see routing/pattern.ts). */
const matchValue = z.string().superRefine((value, ctx) => {
  if (!value.startsWith('~')) return;
  try {
    compileRulePattern(value.slice(1));
  } catch (error) {
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: (error as Error).message });
  }
});

/** A JWT claim's name as it appears in the payload (top level; namespaced names such as URLs are fine). */
const claimName = z.string().min(1).max(256);

const ruleMatch = z
  .object({
    headers: z.record(headerName, matchValue).optional(),
    cookies: z.record(cookieName, matchValue).optional(),
    region: z.array(z.string().min(1)).min(1, 'must list at least one region').optional(),
    /** Verified JWT claims only (see `jwt`): a request without a valid token matches no claim. */
    claims: z.record(claimName, matchValue).optional(),
  })
  .strict()
  .refine(
    (m) => m.headers !== undefined || m.cookies !== undefined || m.region !== undefined || m.claims !== undefined,
    'must have headers, cookies, region or claims',
  );

const rule = z
  .object({
    match: ruleMatch,
    version: z.enum(['stable', 'canary']).optional(),
    weight: weight.optional(),
  })
  .strict()
  .superRefine((r, ctx) => {
    if ((r.version === undefined) === (r.weight === undefined)) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'must set exactly one of version or weight' });
    }
  });

/**
 * A shared override secret travels in a header or cookie value (`always:<secret>`), so it is limited to characters
 * both carry unencoded (RFC 7235 token68 plus `~`), and long enough that guessing it online is hopeless.
 */
const OVERRIDE_SECRET = /^[A-Za-z0-9._~+/=-]{8,256}$/;

const sourceNetwork = z.string().superRefine((value, ctx) => {
  if (parseSourceNetwork(value) !== null) return;
  ctx.addIssue({
    code: z.ZodIssueCode.custom,
    message: `must be an IPv4 or IPv6 network such as 10.0.0.0/8 or ::1/128 (got ${JSON.stringify(value)})`,
  });
});

const overrides = z.union([
  z.literal(false),
  z
    .object({
      header: z.union([headerName, z.literal(false)]).optional(),
      cookie: z.union([cookieName, z.literal(false)]).optional(),
      /** When set, only `always:<secret>` and `never:<secret>` are honoured; `${ENV}` keeps it out of the file. */
      secret: z.string().regex(OVERRIDE_SECRET, 'must be 8-256 characters from A-Z a-z 0-9 . _ ~ + / = -').optional(),
      /** When set, overrides are honoured only from client addresses inside these networks. */
      sourceNetworks: z.array(sourceNetwork).min(1, 'must list at least one network (overrides: false turns overrides off)').optional(),
    })
    .strict(),
]);

const HTTP_METHOD = /^[A-Z]+$/;

const mirror = z
  .object({
    /** The upstream that receives the copies. */
    to: z.string().min(1),
    percent: weight,
    /** `sticky`: sample by the sticky key, so one user's whole session is shadowed; `random`: per request. */
    sampleBy: z.enum(['random', 'sticky']).default('random'),
    /** Mirroring a write repeats its side effects, so only safe methods unless listed explicitly. */
    methods: z
      .array(z.string().regex(HTTP_METHOD, 'must be an upper-case HTTP method such as GET'))
      .min(1)
      .default(['GET', 'HEAD']),
    /** Request bodies above this are not mirrored (never truncated and sent). */
    maxBodyBytes: z.number().int().min(0).max(64 * 1024 * 1024).default(1024 * 1024),
    /** Copies in flight at once for this route; beyond it new copies are dropped and counted. */
    maxInFlight: z.number().int().min(1).max(10_000).default(64),
    timeout: duration.default('5s'),
    /** Appended to the Host header of the copy (e.g. `.shadow`), for upstreams that route by host. */
    hostSuffix: z.string().optional(),
    diff: z
      .object({
        enabled: z.boolean().default(true),
        ignore: z.array(z.string().min(1)).default([]),
        headers: z
          .object({ include: z.array(headerName).optional(), exclude: z.array(headerName).optional() })
          .strict()
          .default({}),
        /** Response bodies above this are compared by length and hash only. */
        maxBodyBytes: z.number().int().min(0).max(64 * 1024 * 1024).default(1024 * 1024),
        /** Share (%) of mirrored stable requests sent to stable a second time, to learn which fields are noise. */
        noisePercent: weight.default(0),
        /** Differing exchanges kept per route for GET /diffs. */
        keep: z.number().int().min(0).max(10_000).default(50),
        /**
         * Names whose values stored diffs show as [redacted] (request and response headers, JSON fields), besides
         * the built-in credential-like ones (*token*, *secret*, *key*, *auth*, *session*, ...). `*` at either end
         * matches any prefix or suffix.
         */
        redact: z
          .array(z.string().regex(REDACT_ENTRY, 'must be a header or field name, optionally with * at either end (x-tenant, *-sig, *tenant*)'))
          .default([]),
        /** Stored diffs and diff log lines keep query parameter names and drop their values. */
        redactQuery: z.boolean().default(true),
        /** Share (0..1) of differing exchanges written to the log. */
        logSample: z.number().min(0).max(1).default(0.1),
      })
      .strict()
      .default({}),
  })
  .strict();

/** What makes a failed canary exchange worth a second try on stable (see proxy/retry-policy.ts). */
export const RETRY_ON = ['connect-failure', 'refused-stream', 'reset-before-response', 'headers-timeout', '503'] as const;

const retry = z
  .object({
    // YAML reads an unquoted 503 as a number.
    on: z
      .array(z.preprocess((value) => (value === 503 ? '503' : value), z.enum(RETRY_ON)))
      .min(1, 'must list at least one condition (retry: false turns retries off)')
      .default(['connect-failure', 'refused-stream', 'reset-before-response', 'headers-timeout', '503']),
    methods: z.array(z.string().regex(HTTP_METHOD, 'must be an upper-case HTTP method such as GET')).min(1).default([...IDEMPOTENT_METHODS]),
    /** Envoy's retry budget: retries in flight at most this share (%) of the route's requests in flight... */
    budget: z.number().min(0, 'must be between 0 and 100').max(100, 'must be between 0 and 100').default(20),
    /** ...or this many, whichever is more (Envoy's min_retry_concurrency). */
    minRetryConcurrency: z.number().int().min(0).max(100_000).default(3),
    /**
     * Replays past that budget a healthy canary has earned (gRPC's retry throttling): a crash resets every request
     * in flight at once. One credit back per SUCCESSES_PER_RETRY_CREDIT (10) canary successes, at most this many;
     * `auto`: as many as the route has requests in flight (at least 10), so that no crash outruns it.
     */
    burst: z.union([z.literal('auto'), z.number().int().min(0).max(100_000)]).default('auto'),
  })
  .strict();

/** Passive outlier detection of a route's canary, Envoy's defaults; stable is never ejected. */
const outlier = z
  .object({
    consecutive5xx: z.number().int().min(1).max(100_000).default(5),
    consecutiveConnectFailures: z.number().int().min(1).max(100_000).default(5),
    /** Each interval without an ejection takes one step off the next ejection time's multiplier. */
    interval: duration.default('10s').refine((ms) => ms >= 1, 'must be at least 1ms'),
    baseEjectionTime: duration.default('30s').refine((ms) => ms >= 1, 'must be at least 1ms'),
    maxEjectionTime: duration.default('300s').refine((ms) => ms >= 1, 'must be at least 1ms'),
    /** After the ejection time: the share (%) of canary-routed requests that probe it until one answers. */
    probePercent: z.number().int().min(1).max(100).default(10),
  })
  .strict()
  .superRefine((spec, ctx) => {
    if (spec.maxEjectionTime < spec.baseEjectionTime) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['maxEjectionTime'], message: 'must be at least baseEjectionTime' });
    }
  });

/** An http(s) URL that may carry a path (webhooks, a Prometheus behind a path prefix). */
const httpUrl = z.string().superRefine((value, ctx) => {
  try {
    const url = new URL(value);
    if (url.protocol === 'http:' || url.protocol === 'https:') return;
  } catch {
    // reported below
  }
  ctx.addIssue({ code: z.ZodIssueCode.custom, message: `must be an absolute http:// or https:// URL (got ${JSON.stringify(value)})` });
});

const BUILTIN_METRICS = ['success-rate', 'latency-p99', 'latency-p50', 'mirror-match-rate'] as const;

const rolloutCheck = z
  .object({
    name: z.string().regex(/^[A-Za-z0-9_.-]{1,63}$/, 'must be 1-63 letters, digits, "_", "-" or "."').optional(),
    /** A built-in measure from splitgate's own counters, compared in the same window for canary and stable. */
    metric: z.enum(BUILTIN_METRICS).optional(),
    /** A custom PromQL query against a real Prometheus; its first sample is the value. */
    prometheus: z
      .object({ address: httpUrl, query: z.string().min(1), timeout: duration.default('5s') })
      .strict()
      .optional(),
    min: z.number().optional(),
    /** For latency checks a duration (`500ms`) or milliseconds. */
    max: z.union([z.number(), z.string()]).optional(),
    vsStable: z
      .object({
        /** success-rate: canary error rate may exceed stable's by at most this many percentage points. */
        maxDegradation: z.number().min(0).max(100).optional(),
        /** latency: canary quantile may be at most this multiple of stable's. */
        maxRatio: z.number().min(1).optional(),
        /**
         * latency: a ratio above maxRatio fails only when the canary is also this many ms slower (default 2): ratios
         * between a few ms are noise (rollout/checks.ts).
         */
        minIncrease: duration.optional(),
        /** One-sided confidence for "significantly worse" (success-rate). */
        confidence: z.number().min(0.5).max(0.9999).default(0.95),
      })
      .strict()
      .optional(),
    /**
     * What a failure of this check does. `rollback` (the default): the window counts as failed, and `threshold`
     * failed windows roll back. `pause`: the rollout pauses until an operator resumes it. `hold`: the stage is not
     * left (nothing counted) until the check passes again.
     */
    onFail: z.enum(['rollback', 'pause', 'hold']).optional(),
  })
  .strict()
  .superRefine((check, ctx) => {
    if ((check.metric === undefined) === (check.prometheus === undefined)) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'must set exactly one of metric or prometheus' });
    }
    if (check.prometheus && !check.name) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['name'], message: 'is required for a prometheus check' });
    if (check.min === undefined && check.max === undefined && check.vsStable === undefined) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'must set min, max or vsStable' });
    }
    if (check.vsStable && (check.prometheus || check.metric === 'mirror-match-rate')) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['vsStable'], message: 'only success-rate and latency checks compare with stable' });
    }
    // Bounds that can never fail would make a check that always passes.
    if (check.metric === 'success-rate' && check.min === undefined && check.vsStable?.maxDegradation === undefined) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'success-rate needs min or vsStable.maxDegradation' });
    }
    if (check.vsStable?.minIncrease !== undefined && !(check.metric ?? '').startsWith('latency')) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['vsStable', 'minIncrease'], message: 'applies to latency checks only' });
    }
    if (check.metric?.startsWith('latency') && check.max === undefined && check.vsStable?.maxRatio === undefined) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: `${check.metric} needs max or vsStable.maxRatio` });
    }
    if (typeof check.max === 'string' && !(check.metric ?? '').startsWith('latency')) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['max'], message: 'must be a number' });
    }
    if (typeof check.max === 'string' && parseDuration(check.max) === undefined) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['max'], message: `must be a duration such as 500ms (got ${JSON.stringify(check.max)})` });
    }
  })
  .transform((check) => ({
    ...check,
    name: check.name ?? check.metric!,
    max: check.max === undefined ? undefined : typeof check.max === 'number' ? check.max : parseDuration(check.max)!,
  }));

export const WEBHOOK_TYPES = ['confirm-rollout', 'pre-rollout', 'rollout', 'confirm-promotion', 'post-rollout', 'rollback'] as const;

const rolloutWebhook = z
  .object({
    name: z.string().min(1).optional(),
    type: z.enum(WEBHOOK_TYPES),
    url: httpUrl,
    timeout: duration.default('10s'),
    metadata: z.record(z.string()).optional(),
  })
  .strict();

const STAGE_NAME = /^[A-Za-z0-9_.-]{1,63}$/;

/**
 * Who a stage adds to the canary, besides its weight. Every listed kind must hold (a header and a region: both);
 * within `header` and `claim` every entry must match; within `region` any one. Values are exact, or RE2 after `~`.
 * Claims are the request's verified JWT claims; a request without verified claims is in no claim audience.
 */
const stageAudience = z
  .object({
    header: z.record(headerName, matchValue).optional(),
    region: z.array(z.string().min(1)).min(1).optional(),
    claim: z.record(z.string().min(1).max(256), matchValue).optional(),
  })
  .strict()
  .superRefine((audience, ctx) => {
    const empty = (entries: object | undefined) => entries === undefined || Object.keys(entries).length === 0;
    if (empty(audience.header) && empty(audience.region) && empty(audience.claim)) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'must set header, region or claim' });
    }
  });

/** A stage's own gate webhook: a `rollout` webhook with a name (verdicts say `webhook:<stage>/<name>`). */
const stageWebhook = z
  .object({
    name: z.string().regex(/^[A-Za-z0-9_.-]{1,63}$/, 'must be 1-63 letters, digits, "_", "-" or "."'),
    url: httpUrl,
    timeout: duration.default('10s'),
    metadata: z.record(z.string()).optional(),
    onFail: z.enum(['rollback', 'pause', 'hold']).optional(),
  })
  .strict()
  .transform((hook) => ({ ...hook, type: 'rollout' as const }));

/** What must hold before a stage is left, besides its bake and minRequests. */
const stageGates = z
  .object({
    /** `required`: the stage waits in phase AwaitingApproval for `rollout approve`. */
    approval: z.literal('required').optional(),
    /** Checks judged only during this stage, in every window, with the rollout's own checks. */
    checks: z.array(rolloutCheck).optional(),
    /** Called in every window of this stage, like `rollout` webhooks: non-2xx fails the window (or as onFail says). */
    webhooks: z.array(stageWebhook).optional(),
  })
  .strict();

/** A stage as written; under `schedule:` only `name` is required and the rest overrides the preset's stage. */
const stageEntry = z
  .object({
    name: z.string().regex(STAGE_NAME, 'must be 1-63 letters, digits, "_", "-" or "."'),
    weight: weight.optional(),
    audience: stageAudience.optional(),
    /** Wall-clock minimum time in the stage (`2h`, `3d`), counted from when the stage was entered; persisted. */
    bake: anyDuration.optional(),
    /** Canary requests the stage must have seen (over all its windows) before it is left. */
    minRequests: z.number().int().min(0).optional(),
    gates: stageGates.optional(),
  })
  .strict();

type StageEntry = z.output<typeof stageEntry>;
export type StageAudience = NonNullable<StageEntry['audience']>;

/** A compiled stage: its weight in force (an earlier stage's when it sets none) and its gates spelled out. */
export interface ReleaseStage {
  readonly name: string;
  readonly weight: number;
  readonly audience: StageAudience | null;
  readonly bake: number;
  readonly minRequests: number;
  readonly approval: boolean;
  readonly checks: ReadonlyArray<z.output<typeof rolloutCheck>>;
  readonly webhooks: ReadonlyArray<z.output<typeof stageWebhook>>;
}

/** The stages a plan runs: its own, or its schedule's with its own laid over them by name. Null without a plan. */
function releaseStages(spec: { stages?: StageEntry[]; schedule?: (typeof SCHEDULES)[number] }, unknownName?: (index: number, known: readonly string[]) => void): ReleaseStage[] | null {
  if (spec.stages === undefined && spec.schedule === undefined) return null;
  const entries: Array<Partial<StageEntry> & { name: string; bake?: number | string }> =
    spec.schedule === undefined ? (spec.stages ?? []) : expandSchedule(spec.schedule, spec.stages ?? [], unknownName ?? (() => undefined));
  let previous = 0;
  return entries.map((entry) => {
    const stageWeight = entry.weight ?? previous;
    previous = stageWeight;
    return {
      name: entry.name,
      weight: stageWeight,
      audience: entry.audience ?? null,
      bake: typeof entry.bake === 'string' ? parseDuration(entry.bake)! : (entry.bake ?? 0),
      minRequests: entry.minRequests ?? 0,
      approval: entry.gates?.approval === 'required',
      checks: entry.gates?.checks ?? [],
      webhooks: entry.gates?.webhooks ?? [],
    };
  });
}

const rollout = z
  .object({
    /** Change it to start a new rollout of the same canary address (a new image behind the same Service). */
    revision: z.string().optional(),
    interval: duration.default('30s').refine((ms) => ms >= 1_000 && ms <= 600_000, 'must be between 1s and 10m'),
    stepWeights: z.array(weight).min(1).optional(),
    stepWeight: weight.optional(),
    maxWeight: weight.optional(),
    /**
     * What the route's error budget (`slo:`) does to this rollout: a fast burn (the Workbook's 1h/5m or 6h/30m pair)
     * and a slow burn (1d/2h or 3d/6h), scaled to the SLO window; below `budgetFloor` percent left, no step advances.
     */
    pacing: z
      .object({
        fastBurn: z.enum(['rollback', 'pause', 'hold']).default('rollback'),
        slowBurn: z.enum(['pause', 'hold']).default('hold'),
        budgetFloor: z.number().min(0).max(100).default(25),
      })
      .strict()
      .optional(),
    /** A release plan: ordered stages, each with a weight and/or an audience, a bake time and gates. */
    stages: z.array(stageEntry).min(1).optional(),
    /** A preset plan (src/config/rollout-presets.ts); `stages` entries then override its stages by name. */
    schedule: z.enum(SCHEDULES).optional(),
    /** Failed windows, counted over the whole rollout (Flagger's threshold): the one that reaches it rolls back. */
    threshold: z.number().int().min(1).default(3),
    minRequests: z.number().int().min(0).default(100),
    inconclusive: z.enum(['hold', 'fail']).default('hold'),
    /** Consecutive inconclusive windows after which a window counts as failed; unset: hold for as long as it takes. */
    inconclusiveLimit: z.number().int().min(1).optional(),
    checks: z.array(rolloutCheck).default([]),
    webhooks: z.array(rolloutWebhook).default([]),
    onSuccess: z.enum(['promote', 'hold']).default('promote'),
    analysis: z
      .object({
        /**
         * Which requests the built-in checks judge. `weighted`: only those the weight placed (route or rule weight),
         * drawn from the same sticky buckets for both versions; overrides, pinned rules and the kill switch are left
         * out, so a client cannot steer the verdict. `all`: every request that reached the version.
         */
        traffic: z.enum(['weighted', 'all']).default('weighted'),
      })
      .strict()
      .default({}),
  })
  .strict()
  .superRefine((spec, ctx) => {
    const explicit = spec.stepWeights !== undefined;
    const generated = spec.stepWeight !== undefined || spec.maxWeight !== undefined;
    const planned = spec.stages !== undefined || spec.schedule !== undefined;
    if (Number(explicit) + Number(generated) + Number(planned) !== 1) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'must set stepWeights, or stepWeight with maxWeight, or stages (a release plan) or schedule' });
      return;
    }
    if (planned) {
      checkStages(spec, ctx);
      return;
    }
    if (generated && (spec.stepWeight === undefined || spec.maxWeight === undefined || spec.stepWeight <= 0)) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'stepWeight (> 0) and maxWeight go together' });
    }
    if (explicit && spec.stepWeights!.some((w, i) => i > 0 && w <= spec.stepWeights![i - 1])) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['stepWeights'], message: 'must increase strictly' });
    }
  })
  .transform(({ stages: written, ...spec }) => {
    const stages = releaseStages({ stages: written, schedule: spec.schedule });
    if (stages === null) return { ...spec, stages: undefined, steps: spec.stepWeights ?? stepsUpTo(spec.stepWeight!, spec.maxWeight!) };
    // The machine walks `steps`; a plan's step k is its stage k, at that stage's weight.
    return { ...spec, stages, steps: stages.map((stage) => stage.weight) };
  });

/** Stage names unique, each stage adds something or gates something, weights never go down (rings only grow). */
function checkStages(spec: { stages?: StageEntry[]; schedule?: (typeof SCHEDULES)[number] }, ctx: z.RefinementCtx): void {
  const stages = releaseStages(spec, (index, known) => {
    ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['stages', index, 'name'], message: `names no stage of schedule ${spec.schedule} (its stages: ${known.join(', ')})` });
  })!;
  // Under a schedule, entries override preset stages by name, so a problem is reported at the entry that caused it.
  const pathOf = (index: number, field: string): Array<string | number> => {
    if (spec.schedule === undefined) return ['stages', index, field];
    const at = (spec.stages ?? []).findIndex((entry) => entry.name === stages[index].name);
    return at === -1 ? ['schedule'] : ['stages', at, field];
  };
  const seen = new Set<string>();
  stages.forEach((stage, index) => {
    if (seen.has(stage.name)) ctx.addIssue({ code: z.ZodIssueCode.custom, path: pathOf(index, 'name'), message: `duplicate stage name "${stage.name}"` });
    seen.add(stage.name);
    if (index > 0 && stage.weight < stages[index - 1].weight) {
      const path = pathOf(index, 'weight');
      // At `schedule` (the preset's own stage, lowered by an override before it), say which stage.
      const which = path[0] === 'schedule' ? `stage "${stage.name}" (${stage.weight} %) ` : '';
      ctx.addIssue({ code: z.ZodIssueCode.custom, path, message: `${which}must not be below the earlier stage's weight (${stages[index - 1].weight}): rings only grow` });
    }
  });
}

/** stepWeight 10, maxWeight 35 → [10, 20, 30, 35]. */
function stepsUpTo(step: number, max: number): number[] {
  const steps: number[] = [];
  for (let w = step; w < max - 1e-9; w = Math.round((w + step) * 100) / 100) steps.push(w);
  steps.push(max);
  return steps;
}

/** Where a request's JWT is read: `header:NAME` (a `Bearer ` scheme is removed) or `cookie:NAME`. */
const jwtSource = z.string().transform((value, ctx) => {
  const colon = value.indexOf(':');
  const kind = colon > 0 ? value.slice(0, colon) : '';
  const name = colon > 0 ? value.slice(colon + 1) : '';
  if (kind === 'header' && HEADER_NAME.test(name)) return { kind: 'header' as const, name: name.toLowerCase() };
  if (kind === 'cookie' && COOKIE_NAME.test(name)) return { kind: 'cookie' as const, name };
  ctx.addIssue({ code: z.ZodIssueCode.custom, message: `must be header:NAME or cookie:NAME (got ${JSON.stringify(value)})` });
  return z.NEVER;
});

/**
 * Signature algorithms a JWT may use: asymmetric only, since the keys come from a public JWKS. `none` and the HMAC
 * family are never accepted (RFC 8725 §3.1, §3.2).
 */
export const JWT_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'] as const;

/** A JWKS URL: https://, or http:// to a loopback host (a sidecar); keys fetched in clear text could be swapped. */
const jwksUrl = z.string().superRefine((value, ctx) => {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: `must be an absolute https:// URL (got ${JSON.stringify(value)})` });
    return;
  }
  if (url.protocol === 'https:') return;
  if (url.protocol === 'http:' && isLoopback(url.hostname)) return;
  ctx.addIssue({ code: z.ZodIssueCode.custom, message: `must use https:// (http:// only to a loopback host; got ${JSON.stringify(value)})` });
});

/** Where the verification keys come from: `url` (fetched, cached, refreshed) or `file` (read at load and reload). */
const jwks = z
  .object({
    url: jwksUrl.optional(),
    /** A fetch of the key set that has not answered by then fails; requests waiting on it get no claims. */
    timeout: duration.default('2s').refine((ms) => ms >= 1, 'must be at least 1ms'),
    /** After a fetch, an unknown `kid` refetches the set no sooner than this (also the back-off after a failure). */
    cooldown: duration.default('30s'),
    /** The fetched set is used for this long before it is fetched again. */
    maxAge: duration.default('10m').refine((ms) => ms >= 1000, 'must be at least 1s'),
    file: z.string().min(1).optional(),
  })
  .strict()
  .superRefine((spec, ctx) => {
    if ((spec.url === undefined) === (spec.file === undefined)) ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'must set exactly one of url or file' });
  })
  // A file's key set is read by load.ts (as admin.tokenFile is), so a changed file is a changed config on reload.
  .transform((spec): typeof spec & { keys?: unknown[] } => spec);

/** One value or a list of them; always a list after parsing (a missing value is reported as required). */
const oneOrMore = z.preprocess((value) => (typeof value === 'string' ? [value] : value), z.array(z.string().min(1)).min(1, 'must list at least one'));

/**
 * How bearer tokens are verified before their claims are used (README "Verified JWT claims"). Global, or per route
 * (a route's block replaces the global one whole). An invalid token contributes no claims; it is never an error.
 */
const jwt = z
  .object({
    from: jwtSource.default('header:authorization'),
    jwks,
    /** Accepted `iss` values (RFC 7519 §4.1.1). */
    issuer: oneOrMore,
    /** Accepted `aud` values: this service's identifiers (RFC 7519 §4.1.3). */
    audience: oneOrMore,
    algorithms: z.array(z.enum(JWT_ALGORITHMS)).min(1).default([...JWT_ALGORITHMS]),
    /** Leeway for `exp` and `nbf` between the issuer's clock and this one. */
    clockTolerance: duration.default('5s').refine((ms) => ms <= 300_000, 'must be at most 5m'),
    /** Verified tokens remembered (LRU), each until its `exp` and at most `maxAge`; 0 verifies every request. */
    cacheSize: z.number().int().min(0).max(1_000_000).default(10_000),
    maxAge: duration.default('5m'),
  })
  .strict();

/** The header the evaluated flags go upstream in, unless a route names another. */
export const DEFAULT_FLAGS_HEADER = 'x-splitgate-flags';

/** An evaluation-context attribute's name: what targeting reads with `{"var": "plan"}`. */
const FLAG_ATTRIBUTE = /^[A-Za-z_][A-Za-z0-9_.-]{0,63}$/;

/** `header:NAME`, `cookie:NAME`, `claim:NAME` or `region`: where one evaluation-context attribute comes from. */
const flagAttributeSource = z.string().transform((value, ctx) => {
  if (value === 'region') return { kind: 'region' as const, name: '' };
  const colon = value.indexOf(':');
  const kind = colon > 0 ? value.slice(0, colon) : '';
  const name = colon > 0 ? value.slice(colon + 1) : '';
  if (kind === 'header' && HEADER_NAME.test(name)) return { kind: 'header' as const, name: name.toLowerCase() };
  if (kind === 'cookie' && COOKIE_NAME.test(name)) return { kind: 'cookie' as const, name };
  // A verified JWT claim (README "Verified JWT claims"); load.ts checks a `jwt` block is there to verify it.
  if (kind === 'claim' && name.length > 0) return { kind: 'claim' as const, name };
  ctx.addIssue({ code: z.ZodIssueCode.custom, message: `must be header:NAME, cookie:NAME, claim:NAME or region (got ${JSON.stringify(value)})` });
  return z.NEVER;
});

const flagContext = z.record(
  z
    .string()
    .regex(FLAG_ATTRIBUTE, 'attribute names must be letters, digits, "_", "-" or "." and start with a letter or "_"')
    .refine((name) => name !== 'targetingKey', 'targetingKey is always the route\'s sticky key and cannot be declared'),
  flagAttributeSource,
);

/**
 * Feature flags evaluated at the edge (README "Feature flags at the edge"): flagd flag definitions from `file` (read
 * at load, watched with the config) or inline under `definitions`, sent upstream in `header`.
 */
const flags = z
  .object({
    /** A flagd flag-definition file (JSON, or YAML by extension); the path as given, like admin.tokenFile. */
    file: z.string().min(1).optional(),
    definitions: flagDefinitionsSchema.optional(),
    header: headerName.default(DEFAULT_FLAGS_HEADER),
    /** Evaluation-context attributes every route adds to `targetingKey`. */
    context: flagContext.default({}),
    /**
     * Each route's memo of flags headers by context (flags/flags-memo.ts): `size` entries per route and process,
     * 0 for none.
     */
    memo: z
      .object({
        size: z
          .number()
          .int()
          .min(0, 'must be 0 (no memo) or at least 2')
          .max(MAX_FLAGS_MEMO_SIZE, `must be at most ${MAX_FLAGS_MEMO_SIZE} (each entry holds a header: ~0.55–0.7 KB with 10 flags)`)
          .refine((size) => size !== 1, 'must be 0 (no memo) or at least 2')
          .default(DEFAULT_FLAGS_MEMO_SIZE),
      })
      .strict()
      .default({}),
    /** OFREP on the proxy listener (README "Feature flags at the edge"); off unless set. */
    ofrep: z
      .union([
        z
          .object({
            /** Prefix of the protocol's paths: POST {path}/v1/evaluate/flags[/{key}]. */
            path: z
              .string()
              .regex(/^\/[A-Za-z0-9._~\/-]*$/, 'must start with "/" and hold only letters, digits and . _ ~ / -')
              .default('/ofrep')
              .transform((path) => path.replace(/\/+$/, '')),
            /** When set, clients send it in X-API-Key; `${ENV}` keeps it out of the file. */
            apiKey: z.string().min(16, 'must be at least 16 characters').optional(),
            /** When set, clients send `Authorization: Bearer <token>`. */
            bearerToken: z.string().min(16, 'must be at least 16 characters').optional(),
            /**
             * A route whose sticky key (header, cookie or client address, read from the OFREP request) is the
             * `targetingKey` of a context that has none: a browser calling through the gateway gets its own flags.
             */
            targetingKeyFrom: z.string().min(1).optional(),
          })
          .strict(),
        z.literal(false),
      ])
      .default(false),
  })
  .strict()
  .superRefine((spec, ctx) => {
    if ((spec.file === undefined) === (spec.definitions === undefined)) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'must set exactly one of file or definitions' });
    }
  });

/** A route's flags: which to send (all by default) and under which header; `false` sends none. */
const routeFlags = z.union([
  z
    .object({
      select: z.union([z.literal('all'), z.array(z.string().min(1)).min(1, 'must list at least one flag (or say all)')]).default('all'),
      header: headerName.optional(),
      /** Added to (and overriding by name) the top-level flags.context. */
      context: flagContext.optional(),
    })
    .strict(),
  z.literal(false),
]);

const route = z
  .object({
    name: z.string().regex(NAME, 'must be 1-63 letters, digits, "_", "-" or "." and start with a letter or digit'),
    match: z
      .object({
        host: z
          .string()
          .min(1)
          .regex(/^(\*\.)?[A-Za-z0-9.-]+$/, 'must be a host name, optionally starting with "*."')
          .optional(),
        pathPrefix: z.string().startsWith('/', 'must start with "/"').optional(),
      })
      .strict()
      .optional(),
    stable: z.string().min(1),
    canary: z.string().min(1).optional(),
    weight: weight.default(0),
    /** Salt for the sticky hash; defaults to the route name so that two routes pick different users. */
    salt: z.string().optional(),
    sticky: sticky.optional(),
    overrides: overrides.optional(),
    rules: z.array(rule).optional(),
    region: z.object({ header: headerName }).strict().optional(),
    timeouts: timeouts.optional(),
    mirror: mirror.optional(),
    rollout: rollout.optional(),
    /** Replaces the global `jwt` for this route. */
    jwt: jwt.optional(),
    /**
     * The route's service-level objective: `objective` percent of its requests (stable and canary) succeed over
     * `window`. Burn rates and the budget left pace its rollout (`rollout.pacing`).
     */
    slo: z
      .object({
        objective: z.number().gt(0, 'must be above 0').lt(100, 'must be below 100 (a 100 % objective has no budget)'),
        window: anyDuration.refine((ms) => typeof ms !== 'number' || (ms >= 3_600_000 && ms <= 90 * 86_400_000), 'must be between 1h and 90d'),
        /** Where the error ratio comes from; splitgate's own counters (5xx and upstream failures) without it. */
        sli: z
          .object({
            /** Which responses splitgate's counters take as bad: `code=~"5..|429"` (sli-errors.ts); 5xx by default. */
            errors: z.string().superRefine((selector, ctx) => {
              try {
                compileErrorStatuses(selector);
              } catch (error) {
                ctx.addIssue({ code: z.ZodIssueCode.custom, message: (error as Error).message });
              }
            }).optional(),
            /** `errorRatio`: PromQL answering the error ratio (0..1) over `$window`, run once per burn-rate window. */
            prometheus: z
              .object({ address: httpUrl, errorRatio: z.string().min(1).refine((q) => q.includes('$window'), 'must use $window (replaced by each window\'s length, e.g. [$window])'), timeout: duration.default('5s') })
              .strict()
              .optional(),
          })
          .strict()
          .refine((sli) => (sli.errors === undefined) !== (sli.prometheus === undefined), 'must set one of errors (splitgate\'s counters) or prometheus')
          .optional(),
      })
      .strict()
      .optional(),
    // The object first: a config error then names the field inside it, not "expected false".
    /** On by default for canary-routed requests; `false` turns it off. */
    retry: z.union([retry, z.literal(false)]).default({}),
    /** On by default for the canary; `false` turns it off. */
    outlier: z.union([outlier, z.literal(false)]).default({}),
    flags: routeFlags.optional(),
  })
  .strict();

const accessLog = z
  .object({
    enabled: z.boolean().default(true),
    /** Share of requests logged, 0..1. Responses with status >= 500 are always logged when `errors` is true. */
    sample: z.number().min(0, 'must be between 0 and 1').max(1, 'must be between 0 and 1').default(1),
    errors: z.boolean().default(true),
  })
  .strict();

/** A Redis URL: `redis://` or `rediss://` (TLS), host required; credentials may be in it or in `username`/`password`. */
const redisUrl = z.string().superRefine((value, ctx) => {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: `must be a URL such as redis://redis:6379 (got ${JSON.stringify(value)})` });
    return;
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: `must start with redis:// or rediss:// (got ${url.protocol}//)` });
  } else if (url.hostname === '') ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'must name a host' });
});

/**
 * `fleet:` makes this replica one of many that share runtime state (kill switches, weights, rollout progress)
 * through Redis. Without it, the state file alone holds the state, as before.
 */
const fleet = z
  .object({
    /** One fleet per name: the Redis keys are `sg:{<name>}:...`, so several fleets can share one Redis. */
    name: z.string().regex(NAME, 'must be letters, digits, "_", "-" or "." (at most 63)'),
    /** This replica's id in the fleet; default `${hostname}-${pid}-${4 random hex}`, or env SPLITGATE_MEMBER_ID. */
    memberId: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$/, 'must be letters, digits, "_", "-", ".", ":" (at most 128)').optional(),
    redis: z
      .object({
        url: redisUrl,
        username: z.string().min(1).optional(),
        /** `${ENV}` works, or `passwordFile` (read at load, like admin.tokenFile). Empty means none. */
        password: z
          .string()
          .optional()
          .transform((password) => (password === '' ? undefined : password)),
        passwordFile: z.string().min(1).optional(),
        /** TLS for `rediss://` URLs: verification is on unless insecureSkipVerify says otherwise. */
        tls: z
          .object({
            /** A PEM file of the CA certificates trusted for Redis, instead of Node's bundled ones. */
            ca: z.string().min(1).optional(),
            servername: z.string().min(1).max(253).optional(),
            insecureSkipVerify: z.boolean().optional(),
          })
          .strict()
          .transform((spec): typeof spec & { caPem?: string } => spec)
          .optional(),
        connectTimeout: duration.default('2s'),
        /** A command that has no answer by then counts as Redis unreachable (a hung Redis must not hang an admin call). */
        commandTimeout: duration.default('2s'),
      })
      .strict(),
    /** How often this replica writes its heartbeat (applied state versions, config hash). */
    heartbeat: duration.default('2s'),
    /** A member whose heartbeat is older than this is gone from the fleet's list. */
    memberTtl: duration.default('10s'),
    /** Every this often the state is read in full, so a change announced while disconnected is not missed. */
    poll: duration.default('5s'),
    /** An automated rollout whose fleet state is older than this falls back to stable (nobody watches it). */
    maxStaleness: duration.default('60s'),
    /**
     * The rollout leader's lease: a leader renews it every third of it; a member takes over at most this long after
     * the leader died (a graceful stop hands it over at once).
     */
    lease: duration.default('10s'),
  })
  .strict()
  .superRefine((spec, ctx) => {
    if (spec.heartbeat <= 0) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['heartbeat'], message: 'must be above 0' });
    if (spec.poll <= 0) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['poll'], message: 'must be above 0' });
    if (spec.lease < 1000) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['lease'], message: 'must be at least 1s (renewals every third of it)' });
    if (spec.memberTtl < 2 * spec.heartbeat) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['memberTtl'], message: `must be at least twice the heartbeat (${spec.heartbeat} ms), so one late beat does not drop a member` });
    }
  });

export const configSchema = z
  .object({
    listen: listenAddress.default('0.0.0.0:8080'),
    admin: z
      .object({
        listen: listenAddress.default('127.0.0.1:9901'),
        /** Bearer token for the admin API (all but health, metrics and the dashboard page); `${ENV}` works, or `tokenFile`. */
        // An empty value (`${SPLITGATE_ADMIN_TOKEN:-}` with the variable unset) means no token.
        token: z
          .string()
          .optional()
          .transform((token) => (token === '' ? undefined : token)),
        tokenFile: z.string().min(1).optional(),
      })
      .strict()
      .default({}),
    upstreams: z.record(z.string().regex(NAME, 'upstream names must be letters, digits, "_", "-" or "."'), upstream),
    routes: z.array(route).min(1, 'must have at least one route'),
    timeouts: timeouts.default({}),
    /** Take the client address from the left of X-Forwarded-For; only behind a proxy you trust. */
    trustForwardedFor: z.boolean().default(false),
    /** What route prefixes match: the path as an origin server resolves it, or the bytes as received (routing/path.ts). */
    pathMatching: z.enum(['normalized', 'raw']).default('normalized'),
    log: z
      .object({
        level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
        accessLog: accessLog.default({}),
      })
      .strict()
      .default({}),
    shutdown: z.object({ drainTimeout: duration.default('10s') }).strict().default({}),
    limits: limits.default({}),
    /** Where runtime changes (operator weights, kill switches, rollout progress) are kept across restarts. */
    state: z
      .object({ file: z.union([z.string().min(1), z.literal(false)]).default('splitgate-state.json') })
      .strict()
      .default({}),
    /** Watch the config file and reload it when it changes (SIGHUP and POST /reload work either way). */
    watch: z.boolean().default(true),
    /**
     * Proxy processes: 1 is a single process; N > 1 (or `auto`, one per available core) runs a supervisor that owns
     * the admin API and the state, and N workers that serve the proxy listener. Read at start only.
     */
    workers: z
      .preprocess(
        // `${SPLITGATE_WORKERS:-2}` substitutes text: a number written as one is read as that number.
        (value) => (typeof value === 'string' && /^\s*\d+\s*$/.test(value) ? Number(value) : value),
        z.union([
          z.number().int('must be a whole number, or "auto"').min(1, 'must be at least 1, or "auto"').max(256, 'must be at most 256'),
          z.literal('auto', { errorMap: () => ({ message: 'must be a whole number from 1 to 256, or "auto"' }) }),
        ]),
      )
      .default(1),
    fleet: fleet.optional(),
    flags: flags.optional(),
    /** Bearer-token verification for routes whose rules read claims; see `jwt` above. */
    jwt: jwt.optional(),
    /** A/B experiments over routes' stable/canary split, counted per user (README "A/B experiments"). */
    experiments: z.array(experimentSchema).default([]),
    experimentSettings: experimentSettingsSchema.default({}),
  })
  .strict();

/** The number of proxy processes `workers` asks for on this machine. */
export function resolveWorkers(workers: Config['workers'], availableParallelism: () => number): number {
  return workers === 'auto' ? Math.max(1, availableParallelism()) : workers;
}

export type RawConfig = z.input<typeof configSchema>;
export type Config = z.output<typeof configSchema>;
export type RouteConfig = Config['routes'][number];
export type RuleConfig = NonNullable<RouteConfig['rules']>[number];
export type StickySource = NonNullable<RouteConfig['sticky']>['key'][number];
export type MirrorConfig = NonNullable<RouteConfig['mirror']>;
export type RolloutConfig = NonNullable<RouteConfig['rollout']>;
export type RolloutCheckConfig = RolloutConfig['checks'][number];
export type RolloutWebhookConfig = RolloutConfig['webhooks'][number];
export type TimeoutsConfig = z.output<typeof timeouts>;
export type RetryConfig = z.output<typeof retry>;
export type OutlierConfig = z.output<typeof outlier>;
export type HealthConfig = z.output<typeof health>;
export type LimitsConfig = z.output<typeof limits>;
export type UpstreamConfig = Config['upstreams'][string];
export type FleetConfig = NonNullable<Config['fleet']>;
export type FlagsConfig = NonNullable<Config['flags']>;
export type RouteFlagsConfig = NonNullable<RouteConfig['flags']>;
export type JwtConfig = NonNullable<Config['jwt']>;
export type ListenAddress = ReturnType<typeof parseListenAddress> & {};
