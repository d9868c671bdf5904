import { flagdCore } from './flagd-core.js';
import { z } from 'zod';
import { BUCKETING_METHODS } from './bucketing.js';
import { BUCKETING_METADATA_KEY, migrationSplit } from './migration-split.js';
import { describeFlagdError, SILENT_LOGGER } from './flagd-diagnostics.js';
const metadata = z.record(z.union([z.string(), z.number(), z.boolean()], { errorMap: () => ({ message: 'metadata values must be strings, numbers or booleans' }) }));
const variantValue = z.union([z.boolean(), z.string(), z.number(), z.record(z.unknown())], {
    errorMap: () => ({ message: 'must be a boolean, string, number or object' }),
});
const flagDefinition = z
    .object({
    state: z.enum(['ENABLED', 'DISABLED']),
    variants: z.record(z.string().min(1, 'variant names must not be empty'), variantValue),
    defaultVariant: z.string().nullable().optional(),
    targeting: z.record(z.unknown()).optional(),
    metadata: metadata.optional(),
})
    .strict();
export const flagDefinitionsSchema = z
    .object({
    $schema: z.string().optional(),
    flags: z.record(z.string().min(1, 'flag keys must not be empty'), flagDefinition),
    $evaluators: z.record(z.record(z.unknown())).optional(),
    metadata: metadata.optional(),
})
    .strict()
    .superRefine((definitions, ctx) => {
    let issues = 0;
    const counted = { addIssue: (issue) => (issues++, ctx.addIssue(issue)), path: ctx.path };
    for (const [key, flag] of Object.entries(definitions.flags))
        checkFlag(key, flag, definitions.$evaluators ?? {}, counted);
    if (issues > 0)
        return;
    try {
        new (flagdCore().MemoryStorage)(SILENT_LOGGER).setConfigurations(JSON.stringify(definitions));
    }
    catch (error) {
        ctx.addIssue({ code: z.ZodIssueCode.custom, message: `flagd rejects these definitions: ${describeFlagdError(error)}` });
    }
});
function checkFlag(key, flag, evaluators, ctx) {
    const at = ['flags', key];
    const names = Object.keys(flag.variants);
    let sound = true;
    if (names.length === 0) {
        sound = false;
        ctx.addIssue({ code: z.ZodIssueCode.custom, path: [...at, 'variants'], message: 'must have at least one variant' });
    }
    if (flag.defaultVariant != null && !Object.hasOwn(flag.variants, flag.defaultVariant)) {
        sound = false;
        ctx.addIssue({
            code: z.ZodIssueCode.custom,
            path: [...at, 'defaultVariant'],
            message: `must name one of the variants (${names.join(', ') || 'none'}), got ${JSON.stringify(flag.defaultVariant)}`,
        });
    }
    const kinds = new Set(Object.values(flag.variants).map((value) => (typeof value === 'object' ? 'object' : typeof value)));
    if (kinds.size > 1)
        ctx.addIssue({ code: z.ZodIssueCode.custom, path: [...at, 'variants'], message: `must all have one type (found ${[...kinds].join(', ')})` });
    if (flag.targeting !== undefined && sound)
        checkTargeting(key, flag, evaluators, ctx);
    const bucketing = flag.metadata?.[BUCKETING_METADATA_KEY];
    if (bucketing !== undefined)
        checkBucketing(flag, bucketing, ctx, [...at, 'metadata', BUCKETING_METADATA_KEY]);
}
function checkTargeting(key, flag, evaluators, ctx) {
    const path = ['flags', key, 'targeting'];
    const missing = missingRefs(flag.targeting, evaluators, path);
    for (const ref of missing)
        ctx.addIssue({ code: z.ZodIssueCode.custom, path: ref.path, message: `$ref "${ref.name}" names no entry of $evaluators (known: ${Object.keys(evaluators).join(', ') || 'none'})` });
    if (missing.length > 0)
        return;
    const storage = new (flagdCore().MemoryStorage)(SILENT_LOGGER);
    try {
        storage.setConfigurations(JSON.stringify({ flags: { [key]: flag }, $evaluators: evaluators }));
    }
    catch (error) {
        ctx.addIssue({ code: z.ZodIssueCode.custom, path, message: `flagd rejects this flag: ${describeFlagdError(error)}` });
        return;
    }
    const compiled = storage.getFlag(key);
    const probe = compiled?.evaluate({ targetingKey: '' });
    if (probe?.errorCode === 'PARSE_ERROR') {
        ctx.addIssue({ code: z.ZodIssueCode.custom, path, message: 'is not JsonLogic that flagd can compile (an unknown operation, or a malformed one)' });
    }
}
function checkBucketing(flag, method, ctx, path) {
    if (typeof method !== 'string' || !BUCKETING_METHODS.includes(method)) {
        ctx.addIssue({ code: z.ZodIssueCode.custom, path, message: `must be one of ${BUCKETING_METHODS.join(', ')} (got ${JSON.stringify(method)})` });
        return;
    }
    const split = migrationSplit(flag);
    if (typeof split === 'string')
        ctx.addIssue({ code: z.ZodIssueCode.custom, path, message: split });
}
function missingRefs(node, evaluators, path) {
    if (Array.isArray(node))
        return node.flatMap((item, index) => missingRefs(item, evaluators, [...path, index]));
    if (node === null || typeof node !== 'object')
        return [];
    const record = node;
    if (typeof record.$ref === 'string' && Object.keys(record).length === 1) {
        return Object.hasOwn(evaluators, record.$ref) ? [] : [{ name: record.$ref, path: [...path, '$ref'] }];
    }
    return Object.entries(record).flatMap(([key, item]) => missingRefs(item, evaluators, [...path, key]));
}
//# sourceMappingURL=definitions.js.map