/**
 * Issue 14 item 12 through a real splitgate, over a raw TCP socket so the key's bytes are exactly the UTF-8 a
 * client sends: `müller` (salt "api") is bucket 2818 by the documented hash and was 4904 when the proxy re-encoded
 * the latin1-decoded header. At weight 30, 2818 is canary and 4904 stable. A cookie carrying the same bytes
 * agrees; a percent-encoded cookie is hashed as sent (bucket 4260, stable), not decoded (2818).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bucketOf } from '../../src/routing/hash.js';
import { sendRaw } from '../helpers/http.js';
import { startSplitgate, type StartedSplitgate } from '../helpers/splitgate.js';
import { startUpstreams, type TestUpstream } from '../helpers/upstreams.js';

let stable: TestUpstream;
let canary: TestUpstream;
let proxy: StartedSplitgate;

beforeAll(async () => {
  [stable, canary] = await startUpstreams('stable', 'canary');
  proxy = await startSplitgate({
    upstreams: { stable: stable.url, canary: canary.url },
    routes: [
      { name: 'api', match: { pathPrefix: '/h' }, stable: 'stable', canary: 'canary', weight: 30, sticky: { key: ['header:x-user-id'], cookie: false } },
      // Same salt as the header route, so the same key must land in the same bucket.
      { name: 'by-cookie', salt: 'api', match: { pathPrefix: '/c' }, stable: 'stable', canary: 'canary', weight: 30, sticky: { key: ['cookie:uid'], cookie: false } },
    ],
  });
});

afterAll(async () => {
  await proxy?.stop();
  await Promise.all([stable?.close(), canary?.close()]);
});

/** One hand-written HTTP/1.1 request whose extra header line is sent as the given UTF-8 bytes. */
async function versionFor(path: string, headerLine: string): Promise<string> {
  const head = Buffer.concat([
    Buffer.from(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n`, 'latin1'),
    Buffer.from(`${headerLine}\r\n\r\n`, 'utf8'),
  ]);
  const reply = await sendRaw(proxy.url, head);
  expect(reply.text).toMatch(/^HTTP\/1\.1 200 /);
  return /\r\nx-upstream-version: (\w+)\r\n/i.exec(reply.text)![1];
}

describe('a non-ASCII sticky key hashes the bytes the client sent', () => {
  it('the vectors this test relies on', () => {
    expect(bucketOf('api', 'müller')).toBe(2818);
    expect(bucketOf('api', Buffer.from('müller', 'utf8').toString('latin1'))).toBe(4904);
    expect(bucketOf('api', 'm%C3%BCller')).toBe(4260);
  });

  it('x-user-id: müller as UTF-8 → bucket 2818 → canary at weight 30, with the bytes passed on unchanged', async () => {
    const seen = canary.seen.length;
    expect(await versionFor('/h', 'x-user-id: müller')).toBe('canary');
    const forwarded = canary.seen[seen].rawHeaders;
    const value = forwarded[forwarded.findIndex((name) => name.toLowerCase() === 'x-user-id') + 1];
    expect(Buffer.from(value, 'latin1')).toEqual(Buffer.from('müller', 'utf8'));
  });

  it('the same bytes in a cookie land on the same version', async () => {
    expect(await versionFor('/c', 'Cookie: theme=dark; uid=müller')).toBe('canary');
  });

  it('a percent-encoded cookie is hashed as sent (4260 → stable), not decoded', async () => {
    expect(await versionFor('/c', 'Cookie: uid=m%C3%BCller')).toBe('stable');
  });

  it('an ASCII key is unchanged', async () => {
    for (const user of ['alice', 'bob', 'user-7', 'user-8', 'user-9']) {
      expect(await versionFor('/h', `x-user-id: ${user}`)).toBe(bucketOf('api', user) < 3000 ? 'canary' : 'stable');
    }
  });
});
