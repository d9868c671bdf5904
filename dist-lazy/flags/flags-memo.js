export const DEFAULT_FLAGS_MEMO_SIZE = 2048;
export const MAX_FLAGS_MEMO_SIZE = 65536;
export const MAX_FLAGS_MEMO_CONTEXT_LENGTH = 512;
export class MemoizedFlags {
    targetingKey;
    values;
    header;
    outcomes;
    constructor(targetingKey, values, header, outcomes) {
        this.targetingKey = targetingKey;
        this.values = values;
        this.header = header;
        this.outcomes = outcomes;
    }
}
export class FlagsMemo {
    size;
    #young = new Map();
    #old = new Map();
    #seenYoung = new Set();
    #seenOld = new Set();
    #generation;
    constructor(size) {
        this.size = size;
        this.#generation = Math.max(1, Math.floor(size / 2));
    }
    get(key) {
        const young = this.#young.get(key);
        if (young !== undefined)
            return young;
        const old = this.#old.get(key);
        if (old !== undefined)
            this.set(key, old);
        return old;
    }
    set(key, entry) {
        if (this.#young.size >= this.#generation) {
            this.#old = this.#young;
            this.#young = new Map();
        }
        this.#young.set(key, entry);
    }
    admits(key) {
        if (this.#seenYoung.has(key) || this.#seenOld.has(key))
            return true;
        if (this.#seenYoung.size >= this.#generation) {
            this.#seenOld = this.#seenYoung;
            this.#seenYoung = new Set();
        }
        this.#seenYoung.add(key);
        return false;
    }
    get held() {
        return this.#young.size + this.#old.size;
    }
}
//# sourceMappingURL=flags-memo.js.map