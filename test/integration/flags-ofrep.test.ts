/**
 * OFREP on the proxy listener, checked with the real OpenFeature server SDK and its OFREP provider (not written
 * here): for the same users, the SDK gets the variants the upstream received in the flags header. Plus the
 * protocol's details: bulk evaluation with ETag / If-None-Match → 304, reasons, error codes, and auth; and
 * `targetingKeyFrom`: a context without a targetingKey takes the named route's sticky key from the OFREP request.
 */
import { OpenFeature } from '@openfeature/server-sdk';
import { OFREPProvider } from '@openfeature/ofrep-provider';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { send } from '../helpers/http.js';
import { startSplitgate, type StartedSplitgate } from '../helpers/splitgate.js';
import { startUpstream, type TestUpstream } from '../helpers/upstreams.js';

const API_KEY = 'ofrep-test-key-0123456789';

const DEFINITIONS = {
  flags: {
    'new-checkout': { state: 'ENABLED', variants: { on: true, off: false }, defaultVariant: 'off', targeting: { fractional: [['on', 50], ['off', 50]] } },
    'auth-v2': { state: 'ENABLED', variants: { v1: 'v1', v2: 'v2' }, defaultVariant: 'v1', targeting: { if: [{ ends_with: [{ var: 'email' }, '@example.com'] }, 'v2'] } },
    limit: { state: 'ENABLED', variants: { low: 10, high: 100 }, defaultVariant: 'low', targeting: { if: [{ '==': [{ var: 'plan' }, 'pro'] }, 'high'] } },
    'dark-mode': { state: 'DISABLED', variants: { on: true, off: false }, defaultVariant: 'on' },
  },
};

let stable: TestUpstream;
let proxy: StartedSplitgate;

beforeAll(async () => {
  stable = await startUpstream('stable');
  proxy = await startSplitgate({
    log: { level: 'silent' },
    upstreams: { stable: stable.url },
    flags: { definitions: DEFINITIONS, context: { email: 'header:x-user-email', plan: 'cookie:plan' }, ofrep: { apiKey: API_KEY, targetingKeyFrom: 'api' } },
    routes: [{ name: 'api', stable: 'stable', sticky: { key: ['header:x-user-id'] } }],
  });
  await OpenFeature.setProviderAndWait('ofrep-test', new OFREPProvider({ baseUrl: proxy.url, headers: [['X-API-Key', API_KEY]] }));
});

afterAll(async () => {
  await OpenFeature.close();
  await proxy?.stop();
  await stable?.close();
});

/** The flags header's members as a map: `new-checkout=?1` → { 'new-checkout': '?1' }. */
function members(header: string | undefined): Record<string, string> {
  return Object.fromEntries((header ?? '').split(', ').filter(Boolean).map((member) => member.split('=') as [string, string]));
}

function ofrep(path: string, body: unknown, headers: Record<string, string> = {}) {
  return send(proxy.url, `/ofrep/v1/evaluate/flags${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': API_KEY, ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

describe('OFREP with the OpenFeature SDK', () => {
  it('gives each user the variants the upstream received in the flags header', async () => {
    const client = OpenFeature.getClient('ofrep-test');
    const users = Array.from({ length: 8 }, (_, i) => ({ id: `user-${i}`, email: i % 3 === 0 ? `u${i}@example.com` : `u${i}@other.org`, plan: i % 2 === 0 ? 'pro' : 'free' }));
    const checkouts = new Set<boolean>();
    for (const user of users) {
      await send(proxy.url, '/app', { headers: { 'x-user-id': user.id, 'x-user-email': user.email, cookie: `plan=${user.plan}` } });
      const header = members(stable.seen.at(-1)!.headers['x-splitgate-flags'] as string);
      const context = { targetingKey: user.id, email: user.email, plan: user.plan };

      const checkout = await client.getBooleanDetails('new-checkout', false, context);
      expect(checkout.errorCode).toBeUndefined();
      expect(checkout.reason).toBe('SPLIT');
      expect(checkout.value ? '?1' : '?0').toBe(header['new-checkout']);
      checkouts.add(checkout.value);

      const auth = await client.getStringDetails('auth-v2', 'none', context);
      expect(`"${auth.value}"`).toBe(header['auth-v2']);
      expect(auth.variant).toBe(auth.value);

      const limit = await client.getNumberDetails('limit', 0, context);
      expect(String(limit.value)).toBe(header.limit);

      // Disabled: not in the header, and the SDK falls back to the code default.
      expect(header['dark-mode']).toBeUndefined();
      expect((await client.getBooleanDetails('dark-mode', false, context)).value).toBe(false);
    }
    expect(checkouts.size).toBe(2);
  });

  it('reports an unknown flag as FLAG_NOT_FOUND to the SDK', async () => {
    const details = await OpenFeature.getClient('ofrep-test').getBooleanDetails('no-such-flag', true, { targetingKey: 'u' });
    expect(details).toMatchObject({ value: true, errorCode: 'FLAG_NOT_FOUND' });
  });
});

describe('OFREP protocol details', () => {
  it('bulk evaluation with an ETag, and 304 for If-None-Match', async () => {
    const context = { context: { targetingKey: 'user-1', email: 'a@example.com' } };
    const first = await ofrep('', context);
    expect(first.status).toBe(200);
    const body = first.json<{ flags: Array<Record<string, unknown>> }>();
    expect(body.flags.map((flag) => flag.key)).toEqual(['new-checkout', 'auth-v2', 'limit']);
    expect(body.flags[1]).toEqual({ key: 'auth-v2', value: 'v2', variant: 'v2', reason: 'TARGETING_MATCH', metadata: {} });
    expect(body.flags[2]).toMatchObject({ key: 'limit', value: 10, reason: 'DEFAULT' });
    const etag = first.headers.etag as string;
    expect(etag).toMatch(/^"[A-Za-z0-9_-]{32}"$/);

    const again = await ofrep('', context, { 'if-none-match': etag });
    expect(again.status).toBe(304);
    expect(again.body.length).toBe(0);
    // Another context, another answer: the old tag no longer matches.
    const other = await ofrep('', { context: { targetingKey: 'user-1', email: 'a@other.org' } }, { 'if-none-match': etag });
    expect(other.status).toBe(200);
    expect(other.headers.etag).not.toBe(etag);
  });

  it('takes a missing targetingKey from the route\'s sticky key on the OFREP request: the flags the header carried', async () => {
    const seen = new Map<string, string>();
    for (let i = 0; i < 12; i++) {
      const user = `sticky-${i}`;
      await send(proxy.url, '/app', { headers: { 'x-user-id': user } });
      const header = members(stable.seen.at(-1)!.headers['x-splitgate-flags'] as string);
      // No targetingKey in the context: the x-user-id header the route is sticky by stands in.
      const reply = await ofrep('/new-checkout', { context: {} }, { 'x-user-id': user });
      expect(reply.status).toBe(200);
      expect(reply.json<{ value: boolean }>().value ? '?1' : '?0').toBe(header['new-checkout']);
      seen.set(user, header['new-checkout']);
      // A targetingKey in the context wins over the header.
      const other = await ofrep('/new-checkout', { context: { targetingKey: 'someone-else' } }, { 'x-user-id': user });
      expect(other.json<{ value: boolean }>().value).toBe((await ofrep('/new-checkout', { context: { targetingKey: 'someone-else' } })).json<{ value: boolean }>().value);
    }
    expect(new Set(seen.values()).size).toBe(2);
  });

  it('answers the protocol\'s error codes', async () => {
    expect((await ofrep('/new-checkout', { context: {} })).json()).toEqual({
      key: 'new-checkout',
      errorCode: 'TARGETING_KEY_MISSING',
      errorDetails: 'flag "new-checkout" splits by targetingKey, and the context has none',
    });
    const notJson = await ofrep('/auth-v2', '{"context": ');
    expect([notJson.status, notJson.json().errorCode]).toEqual([400, 'PARSE_ERROR']);
    const badContext = await ofrep('/auth-v2', { context: { targetingKey: 42 } });
    expect([badContext.status, badContext.json().errorCode]).toEqual([400, 'INVALID_CONTEXT']);
    const missing = await ofrep('/nope', {});
    expect([missing.status, missing.json()]).toEqual([404, { key: 'nope', errorCode: 'FLAG_NOT_FOUND', errorDetails: 'flag "nope" is not defined' }]);
    const disabled = await ofrep('/dark-mode', {});
    expect([disabled.status, disabled.json().errorCode]).toEqual([404, 'FLAG_NOT_FOUND']);
    expect((await ofrep('/limit', { context: { plan: 'pro' } })).json()).toEqual({ key: 'limit', value: 100, variant: 'high', reason: 'TARGETING_MATCH', metadata: {} });
    expect((await send(proxy.url, '/ofrep/v1/evaluate/flags/limit', { headers: { 'x-api-key': API_KEY } })).status).toBe(405);
  });

  it('needs the API key (or a bearer token when one is configured), and is never proxied', async () => {
    const before = stable.seen.length;
    const none = await ofrep('/limit', {}, { 'x-api-key': '' });
    expect(none.status).toBe(401);
    const wrong = await ofrep('/limit', {}, { 'x-api-key': `${API_KEY}x` });
    expect(wrong.status).toBe(401);
    expect(stable.seen.length).toBe(before);
    // Nor does the admin API's /config give the key away.
    const config = (await (await fetch(`${proxy.adminUrl}/config`)).json()) as { flags: { ofrep: { apiKey: string } } };
    expect(config.flags.ofrep.apiKey).toBe('[redacted]');
    expect(JSON.stringify(config)).not.toContain(API_KEY);
  });
});

describe('OFREP under another path, with a bearer token', () => {
  it('serves {path}/v1/evaluate/flags to an SDK that sends the token, and 401 without it', async () => {
    const token = 'bearer-token-0123456789abcdef';
    const other = await startSplitgate({
      log: { level: 'silent' },
      upstreams: { stable: stable.url },
      flags: { definitions: DEFINITIONS, ofrep: { path: '/edge/ofrep/', bearerToken: token } },
      routes: [{ name: 'api', stable: 'stable' }],
    });
    try {
      await OpenFeature.setProviderAndWait('ofrep-bearer', new OFREPProvider({ baseUrl: `${other.url}/edge`, headersFactory: () => [['Authorization', `Bearer ${token}`]] }));
      const details = await OpenFeature.getClient('ofrep-bearer').getNumberDetails('limit', 0, { targetingKey: 'u', plan: 'pro' });
      expect(details).toMatchObject({ value: 100, variant: 'high', reason: 'TARGETING_MATCH' });
      const refused = await send(other.url, '/edge/ofrep/v1/evaluate/flags/limit', { method: 'POST', headers: { authorization: 'Bearer nope' }, body: '{}' });
      expect(refused.status).toBe(401);
      // The default path is an ordinary request now: proxied to the route.
      expect((await send(other.url, '/ofrep/v1/evaluate/flags/limit', { method: 'POST', body: '{}' })).json().version).toBe('stable');
    } finally {
      await other.stop();
    }
  });
});
