import { flagdCore } from './flagd-core.js';
export function flagdSchemaProblem(definitions) {
    try {
        new (flagdCore().MemoryStorage)(SILENT_LOGGER).setConfigurations(JSON.stringify(definitions), true);
        return null;
    }
    catch (error) {
        const text = error.message;
        const json = text.indexOf('[');
        try {
            const errors = JSON.parse(text.slice(json));
            const first = errors[0];
            return { path: first.instancePath || '/', message: first.message ?? text };
        }
        catch {
            return { path: '/', message: describeFlagdError(error) };
        }
    }
}
export function describeFlagdError(error) {
    const parts = [];
    for (let e = error; e instanceof Error && parts.length < 3; e = e.cause)
        parts.push(e.message.split('\n')[0]);
    return parts.join(': ') || String(error);
}
export const SILENT_LOGGER = { error: noop, warn: noop, info: noop, debug: noop };
function noop() {
}
//# sourceMappingURL=flagd-diagnostics.js.map