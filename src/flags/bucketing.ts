/**
 * Migration bucketing: the percentage formulas apps commonly hand-roll, reproduced exactly so that moving a flag
 * from the app to the edge flips no user's variant.
 *
 *   crc32-mod100: crc32(key) % 100          (CRC-32/ISO-HDLC, the zlib/PNG/Python `zlib.crc32` one, unsigned)
 *   md5-mod100:   int(md5(key).hex, 16) % 100 (the whole 128-bit digest as an unsigned integer)
 *
 * The key is the UTF-8 bytes of the targeting key alone (no flag-key prefix, unlike flagd's `fractional`).
 */
import { createHash } from 'node:crypto';

export const BUCKETING_METHODS = ['crc32-mod100', 'md5-mod100'] as const;
export type BucketingMethod = (typeof BUCKETING_METHODS)[number];

const CRC32_TABLE = (() => {
  const table = new Int32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c;
  }
  return table;
})();

/** CRC-32/ISO-HDLC of `bytes`, unsigned. Written out because node:zlib's crc32 arrived only in Node 20.15/22.2. */
export function crc32(bytes: Uint8Array): number {
  let crc = -1;
  for (let i = 0; i < bytes.length; i++) crc = CRC32_TABLE[(crc ^ bytes[i]) & 0xff] ^ (crc >>> 8);
  return (crc ^ -1) >>> 0;
}

/** 0..99 for `key` under `method`. */
export function migrationBucket(method: BucketingMethod, key: string): number {
  const bytes = Buffer.from(key, 'utf8');
  if (method === 'crc32-mod100') return crc32(bytes) % 100;
  const digest = createHash('md5').update(bytes).digest();
  // 2^32 ≡ 96 (mod 100): fold the four 32-bit words, most significant first, without a BigInt.
  let rest = 0;
  for (let i = 0; i < 16; i += 4) rest = (rest * 96 + digest.readUInt32BE(i)) % 100;
  return rest;
}
