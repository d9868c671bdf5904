import { readFileSync } from 'node:fs';
import { endianness } from 'node:os';
import { resolve } from 'node:path';
import { writeAtomically } from '../control/state-file.js';
const MINUTE = 60_000;
const MAGIC = 'splitgate-slo 2\n';
export const MAX_SLO_WINDOW_MS = 90 * 86_400_000;
export const MIN_SLO_WINDOW_MS = 3_600_000;
export class SloLedger {
    spanMs;
    #minutes;
    #requests;
    #errors;
    constructor(spanMs) {
        this.spanMs = spanMs;
        const size = Math.ceil(spanMs / MINUTE) + 1;
        this.#minutes = new Int32Array(size).fill(-1);
        this.#requests = new Float64Array(size);
        this.#errors = new Float64Array(size);
    }
    add(atMs, requests, errors) {
        const minute = Math.floor(atMs / MINUTE);
        const index = minute % this.#minutes.length;
        if (this.#minutes[index] !== minute) {
            if (this.#minutes[index] > minute)
                return;
            this.#minutes[index] = minute;
            this.#requests[index] = 0;
            this.#errors[index] = 0;
        }
        this.#requests[index] += requests;
        this.#errors[index] += errors;
    }
    counts(nowMs, spanMs) {
        const last = Math.floor(nowMs / MINUTE);
        const first = Math.floor((nowMs - Math.min(spanMs, this.spanMs)) / MINUTE) + 1;
        let requests = 0;
        let errors = 0;
        for (let minute = Math.max(first, last - this.#minutes.length + 1); minute <= last; minute++) {
            const index = minute % this.#minutes.length;
            if (this.#minutes[index] !== minute)
                continue;
            requests += this.#requests[index];
            errors += this.#errors[index];
        }
        return { requests, errors };
    }
    get byteLength() {
        return this.#minutes.byteLength + this.#requests.byteLength + this.#errors.byteLength;
    }
    copyInto(target, offset) {
        for (const array of [this.#minutes, this.#requests, this.#errors]) {
            target.set(new Uint8Array(array.buffer, array.byteOffset, array.byteLength), offset);
            offset += array.byteLength;
        }
    }
    static fromBytes(spanMs, bytes) {
        const ledger = new SloLedger(spanMs);
        if (bytes.length !== ledger.byteLength)
            throw new Error(`${bytes.length} bytes, not the ${ledger.byteLength} of a ${spanMs} ms window`);
        const size = ledger.#minutes.length;
        const minutes = new Int32Array(size);
        const requests = new Float64Array(size);
        const errors = new Float64Array(size);
        let offset = 0;
        for (const array of [minutes, requests, errors]) {
            new Uint8Array(array.buffer).set(bytes.subarray(offset, offset + array.byteLength));
            offset += array.byteLength;
        }
        const nowMinute = Math.floor(Date.now() / MINUTE);
        for (let index = 0; index < size; index++) {
            if (minutes[index] < 0 || minutes[index] > nowMinute || !isCount(requests[index]) || !isCount(errors[index]))
                continue;
            ledger.add(minutes[index] * MINUTE, requests[index], errors[index]);
        }
        return ledger;
    }
}
function isCount(value) {
    return typeof value === 'number' && Number.isFinite(value) && value >= 0;
}
export class SloLedgerBook {
    #entries = new Map();
    #options;
    #lastSave;
    #saving = false;
    #queue = Promise.resolve();
    #held = false;
    static forStateFile(stateFile, onError) {
        return new SloLedgerBook(stateFile === false ? {} : { file: `${resolve(stateFile)}.slo`, onError });
    }
    constructor(options = {}) {
        this.#options = options;
        this.#lastSave = (options.now ?? Date.now)();
        if (options.file !== undefined)
            this.#load(options.file);
    }
    entryFor(route, spanMs) {
        let entry = this.#entries.get(route);
        if (entry === undefined || entry.ledger.spanMs !== spanMs) {
            entry = { ledger: new SloLedger(spanMs), fedThroughSecond: -1 };
            this.#entries.set(route, entry);
            this.#held = true;
        }
        return entry;
    }
    retain(routes) {
        for (const route of this.#entries.keys())
            if (!routes.has(route))
                this.#entries.delete(route);
    }
    saveSoon() {
        const now = (this.#options.now ?? Date.now)();
        if (this.#options.file === undefined || this.#saving || now - this.#lastSave < (this.#options.saveEveryMs ?? 60_000))
            return;
        this.#lastSave = now;
        this.#saving = true;
        void this.save().finally(() => (this.#saving = false));
    }
    save() {
        const file = this.#options.file;
        if (file === undefined || !this.#held)
            return this.#queue;
        const bytes = this.#bytes();
        const write = this.#queue.then(() => writeAtomically(file, bytes)).catch((error) => this.#options.onError?.(`cannot save the SLO ledger ${file}: ${error.message}`));
        this.#queue = write;
        return write;
    }
    #bytes() {
        const routes = [...this.#entries].map(([route, entry]) => ({ route, spanMs: entry.ledger.spanMs, fedThroughSecond: entry.fedThroughSecond, bytes: entry.ledger.byteLength }));
        const head = Buffer.from(`${MAGIC}${JSON.stringify({ endianness: endianness(), routes })}\n`);
        const file = Buffer.allocUnsafe(head.length + routes.reduce((sum, route) => sum + route.bytes, 0));
        head.copy(file, 0);
        let offset = head.length;
        for (const entry of this.#entries.values()) {
            entry.ledger.copyInto(file, offset);
            offset += entry.ledger.byteLength;
        }
        return file;
    }
    #load(file) {
        let entries;
        try {
            entries = parseBook(readFileSync(file));
            this.#held = true;
        }
        catch (error) {
            if (error.code !== 'ENOENT')
                this.#options.onError?.(`SLO ledger ${file} not loaded, starting empty: ${error.message}`);
            return;
        }
        for (const [route, load] of entries) {
            try {
                this.#entries.set(route, load());
            }
            catch (error) {
                this.#options.onError?.(`SLO ledger ${file}: route ${JSON.stringify(route)} not loaded, its budget starts empty: ${error.message}`);
            }
        }
    }
}
function parseBook(file) {
    if (file.subarray(0, MAGIC.length).toString('latin1') !== MAGIC) {
        const saved = JSON.parse(file.toString('utf8'));
        if (!isObject(saved) || !isObject(saved.routes))
            throw new Error('not an SLO ledger (no routes object)');
        return Object.entries(saved.routes).map(([route, entry]) => [route, () => loadVersion1(entry)]);
    }
    const end = file.indexOf(0x0a, MAGIC.length);
    if (end < 0)
        throw new Error('no header line');
    const head = JSON.parse(file.subarray(MAGIC.length, end).toString('utf8'));
    if (!isObject(head) || !Array.isArray(head.routes))
        throw new Error('not an SLO ledger (no routes list)');
    if (head.endianness !== endianness())
        throw new Error(`saved on a ${String(head.endianness)} machine, this one is ${endianness()}`);
    const out = [];
    let offset = end + 1;
    for (const [index, entry] of head.routes.entries()) {
        if (!isObject(entry) || typeof entry.bytes !== 'number' || !Number.isSafeInteger(entry.bytes) || entry.bytes < 0)
            throw new Error(`route entry ${index} has no byte count`);
        const bytes = file.subarray(offset, offset + entry.bytes);
        offset += entry.bytes;
        out.push([String(entry.route), () => ({ ledger: SloLedger.fromBytes(savedWindow(entry.spanMs), bytes), fedThroughSecond: savedSecond(entry.fedThroughSecond) })]);
    }
    return out;
}
function loadVersion1(saved) {
    if (!isObject(saved) || !Array.isArray(saved.minutes))
        throw new Error('no minutes list');
    const ledger = new SloLedger(savedWindow(saved.spanMs));
    const nowMinute = Math.floor(Date.now() / MINUTE);
    for (const minute of saved.minutes)
        if (Array.isArray(minute) && minute.length === 3 && minute.every(isCount) && minute[0] <= nowMinute)
            ledger.add(minute[0] * MINUTE, minute[1], minute[2]);
    return { ledger, fedThroughSecond: savedSecond(saved.fedThroughSecond) };
}
function savedWindow(spanMs) {
    if (typeof spanMs !== 'number' || !Number.isInteger(spanMs) || spanMs < MIN_SLO_WINDOW_MS || spanMs > MAX_SLO_WINDOW_MS)
        throw new Error(`window ${String(spanMs)} ms is not between 1h and 90d`);
    return spanMs;
}
function savedSecond(second) {
    return typeof second === 'number' && Number.isFinite(second) ? second : -1;
}
function isObject(value) {
    return typeof value === 'object' && value !== null && !Array.isArray(value);
}
//# sourceMappingURL=slo-ledger.js.map