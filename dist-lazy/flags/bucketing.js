import { createHash } from 'node:crypto';
export const BUCKETING_METHODS = ['crc32-mod100', 'md5-mod100'];
const CRC32_TABLE = (() => {
    const table = new Int32Array(256);
    for (let n = 0; n < 256; n++) {
        let c = n;
        for (let k = 0; k < 8; k++)
            c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
        table[n] = c;
    }
    return table;
})();
export function crc32(bytes) {
    let crc = -1;
    for (let i = 0; i < bytes.length; i++)
        crc = CRC32_TABLE[(crc ^ bytes[i]) & 0xff] ^ (crc >>> 8);
    return (crc ^ -1) >>> 0;
}
export function migrationBucket(method, key) {
    const bytes = Buffer.from(key, 'utf8');
    if (method === 'crc32-mod100')
        return crc32(bytes) % 100;
    const digest = createHash('md5').update(bytes).digest();
    let rest = 0;
    for (let i = 0; i < 16; i += 4)
        rest = (rest * 96 + digest.readUInt32BE(i)) % 100;
    return rest;
}
//# sourceMappingURL=bucketing.js.map