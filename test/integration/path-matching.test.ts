/**
 * A route that pins /api/admin to stable cannot be got round through the /api route's canary by spelling the path
 * another way (`%61dmin`, `//`, `./`, `x/../`, `%2F`, `;`), nor left for a wider route (`x%2F..%2F..`, `//..`): a
 * path whose spellings pick different routes is refused, and the others are forwarded with the bytes received.
 * Real upstreams, raw requests (a client library would tidy the paths up first).
 */
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { send, sendRaw } from '../helpers/http.js';
import { startSplitgate, type StartedSplitgate } from '../helpers/splitgate.js';
import { startUpstreams, type TestUpstream } from '../helpers/upstreams.js';

let stable: TestUpstream;
let canary: TestUpstream;
let normalized: StartedSplitgate;
let raw: StartedSplitgate;

function config(pathMatching?: 'raw'): Record<string, unknown> {
  return {
    ...(pathMatching === undefined ? {} : { pathMatching }),
    upstreams: { stable: stable.url, canary: canary.url },
    routes: [
      { name: 'admin', match: { pathPrefix: '/api/admin' }, stable: 'stable' },
      // Testers may ask for the canary here: the admin paths must stay out of its reach.
      { name: 'api', match: { pathPrefix: '/api' }, stable: 'stable', canary: 'canary', weight: 0 },
      { name: 'web', match: { host: 'internal.example.com' }, stable: 'stable' },
      // A rule reading the Host field: with an absolute-form target it reads the authority that replaced it.
      {
        name: 'pinned',
        match: { pathPrefix: '/pinned' },
        stable: 'stable',
        canary: 'canary',
        weight: 0,
        rules: [{ match: { headers: { host: 'canary.example.com' } }, version: 'canary' }],
      },
    ],
  };
}

beforeAll(async () => {
  [stable, canary] = await startUpstreams('stable', 'canary');
  [normalized, raw] = await Promise.all([startSplitgate(config()), startSplitgate(config('raw'))]);
});

afterAll(async () => {
  await Promise.all([normalized?.stop(), raw?.stop()]);
  await Promise.all([stable?.close(), canary?.close()]);
});

/** The version that answered and the request-target it received. node:http sends `path` as given. */
function ask(proxyUrl: string, target: string, host = 'shop.example.com'): Promise<{ status: number; version?: string; url?: string; host?: string }> {
  const { hostname, port } = new URL(proxyUrl);
  return new Promise((resolve, reject) => {
    const req = request({ hostname, port, path: target, setHost: false, agent: false, headers: { host, 'x-canary': 'always' } }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (text: string) => (body += text));
      res.on('end', () => {
        if (res.statusCode !== 200) return resolve({ status: res.statusCode! });
        const { version, url, headers } = JSON.parse(body) as { version: string; url: string; headers: Record<string, string> };
        resolve(target.startsWith('/') ? { status: 200, version, url } : { status: 200, version, url, host: headers.host });
      });
    });
    req.on('error', reject).end();
  });
}

describe('pathMatching: normalized (the default)', () => {
  it.each([
    '/api/%61dmin/users',
    '/api//admin/users',
    '/api/./admin/users',
    '/api/x/../admin/users',
    '/api/x/%2e%2e/admin/users',
    '/api%2Fadmin/users',
    '/api;/admin/users',
    // Out of the stable-pinned route into the canary's, for a server that decodes %2F or merges slashes first.
    '/api/admin/x%2F..%2F..%2Fusers',
    '/api/admin//..',
    // Dot-segments hidden behind ;, \\ or %5C, and fragments (nginx and WHATWG cut them off).
    '/api/public%2F..%2Fadmin%2F..;%2Fx',
    '/api/public%2F..%2Fadmin%2F..%5Cx',
    '/api/public%2F..%2Fadmin#/../x',
  ])('%s never reaches the canary: 400 SG_AMBIGUOUS_PATH', async (target) => {
    expect(await ask(normalized.url, target)).toEqual({ status: 400 });
  });

  it('plain and merely encoded paths are served as sent', async () => {
    expect(await ask(normalized.url, '/api/admin/users')).toEqual({ status: 200, version: 'stable', url: '/api/admin/users' });
    expect(await ask(normalized.url, '/api/orders/%20x')).toEqual({ status: 200, version: 'canary', url: '/api/orders/%20x' });
    expect(await ask(normalized.url, '/api/orders/a%2Fb;v=1')).toEqual({ status: 200, version: 'canary', url: '/api/orders/a%2Fb;v=1' });
    expect(await ask(normalized.url, '/api/orders')).toEqual({ status: 200, version: 'canary', url: '/api/orders' });
  });

  it('a path that resolves outside /api is not the api route\'s', async () => {
    expect((await ask(normalized.url, '/api/../checkout/pay')).status).toBe(400);
    expect((await ask(normalized.url, '/api/%2e%2e/checkout/pay')).status).toBe(400);
  });

  it('a Host with a trailing dot matches its route', async () => {
    expect(await ask(normalized.url, '/checkout', 'internal.example.com.')).toEqual({ status: 200, version: 'stable', url: '/checkout' });
    expect((await ask(normalized.url, '/checkout', 'internal.example.com.:8080')).status).toBe(200);
  });
});

describe('a request-target in absolute-form (RFC 9112 §3.2.2)', () => {
  it('is routed by its authority, which the upstream gets as Host, with the target in origin-form', async () => {
    expect(await ask(normalized.url, 'http://internal.example.com/checkout?x=1', 'shop.example.com')).toEqual({ status: 200, version: 'stable', url: '/checkout?x=1', host: 'internal.example.com' });
    expect(await ask(normalized.url, 'HTTP://Internal.Example.com:8080', 'shop.example.com')).toEqual({ status: 200, version: 'stable', url: '/', host: 'Internal.Example.com:8080' });
    // The path rules apply to it as to any target.
    expect(await ask(normalized.url, 'http://shop.example.com/api/%61dmin/users')).toEqual({ status: 400 });
  });

  it('is what a rule on the Host field reads', async () => {
    // Without the tester override ask() sends: the rule alone decides.
    const version = async (target: string, host: string): Promise<string> => (await send(normalized.url, target, { headers: { host } })).json<{ version: string }>().version;
    expect(await version('/pinned', 'canary.example.com')).toBe('canary');
    expect(await version('/pinned', 'shop.example.com')).toBe('stable');
    expect(await version('http://canary.example.com/pinned', 'shop.example.com')).toBe('canary');
    expect(await version('http://shop.example.com/pinned', 'canary.example.com')).toBe('stable');
    // HTTP/1.0 without a Host field, and no other field a rule reads: the authority is still what the rule reads.
    const bare = await sendRaw(normalized.url, 'GET http://canary.example.com/pinned HTTP/1.0\r\n\r\n');
    expect(bare.text).toMatch(/^HTTP\/1\.[01] 200/);
    expect(JSON.parse(bare.text.slice(bare.text.indexOf('\r\n\r\n') + 4)).version).toBe('canary');
  });

  it('refuses userinfo, another scheme and an authority that is no host', async () => {
    expect((await ask(normalized.url, 'http://user@internal.example.com/checkout')).status).toBe(400);
    expect((await ask(normalized.url, 'ftp://internal.example.com/checkout')).status).toBe(400);
    expect((await ask(normalized.url, 'http://internal.example.com:80:90/checkout')).status).toBe(400);
    expect((await ask(normalized.url, 'http://:80/checkout')).status).toBe(400);
  });

  it('still checks the Host field it replaces (RFC 9112 §3.2): repeated or invalid is 400', async () => {
    const repeated = await sendRaw(normalized.url, 'GET http://internal.example.com/checkout HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\nConnection: close\r\n\r\n');
    expect(repeated.text).toMatch(/^HTTP\/1\.1 400 [^]*SG_BAD_HOST/);
    expect((await ask(normalized.url, 'http://internal.example.com/checkout', 'bad/host')).status).toBe(400);
  });
});

describe('pathMatching: raw', () => {
  it('matches the bytes as received, as Envoy does by default', async () => {
    expect(await ask(raw.url, '/api/%61dmin/users')).toEqual({ status: 200, version: 'canary', url: '/api/%61dmin/users' });
    expect(await ask(raw.url, '/api/admin/users')).toEqual({ status: 200, version: 'stable', url: '/api/admin/users' });
  });
});
