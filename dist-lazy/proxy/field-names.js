import { interned } from '../routing/interned.js';
import { HOP_BY_HOP } from './request-head.js';
const NAMES_PER_LENGTH = 8;
const LONGEST_CACHED = 64;
const LONGEST_REMEMBERED_VALUE = 256;
class UncachedName {
    text;
    lower;
    hopByHop;
    constructor(text, lower, hopByHop) {
        this.text = text;
        this.lower = lower;
        this.hopByHop = hopByHop;
    }
    value(bytes) {
        return bytes.toString('latin1');
    }
}
class CachedName {
    bytes;
    text;
    lower;
    hopByHop;
    #lastValue = '';
    constructor(bytes, text, lower) {
        this.bytes = Buffer.from(bytes);
        this.text = interned(text);
        this.lower = interned(lower);
        this.hopByHop = HOP_BY_HOP.has(lower);
    }
    value(bytes) {
        const last = this.#lastValue;
        const length = bytes.length;
        if (length === last.length && sameBytesAsText(bytes, last, length))
            return last;
        const text = bytes.toString('latin1');
        if (length <= LONGEST_REMEMBERED_VALUE)
            this.#lastValue = text;
        return text;
    }
}
export class FieldNameCache {
    #byLength = [];
    get(bytes) {
        const length = bytes.length;
        const entries = this.#byLength[length];
        if (entries !== undefined) {
            for (let i = 0; i < entries.length; i++) {
                if (sameBytes(entries[i].bytes, bytes, length))
                    return entries[i];
            }
        }
        return this.#add(bytes, entries);
    }
    #add(bytes, entries) {
        const text = bytes.toString('latin1');
        const lower = text.toLowerCase();
        if (bytes.length > LONGEST_CACHED || (entries !== undefined && entries.length >= NAMES_PER_LENGTH)) {
            return new UncachedName(text, lower, HOP_BY_HOP.has(lower));
        }
        const entry = new CachedName(bytes, text, lower);
        (this.#byLength[bytes.length] ??= []).push(entry);
        return entry;
    }
}
function sameBytes(a, b, length) {
    if (a[length - 1] !== b[length - 1])
        return false;
    for (let i = 0; i < length - 1; i++)
        if (a[i] !== b[i])
            return false;
    return true;
}
function sameBytesAsText(bytes, text, length) {
    for (let i = 0; i < length; i++)
        if (bytes[i] !== text.charCodeAt(i))
            return false;
    return true;
}
//# sourceMappingURL=field-names.js.map