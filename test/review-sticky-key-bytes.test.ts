/**
 * Issue 14 item 12: a sticky key hashes the bytes the client sent. node:http hands header bytes over as latin1,
 * so `x-user-id: müller` sent as UTF-8 arrives as "mÃ¼ller" and must land in bucket 2818 (salt "api"), the
 * documented MurmurHash3 of its UTF-8, not 4904 (the UTF-8 of "mÃ¼ller"). A cookie key is the value as sent,
 * not percent-decoded, so header and cookie keys agree with each other and with other implementations.
 */
import { describe, expect, it } from 'vitest';
import { validateConfig } from '../src/config/load.js';
import { buildContext, type Entropy } from '../src/routing/context.js';
import { decideRoute } from '../src/routing/decide.js';
import { bucketOf } from '../src/routing/hash.js';
import { compileTable, type CompiledRoute } from '../src/routing/table.js';

const FIXED: Entropy = { newId: () => 'fresh-id', random: () => 0.5 };
/** `müller` as node:http receives it when sent as UTF-8. */
const MUELLER_RECEIVED = Buffer.from('müller', 'utf8').toString('latin1');

function routeOf(route: Record<string, unknown>): CompiledRoute {
  const config = validateConfig({
    upstreams: { s: 'http://127.0.0.1:1', c: 'http://127.0.0.1:2' },
    routes: [{ name: 'api', stable: 's', canary: 'c', ...route }],
  });
  return compileTable(config, 1).routes[0];
}

describe('sticky keys hash the bytes the client sent', () => {
  const byHeader = routeOf({ weight: 30, sticky: { key: ['header:x-user-id'], cookie: false } });
  const byCookie = routeOf({
    weight: 30,
    sticky: { key: ['cookie:uid'], cookie: false },
    rules: [{ match: { cookies: { plan: 'gold plus' } }, version: 'canary' }],
  });

  it('a UTF-8 header value: bucket 2818, so weight 30 sends it to the canary', () => {
    const context = buildContext(byHeader, { 'x-user-id': MUELLER_RECEIVED }, '10.0.0.1', FIXED);
    expect(context.stickyKey).toBe(MUELLER_RECEIVED);
    expect(context.bucket).toBe(2818);
    expect(decideRoute(byHeader, context)).toEqual({ version: 'canary', reason: 'weight', rule: -1 });
  });

  it('the same bytes in a cookie give the same bucket', () => {
    const context = buildContext(byCookie, { cookie: `theme=dark; uid=${MUELLER_RECEIVED}` }, '10.0.0.1', FIXED);
    expect(context.bucket).toBe(2818);
  });

  it('a percent-encoded cookie is hashed as sent, not decoded', () => {
    const context = buildContext(byCookie, { cookie: 'uid=m%C3%BCller; theme=dark' }, '10.0.0.1', FIXED);
    expect(context.stickyKey).toBe('m%C3%BCller');
    expect(context.bucket).toBe(bucketOf('api', 'm%C3%BCller'));
    expect(context.bucket).not.toBe(2818);
  });

  it('a "%" in another cookie does not change the key; spaces around the value are not part of it', () => {
    const context = buildContext(byCookie, { cookie: 'theme=a%20b;  uid = u-42 ' }, '10.0.0.1', FIXED);
    expect(context.stickyKey).toBe('u-42');
    expect(context.bucket).toBe(bucketOf('api', 'u-42'));
  });

  it('rules still see cookie values percent-decoded', () => {
    const context = buildContext(byCookie, { cookie: 'plan=gold%20plus; uid=u-1' }, '10.0.0.1', FIXED);
    expect(decideRoute(byCookie, context)).toEqual({ version: 'canary', reason: 'rule', rule: 0 });
  });
});
