/**
 * The sticky hash: MurmurHash3 (x86, 32-bit, seed 0) over the bytes of `salt + "\n" + key`, reduced to a bucket in
 * 0..9999. A weight of w % sends bucket b to the canary iff b < w·100, so raising w only ever adds buckets
 * (stable→canary) and every replica, restart and language that implements MurmurHash3 agrees.
 *
 * Bytes: the salt's UTF-8, and the key's bytes as the client sent them. node:http decodes header bytes as latin1,
 * so a received value's char codes are those bytes (`müller` sent as UTF-8 arrives as "mÃ¼ller"); the request
 * path hashes them with `saltedBucketLatin1`, never re-encoding. A cookie key is the cookie's value as sent (not
 * percent-decoded; see context.ts). `bucketOf` takes a key as text (UTF-8), for tests, docs and tools: for the
 * same user both give the same bucket.
 *
 * Written here rather than taken from npm: the packages at hand hash UTF-16 code units (so non-ASCII keys would
 * disagree with other implementations) or allocate per call; this one reads ASCII strings without allocating and
 * is pinned by the reference vectors in test/hash.test.ts.
 */
export const BUCKETS = 10_000;

export function bucketOf(salt: string, key: string): number {
  return murmur3(salt + '\n' + key) % BUCKETS;
}

/**
 * MurmurHash3's state after the bytes of `salt + "\n"`: whole blocks mixed into `h`, the 0–3 bytes left over
 * waiting in `tail`. Worked out once per route, so hashing a request's key neither concatenates nor allocates.
 */
export interface SaltState {
  readonly salt: string;
  readonly h: number;
  readonly tail: number;
  readonly tailBytes: number;
  readonly length: number;
}

export function saltState(salt: string): SaltState {
  const bytes = Buffer.from(`${salt}\n`, 'utf8');
  const blocks = bytes.length & ~3;
  let h = 0;
  for (let i = 0; i < blocks; i += 4) h = mixBlock(h, bytes[i] | (bytes[i + 1] << 8) | (bytes[i + 2] << 16) | (bytes[i + 3] << 24));
  let tail = 0;
  for (let i = blocks; i < bytes.length; i++) tail |= bytes[i] << (8 * (i - blocks));
  return Object.freeze({ salt, h, tail, tailBytes: bytes.length - blocks, length: bytes.length });
}

/**
 * The request path's bucket: `key` holds the bytes the client sent, one per char (latin1, as node:http decodes
 * header values). Equals `bucketOf(salt, text)` where `key` is the UTF-8 of `text`. A char above 0xFF cannot come
 * off the wire; such a string is taken as text (UTF-8) rather than truncated.
 */
export function saltedBucketLatin1(state: SaltState, key: string): number {
  return saltedBucketOfBytes(state, key, 0xff);
}

/** Same as `bucketOf(state.salt, key)`: `key` as text (UTF-8). */
export function saltedBucket(state: SaltState, key: string): number {
  return saltedBucketOfBytes(state, key, 0x7f);
}

/**
 * Hashes `key`'s char codes as bytes after the pre-hashed salt, without allocating, while every code is at most
 * `maxByte` (0xff: latin1 bytes as sent; 0x7f: ASCII, where UTF-8 is the same bytes); otherwise as UTF-8 text.
 */
function saltedBucketOfBytes(state: SaltState, key: string, maxByte: number): number {
  let h = state.h;
  let k = state.tail;
  let filled = state.tailBytes;
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    if (c > maxByte) return bucketOf(state.salt, key);
    k |= c << (filled << 3);
    if (++filled === 4) {
      h = mixBlock(h, k);
      k = 0;
      filled = 0;
    }
  }
  if (filled > 0) h ^= mixTail(k);
  return finalize(h, state.length + key.length) % BUCKETS;
}

/** Weight in percent (two decimals) → the number of buckets that go to the canary. */
export function weightToBuckets(weightPercent: number): number {
  return Math.round(weightPercent * 100);
}

const C1 = 0xcc9e2d51;
const C2 = 0x1b873593;

export function murmur3(text: string, seed = 0): number {
  for (let i = 0; i < text.length; i++) {
    if (text.charCodeAt(i) > 0x7f) return murmur3Bytes(Buffer.from(text, 'utf8'), seed);
  }
  let h = seed >>> 0;
  const length = text.length;
  const blocks = length & ~3;
  let i = 0;
  for (; i < blocks; i += 4) {
    let k =
      text.charCodeAt(i) | (text.charCodeAt(i + 1) << 8) | (text.charCodeAt(i + 2) << 16) | (text.charCodeAt(i + 3) << 24);
    h = mixBlock(h, k);
  }
  let k = 0;
  switch (length & 3) {
    case 3:
      k ^= text.charCodeAt(i + 2) << 16;
    // falls through
    case 2:
      k ^= text.charCodeAt(i + 1) << 8;
    // falls through
    case 1:
      k ^= text.charCodeAt(i);
      h ^= mixTail(k);
  }
  return finalize(h, length);
}

export function murmur3Bytes(bytes: Uint8Array, seed = 0): number {
  let h = seed >>> 0;
  const length = bytes.length;
  const blocks = length & ~3;
  let i = 0;
  for (; i < blocks; i += 4) {
    h = mixBlock(h, bytes[i] | (bytes[i + 1] << 8) | (bytes[i + 2] << 16) | (bytes[i + 3] << 24));
  }
  let k = 0;
  switch (length & 3) {
    case 3:
      k ^= bytes[i + 2] << 16;
    // falls through
    case 2:
      k ^= bytes[i + 1] << 8;
    // falls through
    case 1:
      k ^= bytes[i];
      h ^= mixTail(k);
  }
  return finalize(h, length);
}

function mixTail(k: number): number {
  k = Math.imul(k, C1);
  k = (k << 15) | (k >>> 17);
  return Math.imul(k, C2);
}

function mixBlock(h: number, k: number): number {
  h ^= mixTail(k);
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

function finalize(h: number, length: number): number {
  h ^= length;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
