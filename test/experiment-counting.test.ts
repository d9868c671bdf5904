import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { validateConfig } from '../src/config/load.js';
import { boundedUserKey, ExperimentBook, MAX_STORED_KEY_LENGTH } from '../src/experiments/experiment-book.js';
import { newCookieId, readExperimentCookie, signExperimentCookie } from '../src/experiments/signed-cookie.js';
import { parseReportedConversions } from '../src/experiments/user-state.js';

const SECRET = 'sixteen-chars-at-least';

function configWith(sticky: unknown, experiment: Record<string, unknown> = {}) {
  return validateConfig({
    upstreams: { stable: 'http://127.0.0.1:3001', canary: 'http://127.0.0.1:3002' },
    routes: [{ name: 'shop', stable: 'stable', canary: 'canary', weight: 50, sticky }],
    experimentSettings: { cookie: { secret: SECRET } },
    experiments: [
      {
        key: 'checkout',
        route: 'shop',
        exposure: { match: { pathPrefix: '/shop', methods: ['GET'] } },
        conversions: [
          { name: 'order', match: { method: 'POST', path: '/api/orders', status: '2xx' } },
          { name: 'purchase', header: true },
        ],
        conversionWindow: '1d',
        ...experiment,
      },
    ],
  });
}

/** One request and its response through the book; returns the client's headers and the cookie to set. */
function visit(book: ExperimentBook, config: ReturnType<typeof configWith>, user: string | null, version: 'stable' | 'canary', method: string, url: string, status = 200, upstreamHeaders: string[] = [], cookie?: string) {
  const headers = ['content-type', 'text/plain', ...upstreamHeaders];
  const experimentVisit = book.begin(config, 'shop', version, user, method, url, cookie);
  const setCookie = experimentVisit!.responded(status, headers);
  return { headers, setCookie };
}

function totals(book: ExperimentBook) {
  const record = book.record('checkout')!;
  return record.arms.map((arm) => ({ users: arm.users, ...Object.fromEntries([...arm.conversions].map(([name, t]) => [name, t.converters])) }));
}

describe('per-user counting', () => {
  const keyed = configWith({ key: ['header:x-user-id'] });

  it('exposes a user once, on the first request that matches the exposure rule', () => {
    const book = new ExperimentBook();
    visit(book, keyed, 'u1', 'canary', 'GET', '/other');
    visit(book, keyed, 'u1', 'canary', 'POST', '/shop/cart');
    expect(totals(book)).toEqual([{ users: 0 }, { users: 0 }]);
    visit(book, keyed, 'u1', 'canary', 'GET', '/shop/item?id=3');
    visit(book, keyed, 'u1', 'canary', 'GET', '/shop/item');
    visit(book, keyed, 'u2', 'stable', 'GET', '/shop');
    expect(totals(book)).toEqual([{ users: 1 }, { users: 1 }]);
  });

  it('counts a conversion at most once per user, only for exposed users, in the arm of their exposure', () => {
    const book = new ExperimentBook();
    visit(book, keyed, 'never-exposed', 'canary', 'POST', '/api/orders', 201);
    visit(book, keyed, 'u1', 'stable', 'GET', '/shop');
    visit(book, keyed, 'u1', 'stable', 'POST', '/api/orders', 500);
    visit(book, keyed, 'u1', 'stable', 'POST', '/api/orders/x', 200);
    expect(totals(book)).toEqual([{ users: 1 }, { users: 0 }]);
    // Later decided to the other version (an override, say): still the control's user.
    visit(book, keyed, 'u1', 'canary', 'POST', '/api/orders?x=1', 201);
    visit(book, keyed, 'u1', 'stable', 'POST', '/api/orders', 200);
    expect(totals(book)).toEqual([{ users: 1, order: 1 }, { users: 0 }]);
  });

  it('counts nothing after the conversion window', () => {
    let now = Date.UTC(2026, 0, 1);
    const book = new ExperimentBook({ now: () => now });
    visit(book, keyed, 'late', 'canary', 'GET', '/shop');
    visit(book, keyed, 'early', 'canary', 'GET', '/shop');
    now += 86_400_000 - 1000;
    visit(book, keyed, 'early', 'canary', 'POST', '/api/orders');
    now += 2000;
    visit(book, keyed, 'late', 'canary', 'POST', '/api/orders');
    expect(totals(book)).toEqual([{ users: 0 }, { users: 2, order: 1 }]);
  });

  it('reads app-reported conversions from the response header, strips it, and sums their values', () => {
    const book = new ExperimentBook();
    visit(book, keyed, 'u1', 'canary', 'GET', '/shop');
    const { headers } = visit(book, keyed, 'u1', 'canary', 'GET', '/thanks', 200, ['X-Splitgate-Conversion', 'purchase;value=12.5', 'x-other', '1']);
    expect(headers).toEqual(['content-type', 'text/plain', 'x-other', '1']);
    visit(book, keyed, 'u1', 'canary', 'GET', '/thanks', 200, ['x-splitgate-conversion', 'purchase;value=99']);
    visit(book, keyed, 'u2', 'canary', 'GET', '/shop', 200, ['x-splitgate-conversion', 'purchase;value=2', 'x-splitgate-conversion', 'unknown']);
    const purchase = book.record('checkout')!.arms[1].conversions.get('purchase')!;
    expect(purchase).toEqual({ converters: 2, valueSum: 14.5, valueSquares: 12.5 ** 2 + 4 });
  });

  it('forgets the least recently seen user beyond maxUsers, and says so', () => {
    const config = configWith({ key: ['header:x-user-id'] }, { maxUsers: 100 });
    const book = new ExperimentBook();
    for (let i = 0; i < 150; i++) visit(book, config, `u${i}`, 'stable', 'GET', '/shop');
    expect(book.record('checkout')!.evictions).toBe(50);
    visit(book, config, 'u149', 'stable', 'GET', '/shop');
    expect(totals(book)[0].users).toBe(150);
    // u0 was forgotten: seen again, it is exposed a second time (the documented cost of the bound).
    visit(book, config, 'u0', 'stable', 'GET', '/shop');
    expect(totals(book)[0].users).toBe(151);
  });

  describe('anonymous users (sticky.cookie: false, no key on the request)', () => {
    const anonymous = configWith({ key: ['header:x-user-id'], cookie: false });

    it('are deduplicated by the signed cookie, which carries arm and conversions', () => {
      const book = new ExperimentBook();
      const first = visit(book, anonymous, null, 'canary', 'GET', '/shop');
      expect(first.setCookie).toMatch(/^sg_exp=@[0-9a-f]{32}\|checkout:1:\d+:0~[\w-]+; Max-Age=86400; Path=\/; HttpOnly; SameSite=Lax$/);
      const cookie = first.setCookie!.split(';')[0];
      expect(visit(book, anonymous, null, 'stable', 'GET', '/shop', 200, [], cookie).setCookie).toBeNull();
      const converted = visit(book, anonymous, null, 'stable', 'POST', '/api/orders', 200, [], `a=b; ${cookie}`);
      expect(converted.setCookie).toMatch(/^sg_exp=@[0-9a-f]{32}\|checkout:1:\d+:1~/);
      visit(book, anonymous, null, 'canary', 'POST', '/api/orders', 200, [], converted.setCookie!.split(';')[0]);
      expect(totals(book)).toEqual([{ users: 0 }, { users: 1, order: 1 }]);
    });

    it('a replayed cookie from before a conversion does not count it again: the server remembers the cookie id', () => {
      const book = new ExperimentBook();
      const old = visit(book, anonymous, null, 'canary', 'GET', '/shop').setCookie!.split(';')[0];
      const converted = visit(book, anonymous, null, 'stable', 'POST', '/api/orders', 200, [], old).setCookie!.split(';')[0];
      expect(totals(book)).toEqual([{ users: 0 }, { users: 1, order: 1 }]);
      for (let i = 0; i < 3; i++) {
        // The server's memory wins over the cookie, and the client is handed the cookie of what it knows.
        expect(visit(book, anonymous, null, 'stable', 'POST', '/api/orders', 200, [], old).setCookie!.split(';')[0]).toBe(converted);
      }
      expect(totals(book)).toEqual([{ users: 0 }, { users: 1, order: 1 }]);
      // A cookie set before ids (still valid) is given one, and is remembered from then on.
      const legacyPayload = `checkout:0:${Math.floor(Date.now() / 1000)}:0`;
      const legacySigned = `sg_exp=${legacyPayload}~${createHmac('sha256', SECRET).update(legacyPayload).digest('base64url')}`;
      const upgraded = visit(book, anonymous, null, 'canary', 'GET', '/shop', 200, [], legacySigned).setCookie;
      expect(upgraded).toMatch(/^sg_exp=@[0-9a-f]{32}\|checkout:0:\d+:0~/);
      expect(totals(book)).toEqual([{ users: 0 }, { users: 1, order: 1 }]);
    });

    it('with workers, a replayed cookie on another worker is deduplicated by the supervisor, by the cookie id', () => {
      const workers = [0, 1].map(() => new ExperimentBook({ reportToSupervisor: true }));
      const supervisor = new ExperimentBook();
      supervisor.planOf(anonymous);
      const old = visit(workers[0], anonymous, null, 'canary', 'GET', '/shop').setCookie!.split(';')[0];
      visit(workers[0], anonymous, null, 'canary', 'POST', '/api/orders', 200, [], old);
      visit(workers[1], anonymous, null, 'stable', 'POST', '/api/orders', 200, [], old);
      const events = workers.flatMap((w) => w.takeEvents() ?? []);
      expect(events.map((e) => [e.user, e.conversion])).toEqual([
        [expect.stringMatching(/^~[0-9a-f]{32}$/), null],
        [events[0].user, 'order'],
        [events[0].user, 'order'],
      ]);
      supervisor.applyEvents(events);
      expect(totals(supervisor)).toEqual([{ users: 0 }, { users: 1, order: 1 }]);
    });

    it('ignore a tampered cookie (a new user, as if it were absent)', () => {
      const book = new ExperimentBook();
      const cookie = visit(book, anonymous, null, 'canary', 'GET', '/shop').setCookie!.split(';')[0];
      const tampered = cookie.replace('checkout:1:', 'checkout:0:');
      expect(readExperimentCookie(tampered.slice('sg_exp='.length), SECRET)).toEqual({ id: null, states: new Map() });
      visit(book, anonymous, null, 'stable', 'GET', '/shop', 200, [], tampered);
      expect(totals(book)).toEqual([{ users: 1 }, { users: 1 }]);
    });
  });

  it('signed cookies round-trip, and fail closed on another secret or garbage', () => {
    const states = new Map([
      ['a.b', { arm: 1 as const, exposedAt: 1_700_000_000, converted: 5 }],
      ['c', { arm: 0 as const, exposedAt: 1, converted: 0 }],
    ]);
    const id = newCookieId();
    expect(id).toMatch(/^[0-9a-f]{32}$/);
    const value = signExperimentCookie(states, SECRET, id);
    expect(readExperimentCookie(value, SECRET)).toEqual({ id, states });
    const none = { id: null, states: new Map() };
    expect(readExperimentCookie(value, 'another-secret-of-16')).toEqual(none);
    for (const bad of ['', '~', 'x', `${value}x`, value.replace('~', '~~'), `a:2:1:0~${value.split('~')[1]}`]) {
      expect(readExperimentCookie(bad, SECRET)).toEqual(none);
    }
  });

  it('parses reported conversions with optional values', () => {
    expect(parseReportedConversions('purchase;value=12.5, signup ; VALUE = 3 ,trial;value=abc,,purchase;value=1')).toEqual(
      new Map([
        ['purchase', 12.5],
        ['signup', 3],
        ['trial', 0],
      ]),
    );
  });

  it('is null on routes without experiments', () => {
    const book = new ExperimentBook();
    expect(book.begin(keyed, 'elsewhere', 'stable', 'u', 'GET', '/shop', undefined)).toBeNull();
  });
});

describe('user keys are bounded in memory', () => {
  it('keeps short keys as they are and remembers long ones (a client-chosen 16 KB header) by a 44-character digest', () => {
    expect(boundedUserKey('user-42')).toBe('user-42');
    expect(boundedUserKey(null)).toBeNull();
    const long = 'k'.repeat(16_384);
    const digest = boundedUserKey(long)!;
    expect(digest.length).toBe(44);
    expect(boundedUserKey(long)).toBe(digest);
    expect(boundedUserKey(`${long}x`)).not.toBe(digest);
    expect(boundedUserKey('x'.repeat(MAX_STORED_KEY_LENGTH))).toBe('x'.repeat(MAX_STORED_KEY_LENGTH));
  });
});
