/**
 * Issue 14, item 9 (stored diffs): GET /diffs and the diff log lines must not show secrets. A mirrored request with
 * `?token=abc&page=2` and credential headers, answered with differing credential-like response headers and JSON
 * fields, is stored with the query names but not their values, and `[redacted]` for every credential value;
 * `diff.redactQuery: false` keeps the query as sent, and `diff.redact` adds names.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateConfig } from '../../src/config/load.js';
import { send } from '../helpers/http.js';
import { storedDiffs, waitForSummary } from '../helpers/mirror.js';
import { startSplitgate, type StartedSplitgate } from '../helpers/splitgate.js';
import { startUpstream, type TestUpstream } from '../helpers/upstreams.js';

const SECRETS = ['abc', 's3cret', 'k3y-value', 'cookie-value', 'tenant-7', 'sess-stable', 'sess-shadow', 'key-stable', 'key-shadow', 'deep-secret'];

function answer(version: string) {
  return startUpstream(version, (req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json', 'x-session-id': `sess-${version}` });
      res.end(JSON.stringify({ version, apiKey: `key-${version}`, page: 2, ...(version === 'shadow' ? { user: { auth: { password: 'deep-secret' } } } : {}) }));
    });
  });
}

let stable: TestUpstream;
let shadow: TestUpstream;
let proxy: StartedSplitgate;

beforeAll(async () => {
  stable = await answer('stable');
  shadow = await answer('shadow');
  proxy = await startSplitgate({
    log: { level: 'info' },
    upstreams: { stable: stable.url, shadow: shadow.url },
    routes: [
      { name: 'api', match: { pathPrefix: '/api' }, stable: 'stable', mirror: { to: 'shadow', percent: 100, diff: { logSample: 1, redact: ['x-tenant'] } } },
      { name: 'raw', match: { pathPrefix: '/raw' }, stable: 'stable', mirror: { to: 'shadow', percent: 100, diff: { redactQuery: false } } },
    ],
  });
});

afterAll(async () => {
  await proxy?.stop();
  await stable?.close();
  await shadow?.close();
});

describe('stored diffs redact credentials and query values', () => {
  it('GET /diffs and the diff log line show neither the query values nor credential header and field values', async () => {
    const response = await send(proxy.url, '/api/items?token=abc&page=2', {
      headers: { 'x-auth-token': 's3cret', 'x-api-key': 'k3y-value', cookie: 'sid=cookie-value', 'x-tenant': 'tenant-7', accept: 'application/json' },
    });
    expect(response.json()).toMatchObject({ version: 'stable', apiKey: 'key-stable' });
    await waitForSummary(proxy.adminUrl, 'api', 'one diff', (s) => s.outcomes.diff === 1);

    const diffsText = (await send(proxy.adminUrl, '/diffs?route=api')).text;
    for (const secret of SECRETS) expect(diffsText, secret).not.toContain(secret);
    const [stored] = await storedDiffs(proxy.adminUrl, 'api');
    expect(stored.request.url).toBe('/api/items?token=[redacted]&page=[redacted]');
    expect(stored.request.headers).toMatchObject({
      'x-auth-token': '[redacted]',
      'x-api-key': '[redacted]',
      cookie: '[redacted]',
      'x-tenant': '[redacted]',
      accept: 'application/json',
    });
    const byPath = Object.fromEntries(stored.differences.map((d) => [d.path, [d.primary, d.shadow]]));
    expect(byPath).toEqual({
      'headers.x-session-id': ['[redacted]', '[redacted]'],
      'body.$.version': ['stable', 'shadow'],
      'body.$.apiKey': ['[redacted]', '[redacted]'],
      'body.$.user': ['(absent)', '{"auth":"[redacted]"}'],
    });

    const logLine = proxy.logLines.find((line) => line.msg === 'mirror diff');
    expect(logLine?.url).toBe('/api/items?token=[redacted]&page=[redacted]');
    const logText = JSON.stringify(logLine);
    for (const secret of SECRETS) expect(logText, secret).not.toContain(secret);
  });

  it('diff.redactQuery: false keeps the query as sent; credential headers stay redacted', async () => {
    await send(proxy.url, '/raw/items?page=2&q=shoes', { headers: { 'x-auth-token': 's3cret' } });
    await waitForSummary(proxy.adminUrl, 'raw', 'one diff', (s) => s.outcomes.diff === 1);
    const [stored] = await storedDiffs(proxy.adminUrl, 'raw');
    expect(stored.request.url).toBe('/raw/items?page=2&q=shoes');
    expect(stored.request.headers['x-auth-token']).toBe('[redacted]');
  });

  it('a redact entry that is not a name or *-pattern is a path-accurate config error', () => {
    const config = (redact: string[]) => ({
      upstreams: { stable: 'http://127.0.0.1:1', shadow: 'http://127.0.0.1:2' },
      routes: [{ name: 'api', match: { pathPrefix: '/' }, stable: 'stable', mirror: { to: 'shadow', percent: 1, diff: { redact } } }],
    });
    expect(() => validateConfig(config(['x-ok', '*-sig', 'x-internal-*', '*tenant*']))).not.toThrow();
    expect(() => validateConfig(config(['x-ok', 'a*b']))).toThrow(/routes\[0\]\.mirror\.diff\.redact\[1\]/);
  });
});
