/**
 * The signed cookie that remembers anonymous users' experiment state (users without a sticky key): for each
 * experiment, the arm, the exposure time and the conversions already counted. HMAC-SHA256 over the payload with the
 * configured secret; a cookie whose signature does not verify (tampered, or signed with another secret) is ignored
 * as if absent, so a client can neither forge conversions nor move itself to the other arm's totals.
 *
 * The cookie also carries a random id (128 bits), given on the first exposure, by which the server remembers the
 * user (experiment-book.ts): a client replaying an older cookie of theirs (from before a conversion) is still known
 * as converted while the server remembers the id. Cookies set before ids existed have none until they change.
 *
 * Format (cookie-octets only, RFC 6265 §4.1.1): `@id|key:arm:exposedAt:mask|key:…~signature`, the signature base64url.
 */
import { createHmac, randomUUID, timingSafeEqual } from 'node:crypto';
import type { ArmIndex } from './plan.js';
import type { UserState } from './user-state.js';

const ID = /^@([0-9a-f]{32})$/;
const ENTRY = /^([A-Za-z0-9][A-Za-z0-9_.-]{0,62}):([01]):(\d{1,12}):(\d{1,6})$/;
/** Far more than any config holds; a cookie is bounded by the browser's 4 kB anyway. */
const MAX_ENTRIES = 64;

export interface ExperimentCookie {
  /** null: no cookie, one that did not verify, or one from before ids. */
  readonly id: string | null;
  readonly states: Map<string, UserState>;
}

/** A new cookie id: 128 random bits, hex. */
export function newCookieId(): string {
  return randomUUID().replaceAll('-', '');
}

export function signExperimentCookie(states: ReadonlyMap<string, UserState>, secret: string, id: string): string {
  const payload = [`@${id}`, ...[...states].map(([key, s]) => `${key}:${s.arm}:${s.exposedAt}:${s.converted}`)].join('|');
  return `${payload}~${signature(payload, secret)}`;
}

/** The id and states in a cookie value; no id and no states when it is missing, malformed or not signed with `secret`. */
export function readExperimentCookie(value: string | undefined, secret: string): ExperimentCookie {
  const none = (): ExperimentCookie => ({ id: null, states: new Map() });
  if (value === undefined) return none();
  const tilde = value.lastIndexOf('~');
  if (tilde === -1) return none();
  const payload = value.slice(0, tilde);
  const given = Buffer.from(value.slice(tilde + 1), 'base64url');
  const expected = Buffer.from(signature(payload, secret), 'base64url');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return none();
  if (payload === '') return none();
  const entries = payload.split('|');
  if (entries.length > MAX_ENTRIES + 1) return none();
  const id = ID.exec(entries[0])?.[1] ?? null;
  const states = new Map<string, UserState>();
  for (let i = id === null ? 0 : 1; i < entries.length; i++) {
    const match = ENTRY.exec(entries[i]);
    if (match === null) return none();
    states.set(match[1], { arm: Number(match[2]) as ArmIndex, exposedAt: Number(match[3]), converted: Number(match[4]) });
  }
  return { id, states };
}

function signature(payload: string, secret: string): string {
  return createHmac('sha256', secret).update(payload).digest('base64url');
}
