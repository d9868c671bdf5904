const NONE = -1;
const INITIAL_SLOTS = 1_024;
export class RecencySnapshot {
    #order;
    #keys;
    #values;
    constructor(order, keys, values) {
        this.#order = order;
        this.#keys = keys;
        this.#values = values;
    }
    get length() {
        return this.#order.length;
    }
    keyAt(index) {
        return this.#keys[this.#order[index]];
    }
    valueAt(index) {
        return this.#values[this.#order[index]];
    }
}
export class UserLru {
    max;
    #slots = new Map();
    #keys = [];
    #values = [];
    #next;
    #prev;
    #head = NONE;
    #tail = NONE;
    #free = [];
    #onRemove;
    constructor(max, onRemove = () => undefined) {
        if (!Number.isInteger(max) || max < 1)
            throw new RangeError(`UserLru max must be a positive integer, got ${max}`);
        this.max = max;
        this.#onRemove = onRemove;
        const slots = Math.min(max, INITIAL_SLOTS);
        this.#next = new Int32Array(slots);
        this.#prev = new Int32Array(slots);
    }
    get size() {
        return this.#slots.size;
    }
    get(key) {
        const slot = this.#slots.get(key);
        if (slot === undefined)
            return undefined;
        this.#touch(slot);
        return this.#values[slot];
    }
    set(key, value) {
        const known = this.#slots.get(key);
        if (known !== undefined) {
            this.#values[known] = value;
            this.#touch(known);
            return;
        }
        let slot;
        if (this.#slots.size >= this.max) {
            slot = this.#head;
            const evicted = this.#keys[slot];
            this.#unlink(slot);
            this.#slots.delete(evicted);
            this.#onRemove(evicted, 'evict');
        }
        else {
            slot = this.#free.pop() ?? this.#newSlot();
        }
        this.#keys[slot] = key;
        this.#values[slot] = value;
        this.#slots.set(key, slot);
        this.#append(slot);
    }
    delete(key) {
        const slot = this.#slots.get(key);
        if (slot === undefined)
            return false;
        this.#unlink(slot);
        this.#slots.delete(key);
        this.#keys[slot] = undefined;
        this.#values[slot] = undefined;
        this.#free.push(slot);
        this.#onRemove(key, 'delete');
        return true;
    }
    clear() {
        const keys = [];
        for (let slot = this.#head; slot !== NONE; slot = this.#next[slot])
            keys.push(this.#keys[slot]);
        this.#slots.clear();
        this.#keys.length = 0;
        this.#values.length = 0;
        this.#free.length = 0;
        this.#head = NONE;
        this.#tail = NONE;
        for (const key of keys)
            this.#onRemove(key, 'delete');
    }
    snapshot() {
        const order = new Int32Array(this.#slots.size);
        let count = 0;
        for (let slot = this.#head; slot !== NONE; slot = this.#next[slot])
            order[count++] = slot;
        return new RecencySnapshot(order, this.#keys.slice(), this.#values.slice());
    }
    #newSlot() {
        const slot = this.#keys.length;
        if (slot === this.#next.length) {
            const grown = Math.min(this.max, this.#next.length * 2);
            const next = new Int32Array(grown);
            next.set(this.#next);
            this.#next = next;
            const prev = new Int32Array(grown);
            prev.set(this.#prev);
            this.#prev = prev;
        }
        this.#keys.push(undefined);
        this.#values.push(undefined);
        return slot;
    }
    #touch(slot) {
        if (slot === this.#tail)
            return;
        this.#unlink(slot);
        this.#append(slot);
    }
    #append(slot) {
        this.#prev[slot] = this.#tail;
        this.#next[slot] = NONE;
        if (this.#tail === NONE)
            this.#head = slot;
        else
            this.#next[this.#tail] = slot;
        this.#tail = slot;
    }
    #unlink(slot) {
        const prev = this.#prev[slot];
        const next = this.#next[slot];
        if (prev === NONE)
            this.#head = next;
        else
            this.#next[prev] = next;
        if (next === NONE)
            this.#tail = prev;
        else
            this.#prev[next] = prev;
    }
}
//# sourceMappingURL=user-lru.js.map