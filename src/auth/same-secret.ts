import { hash, timingSafeEqual } from 'node:crypto';

/**
 * Bearer tokens compared in time that depends neither on where they differ nor on their lengths: fixed-size digests
 * are compared. One-shot digests, so a request leaves no hash object for the garbage collector's weak-handle pass.
 */
export function sameSecret(given: string, expected: string): boolean {
  return timingSafeEqual(hash('sha256', given, 'buffer') as unknown as Buffer, hash('sha256', expected, 'buffer') as unknown as Buffer);
}
