/**
 * A route's memo of finished flags headers by evaluation context (route-flags.ts `requestFlagsHeader`). Evaluation
 * is a pure function of the compiled flag set and the context, except targeting that reads the clock, whose routes
 * get no memo (clock-reads.ts); users send many requests with the same sticky key and attribute values, so a
 * repeat skips the context object and every flag's evaluation. Each routing table compiles its own RouteFlags and
 * so starts with an empty memo: a reload, a flag override or a weight change can never meet an older table's
 * entries.
 *
 * An entry is found by the targeting key (the sticky key: one string, already at hand, so a lookup hashes a few
 * bytes and builds nothing) and holds the whole context it was evaluated for: the targeting key and every declared
 * attribute's value, compared with `Object.is` (absent, "", 0 and "0" all differ, as they may to targeting).
 * A request without a targeting key is found by its attribute values joined instead. The lookup key only finds a
 * candidate; the comparison decides, so two contexts that share a lookup key can only cost a miss. A context with a
 * value that is not a string, number, boolean or null (an object from a JWT claim) is evaluated, not memoized; so
 * is one whose strings add up to more than MAX_FLAGS_MEMO_CONTEXT_LENGTH, so clients cannot make the memo hold
 * large strings.
 */
import type { FlagOutcome } from './flag-set.js';

/**
 * Entries per route, by default: 550–720 bytes each with the bench's 10 flags and four attributes (the entry, the
 * attribute values, the ~170-byte header once undici has flattened it, the outcomes array; measured,
 * loadtest/README.md "a memo of the flags header"), so ~1.1–1.5 MB per route and process once full, against the
 * ~35–40 MB a worker holds alone (README "Memory"). A worker's 2048 most recent users of a route cover the repeats
 * of a session; more only spends memory.
 */
export const DEFAULT_FLAGS_MEMO_SIZE = 2048;

/** The most `flags.memo.size` accepts: ~40 MB per route once full, already as much as a worker's own memory. */
export const MAX_FLAGS_MEMO_SIZE = 65536;

/** Contexts whose strings add up to more are not memoized: the bound is on bytes, not only entries. */
export const MAX_FLAGS_MEMO_CONTEXT_LENGTH = 512;

/** One context and its result: the header value, and every flag's outcome, counted again on each hit. */
export class MemoizedFlags {
  constructor(
    readonly targetingKey: string | null,
    /** The route's attributes' values in declaration order, undefined for an absent one. */
    readonly values: readonly unknown[],
    readonly header: string,
    readonly outcomes: readonly FlagOutcome[],
  ) {}
}

/**
 * At most `size` entries in two generations of `size / 2`: new entries go to the young one; when it is full it
 * becomes the old one and the previous old one is dropped whole; a hit in the old generation is copied to the young
 * one. So an entry used within the last `size / 2` insertions survives, as in an LRU of that size at least, with
 * no list to relink on a hit (a Map lookup, two at most) and no storage reserved before use (lru-cache allocates
 * its arrays for `max` entries up front, per route and table, also on a supervisor that serves nothing). A context
 * gets an entry on its second sight (`admits`: the keys of first sights are kept apart, in two generations of sets
 * of the same size), so a flood of users seen once neither pushes out the users who return nor pays for entries.
 */
export class FlagsMemo {
  #young = new Map<string, MemoizedFlags>();
  #old = new Map<string, MemoizedFlags>();
  #seenYoung = new Set<string>();
  #seenOld = new Set<string>();
  readonly #generation: number;

  constructor(readonly size: number) {
    this.#generation = Math.max(1, Math.floor(size / 2));
  }

  get(key: string): MemoizedFlags | undefined {
    const young = this.#young.get(key);
    if (young !== undefined) return young;
    const old = this.#old.get(key);
    if (old !== undefined) this.set(key, old);
    return old;
  }

  set(key: string, entry: MemoizedFlags): void {
    if (this.#young.size >= this.#generation) {
      this.#old = this.#young;
      this.#young = new Map();
    }
    this.#young.set(key, entry);
  }

  /**
   * Whether a context with no entry yet should get one: not on its first sight within the span, which only notes
   * its key. A context seen once (most of them, when users do not come back) then costs a key in a set, not an
   * entry kept alive, and aged by the GC, until it falls out; a user's third request is a hit.
   */
  admits(key: string): boolean {
    if (this.#seenYoung.has(key) || this.#seenOld.has(key)) return true;
    if (this.#seenYoung.size >= this.#generation) {
      this.#seenOld = this.#seenYoung;
      this.#seenYoung = new Set();
    }
    this.#seenYoung.add(key);
    return false;
  }

  /** Entries held, counting one that was copied to the young generation twice: never above `size`. */
  get held(): number {
    return this.#young.size + this.#old.size;
  }
}
