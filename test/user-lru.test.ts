/**
 * The experiments' own LRU (src/experiments/user-lru.ts): the same order and evictions as lru-cache, which it
 * replaces for experiment users, and a snapshot that later changes do not reach.
 */
import { LRUCache } from 'lru-cache';
import { describe, expect, it } from 'vitest';
import { UserLru, type RecencySnapshot, type RemovalReason } from '../src/experiments/user-lru.js';
import { seededRandom as seeded } from './helpers/seeded-random.js';

function entries<V>(snapshot: RecencySnapshot<V>): Array<[string, V]> {
  return Array.from({ length: snapshot.length }, (_, i) => [snapshot.keyAt(i), snapshot.valueAt(i)]);
}

describe('UserLru', () => {
  it('evicts the user seen longest ago, a get counting as seen, and says why each user left', () => {
    const removed: Array<[string, RemovalReason]> = [];
    const lru = new UserLru<number>(3, (key, reason) => removed.push([key, reason]));
    lru.set('a', 1);
    lru.set('b', 2);
    lru.set('c', 3);
    expect(lru.get('a')).toBe(1);
    lru.set('d', 4);
    expect(removed).toEqual([['b', 'evict']]);
    expect(entries(lru.snapshot())).toEqual([['c', 3], ['a', 1], ['d', 4]]);
    // A new value for a known user is no removal, and makes it the most recent.
    lru.set('c', 30);
    expect(removed).toHaveLength(1);
    expect(lru.delete('a')).toBe(true);
    expect(lru.delete('a')).toBe(false);
    expect(lru.get('a')).toBeUndefined();
    expect(entries(lru.snapshot())).toEqual([['d', 4], ['c', 30]]);
    lru.clear();
    expect(lru.size).toBe(0);
    expect(entries(lru.snapshot())).toEqual([]);
    expect(removed).toEqual([['b', 'evict'], ['a', 'delete'], ['d', 'delete'], ['c', 'delete']]);
    lru.set('e', 5);
    expect(entries(lru.snapshot())).toEqual([['e', 5]]);
  });

  it('a snapshot keeps the order and values of its moment through later sets, gets, deletes and evictions', () => {
    const lru = new UserLru<string>(4);
    for (const key of ['a', 'b', 'c', 'd']) lru.set(key, key.toUpperCase());
    const before = lru.snapshot();
    lru.get('a');
    lru.set('b', 'changed');
    lru.delete('c');
    lru.set('e', 'E');
    lru.set('f', 'F');
    expect(entries(before)).toEqual([['a', 'A'], ['b', 'B'], ['c', 'C'], ['d', 'D']]);
    expect(entries(lru.snapshot())).toEqual([['a', 'A'], ['b', 'changed'], ['e', 'E'], ['f', 'F']]);
  });

  it('keeps the same order and evictions as lru-cache over 200 000 random operations, growing past its first slots', () => {
    const random = seeded(15);
    const max = 3_000;
    const ours: string[] = [];
    const theirs: string[] = [];
    const lru = new UserLru<number>(max, (key, reason) => ours.push(`${reason}:${key}`));
    const reference = new LRUCache<string, number>({ max, dispose: (_v, key, reason) => theirs.push(`${reason}:${key}`), noDisposeOnSet: true });
    const differences: string[] = [];
    for (let i = 0; i < 200_000; i++) {
      const key = `user-${Math.floor(random() * max * 1.5)}`;
      const op = random();
      if (op < 0.5) {
        if (lru.get(key) !== reference.get(key)) differences.push(`get ${key} at ${i}`);
      } else if (op < 0.95) {
        lru.set(key, i);
        reference.set(key, i);
      } else if (lru.delete(key) !== reference.delete(key)) differences.push(`delete ${key} at ${i}`);
      if (lru.size !== reference.size) differences.push(`size at ${i}`);
    }
    expect(differences.slice(0, 5)).toEqual([]);
    const expected: Array<[string, number]> = [];
    reference.rforEach((value, key) => expected.push([key, value]));
    expect(entries(lru.snapshot())).toEqual(expected);
    expect(ours.filter((r) => r.startsWith('evict')).length).toBeGreaterThan(1_000);
    expect(ours).toEqual(theirs);
  });

  it('refuses a bound that is not a positive integer', () => {
    expect(() => new UserLru(0)).toThrow(RangeError);
    expect(() => new UserLru(1.5)).toThrow(RangeError);
  });
});
