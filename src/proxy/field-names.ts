/**
 * Response field names as strings, without converting each one on every response. An upstream sends the same
 * handful of names on every response; turning one of undici's raw name Buffers into a string costs a native call
 * and a fresh string (~90 ns), comparing its bytes with the names seen before costs a fraction of that
 * (loadtest/hot-path.mjs shows the difference).
 *
 * Entries are keyed by the exact bytes, so names keep the upstream's case. The cache is bounded (a few names of
 * each length, the first seen), so an upstream that invents names cannot grow it: those names are converted as
 * before.
 */
import { interned } from '../routing/interned.js';
import { HOP_BY_HOP } from './request-head.js';

export interface FieldName {
  /** As the upstream sent it. */
  readonly text: string;
  readonly lower: string;
  /** One of the fixed hop-by-hop names (RFC 9110 §7.6.1); a name listed in Connection is checked apart. */
  readonly hopByHop: boolean;
}

const NAMES_PER_LENGTH = 8;
const LONGEST_CACHED = 64;

interface Entry extends FieldName {
  readonly bytes: Buffer;
}

export class FieldNameCache {
  readonly #byLength: Array<Entry[] | undefined> = [];

  get(bytes: Buffer): FieldName {
    const length = bytes.length;
    const entries = this.#byLength[length];
    if (entries !== undefined) {
      for (let i = 0; i < entries.length; i++) {
        if (sameBytes(entries[i].bytes, bytes, length)) return entries[i];
      }
    }
    return this.#add(bytes, entries);
  }

  #add(bytes: Buffer, entries: Entry[] | undefined): FieldName {
    const text = bytes.toString('latin1');
    const lower = text.toLowerCase();
    if (bytes.length > LONGEST_CACHED || (entries !== undefined && entries.length >= NAMES_PER_LENGTH)) {
      return { text, lower, hopByHop: HOP_BY_HOP.has(lower) };
    }
    // A copy: undici's Buffer is a view into a socket read buffer that will hold other bytes later.
    const entry: Entry = Object.freeze({
      bytes: Buffer.from(bytes),
      text: interned(text),
      lower: interned(lower),
      hopByHop: HOP_BY_HOP.has(lower),
    });
    (this.#byLength[bytes.length] ??= []).push(entry);
    return entry;
  }
}

function sameBytes(a: Buffer, b: Buffer, length: number): boolean {
  // Names of one length usually differ early (Content-Type / Content-Range) or late; check the last byte first.
  if (a[length - 1] !== b[length - 1]) return false;
  for (let i = 0; i < length - 1; i++) if (a[i] !== b[i]) return false;
  return true;
}
