import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { parseStoredFlagOverrides } from '../flags/flag-overrides.js';
export function emptyState() {
    return { version: 1, routes: {} };
}
export class StateFile {
    path;
    #queue = Promise.resolve();
    constructor(path) {
        this.path = path;
    }
    async load() {
        let text;
        try {
            text = await readFile(this.path, 'utf8');
        }
        catch (error) {
            if (error.code === 'ENOENT')
                return { ok: true, state: emptyState(), found: false, warnings: [] };
            return { ok: false, error: `cannot read state file ${this.path}: ${error.message}` };
        }
        try {
            const warnings = [];
            const state = parseState(JSON.parse(text), warnings);
            return { ok: true, state, found: true, warnings };
        }
        catch (error) {
            return { ok: false, error: `state file ${this.path} is not valid (${error.message}); ignoring it` };
        }
    }
    save(state) {
        const text = `${JSON.stringify(state, null, 2)}\n`;
        const write = this.#queue.then(() => writeAtomically(this.path, text));
        this.#queue = write.catch(() => undefined);
        return write;
    }
}
async function ensureDirectory(dir) {
    try {
        await mkdir(dir);
    }
    catch (error) {
        const code = error.code;
        if (code === 'EEXIST')
            return;
        if (code !== 'ENOENT' || dirname(dir) === dir)
            throw error;
        await ensureDirectory(dirname(dir));
        await mkdir(dir);
    }
}
export async function writeAtomically(path, text) {
    await ensureDirectory(dirname(path));
    const temporary = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    const handle = await open(temporary, 'w', 0o600);
    try {
        await handle.writeFile(text);
        await handle.sync();
    }
    catch (error) {
        await handle.close().catch(() => undefined);
        await unlink(temporary).catch(() => undefined);
        throw error;
    }
    await handle.close();
    try {
        await rename(temporary, path);
    }
    catch (error) {
        await unlink(temporary).catch(() => undefined);
        throw error;
    }
    await syncDirectory(dirname(path));
}
export async function syncDirectory(dir) {
    let handle;
    try {
        handle = await open(dir, 'r');
    }
    catch {
        return;
    }
    try {
        await handle.sync();
    }
    catch (error) {
        const code = error.code;
        if (code !== 'EINVAL' && code !== 'EISDIR' && code !== 'EPERM' && code !== 'ENOTSUP')
            throw error;
    }
    finally {
        await handle.close();
    }
}
const WEIGHT_SOURCES = new Set(['config', 'operator', 'rollout']);
function parseState(raw, warnings) {
    if (raw === null || typeof raw !== 'object')
        throw new Error('not a JSON object');
    const { version, routes } = raw;
    if (version !== 1)
        throw new Error(`unsupported version ${JSON.stringify(version)}`);
    if (routes === null || typeof routes !== 'object' || Array.isArray(routes))
        throw new Error('routes must be an object');
    const out = emptyState();
    for (const [name, value] of Object.entries(routes)) {
        if (value === null || typeof value !== 'object') {
            warnings.push(`routes.${name} is not an object; ignored`);
            continue;
        }
        const entry = value;
        const parsed = {};
        if (entry.killed !== undefined) {
            if (typeof entry.killed === 'boolean')
                parsed.killed = entry.killed;
            else if (entry.killed) {
                parsed.killed = true;
                warnings.push(`routes.${name}.killed is not true/false; kept as killed`);
            }
            else
                warnings.push(`routes.${name}.killed is not true/false; ignored`);
        }
        if (entry.weight !== undefined) {
            if (typeof entry.weight === 'number' && entry.weight >= 0 && entry.weight <= 100) {
                parsed.weight = entry.weight;
                parsed.weightSource = WEIGHT_SOURCES.has(entry.weightSource) ? entry.weightSource : 'operator';
            }
            else
                warnings.push(`routes.${name}.weight is not a number from 0 to 100; ignored`);
        }
        if (entry.stage !== undefined) {
            if (Number.isInteger(entry.stage) && entry.stage >= -1)
                parsed.stage = entry.stage;
            else
                warnings.push(`routes.${name}.stage is not a stage index; ignored`);
        }
        if (entry.rollout !== undefined)
            parsed.rollout = entry.rollout;
        if (Object.keys(parsed).length > 0)
            out.routes[name] = parsed;
    }
    const fleet = raw.fleet;
    if (fleet !== undefined)
        out.fleet = parseFleetBookkeeping(fleet, warnings);
    const flags = raw.flags;
    if (flags !== undefined) {
        const overrides = parseStoredFlagOverrides(flags, warnings);
        if (Object.keys(overrides).length > 0)
            out.flags = overrides;
    }
    const experiments = raw.experiments;
    if (experiments !== null && typeof experiments === 'object' && !Array.isArray(experiments))
        out.experiments = experiments;
    else if (experiments !== undefined)
        warnings.push('experiments is not an object; ignored');
    return out;
}
function parseFleetBookkeeping(raw, warnings) {
    const out = { versions: {}, pendingKills: [] };
    if (raw === null || typeof raw !== 'object') {
        warnings.push('fleet is not an object; ignored');
        return out;
    }
    const { versions, pendingKills, pendingFlagKills } = raw;
    if (versions !== null && typeof versions === 'object') {
        for (const [name, value] of Object.entries(versions)) {
            if (Number.isSafeInteger(value) && value >= 0)
                out.versions[name] = value;
            else
                warnings.push(`fleet.versions.${name} is not a whole number; ignored`);
        }
    }
    if (Array.isArray(pendingKills))
        out.pendingKills = pendingKills.filter((name) => typeof name === 'string');
    if (Array.isArray(pendingFlagKills)) {
        const keys = pendingFlagKills.filter((key) => typeof key === 'string');
        if (keys.length > 0)
            out.pendingFlagKills = keys;
    }
    return out;
}
//# sourceMappingURL=state-file.js.map