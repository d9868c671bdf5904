/**
 * The signed cookie that remembers anonymous users' experiment state (users without a sticky key): for each
 * experiment, the arm, the exposure time and the conversions already counted. HMAC-SHA256 over the payload with the
 * configured secret; a cookie whose signature does not verify (tampered, or signed with another secret) is ignored
 * as if absent, so a client can neither forge conversions nor move itself to the other arm's totals.
 *
 * Format (cookie-octets only, RFC 6265 §4.1.1): `key:arm:exposedAt:mask|key:…~signature`, the signature base64url.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { ArmIndex } from './plan.js';
import type { UserState } from './user-state.js';

const ENTRY = /^([A-Za-z0-9][A-Za-z0-9_.-]{0,62}):([01]):(\d{1,12}):(\d{1,6})$/;
/** Far more than any config holds; a cookie is bounded by the browser's 4 kB anyway. */
const MAX_ENTRIES = 64;

export function signExperimentCookie(states: ReadonlyMap<string, UserState>, secret: string): string {
  const payload = [...states].map(([key, s]) => `${key}:${s.arm}:${s.exposedAt}:${s.converted}`).join('|');
  return `${payload}~${signature(payload, secret)}`;
}

/** The states in a cookie value, or an empty map when it is missing, malformed or not signed with `secret`. */
export function readExperimentCookie(value: string | undefined, secret: string): Map<string, UserState> {
  const states = new Map<string, UserState>();
  if (value === undefined) return states;
  const tilde = value.lastIndexOf('~');
  if (tilde === -1) return states;
  const payload = value.slice(0, tilde);
  const given = Buffer.from(value.slice(tilde + 1), 'base64url');
  const expected = Buffer.from(signature(payload, secret), 'base64url');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return states;
  if (payload === '') return states;
  const entries = payload.split('|');
  if (entries.length > MAX_ENTRIES) return states;
  for (const entry of entries) {
    const match = ENTRY.exec(entry);
    if (match === null) return new Map();
    states.set(match[1], { arm: Number(match[2]) as ArmIndex, exposedAt: Number(match[3]), converted: Number(match[4]) });
  }
  return states;
}

function signature(payload: string, secret: string): string {
  return createHmac('sha256', secret).update(payload).digest('base64url');
}
