/**
 * The users one experiment remembers, the one seen longest ago forgotten first: an LRU as lru-cache builds one (a
 * Map from key to slot, the recency order a doubly linked list in typed arrays), plus what lru-cache lacks, a
 * snapshot of the whole order that holds the event loop briefly.
 *
 * The experiments file saves every user in recency order about every 15 s (experiment-file.ts). Walking
 * lru-cache's order checks each slot with a Map lookup of its key, a cache miss or two per user in a random
 * order: 35–60 ms of event loop for 100 000 users (maxUsers' default), every save, in the process that proxies.
 * Here a snapshot follows the list through one typed array and copies the two slot arrays, a few ms for the same
 * users; the keys and values are read from the copies later, in slices (loadtest/experiment-file.mjs measures both).
 */

/** Why a user left: `evict`, pushed out by a new one past `max`; `delete`, taken out (a delete or a clear). */
export type RemovalReason = 'evict' | 'delete';

const NONE = -1;
const INITIAL_SLOTS = 1_024;

/** The order at one moment, least recently seen first; later changes to the LRU do not reach it. */
export class RecencySnapshot<V> {
  readonly #order: Int32Array;
  readonly #keys: ReadonlyArray<string | undefined>;
  readonly #values: ReadonlyArray<V | undefined>;

  constructor(order: Int32Array, keys: ReadonlyArray<string | undefined>, values: ReadonlyArray<V | undefined>) {
    this.#order = order;
    this.#keys = keys;
    this.#values = values;
  }

  get length(): number {
    return this.#order.length;
  }

  keyAt(index: number): string {
    return this.#keys[this.#order[index]]!;
  }

  valueAt(index: number): V {
    return this.#values[this.#order[index]]!;
  }
}

export class UserLru<V> {
  readonly max: number;
  readonly #slots = new Map<string, number>();
  readonly #keys: Array<string | undefined> = [];
  readonly #values: Array<V | undefined> = [];
  #next: Int32Array;
  #prev: Int32Array;
  /** Least recently seen. */
  #head = NONE;
  /** Most recently seen. */
  #tail = NONE;
  /** Slots given back by delete, handed out again before new ones. */
  readonly #free: number[] = [];
  readonly #onRemove: (key: string, reason: RemovalReason) => void;

  constructor(max: number, onRemove: (key: string, reason: RemovalReason) => void = () => undefined) {
    if (!Number.isInteger(max) || max < 1) throw new RangeError(`UserLru max must be a positive integer, got ${max}`);
    this.max = max;
    this.#onRemove = onRemove;
    // Grown by doubling up to max: an experiment that sees few users holds few slots.
    const slots = Math.min(max, INITIAL_SLOTS);
    this.#next = new Int32Array(slots);
    this.#prev = new Int32Array(slots);
  }

  get size(): number {
    return this.#slots.size;
  }

  /** The user's value, now the most recently seen. */
  get(key: string): V | undefined {
    const slot = this.#slots.get(key);
    if (slot === undefined) return undefined;
    this.#touch(slot);
    return this.#values[slot];
  }

  /** Remembers (or replaces) the user's value as the most recently seen; past `max` the least recent is evicted. */
  set(key: string, value: V): void {
    const known = this.#slots.get(key);
    if (known !== undefined) {
      this.#values[known] = value;
      this.#touch(known);
      return;
    }
    let slot: number;
    if (this.#slots.size >= this.max) {
      slot = this.#head;
      const evicted = this.#keys[slot]!;
      this.#unlink(slot);
      this.#slots.delete(evicted);
      this.#onRemove(evicted, 'evict');
    } else {
      slot = this.#free.pop() ?? this.#newSlot();
    }
    this.#keys[slot] = key;
    this.#values[slot] = value;
    this.#slots.set(key, slot);
    this.#append(slot);
  }

  delete(key: string): boolean {
    const slot = this.#slots.get(key);
    if (slot === undefined) return false;
    this.#unlink(slot);
    this.#slots.delete(key);
    this.#keys[slot] = undefined;
    this.#values[slot] = undefined;
    this.#free.push(slot);
    this.#onRemove(key, 'delete');
    return true;
  }

  /** Forgets every user, telling onRemove of each, least recently seen first. */
  clear(): void {
    const keys: string[] = [];
    for (let slot = this.#head; slot !== NONE; slot = this.#next[slot]) keys.push(this.#keys[slot]!);
    this.#slots.clear();
    this.#keys.length = 0;
    this.#values.length = 0;
    this.#free.length = 0;
    this.#head = NONE;
    this.#tail = NONE;
    for (const key of keys) this.#onRemove(key, 'delete');
  }

  /** Every user, least recently seen first, as they are now. */
  snapshot(): RecencySnapshot<V> {
    const order = new Int32Array(this.#slots.size);
    let count = 0;
    for (let slot = this.#head; slot !== NONE; slot = this.#next[slot]) order[count++] = slot;
    return new RecencySnapshot(order, this.#keys.slice(), this.#values.slice());
  }

  #newSlot(): number {
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

  #touch(slot: number): void {
    if (slot === this.#tail) return;
    this.#unlink(slot);
    this.#append(slot);
  }

  #append(slot: number): void {
    this.#prev[slot] = this.#tail;
    this.#next[slot] = NONE;
    if (this.#tail === NONE) this.#head = slot;
    else this.#next[this.#tail] = slot;
    this.#tail = slot;
  }

  #unlink(slot: number): void {
    const prev = this.#prev[slot];
    const next = this.#next[slot];
    if (prev === NONE) this.#head = next;
    else this.#next[prev] = next;
    if (next === NONE) this.#tail = prev;
    else this.#prev[next] = prev;
  }
}
