import { hash, timingSafeEqual } from 'node:crypto';
export function sameSecret(given, expected) {
    return timingSafeEqual(hash('sha256', given, 'buffer'), hash('sha256', expected, 'buffer'));
}
//# sourceMappingURL=same-secret.js.map