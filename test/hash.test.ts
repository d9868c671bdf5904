import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BUCKETS, bucketOf, murmur3, murmur3Bytes, saltedBucket, saltedBucketLatin1, saltState, weightToBuckets } from '../src/routing/hash.js';

describe('murmur3 (x86, 32-bit)', () => {
  // Published MurmurHash3_x86_32 vectors: any implementation in any language must give these.
  it.each([
    ['', 0, 0x00000000],
    ['', 1, 0x514e28b7],
    ['', 0xffffffff, 0x81f16f39],
    ['a', 0, 0x3c2569b2],
    ['abc', 0, 0xb3dd93fa],
    ['abcd', 0x9747b28c, 0xf0478627],
    ['aaaa', 0x9747b28c, 0x5a97808a],
    ['hello', 0, 0x248bfa47],
    ['Hello, world!', 1234, 0xfaf6cdb3],
    ['Hello, world!', 0x9747b28c, 0x24884cba],
    ['The quick brown fox jumps over the lazy dog', 0, 0x2e4ff723],
    ['ππππππππ', 0x9747b28c, 0xd58063c1],
  ])('murmur3(%j, %d) = %d', (text, seed, expected) => {
    expect(murmur3(text, seed)).toBe(expected);
  });

  it('hashes strings as their UTF-8 bytes', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), fc.integer({ min: 0, max: 0xffffffff }), (text, seed) => {
        expect(murmur3(text, seed)).toBe(murmur3Bytes(Buffer.from(text, 'utf8'), seed));
      }),
    );
  });
});

describe('bucketOf', () => {
  // Fixed key→bucket vectors: if these change, every user in every running rollout moves. Change them only with a
  // migration plan.
  it.each([
    ['api', 'alice', 9727],
    ['api', 'bob', 8961],
    ['web', 'alice', 1803],
  ])('bucketOf(%j, %j) = %d', (salt, key, bucket) => {
    expect(bucketOf(salt, key)).toBe(bucket);
  });

  it('stays in 0..9999 and is deterministic', () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), (salt, key) => {
        const bucket = bucketOf(salt, key);
        expect(bucket).toBeGreaterThanOrEqual(0);
        expect(bucket).toBeLessThan(BUCKETS);
        expect(Number.isInteger(bucket)).toBe(true);
        expect(bucketOf(salt, key)).toBe(bucket);
      }),
    );
  });
});

describe('saltedBucket (the data path: salt pre-hashed once per route)', () => {
  it('equals bucketOf for every salt and key, ASCII or not, of every length', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 40 }), fc.string({ unit: 'binary', maxLength: 40 }), (salt, key) => {
        expect(saltedBucket(saltState(salt), key)).toBe(bucketOf(salt, key));
      }),
      { numRuns: 5_000 },
    );
    fc.assert(
      fc.property(fc.string({ maxLength: 12 }), fc.string({ maxLength: 12 }), (salt, key) => {
        expect(saltedBucket(saltState(salt), key)).toBe(bucketOf(salt, key));
      }),
      { numRuns: 5_000 },
    );
  });

  it('keeps the fixed vectors', () => {
    expect(saltedBucket(saltState('api'), 'alice')).toBe(9727);
    expect(saltedBucket(saltState('web'), 'alice')).toBe(1803);
  });
});

describe('saltedBucketLatin1 (the request path: the key as the bytes the client sent, one per char)', () => {
  /** What node:http makes of `text` sent as UTF-8: each byte one char (latin1). */
  const received = (text: string) => Buffer.from(text, 'utf8').toString('latin1');

  it.each([
    ['api', 'alice', 9727],
    ['web', 'alice', 1803],
    // The documented vector: `müller` as UTF-8 (6d c3 bc 6c 6c 65 72). Re-encoding the received string as UTF-8
    // gave 4904.
    ['api', 'müller', 2818],
  ])('salt %j, key %j sent as UTF-8 → %d', (salt, key, bucket) => {
    expect(saltedBucketLatin1(saltState(salt), received(key))).toBe(bucket);
    expect(bucketOf(salt, key)).toBe(bucket);
  });

  it('no longer hashes a received non-ASCII key as the UTF-8 of its latin1 decoding', () => {
    expect(bucketOf('api', received('müller'))).toBe(4904);
    expect(saltedBucketLatin1(saltState('api'), received('müller'))).not.toBe(4904);
  });

  it('equals bucketOf of the text for every text sent as UTF-8, and murmur3 of the bytes for every byte string', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 20 }), fc.string({ unit: 'binary', maxLength: 40 }), (salt, key) => {
        expect(saltedBucketLatin1(saltState(salt), received(key))).toBe(bucketOf(salt, key));
      }),
      { numRuns: 5_000 },
    );
    fc.assert(
      fc.property(fc.string({ maxLength: 12 }), fc.uint8Array({ maxLength: 40 }), (salt, bytes) => {
        const wire = Buffer.from(bytes).toString('latin1');
        const expected = murmur3Bytes(Buffer.concat([Buffer.from(`${salt}\n`, 'utf8'), bytes])) % BUCKETS;
        expect(saltedBucketLatin1(saltState(salt), wire)).toBe(expected);
      }),
      { numRuns: 5_000 },
    );
  });

  it('takes a string that cannot have come off the wire (a char above 0xFF) as text', () => {
    expect(saltedBucketLatin1(saltState('api'), 'm€ller')).toBe(bucketOf('api', 'm€ller'));
  });
});

describe('weighted split over 100 000 random keys', () => {
  const keys = fc.sample(fc.uuid(), { numRuns: 100_000, seed: 42 });
  const buckets = keys.map((key) => bucketOf('api', key));

  it.each([0.5, 1, 10, 50])('canary share at %d %% is within ±0.5 percentage points', (weight) => {
    const threshold = weightToBuckets(weight);
    const canary = buckets.filter((bucket) => bucket < threshold).length;
    expect(Math.abs((canary / keys.length) * 100 - weight)).toBeLessThanOrEqual(0.5);
  });

  it('is monotonic: canary at weight w stays canary at every higher weight', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: keys.length - 1 }),
        fc.integer({ min: 0, max: 10_000 }),
        fc.integer({ min: 0, max: 10_000 }),
        (index, a, b) => {
          const [low, high] = a <= b ? [a, b] : [b, a];
          const bucket = buckets[index];
          if (bucket < low) expect(bucket < high).toBe(true);
        },
      ),
      { numRuns: 100_000 },
    );
  });

  it('routes salted by name pick independent sets of users', () => {
    const threshold = weightToBuckets(10);
    let both = 0;
    let inApi = 0;
    for (const key of keys) {
      const api = bucketOf('api', key) < threshold;
      const web = bucketOf('web', key) < threshold;
      if (api) inApi++;
      if (api && web) both++;
    }
    // Independent 10 % draws overlap on ~1 % of users; the same salt would overlap on 10 %.
    expect(both / keys.length).toBeGreaterThan(0.007);
    expect(both / keys.length).toBeLessThan(0.013);
    expect(both / inApi).toBeLessThan(0.15);
  });
});

describe('weightToBuckets', () => {
  it.each([
    [0, 0],
    [0.01, 1],
    [0.5, 50],
    [10, 1000],
    [33.33, 3333],
    [100, 10_000],
  ])('%d %% → %d buckets', (weight, buckets) => {
    expect(weightToBuckets(weight)).toBe(buckets);
  });
});
