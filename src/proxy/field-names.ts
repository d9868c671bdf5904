/**
 * Response field names as strings, without converting each one on every response. An upstream sends the same
 * handful of names on every response; turning one of undici's raw name Buffers into a string costs a native call
 * and a fresh string (~90 ns), comparing its bytes with the names seen before costs a fraction of that
 * (loadtest/hot-path.mjs shows the difference).
 *
 * Entries are keyed by the exact bytes, so names keep the upstream's case. The cache is bounded (a few names of
 * each length, the first seen), so an upstream that invents names cannot grow it: those names are converted as
 * before.
 *
 * Each cached name also remembers the last value it came with: most values repeat response after response
 * (Server, Content-Type, Connection, Date for a whole second), and a value whose bytes match the remembered string
 * is that string. Every conversion skipped is a call into C++ saved; measured side by side, the name conversions
 * alone cost about 3 % of a proxied request's CPU time.
 */
import { interned } from '../routing/interned.js';
import { HOP_BY_HOP } from './request-head.js';

export interface FieldName {
  /** As the upstream sent it. */
  readonly text: string;
  readonly lower: string;
  /** One of the fixed hop-by-hop names (RFC 9110 §7.6.1); a name listed in Connection is checked apart. */
  readonly hopByHop: boolean;
  /** A value that came with this name, as a latin1 string (byte-for-byte). */
  value(bytes: Buffer): string;
}

const NAMES_PER_LENGTH = 8;
const LONGEST_CACHED = 64;
/** Longer values are converted every time: remembering them would hold on to large strings for little gain. */
const LONGEST_REMEMBERED_VALUE = 256;

/** A name met once too many to cache: converted each time, like its values. */
class UncachedName implements FieldName {
  constructor(
    readonly text: string,
    readonly lower: string,
    readonly hopByHop: boolean,
  ) {}

  value(bytes: Buffer): string {
    return bytes.toString('latin1');
  }
}

class CachedName implements FieldName {
  /** A copy: undici's Buffer is a view into a socket read buffer that will hold other bytes later. */
  readonly bytes: Buffer;
  readonly text: string;
  readonly lower: string;
  readonly hopByHop: boolean;
  #lastValue = '';

  constructor(bytes: Buffer, text: string, lower: string) {
    this.bytes = Buffer.from(bytes);
    this.text = interned(text);
    this.lower = interned(lower);
    this.hopByHop = HOP_BY_HOP.has(lower);
  }

  value(bytes: Buffer): string {
    const last = this.#lastValue;
    const length = bytes.length;
    if (length === last.length && sameBytesAsText(bytes, last, length)) return last;
    const text = bytes.toString('latin1');
    if (length <= LONGEST_REMEMBERED_VALUE) this.#lastValue = text;
    return text;
  }
}

export class FieldNameCache {
  readonly #byLength: Array<CachedName[] | undefined> = [];

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

  #add(bytes: Buffer, entries: CachedName[] | undefined): FieldName {
    const text = bytes.toString('latin1');
    const lower = text.toLowerCase();
    if (bytes.length > LONGEST_CACHED || (entries !== undefined && entries.length >= NAMES_PER_LENGTH)) {
      return new UncachedName(text, lower, HOP_BY_HOP.has(lower));
    }
    const entry = new CachedName(bytes, text, lower);
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

/** `bytes.toString('latin1') === text`, without making the string: latin1 maps each byte to the same char code. */
function sameBytesAsText(bytes: Buffer, text: string, length: number): boolean {
  for (let i = 0; i < length; i++) if (bytes[i] !== text.charCodeAt(i)) return false;
  return true;
}
