/**
 * A body seen in chunks: every byte is hashed and counted; bytes are kept only up to a cap. Above the cap the
 * kept chunks are released at once, so a large body costs a hash, not memory.
 */
import { createHash, type Hash } from 'node:crypto';

export class BodyCapture {
  readonly #cap: number;
  readonly #hash: Hash | null;
  #chunks: Buffer[] | null = [];
  #length = 0;

  /** `hash: false` when only the bytes are wanted (a request body to replay). */
  constructor(cap: number, hash = true) {
    this.#cap = cap;
    this.#hash = hash ? createHash('sha256') : null;
  }

  add(chunk: Buffer): void {
    this.#length += chunk.length;
    this.#hash?.update(chunk);
    if (this.#chunks === null) return;
    if (this.#length > this.#cap) this.#chunks = null;
    else this.#chunks.push(chunk);
  }

  get length(): number {
    return this.#length;
  }

  get overCap(): boolean {
    return this.#chunks === null;
  }

  /** The whole body, or null when it went over the cap. */
  bytes(): Buffer | null {
    return this.#chunks === null ? null : Buffer.concat(this.#chunks, this.#length);
  }

  sha256(): string {
    return this.#hash === null ? '' : this.#hash.digest('hex');
  }
}
