import { randomFillSync } from 'node:crypto';
const ID_BYTES = 16;
const POOL_BYTES = 4096 * ID_BYTES;
const pool = Buffer.allocUnsafeSlow(POOL_BYTES);
let next = POOL_BYTES;
const HEX = Array.from({ length: 256 }, (_, byte) => byte.toString(16).padStart(2, '0'));
export function randomRequestId() {
    if (next === POOL_BYTES) {
        randomFillSync(pool);
        next = 0;
    }
    const b = pool;
    const i = next;
    next += ID_BYTES;
    return (HEX[b[i]] + HEX[b[i + 1]] + HEX[b[i + 2]] + HEX[b[i + 3]] + '-' +
        HEX[b[i + 4]] + HEX[b[i + 5]] + '-' +
        HEX[(b[i + 6] & 0x0f) | 0x40] + HEX[b[i + 7]] + '-' +
        HEX[(b[i + 8] & 0x3f) | 0x80] + HEX[b[i + 9]] + '-' +
        HEX[b[i + 10]] + HEX[b[i + 11]] + HEX[b[i + 12]] + HEX[b[i + 13]] + HEX[b[i + 14]] + HEX[b[i + 15]]);
}
//# sourceMappingURL=request-id.js.map