export const BUCKETS = 10_000;
export function bucketOf(salt, key) {
    return murmur3(salt + '\n' + key) % BUCKETS;
}
export function saltState(salt) {
    const bytes = Buffer.from(`${salt}\n`, 'utf8');
    const blocks = bytes.length & ~3;
    let h = 0;
    for (let i = 0; i < blocks; i += 4)
        h = mixBlock(h, bytes[i] | (bytes[i + 1] << 8) | (bytes[i + 2] << 16) | (bytes[i + 3] << 24));
    let tail = 0;
    for (let i = blocks; i < bytes.length; i++)
        tail |= bytes[i] << (8 * (i - blocks));
    return Object.freeze({ salt, h, tail, tailBytes: bytes.length - blocks, length: bytes.length });
}
export function saltedBucketLatin1(state, key) {
    return saltedBucketOfBytes(state, key, 0xff);
}
export function saltedBucket(state, key) {
    return saltedBucketOfBytes(state, key, 0x7f);
}
function saltedBucketOfBytes(state, key, maxByte) {
    let h = state.h;
    let k = state.tail;
    let filled = state.tailBytes;
    for (let i = 0; i < key.length; i++) {
        const c = key.charCodeAt(i);
        if (c > maxByte)
            return bucketOf(state.salt, key);
        k |= c << (filled << 3);
        if (++filled === 4) {
            h = mixBlock(h, k);
            k = 0;
            filled = 0;
        }
    }
    if (filled > 0)
        h ^= mixTail(k);
    return finalize(h, state.length + key.length) % BUCKETS;
}
export function weightToBuckets(weightPercent) {
    return Math.round(weightPercent * 100);
}
const C1 = 0xcc9e2d51;
const C2 = 0x1b873593;
export function murmur3(text, seed = 0) {
    for (let i = 0; i < text.length; i++) {
        if (text.charCodeAt(i) > 0x7f)
            return murmur3Bytes(Buffer.from(text, 'utf8'), seed);
    }
    let h = seed >>> 0;
    const length = text.length;
    const blocks = length & ~3;
    let i = 0;
    for (; i < blocks; i += 4) {
        let k = text.charCodeAt(i) | (text.charCodeAt(i + 1) << 8) | (text.charCodeAt(i + 2) << 16) | (text.charCodeAt(i + 3) << 24);
        h = mixBlock(h, k);
    }
    let k = 0;
    switch (length & 3) {
        case 3:
            k ^= text.charCodeAt(i + 2) << 16;
        case 2:
            k ^= text.charCodeAt(i + 1) << 8;
        case 1:
            k ^= text.charCodeAt(i);
            h ^= mixTail(k);
    }
    return finalize(h, length);
}
export function murmur3Bytes(bytes, seed = 0) {
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
        case 2:
            k ^= bytes[i + 1] << 8;
        case 1:
            k ^= bytes[i];
            h ^= mixTail(k);
    }
    return finalize(h, length);
}
function mixTail(k) {
    k = Math.imul(k, C1);
    k = (k << 15) | (k >>> 17);
    return Math.imul(k, C2);
}
function mixBlock(h, k) {
    h ^= mixTail(k);
    h = (h << 13) | (h >>> 19);
    return (Math.imul(h, 5) + 0xe6546b64) | 0;
}
function finalize(h, length) {
    h ^= length;
    h ^= h >>> 16;
    h = Math.imul(h, 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    h ^= h >>> 16;
    return h >>> 0;
}
//# sourceMappingURL=hash.js.map