import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { writeAtomically } from '../control/state-file.js';
import { readTotals } from './experiment-stop.js';
import { isSavedUserKey, keyDigest } from './experiment-book.js';
const MAGIC = 'splitgate experiments 1\n';
const DIGEST_BYTES = 8;
export const USER_BYTES = DIGEST_BYTES + 8 + 1 + 2;
const DETAIL_BYTES = 16;
const SLICE = 250;
export class ExperimentFile {
    #options;
    #timer = null;
    #queue = Promise.resolve();
    #saving = false;
    #held = false;
    static forStateFile(stateFile, fleet, options) {
        return stateFile === false || fleet ? null : new ExperimentFile({ ...options, file: `${resolve(stateFile)}.experiments` });
    }
    constructor(options) {
        this.#options = options;
    }
    restore() {
        let bytes;
        try {
            bytes = readFileSync(this.#options.file);
        }
        catch (error) {
            if (error.code !== 'ENOENT')
                this.#options.onWarning(`experiments file ${this.#options.file} not read: ${error.message}`);
            return;
        }
        this.#held = true;
        try {
            this.#options.book.restoreRunning(parseExperimentFile(bytes, this.#options.kind, this.#options.onWarning));
        }
        catch (error) {
            this.#options.onWarning(`experiments file ${this.#options.file} not restored, running experiments start from zero: ${error.message}`);
        }
    }
    start() {
        let saved = countsMark(this.#options.book);
        this.#timer ??= setInterval(() => {
            const mark = countsMark(this.#options.book);
            if (this.#saving || mark === saved)
                return;
            saved = mark;
            this.#saving = true;
            void this.save().finally(() => (this.#saving = false));
        }, this.#options.saveEveryMs ?? 15_000).unref();
    }
    async stop() {
        if (this.#timer !== null)
            clearInterval(this.#timer);
        this.#timer = null;
        await this.save();
    }
    save() {
        const snapshot = snapshotBook(this.#options.book);
        const file = this.#options.file;
        if (snapshot.experiments === 0 && !this.#held)
            return this.#queue;
        this.#held = true;
        const write = this.#queue
            .then(async () => writeAtomically(file, await snapshot.finish()))
            .catch((error) => this.#options.onWarning(`cannot save the experiments file ${file}: ${error.message}`));
        this.#queue = write;
        return write;
    }
}
export function snapshotBook(book) {
    const headers = [];
    const taken = [];
    for (const experiment of book.plan?.all ?? []) {
        const record = book.record(experiment.key);
        if (record === undefined || record.stopped !== null)
            continue;
        const merged = record.merged !== null && record.merged.size > 0;
        const lru = merged ? record.merged : record.users;
        headers.push({ key: experiment.key, fingerprint: fingerprintOf(experiment), ...totalsOf(record), merged });
        taken.push({ experiment, merged, users: lru.snapshot() });
    }
    return {
        experiments: taken.length,
        async finish() {
            const bodies = [];
            const saved = [];
            let done = 0;
            for (const [index, { experiment, merged, users }] of taken.entries()) {
                const body = Buffer.alloc(users.length * (USER_BYTES + (merged ? DETAIL_BYTES * experiment.conversions.length : 0)));
                let offset = 0;
                let count = 0;
                for (let i = 0; i < users.length; i++) {
                    if (++done % SLICE === 0)
                        await nextTurn();
                    const next = merged ? writeMergedUser(body, offset, experiment, users.valueAt(i)) : writeUser(body, offset, users.valueAt(i));
                    if (next === offset)
                        continue;
                    writeDigest(body, offset, users.keyAt(i));
                    offset = next;
                    count++;
                }
                bodies.push(body.subarray(0, offset));
                saved.push({ ...headers[index], users: count, bytes: offset });
            }
            return Buffer.concat([Buffer.from(`${MAGIC}${JSON.stringify({ experiments: saved })}\n`), ...bodies]);
        },
    };
}
function writeDigest(body, offset, key) {
    if (isSavedUserKey(key))
        body.write(key.slice(1), offset, DIGEST_BYTES, 'latin1');
    else
        keyDigest(key).copy(body, offset, 0, DIGEST_BYTES);
}
function writeUser(body, offset, state) {
    return writeFields(body, offset + DIGEST_BYTES, state.exposedAt * 1000, state.arm, state.converted);
}
function writeMergedUser(body, offset, experiment, user) {
    if (user.exposedAt === null)
        return offset;
    let mask = 0;
    for (const conversion of experiment.conversions)
        if (user.converted.has(conversion.name))
            mask |= 1 << conversion.bit;
    let at = writeFields(body, offset + DIGEST_BYTES, user.exposedAt, user.arm, mask);
    for (const conversion of experiment.conversions) {
        const counted = user.converted.get(conversion.name);
        if (counted === undefined)
            continue;
        body.writeDoubleLE(counted.at, at);
        body.writeDoubleLE(counted.value, at + 8);
        at += DETAIL_BYTES;
    }
    return at;
}
function writeFields(body, offset, exposedAtMs, arm, mask) {
    body.writeDoubleLE(exposedAtMs, offset);
    body.writeUInt8(arm, offset + 8);
    body.writeUInt16LE(mask, offset + 9);
    return offset + 11;
}
export function parseExperimentFile(file, kind, onWarning) {
    if (file.subarray(0, MAGIC.length).toString('latin1') !== MAGIC)
        throw new Error('not an experiments file');
    const end = file.indexOf(0x0a, MAGIC.length);
    if (end < 0)
        throw new Error('no header line');
    const head = JSON.parse(file.subarray(MAGIC.length, end).toString('utf8'));
    const entries = head?.experiments;
    if (!Array.isArray(entries))
        throw new Error('no experiments list');
    const out = new Map();
    let offset = end + 1;
    for (const [index, entry] of entries.entries()) {
        const e = entry;
        if (e === null || typeof e !== 'object' || !Number.isSafeInteger(e.bytes) || e.bytes < 0)
            throw new Error(`experiment entry ${index} has no byte count`);
        const bytes = file.subarray(offset, offset + e.bytes);
        offset += e.bytes;
        if (typeof e.key !== 'string')
            continue;
        const key = e.key;
        out.set(key, (experiment, record) => {
            const totals = readTotals(e);
            if (e.fingerprint !== fingerprintOf(experiment)) {
                onWarning(`experiment ${key}: its arms or conversions changed since it was saved; it starts from zero`);
                return;
            }
            try {
                if (totals === null)
                    throw new Error('its totals are not counts');
                if (bytes.length !== e.bytes)
                    throw new Error('the file ends before its users');
                const users = decodeUsers(experiment, bytes, e.users, e.merged === true, kind);
                record.restoreRunning(totals, users);
            }
            catch (error) {
                onWarning(`experiment ${key}: saved entry damaged (${error.message}); it starts from zero`);
            }
        });
    }
    return out;
}
function decodeUsers(experiment, bytes, count, details, kind) {
    if (!Number.isSafeInteger(count) || count < 0)
        throw new Error('no user count');
    const allBits = (1 << experiment.conversions.length) - 1;
    const states = [];
    const merged = [];
    let offset = 0;
    for (let i = 0; i < count; i++) {
        if (offset + USER_BYTES > bytes.length)
            throw new Error(`user ${i} is cut short`);
        const key = `\0${bytes.toString('latin1', offset, offset + DIGEST_BYTES)}`;
        const exposedAt = bytes.readDoubleLE(offset + DIGEST_BYTES);
        const arm = bytes.readUInt8(offset + DIGEST_BYTES + 8);
        const mask = bytes.readUInt16LE(offset + DIGEST_BYTES + 9);
        offset += USER_BYTES;
        if (!Number.isFinite(exposedAt) || exposedAt < 0 || arm > 1 || (mask & ~allBits) !== 0)
            throw new Error(`user ${i} is not a user`);
        const converted = new Map();
        for (const conversion of experiment.conversions) {
            if ((mask & (1 << conversion.bit)) === 0)
                continue;
            if (!details) {
                converted.set(conversion.name, { at: exposedAt, value: 0 });
                continue;
            }
            if (offset + DETAIL_BYTES > bytes.length)
                throw new Error(`user ${i} is cut short`);
            converted.set(conversion.name, { at: bytes.readDoubleLE(offset), value: bytes.readDoubleLE(offset + 8) });
            offset += DETAIL_BYTES;
        }
        if (kind === 'users')
            states.push([key, { arm: arm, exposedAt: Math.floor(exposedAt / 1000), converted: mask }]);
        else
            merged.push([key, { arm: arm, exposedAt, converted, pending: null }]);
    }
    if (offset !== bytes.length)
        throw new Error('bytes left after its users');
    return kind === 'users' ? { into: 'users', entries: states } : { into: 'merged', entries: merged };
}
function countsMark(book) {
    return JSON.stringify((book.plan?.all ?? []).map((e) => {
        const record = book.record(e.key);
        return record === undefined ? null : [totalsOf(record), record.trackedUsers, record.stopped !== null];
    }));
}
function totalsOf(record) {
    return {
        arms: record.arms.map((arm) => ({ users: arm.users, conversions: Object.fromEntries(arm.conversions) })),
        minimumPValues: Object.fromEntries(record.minimumPValues),
        evictions: record.evictions,
    };
}
export function fingerprintOf(experiment) {
    const arms = experiment.flag === null ? [experiment.arms, experiment.route] : [experiment.arms, experiment.flag.key, ...experiment.flag.variants];
    return JSON.stringify([...arms, experiment.conversions.map((c) => c.name)]);
}
//# sourceMappingURL=experiment-file.js.map