import { z } from 'zod';
import { parseDuration } from './duration.js';
import { flagArmsOf } from '../experiments/flag-arms.js';
import { isFlagExperiment, routeHasAnonymousUsers } from '../experiments/experiment-kinds.js';
const KEY = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const COOKIE_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const HTTP_METHOD = /^[A-Z]+$/;
const DAYS = /^(\d+(?:\.\d+)?)d$/;
const DAY_MS = 86_400_000;
const windowDuration = z.union([z.number(), z.string()]).transform((value, ctx) => {
    const days = typeof value === 'string' ? DAYS.exec(value.trim()) : null;
    const ms = days !== null ? Math.round(Number(days[1]) * DAY_MS) : parseDuration(value);
    if (ms === undefined || ms <= 0) {
        ctx.addIssue({ code: z.ZodIssueCode.custom, message: `must be a duration above 0 such as 7d, 12h or 30m (got ${JSON.stringify(value)})` });
        return z.NEVER;
    }
    return ms;
});
const method = z.string().regex(HTTP_METHOD, 'must be an upper-case HTTP method such as POST');
const pathPrefix = z.string().startsWith('/', 'must start with "/"');
const status = z.union([
    z.enum(['1xx', '2xx', '3xx', '4xx', '5xx']),
    z.number().int().min(100, 'must be a status code from 100 to 599, or "2xx"').max(599, 'must be a status code from 100 to 599, or "2xx"'),
]);
const conversionMatch = z
    .object({
    method: method.optional(),
    path: pathPrefix.optional(),
    pathPrefix: pathPrefix.optional(),
    status: status.optional(),
})
    .strict()
    .superRefine((match, ctx) => {
    if (match.path !== undefined && match.pathPrefix !== undefined)
        ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'set path or pathPrefix, not both' });
    if (match.path === undefined && match.pathPrefix === undefined)
        ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'must set path or pathPrefix' });
});
const conversion = z
    .object({
    name: z.string().regex(KEY, 'must be 1-63 letters, digits, "_", "-" or "." and start with a letter or digit'),
    match: conversionMatch.optional(),
    header: z.literal(true).optional(),
})
    .strict()
    .superRefine((spec, ctx) => {
    if ((spec.match === undefined) === (spec.header === undefined))
        ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'must set exactly one of match or header: true' });
});
export const experimentSchema = z
    .object({
    key: z.string().regex(KEY, 'must be 1-63 letters, digits, "_", "-" or "." and start with a letter or digit'),
    route: z.string().min(1),
    arms: z.enum(['route-split', 'flag']).optional(),
    flag: z.string().min(1).optional(),
    exposure: z
        .object({
        match: z
            .object({ pathPrefix: pathPrefix.optional(), methods: z.array(method).min(1).optional() })
            .strict()
            .default({}),
    })
        .strict()
        .default({}),
    conversions: z.array(conversion).min(1, 'must list at least one conversion'),
    conversionWindow: windowDuration.default('7d'),
    minUsersPerArm: z.number().int().min(1).default(100),
    alpha: z.number().gt(0, 'must be between 0 and 0.5').lt(0.5, 'must be between 0 and 0.5').default(0.05),
    maxUsers: z.number().int().min(100).max(10_000_000).default(100_000),
    guardrails: z
        .object({
        maxErrorRateIncrease: z.number().min(0).max(100).default(1),
        maxP99Ratio: z.number().min(1).default(1.5),
        minP99Increase: z
            .union([z.number().min(0), z.string()])
            .transform((value, ctx) => {
            const ms = typeof value === 'number' ? value : parseDuration(value);
            if (ms === undefined) {
                ctx.addIssue({ code: z.ZodIssueCode.custom, message: `must be a duration such as 25ms (got ${JSON.stringify(value)})` });
                return z.NEVER;
            }
            return ms;
        })
            .default(25),
        minRequests: z.number().int().min(1).default(50),
        confidence: z.number().min(0.5).max(0.9999).default(0.95),
    })
        .strict()
        .default({}),
})
    .strict()
    .transform((experiment) => ({ ...experiment, arms: experiment.arms ?? (experiment.flag !== undefined ? 'flag' : 'route-split') }));
export const experimentSettingsSchema = z
    .object({
    conversionHeader: z
        .string()
        .regex(HEADER_NAME, 'must be a valid HTTP header name')
        .transform((name) => name.toLowerCase())
        .default('x-splitgate-conversion'),
    cookie: z
        .object({
        name: z.string().regex(COOKIE_NAME, 'must be a valid cookie name').default('sg_exp'),
        secret: z.string().min(16, 'must be at least 16 characters').optional(),
    })
        .strict()
        .default({}),
})
    .strict();
export function experimentIssues(experiments, settings, routes, flags) {
    const issues = [];
    const seen = new Map();
    experiments.forEach((experiment, index) => {
        const at = `experiments[${index}]`;
        const first = seen.get(experiment.key);
        if (first !== undefined)
            issues.push({ path: `${at}.key`, message: `duplicate experiment key "${experiment.key}" (also experiments[${first}])` });
        else
            seen.set(experiment.key, index);
        const route = routes.find((r) => r.name === experiment.route);
        if (route === undefined) {
            issues.push({ path: `${at}.route`, message: `unknown route "${experiment.route}" (known: ${routes.map((r) => r.name).join(', ') || 'none'})` });
        }
        else if (isFlagExperiment(experiment)) {
            issues.push(...flagExperimentIssues(experiment, at, route, flags));
        }
        else {
            if (route.canary === undefined)
                issues.push({ path: `${at}.route`, message: `route "${route.name}" has no canary: route-split arms need stable and canary` });
            if (route.rollout?.stages?.some((stage) => stage.audience !== undefined && stage.audience !== null)) {
                issues.push({ path: `${at}.route`, message: `route "${route.name}" has release-plan audiences: its canary users are chosen, not randomly assigned, so it cannot carry an A/B experiment` });
            }
        }
        if (route !== undefined) {
            if (route.sticky === undefined) {
                issues.push({ path: `${at}.route`, message: `route "${route.name}" has no sticky key: the unit is the user, so the route must set sticky.key` });
            }
            else if (!isFlagExperiment(experiment) && routeHasAnonymousUsers(route) && settings.cookie.secret === undefined) {
                issues.push({ path: 'experimentSettings.cookie.secret', message: `is required: route "${route.name}" (${at}) has users without a sticky key, deduplicated by a signed cookie` });
            }
        }
        const names = new Map();
        experiment.conversions.forEach((conversion, conversionIndex) => {
            const earlier = names.get(conversion.name);
            if (earlier !== undefined)
                issues.push({ path: `${at}.conversions[${conversionIndex}].name`, message: `duplicate conversion name "${conversion.name}" (also conversions[${earlier}])` });
            else
                names.set(conversion.name, conversionIndex);
        });
        if (experiment.conversions.length > 16)
            issues.push({ path: `${at}.conversions`, message: 'must list at most 16 conversions' });
    });
    return issues;
}
function flagExperimentIssues(experiment, at, route, flags) {
    if (experiment.flag === undefined)
        return [{ path: `${at}.flag`, message: 'is required with arms: flag' }];
    if (experiment.arms === 'route-split')
        return [{ path: `${at}.arms`, message: 'must be flag (or left out) when flag is set' }];
    if (flags === undefined)
        return [{ path: `${at}.flag`, message: 'needs the top-level flags block (file or definitions)' }];
    if (flags === null)
        return [];
    const definition = Object.hasOwn(flags.flags, experiment.flag) ? flags.flags[experiment.flag] : undefined;
    if (definition === undefined)
        return [{ path: `${at}.flag`, message: `unknown flag "${experiment.flag}" (known: ${Object.keys(flags.flags).join(', ') || 'none'})` }];
    const issues = [];
    const arms = flagArmsOf(definition);
    if (typeof arms === 'string')
        issues.push({ path: `${at}.flag`, message: `flag "${experiment.flag}" ${arms}` });
    const select = route.flags === false ? [] : (route.flags?.select ?? 'all');
    if (select !== 'all' && !select.includes(experiment.flag)) {
        issues.push({ path: `${at}.flag`, message: `route "${route.name}" does not evaluate flag "${experiment.flag}" (its flags${route.flags === false ? ' are off' : '.select leaves it out'})` });
    }
    return issues;
}
//# sourceMappingURL=experiment-schema.js.map