import { compileTargeting, FLAGD_LOGGER, flagdCore, murmurHash3After, murmurPrefix } from './flagd-core.js';
import { fractional } from './fractional-operator.js';
import { semVer } from './sem-ver.js';
import { migrationBucket } from './bucketing.js';
import { BUCKETING_METADATA_KEY, migrationSplit } from './migration-split.js';
import { flagdSchemaProblem, SILENT_LOGGER } from './flagd-diagnostics.js';
import { FlagCountBook } from './flag-counts.js';
import { serializeBareItem, toSfKey } from './structured-field.js';
import { targetingReadsClock } from './clock-reads.js';
const compiledSets = new WeakMap();
export function compileFlagSet(definitions, counts = new FlagCountBook()) {
    let byBook = compiledSets.get(definitions);
    if (byBook === undefined) {
        byBook = new WeakMap();
        compiledSets.set(definitions, byBook);
    }
    let set = byBook.get(counts);
    if (set === undefined) {
        set = buildFlagSet(definitions, counts);
        byBook.set(counts, set);
    }
    return set;
}
function buildFlagSet(definitions, counts) {
    const storage = new (flagdCore().MemoryStorage)(SILENT_LOGGER, { disableDynamicCodeGeneration: true });
    storage.setConfigurations(JSON.stringify(definitions));
    const notes = [];
    const schemaProblem = flagdSchemaProblem(definitions);
    if (schemaProblem !== null)
        notes.push(`flagd's JSON schema (as bundled with flagd-core) says ${schemaProblem.path}: ${schemaProblem.message}; flagd evaluates it anyway`);
    const list = [];
    const headerKeys = new Map();
    for (const [key, definition] of Object.entries(definitions.flags)) {
        const feature = storage.getFlag(key);
        let headerKey = toSfKey(key);
        if (headerKey === null)
            notes.push(`flag "${key}" is not sent in the flags header: its key cannot be an RFC 8941 key (lower-case letter or "*" first)`);
        else if (headerKeys.has(headerKey)) {
            notes.push(`flag "${key}" is not sent in the flags header: it would be sent as "${headerKey}", like flag "${headerKeys.get(headerKey)}"`);
            headerKey = null;
        }
        else {
            headerKeys.set(headerKey, key);
            if (headerKey !== key)
                notes.push(`flag "${key}" is sent in the flags header as "${headerKey}" (RFC 8941 keys are lower-case)`);
        }
        const method = definition.metadata?.[BUCKETING_METADATA_KEY];
        const split = method === undefined ? null : migrationSplit(definition);
        const targeting = definition.targeting;
        const splits = split !== null || (targeting !== undefined && Object.keys(targeting).length === 1 && Object.hasOwn(targeting, 'fractional'));
        const fixed = (variant, reason, errorCode = null) => Object.freeze({ flag: key, variant, value: undefined, reason, member: null, errorCode, count: counts.cell(key, variant ?? '', reason) });
        const byVariant = new Map();
        for (const [variant, value] of Object.entries(definition.variants)) {
            const item = serializeBareItem(value);
            if (item === null && headerKey !== null)
                notes.push(`flag "${key}" variant "${variant}" is not sent in the flags header: RFC 8941 has no item for ${describeValue(value)}`);
            const member = headerKey === null || item === null ? null : `${headerKey}=${item}`;
            const outcome = (reason) => Object.freeze({ flag: key, variant, value, reason, member, errorCode: null, count: counts.cell(key, variant, reason) });
            byVariant.set(variant, { matched: outcome(splits ? 'SPLIT' : 'TARGETING_MATCH'), fallback: outcome('DEFAULT'), statically: outcome('STATIC') });
        }
        const noDefault = fixed(null, 'DEFAULT');
        const untargeted = targeting === undefined || Object.keys(targeting).length === 0;
        const compilation = untargeted ? null : compileTargeting(feature, FASTER_OPERATORS);
        const featureDefault = feature.defaultVariant;
        const targetingDefault = featureDefault === undefined ? noDefault : (byVariant.get(featureDefault)?.fallback ?? fixed(null, 'ERROR', 'GENERAL'));
        const staticOutcome = definition.state !== 'ENABLED' || !untargeted || split !== null
            ? null
            : definition.defaultVariant == null
                ? noDefault
                : byVariant.get(definition.defaultVariant).statically;
        list.push(Object.freeze({
            key,
            staticOutcome,
            readsClock: !untargeted && split === null && targetingReadsClock(targeting, definitions.$evaluators ?? {}),
            enabled: definition.state === 'ENABLED',
            headerKey,
            sendable: [...byVariant.values()].some((outcomes) => outcomes.matched.member !== null),
            variants: new Map(Object.entries(definition.variants)),
            defaultVariant: definition.defaultVariant ?? null,
            metadata: Object.freeze({ ...(definitions.metadata ?? {}), ...(definition.metadata ?? {}) }),
            feature,
            targeting: compilation !== null && 'run' in compilation ? compilation.run : null,
            targetingParseError: compilation !== null && 'parseError' in compilation,
            targetingDefault,
            migration: method === undefined ? null : Object.freeze({ method, split: split }),
            fractional: split === null && splits ? constantFractional(key, targeting.fractional, byVariant) : null,
            splits,
            needsTargetingKey: split !== null || (splits && bucketsByTargetingKey(targeting.fractional)),
            byVariant,
            disabled: fixed(null, 'DISABLED'),
            noDefault,
            parseError: fixed(null, 'ERROR', 'PARSE_ERROR'),
            evaluationError: fixed(null, 'ERROR', 'GENERAL'),
        }));
    }
    return Object.freeze({ flags: new Map(list.map((flag) => [flag.key, flag])), list: Object.freeze(list), notes: Object.freeze(notes) });
}
const FASTER_OPERATORS = Object.freeze({ sem_ver: semVer, fractional });
function bucketsByTargetingKey(args) {
    return Array.isArray(args) && Array.isArray(args[0]);
}
const MAX_FRACTIONAL_WEIGHT = 2147483647;
function constantFractional(key, args, byVariant) {
    if (!bucketsByTargetingKey(args) || args.length === 0)
        return null;
    const weights = [];
    const outcomes = [];
    let totalWeight = 0;
    for (const entry of args) {
        if (!Array.isArray(entry) || entry.length === 0 || entry.length > 2 || typeof entry[0] !== 'string')
            return null;
        const outcome = byVariant.get(entry[0])?.matched;
        if (outcome === undefined)
            return null;
        const weight = entry.length === 2 ? entry[1] : 1;
        if (typeof weight !== 'number' || !Number.isInteger(weight))
            return null;
        weights.push(Math.max(0, weight));
        outcomes.push(outcome);
        totalWeight += Math.max(0, weight);
    }
    if (totalWeight > MAX_FRACTIONAL_WEIGHT)
        return null;
    return Object.freeze({ hashPrefix: murmurPrefix(key), totalWeight, weights: Object.freeze(weights), outcomes: Object.freeze(outcomes) });
}
function describeValue(value) {
    if (typeof value === 'string')
        return 'a string with characters outside printable ASCII';
    if (typeof value === 'number')
        return `the number ${value} (out of range)`;
    return 'an object (read it over OFREP)';
}
export function targetingData(context, nowMs = Date.now()) {
    return asTargetingData(Object.assign({}, context), nowMs);
}
export function asTargetingData(context, nowMs = Date.now()) {
    const data = context;
    data.$flagd = { flagKey: '', timestamp: Math.floor(nowMs / 1000) };
    data[FLAGD_LOGGER] = SILENT_LOGGER;
    return data;
}
export function evaluateFlag(flag, context, data) {
    const outcome = resolveFlag(flag, context, data);
    outcome.count.value++;
    return outcome;
}
export function resolveFlag(flag, context, data) {
    if (flag.staticOutcome !== null)
        return flag.staticOutcome;
    if (!flag.enabled)
        return flag.disabled;
    if (flag.migration !== null)
        return resolveMigration(flag, context.targetingKey);
    if (flag.fractional !== null)
        return resolveFractional(flag, flag.fractional, context.targetingKey);
    if (flag.targetingParseError)
        return flag.parseError;
    if (flag.targeting !== null)
        return resolveTargeting(flag, flag.targeting, data ?? targetingData(context));
    let resolution;
    try {
        resolution = flag.feature.evaluate(context, SILENT_LOGGER);
    }
    catch {
        return flag.evaluationError;
    }
    if (resolution.reason === 'ERROR')
        return resolution.errorCode === 'PARSE_ERROR' ? flag.parseError : flag.evaluationError;
    const variant = resolution.variant;
    if (variant === undefined || variant === null)
        return flag.noDefault;
    const outcomes = flag.byVariant.get(variant);
    if (outcomes === undefined)
        return flag.evaluationError;
    return resolution.reason === 'STATIC' ? outcomes.statically : resolution.reason === 'DEFAULT' ? outcomes.fallback : outcomes.matched;
}
function resolveTargeting(flag, targeting, data) {
    data.$flagd.flagKey = flag.key;
    let variant;
    try {
        const result = targeting(data);
        if (result === null || result === undefined)
            return flag.targetingDefault;
        variant = result.toString();
    }
    catch {
        return flag.evaluationError;
    }
    return flag.byVariant.get(variant)?.matched ?? flag.evaluationError;
}
function resolveFractional(flag, split, targetingKey) {
    if (targetingKey) {
        const hash = murmurHash3After(split.hashPrefix, typeof targetingKey === 'string' ? targetingKey : `${targetingKey}`) >>> 0;
        const total = split.totalWeight;
        const bucket = Math.floor(((hash >>> 16) * total + Math.floor(((hash & 0xffff) * total) / 65536)) / 65536);
        const weights = split.weights;
        let sum = 0;
        for (let i = 0; i < weights.length; i++) {
            sum += weights[i];
            if (sum > bucket)
                return split.outcomes[i];
        }
    }
    return flag.defaultVariant === null ? flag.noDefault : flag.byVariant.get(flag.defaultVariant).fallback;
}
function resolveMigration(flag, targetingKey) {
    if (typeof targetingKey !== 'string' || targetingKey === '') {
        return flag.defaultVariant === null ? flag.noDefault : flag.byVariant.get(flag.defaultVariant).fallback;
    }
    const migration = flag.migration;
    const bucket = migrationBucket(migration.method, targetingKey);
    const steps = migration.split.steps;
    for (let i = 0; i < steps.length; i++)
        if (bucket < steps[i][1])
            return flag.byVariant.get(steps[i][0]).matched;
    return flag.evaluationError;
}
//# sourceMappingURL=flag-set.js.map