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
import { parseSourceNetwork } from './source-network.js';
export const RETRY_ON = ['connect-failure', 'refused-stream', 'reset-before-response', 'headers-timeout', '503'];
export const WEBHOOK_TYPES = ['confirm-rollout', 'pre-rollout', 'rollout', 'confirm-promotion', 'post-rollout', 'rollback'];
export const JWT_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'];
export const DEFAULT_FLAGS_HEADER = 'x-splitgate-flags';
export function resolveWorkers(workers, availableParallelism) { return workers === 'auto' ? Math.max(1, availableParallelism()) : workers; }
export function buildConfigSchema() {
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
const duration = anyDuration.refine((ms) => typeof ms !== 'number' || ms <= MAX_TIMER_MS, 'must be at most 24 days');
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
const weight = z
    .number()
    .min(0, 'must be between 0 and 100')
    .max(100, 'must be between 0 and 100')
    .refine((value) => Math.abs(value * 100 - Math.round(value * 100)) < 1e-6, 'must have at most two decimals (0.01 % steps)');
const timeouts = z
    .object({
    connect: duration.optional(),
    headers: duration.optional(),
    body: duration.optional(),
    send: duration.optional(),
    clientBody: duration.optional(),
    queue: duration.optional(),
})
    .strict();
const limits = z
    .object({
    maxConnections: z.number().int().min(0).max(10_000_000).default(10_000),
    maxHeaderBytes: z.number().int().min(1024).max(1024 * 1024).default(16 * 1024),
    maxHeaderCount: z.number().int().min(1).max(10_000).default(100),
    maxBodyBytes: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).default(0),
    headersTimeout: duration.default('60s'),
    requestTimeout: duration.default(0),
    keepAliveTimeout: duration.default('65s'),
    upgradeIdleTimeout: duration.default('5m'),
})
    .strict()
    .superRefine((spec, ctx) => {
    if (spec.requestTimeout > 0 && spec.headersTimeout > spec.requestTimeout) {
        ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['headersTimeout'], message: 'must not exceed requestTimeout' });
    }
});
const upstreamUrl = z.string().superRefine((value, ctx) => {
    let url;
    try {
        url = new URL(value);
    }
    catch {
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
const serverName = z
    .string()
    .max(253, 'must be at most 253 characters')
    .regex(/^(?!-)[A-Za-z0-9-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*$/, 'must be a DNS host name such as api.internal')
    .refine((name) => !/^[0-9.]+$/.test(name), 'must be a host name, not an IP address (SNI carries names only)')
    .transform((name) => name.toLowerCase());
const health = z
    .object({
    path: z.string().startsWith('/', 'must start with "/"'),
    interval: duration.default('5s').refine((ms) => ms >= 100, 'must be at least 100ms'),
    timeout: duration.default('2s').refine((ms) => ms >= 1, 'must be at least 1ms'),
    unhealthy: z.number().int().min(1).max(100).default(3),
    healthy: z.number().int().min(1).max(100).default(2),
})
    .strict();
const upstream = z.preprocess((value) => (typeof value === 'string' ? { url: value } : value), z
    .object({
    url: upstreamUrl,
    connections: z.number().int().min(1).max(4096).optional(),
    maxRequests: z.number().int().min(1).max(1_000_000).optional(),
    timeouts: timeouts.optional(),
    insecureSkipVerify: z.boolean().optional(),
    servername: serverName.optional(),
    ca: z.string().min(1).optional(),
    health: health.optional(),
})
    .strict()
    .transform((spec) => spec));
const stickySource = z.string().transform((value, ctx) => {
    if (value === 'ip')
        return { kind: 'ip', name: '' };
    const colon = value.indexOf(':');
    const kind = colon > 0 ? value.slice(0, colon) : '';
    const name = colon > 0 ? value.slice(colon + 1) : '';
    if (kind === 'header' && HEADER_NAME.test(name))
        return { kind: 'header', name: name.toLowerCase() };
    if (kind === 'cookie' && COOKIE_NAME.test(name))
        return { kind: 'cookie', name };
    ctx.addIssue({
        code: z.ZodIssueCode.custom,
        message: `must be header:NAME, cookie:NAME or ip (got ${JSON.stringify(value)})`,
    });
    return z.NEVER;
});
const COOKIE_PATH = /^\/[\x20-\x3a\x3c-\x7e]*$/;
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
const matchValue = z.string().superRefine((value, ctx) => {
    if (!value.startsWith('~'))
        return;
    try {
        compileRulePattern(value.slice(1));
    }
    catch (error) {
        ctx.addIssue({ code: z.ZodIssueCode.custom, message: error.message });
    }
});
const claimName = z.string().min(1).max(256);
const ruleMatch = z
    .object({
    headers: z.record(headerName, matchValue).optional(),
    cookies: z.record(cookieName, matchValue).optional(),
    region: z.array(z.string().min(1)).min(1, 'must list at least one region').optional(),
    claims: z.record(claimName, matchValue).optional(),
})
    .strict()
    .refine((m) => m.headers !== undefined || m.cookies !== undefined || m.region !== undefined || m.claims !== undefined, 'must have headers, cookies, region or claims');
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
const OVERRIDE_SECRET = /^[A-Za-z0-9._~+/=-]{8,256}$/;
const sourceNetwork = z.string().superRefine((value, ctx) => {
    if (parseSourceNetwork(value) !== null)
        return;
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
        secret: z.string().regex(OVERRIDE_SECRET, 'must be 8-256 characters from A-Z a-z 0-9 . _ ~ + / = -').optional(),
        sourceNetworks: z.array(sourceNetwork).min(1, 'must list at least one network (overrides: false turns overrides off)').optional(),
    })
        .strict(),
]);
const HTTP_METHOD = /^[A-Z]+$/;
const mirror = z
    .object({
    to: z.string().min(1),
    percent: weight,
    sampleBy: z.enum(['random', 'sticky']).default('random'),
    methods: z
        .array(z.string().regex(HTTP_METHOD, 'must be an upper-case HTTP method such as GET'))
        .min(1)
        .default(['GET', 'HEAD']),
    maxBodyBytes: z.number().int().min(0).max(64 * 1024 * 1024).default(1024 * 1024),
    maxInFlight: z.number().int().min(1).max(10_000).default(64),
    timeout: duration.default('5s'),
    hostSuffix: z.string().optional(),
    diff: z
        .object({
        enabled: z.boolean().default(true),
        ignore: z.array(z.string().min(1)).default([]),
        headers: z
            .object({ include: z.array(headerName).optional(), exclude: z.array(headerName).optional() })
            .strict()
            .default({}),
        maxBodyBytes: z.number().int().min(0).max(64 * 1024 * 1024).default(1024 * 1024),
        noisePercent: weight.default(0),
        keep: z.number().int().min(0).max(10_000).default(50),
        redact: z
            .array(z.string().regex(REDACT_ENTRY, 'must be a header or field name, optionally with * at either end (x-tenant, *-sig, *tenant*)'))
            .default([]),
        redactQuery: z.boolean().default(true),
        logSample: z.number().min(0).max(1).default(0.1),
    })
        .strict()
        .default({}),
})
    .strict();
const RETRY_ON = ['connect-failure', 'refused-stream', 'reset-before-response', 'headers-timeout', '503'];
const IDEMPOTENT_METHODS = ['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE'];
const retry = z
    .object({
    on: z
        .array(z.preprocess((value) => (value === 503 ? '503' : value), z.enum(RETRY_ON)))
        .min(1, 'must list at least one condition (retry: false turns retries off)')
        .default(['connect-failure', 'refused-stream', 'reset-before-response', 'headers-timeout', '503']),
    methods: z.array(z.string().regex(HTTP_METHOD, 'must be an upper-case HTTP method such as GET')).min(1).default(IDEMPOTENT_METHODS),
    budget: z.number().min(0, 'must be between 0 and 100').max(100, 'must be between 0 and 100').default(20),
    minRetryConcurrency: z.number().int().min(0).max(100_000).default(3),
    burst: z.number().int().min(0).max(100_000).default(10),
})
    .strict();
const outlier = z
    .object({
    consecutive5xx: z.number().int().min(1).max(100_000).default(5),
    consecutiveConnectFailures: z.number().int().min(1).max(100_000).default(5),
    interval: duration.default('10s').refine((ms) => ms >= 1, 'must be at least 1ms'),
    baseEjectionTime: duration.default('30s').refine((ms) => ms >= 1, 'must be at least 1ms'),
    maxEjectionTime: duration.default('300s').refine((ms) => ms >= 1, 'must be at least 1ms'),
    probePercent: z.number().int().min(1).max(100).default(10),
})
    .strict()
    .superRefine((spec, ctx) => {
    if (spec.maxEjectionTime < spec.baseEjectionTime) {
        ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['maxEjectionTime'], message: 'must be at least baseEjectionTime' });
    }
});
const httpUrl = z.string().superRefine((value, ctx) => {
    try {
        const url = new URL(value);
        if (url.protocol === 'http:' || url.protocol === 'https:')
            return;
    }
    catch {
    }
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: `must be an absolute http:// or https:// URL (got ${JSON.stringify(value)})` });
});
const BUILTIN_METRICS = ['success-rate', 'latency-p99', 'latency-p50', 'mirror-match-rate'];
const rolloutCheck = z
    .object({
    name: z.string().regex(/^[A-Za-z0-9_.-]{1,63}$/, 'must be 1-63 letters, digits, "_", "-" or "."').optional(),
    metric: z.enum(BUILTIN_METRICS).optional(),
    prometheus: z
        .object({ address: httpUrl, query: z.string().min(1), timeout: duration.default('5s') })
        .strict()
        .optional(),
    min: z.number().optional(),
    max: z.union([z.number(), z.string()]).optional(),
    vsStable: z
        .object({
        maxDegradation: z.number().min(0).max(100).optional(),
        maxRatio: z.number().min(1).optional(),
        minIncrease: duration.optional(),
        confidence: z.number().min(0.5).max(0.9999).default(0.95),
    })
        .strict()
        .optional(),
    onFail: z.enum(['rollback', 'pause', 'hold']).optional(),
})
    .strict()
    .superRefine((check, ctx) => {
    if ((check.metric === undefined) === (check.prometheus === undefined)) {
        ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'must set exactly one of metric or prometheus' });
    }
    if (check.prometheus && !check.name)
        ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['name'], message: 'is required for a prometheus check' });
    if (check.min === undefined && check.max === undefined && check.vsStable === undefined) {
        ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'must set min, max or vsStable' });
    }
    if (check.vsStable && (check.prometheus || check.metric === 'mirror-match-rate')) {
        ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['vsStable'], message: 'only success-rate and latency checks compare with stable' });
    }
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
    name: check.name ?? check.metric,
    max: check.max === undefined ? undefined : typeof check.max === 'number' ? check.max : parseDuration(check.max),
}));
const WEBHOOK_TYPES = ['confirm-rollout', 'pre-rollout', 'rollout', 'confirm-promotion', 'post-rollout', 'rollback'];
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
const stageAudience = z
    .object({
    header: z.record(headerName, matchValue).optional(),
    region: z.array(z.string().min(1)).min(1).optional(),
    claim: z.record(z.string().min(1).max(256), matchValue).optional(),
})
    .strict()
    .superRefine((audience, ctx) => {
    const empty = (entries) => entries === undefined || Object.keys(entries).length === 0;
    if (empty(audience.header) && empty(audience.region) && empty(audience.claim)) {
        ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'must set header, region or claim' });
    }
});
const stageWebhook = z
    .object({
    name: z.string().regex(/^[A-Za-z0-9_.-]{1,63}$/, 'must be 1-63 letters, digits, "_", "-" or "."'),
    url: httpUrl,
    timeout: duration.default('10s'),
    metadata: z.record(z.string()).optional(),
    onFail: z.enum(['rollback', 'pause', 'hold']).optional(),
})
    .strict()
    .transform((hook) => ({ ...hook, type: 'rollout' }));
const stageGates = z
    .object({
    approval: z.literal('required').optional(),
    checks: z.array(rolloutCheck).optional(),
    webhooks: z.array(stageWebhook).optional(),
})
    .strict();
const stageEntry = z
    .object({
    name: z.string().regex(STAGE_NAME, 'must be 1-63 letters, digits, "_", "-" or "."'),
    weight: weight.optional(),
    audience: stageAudience.optional(),
    bake: anyDuration.optional(),
    minRequests: z.number().int().min(0).optional(),
    gates: stageGates.optional(),
})
    .strict();
function releaseStages(spec, unknownName) {
    if (spec.stages === undefined && spec.schedule === undefined)
        return null;
    const entries = spec.schedule === undefined ? (spec.stages ?? []) : expandSchedule(spec.schedule, spec.stages ?? [], unknownName ?? (() => undefined));
    let previous = 0;
    return entries.map((entry) => {
        const stageWeight = entry.weight ?? previous;
        previous = stageWeight;
        return {
            name: entry.name,
            weight: stageWeight,
            audience: entry.audience ?? null,
            bake: typeof entry.bake === 'string' ? parseDuration(entry.bake) : (entry.bake ?? 0),
            minRequests: entry.minRequests ?? 0,
            approval: entry.gates?.approval === 'required',
            checks: entry.gates?.checks ?? [],
            webhooks: entry.gates?.webhooks ?? [],
        };
    });
}
const rollout = z
    .object({
    revision: z.string().optional(),
    interval: duration.default('30s').refine((ms) => ms >= 1_000 && ms <= 600_000, 'must be between 1s and 10m'),
    stepWeights: z.array(weight).min(1).optional(),
    stepWeight: weight.optional(),
    maxWeight: weight.optional(),
    pacing: z
        .object({
        fastBurn: z.enum(['rollback', 'pause', 'hold']).default('rollback'),
        slowBurn: z.enum(['pause', 'hold']).default('hold'),
        budgetFloor: z.number().min(0).max(100).default(25),
    })
        .strict()
        .optional(),
    stages: z.array(stageEntry).min(1).optional(),
    schedule: z.enum(SCHEDULES).optional(),
    threshold: z.number().int().min(1).default(3),
    minRequests: z.number().int().min(0).default(100),
    inconclusive: z.enum(['hold', 'fail']).default('hold'),
    inconclusiveLimit: z.number().int().min(1).optional(),
    checks: z.array(rolloutCheck).default([]),
    webhooks: z.array(rolloutWebhook).default([]),
    onSuccess: z.enum(['promote', 'hold']).default('promote'),
    analysis: z
        .object({
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
    if (explicit && spec.stepWeights.some((w, i) => i > 0 && w <= spec.stepWeights[i - 1])) {
        ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['stepWeights'], message: 'must increase strictly' });
    }
})
    .transform(({ stages: written, ...spec }) => {
    const stages = releaseStages({ stages: written, schedule: spec.schedule });
    if (stages === null)
        return { ...spec, stages: undefined, steps: spec.stepWeights ?? stepsUpTo(spec.stepWeight, spec.maxWeight) };
    return { ...spec, stages, steps: stages.map((stage) => stage.weight) };
});
function checkStages(spec, ctx) {
    const stages = releaseStages(spec, (index, known) => {
        ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['stages', index, 'name'], message: `names no stage of schedule ${spec.schedule} (its stages: ${known.join(', ')})` });
    });
    const pathOf = (index, field) => {
        if (spec.schedule === undefined)
            return ['stages', index, field];
        const at = (spec.stages ?? []).findIndex((entry) => entry.name === stages[index].name);
        return at === -1 ? ['schedule'] : ['stages', at, field];
    };
    const seen = new Set();
    stages.forEach((stage, index) => {
        if (seen.has(stage.name))
            ctx.addIssue({ code: z.ZodIssueCode.custom, path: pathOf(index, 'name'), message: `duplicate stage name "${stage.name}"` });
        seen.add(stage.name);
        if (index > 0 && stage.weight < stages[index - 1].weight) {
            const path = pathOf(index, 'weight');
            const which = path[0] === 'schedule' ? `stage "${stage.name}" (${stage.weight} %) ` : '';
            ctx.addIssue({ code: z.ZodIssueCode.custom, path, message: `${which}must not be below the earlier stage's weight (${stages[index - 1].weight}): rings only grow` });
        }
    });
}
function stepsUpTo(step, max) {
    const steps = [];
    for (let w = step; w < max - 1e-9; w = Math.round((w + step) * 100) / 100)
        steps.push(w);
    steps.push(max);
    return steps;
}
const jwtSource = z.string().transform((value, ctx) => {
    const colon = value.indexOf(':');
    const kind = colon > 0 ? value.slice(0, colon) : '';
    const name = colon > 0 ? value.slice(colon + 1) : '';
    if (kind === 'header' && HEADER_NAME.test(name))
        return { kind: 'header', name: name.toLowerCase() };
    if (kind === 'cookie' && COOKIE_NAME.test(name))
        return { kind: 'cookie', name };
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: `must be header:NAME or cookie:NAME (got ${JSON.stringify(value)})` });
    return z.NEVER;
});
const JWT_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'];
const jwksUrl = z.string().superRefine((value, ctx) => {
    let url;
    try {
        url = new URL(value);
    }
    catch {
        ctx.addIssue({ code: z.ZodIssueCode.custom, message: `must be an absolute https:// URL (got ${JSON.stringify(value)})` });
        return;
    }
    if (url.protocol === 'https:')
        return;
    if (url.protocol === 'http:' && isLoopback(url.hostname))
        return;
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: `must use https:// (http:// only to a loopback host; got ${JSON.stringify(value)})` });
});
const jwks = z
    .object({
    url: jwksUrl.optional(),
    timeout: duration.default('2s').refine((ms) => ms >= 1, 'must be at least 1ms'),
    cooldown: duration.default('30s'),
    maxAge: duration.default('10m').refine((ms) => ms >= 1000, 'must be at least 1s'),
    file: z.string().min(1).optional(),
})
    .strict()
    .superRefine((spec, ctx) => {
    if ((spec.url === undefined) === (spec.file === undefined))
        ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'must set exactly one of url or file' });
})
    .transform((spec) => spec);
const oneOrMore = z.preprocess((value) => (typeof value === 'string' ? [value] : value), z.array(z.string().min(1)).min(1, 'must list at least one'));
const jwt = z
    .object({
    from: jwtSource.default('header:authorization'),
    jwks,
    issuer: oneOrMore,
    audience: oneOrMore,
    algorithms: z.array(z.enum(JWT_ALGORITHMS)).min(1).default([...JWT_ALGORITHMS]),
    clockTolerance: duration.default('5s').refine((ms) => ms <= 300_000, 'must be at most 5m'),
    cacheSize: z.number().int().min(0).max(1_000_000).default(10_000),
    maxAge: duration.default('5m'),
})
    .strict();
const DEFAULT_FLAGS_HEADER = 'x-splitgate-flags';
const FLAG_ATTRIBUTE = /^[A-Za-z_][A-Za-z0-9_.-]{0,63}$/;
const flagAttributeSource = z.string().transform((value, ctx) => {
    if (value === 'region')
        return { kind: 'region', name: '' };
    const colon = value.indexOf(':');
    const kind = colon > 0 ? value.slice(0, colon) : '';
    const name = colon > 0 ? value.slice(colon + 1) : '';
    if (kind === 'header' && HEADER_NAME.test(name))
        return { kind: 'header', name: name.toLowerCase() };
    if (kind === 'cookie' && COOKIE_NAME.test(name))
        return { kind: 'cookie', name };
    if (kind === 'claim' && name.length > 0)
        return { kind: 'claim', name };
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: `must be header:NAME, cookie:NAME, claim:NAME or region (got ${JSON.stringify(value)})` });
    return z.NEVER;
});
const flagContext = z.record(z
    .string()
    .regex(FLAG_ATTRIBUTE, 'attribute names must be letters, digits, "_", "-" or "." and start with a letter or "_"')
    .refine((name) => name !== 'targetingKey', 'targetingKey is always the route\'s sticky key and cannot be declared'), flagAttributeSource);
const flags = z
    .object({
    file: z.string().min(1).optional(),
    definitions: flagDefinitionsSchema.optional(),
    header: headerName.default(DEFAULT_FLAGS_HEADER),
    context: flagContext.default({}),
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
    ofrep: z
        .union([
        z
            .object({
            path: z
                .string()
                .regex(/^\/[A-Za-z0-9._~\/-]*$/, 'must start with "/" and hold only letters, digits and . _ ~ / -')
                .default('/ofrep')
                .transform((path) => path.replace(/\/+$/, '')),
            apiKey: z.string().min(16, 'must be at least 16 characters').optional(),
            bearerToken: z.string().min(16, 'must be at least 16 characters').optional(),
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
const routeFlags = z.union([
    z
        .object({
        select: z.union([z.literal('all'), z.array(z.string().min(1)).min(1, 'must list at least one flag (or say all)')]).default('all'),
        header: headerName.optional(),
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
    salt: z.string().optional(),
    sticky: sticky.optional(),
    overrides: overrides.optional(),
    rules: z.array(rule).optional(),
    region: z.object({ header: headerName }).strict().optional(),
    timeouts: timeouts.optional(),
    mirror: mirror.optional(),
    rollout: rollout.optional(),
    jwt: jwt.optional(),
    slo: z
        .object({
        objective: z.number().gt(0, 'must be above 0').lt(100, 'must be below 100 (a 100 % objective has no budget)'),
        window: anyDuration.refine((ms) => typeof ms !== 'number' || (ms >= 3_600_000 && ms <= 90 * 86_400_000), 'must be between 1h and 90d'),
        sli: z
            .object({
            errors: z.string().superRefine((selector, ctx) => {
                try {
                    compileErrorStatuses(selector);
                }
                catch (error) {
                    ctx.addIssue({ code: z.ZodIssueCode.custom, message: error.message });
                }
            }).optional(),
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
    retry: z.union([retry, z.literal(false)]).default({}),
    outlier: z.union([outlier, z.literal(false)]).default({}),
    flags: routeFlags.optional(),
})
    .strict();
const accessLog = z
    .object({
    enabled: z.boolean().default(true),
    sample: z.number().min(0, 'must be between 0 and 1').max(1, 'must be between 0 and 1').default(1),
    errors: z.boolean().default(true),
})
    .strict();
const redisUrl = z.string().superRefine((value, ctx) => {
    let url;
    try {
        url = new URL(value);
    }
    catch {
        ctx.addIssue({ code: z.ZodIssueCode.custom, message: `must be a URL such as redis://redis:6379 (got ${JSON.stringify(value)})` });
        return;
    }
    if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
        ctx.addIssue({ code: z.ZodIssueCode.custom, message: `must start with redis:// or rediss:// (got ${url.protocol}//)` });
    }
    else if (url.hostname === '')
        ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'must name a host' });
});
const fleet = z
    .object({
    name: z.string().regex(NAME, 'must be letters, digits, "_", "-" or "." (at most 63)'),
    memberId: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$/, 'must be letters, digits, "_", "-", ".", ":" (at most 128)').optional(),
    redis: z
        .object({
        url: redisUrl,
        username: z.string().min(1).optional(),
        password: z
            .string()
            .optional()
            .transform((password) => (password === '' ? undefined : password)),
        passwordFile: z.string().min(1).optional(),
        tls: z
            .object({
            ca: z.string().min(1).optional(),
            servername: z.string().min(1).max(253).optional(),
            insecureSkipVerify: z.boolean().optional(),
        })
            .strict()
            .transform((spec) => spec)
            .optional(),
        connectTimeout: duration.default('2s'),
        commandTimeout: duration.default('2s'),
    })
        .strict(),
    heartbeat: duration.default('2s'),
    memberTtl: duration.default('10s'),
    poll: duration.default('5s'),
    maxStaleness: duration.default('60s'),
    lease: duration.default('10s'),
})
    .strict()
    .superRefine((spec, ctx) => {
    if (spec.heartbeat <= 0)
        ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['heartbeat'], message: 'must be above 0' });
    if (spec.poll <= 0)
        ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['poll'], message: 'must be above 0' });
    if (spec.lease < 1000)
        ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['lease'], message: 'must be at least 1s (renewals every third of it)' });
    if (spec.memberTtl < 2 * spec.heartbeat) {
        ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['memberTtl'], message: `must be at least twice the heartbeat (${spec.heartbeat} ms), so one late beat does not drop a member` });
    }
});
const configSchema = z
    .object({
    listen: listenAddress.default('0.0.0.0:8080'),
    admin: z
        .object({
        listen: listenAddress.default('127.0.0.1:9901'),
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
    trustForwardedFor: z.boolean().default(false),
    log: z
        .object({
        level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
        accessLog: accessLog.default({}),
    })
        .strict()
        .default({}),
    shutdown: z.object({ drainTimeout: duration.default('10s') }).strict().default({}),
    limits: limits.default({}),
    state: z
        .object({ file: z.union([z.string().min(1), z.literal(false)]).default('splitgate-state.json') })
        .strict()
        .default({}),
    watch: z.boolean().default(true),
    workers: z
        .union([
        z.number().int('must be a whole number, or "auto"').min(1, 'must be at least 1, or "auto"').max(256, 'must be at most 256'),
        z.literal('auto', { errorMap: () => ({ message: 'must be a whole number from 1 to 256, or "auto"' }) }),
    ])
        .default(1),
    fleet: fleet.optional(),
    flags: flags.optional(),
    jwt: jwt.optional(),
    experiments: z.array(experimentSchema).default([]),
    experimentSettings: experimentSettingsSchema.default({}),
})
    .strict();
return configSchema; }