import { createHmac, randomUUID, timingSafeEqual } from 'node:crypto';
const ID = /^@([0-9a-f]{32})$/;
const ENTRY = /^([A-Za-z0-9][A-Za-z0-9_.-]{0,62}):([01]):(\d{1,12}):(\d{1,6})$/;
const MAX_ENTRIES = 64;
export function newCookieId() {
    return randomUUID().replaceAll('-', '');
}
export function signExperimentCookie(states, secret, id) {
    const payload = [`@${id}`, ...[...states].map(([key, s]) => `${key}:${s.arm}:${s.exposedAt}:${s.converted}`)].join('|');
    return `${payload}~${signature(payload, secret)}`;
}
export function readExperimentCookie(value, secret) {
    const none = () => ({ id: null, states: new Map() });
    if (value === undefined)
        return none();
    const tilde = value.lastIndexOf('~');
    if (tilde === -1)
        return none();
    const payload = value.slice(0, tilde);
    const given = Buffer.from(value.slice(tilde + 1), 'base64url');
    const expected = Buffer.from(signature(payload, secret), 'base64url');
    if (given.length !== expected.length || !timingSafeEqual(given, expected))
        return none();
    if (payload === '')
        return none();
    const entries = payload.split('|');
    if (entries.length > MAX_ENTRIES + 1)
        return none();
    const id = ID.exec(entries[0])?.[1] ?? null;
    const states = new Map();
    for (let i = id === null ? 0 : 1; i < entries.length; i++) {
        const match = ENTRY.exec(entries[i]);
        if (match === null)
            return none();
        states.set(match[1], { arm: Number(match[2]), exposedAt: Number(match[3]), converted: Number(match[4]) });
    }
    return { id, states };
}
function signature(payload, secret) {
    return createHmac('sha256', secret).update(payload).digest('base64url');
}
//# sourceMappingURL=signed-cookie.js.map