/**
 * Flag definitions in flagd's schema (https://flagd.dev/reference/flag-definitions/): their shape, checked with
 * path-accurate messages like the rest of the config, and the rules flagd enforces only when a flag is evaluated
 * (a default variant that is not a variant, a `$ref` to no evaluator, targeting JsonLogic that does not compile),
 * moved to load time so a bad file is a ConfigError, never a request-time surprise.
 *
 * Evaluation itself is the OpenFeature project's `@openfeature/flagd-core` (see flag-set.ts); this module only
 * decides whether a document is one it will accept. What the flag set also needs at run time (migration-split.ts,
 * flagd-diagnostics.ts) lives apart, so a worker, which compiles an already validated config, loads no zod.
 */
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
    /** null or absent: no default (flagd then answers with the caller's code default). */
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
    const counted: z.RefinementCtx = { addIssue: (issue) => (issues++, ctx.addIssue(issue)), path: ctx.path };
    for (const [key, flag] of Object.entries(definitions.flags)) checkFlag(key, flag, definitions.$evaluators ?? {}, counted);
    if (issues > 0) return;
    // The whole document as the flag set will load it (`$ref`s substituted across it): whatever flagd-core still
    // refuses is a config error now, never an exception when the table is built.
    try {
      new (flagdCore().MemoryStorage)(SILENT_LOGGER).setConfigurations(JSON.stringify(definitions));
    } catch (error) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: `flagd rejects these definitions: ${describeFlagdError(error)}` });
    }
  });

export type FlagDefinitions = z.output<typeof flagDefinitionsSchema>;
export type FlagDefinition = FlagDefinitions['flags'][string];

function checkFlag(key: string, flag: FlagDefinition, evaluators: Readonly<Record<string, unknown>>, ctx: z.RefinementCtx): void {
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
  // flagd's schema: one flag's variants are all booleans, all strings, all numbers or all objects.
  const kinds = new Set(Object.values(flag.variants).map((value) => (typeof value === 'object' ? 'object' : typeof value)));
  if (kinds.size > 1) ctx.addIssue({ code: z.ZodIssueCode.custom, path: [...at, 'variants'], message: `must all have one type (found ${[...kinds].join(', ')})` });
  // flagd-core refuses to build a flag whose default variant is missing: its targeting is judged once that is fixed.
  if (flag.targeting !== undefined && sound) checkTargeting(key, flag, evaluators, ctx);
  const bucketing = flag.metadata?.[BUCKETING_METADATA_KEY];
  if (bucketing !== undefined) checkBucketing(flag, bucketing, ctx, [...at, 'metadata', BUCKETING_METADATA_KEY]);
}

function checkTargeting(key: string, flag: FlagDefinition, evaluators: Readonly<Record<string, unknown>>, ctx: z.RefinementCtx): void {
  const path = ['flags', key, 'targeting'];
  const missing = missingRefs(flag.targeting, evaluators, path);
  for (const ref of missing) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ref.path, message: `$ref "${ref.name}" names no entry of $evaluators (known: ${Object.keys(evaluators).join(', ') || 'none'})` });
  if (missing.length > 0) return;
  // Compiled exactly as flagd-core will compile it: a JsonLogic method it does not know fails here, not per request.
  const storage = new (flagdCore().MemoryStorage)(SILENT_LOGGER);
  try {
    storage.setConfigurations(JSON.stringify({ flags: { [key]: flag }, $evaluators: evaluators }));
  } catch (error) {
    ctx.addIssue({ code: z.ZodIssueCode.custom, path, message: `flagd rejects this flag: ${describeFlagdError(error)}` });
    return;
  }
  const compiled = storage.getFlag(key);
  const probe = compiled?.evaluate({ targetingKey: '' });
  if (probe?.errorCode === 'PARSE_ERROR') {
    ctx.addIssue({ code: z.ZodIssueCode.custom, path, message: 'is not JsonLogic that flagd can compile (an unknown operation, or a malformed one)' });
  }
}

/**
 * `metadata.bucketing: crc32-mod100 | md5-mod100` replaces fractional's hash with an app's old formula, so the
 * targeting must be a bare `fractional` over variants whose weights add up to 100 (percent).
 */
function checkBucketing(flag: FlagDefinition, method: unknown, ctx: z.RefinementCtx, path: Array<string | number>): void {
  if (typeof method !== 'string' || !(BUCKETING_METHODS as readonly string[]).includes(method)) {
    ctx.addIssue({ code: z.ZodIssueCode.custom, path, message: `must be one of ${BUCKETING_METHODS.join(', ')} (got ${JSON.stringify(method)})` });
    return;
  }
  const split = migrationSplit(flag);
  if (typeof split === 'string') ctx.addIssue({ code: z.ZodIssueCode.custom, path, message: split });
}

/** `{"$ref": name}` objects whose name is not among the evaluators. */
function missingRefs(node: unknown, evaluators: Readonly<Record<string, unknown>>, path: Array<string | number>): Array<{ name: string; path: Array<string | number> }> {
  if (Array.isArray(node)) return node.flatMap((item, index) => missingRefs(item, evaluators, [...path, index]));
  if (node === null || typeof node !== 'object') return [];
  const record = node as Record<string, unknown>;
  if (typeof record.$ref === 'string' && Object.keys(record).length === 1) {
    return Object.hasOwn(evaluators, record.$ref) ? [] : [{ name: record.$ref, path: [...path, '$ref'] }];
  }
  return Object.entries(record).flatMap(([key, item]) => missingRefs(item, evaluators, [...path, key]));
}
