import { InvalidRequestError } from '../control/controller.js';
import { SplitgateError } from '../errors.js';
const FLAG_PATH = /^\/flags\/([^/]+)$/;
export function flagsView(controller, set, counts) {
    const definitions = controller.config.flags?.definitions;
    const overrides = controller.flagOverrides;
    const evaluations = countsByFlag(counts);
    return {
        flags: Object.entries(definitions?.flags ?? {}).map(([key, file]) => {
            const compiled = set?.flags.get(key);
            return {
                key,
                file: { state: file.state, defaultVariant: file.defaultVariant ?? null, targeting: file.targeting !== undefined && Object.keys(file.targeting).length > 0 },
                override: overrides[key] ?? null,
                effective: {
                    state: compiled === undefined ? file.state : compiled.enabled ? 'ENABLED' : 'DISABLED',
                    defaultVariant: compiled === undefined ? (file.defaultVariant ?? null) : compiled.defaultVariant,
                    pinned: overrides[key]?.defaultVariant ?? null,
                },
                variants: file.variants,
                evaluations: evaluations.get(key) ?? emptyEvaluations(),
            };
        }),
    };
}
export async function changeFlag(controller, method, path, body, actor) {
    const match = FLAG_PATH.exec(path);
    if (match === null)
        return null;
    let key;
    try {
        key = decodeURIComponent(match[1]);
    }
    catch {
        throw new InvalidRequestError(`flag key in ${path} is not valid percent-encoding`);
    }
    if (method === 'PUT')
        return controller.setFlagOverride(key, body, actor);
    if (method === 'DELETE')
        return controller.clearFlagOverride(key, actor);
    throw new SplitgateError('SG_METHOD_NOT_ALLOWED', `${method} is not allowed on ${path} (PUT or DELETE)`, 405);
}
function emptyEvaluations() {
    return { total: 0, variants: {}, none: 0, shares: {}, reasons: {} };
}
function countsByFlag(counts) {
    const byFlag = new Map();
    for (const cell of counts.all()) {
        if (cell.value === 0)
            continue;
        const { flag, variant, reason } = cell.labels;
        let entry = byFlag.get(flag);
        if (entry === undefined)
            byFlag.set(flag, (entry = emptyEvaluations()));
        entry.total += cell.value;
        if (variant === '')
            entry.none += cell.value;
        else
            entry.variants[variant] = (entry.variants[variant] ?? 0) + cell.value;
        entry.reasons[reason] = (entry.reasons[reason] ?? 0) + cell.value;
    }
    for (const entry of byFlag.values()) {
        for (const [variant, count] of Object.entries(entry.variants))
            entry.shares[variant] = Number((count / entry.total).toFixed(4));
    }
    return byFlag;
}
//# sourceMappingURL=flag-routes.js.map