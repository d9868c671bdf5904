/**
 * Regressions found in review: a shadow answering absurdly deep JSON must not take the proxy down; compressed JSON
 * is diffed by path.
 */
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { send } from '../helpers/http.js';
import { waitForSummary } from '../helpers/mirror.js';
import { startSplitgate, type StartedSplitgate } from '../helpers/splitgate.js';
import { startUpstream, type TestUpstream } from '../helpers/upstreams.js';

let stable: TestUpstream;
let shadow: TestUpstream;
let proxy: StartedSplitgate;

beforeAll(async () => {
  stable = await startUpstream('stable', (req, res) => {
    if (req.url?.startsWith('/gzip')) {
      res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' });
      res.end(gzipSync(JSON.stringify({ requestId: 'p-1', price: 10, name: 'widget' })));
      return;
    }
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"ok":true}');
    });
  });
  shadow = await startUpstream('shadow', (req, res) => {
    req.resume();
    req.on('end', () => {
      if (req.url?.startsWith('/gzip')) {
        res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' });
        res.end(gzipSync(JSON.stringify({ name: 'widget', requestId: 's-9', price: 12 })));
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(req.url?.startsWith('/deep') ? `${'['.repeat(20_000)}${']'.repeat(20_000)}` : '{"ok":true}');
    });
  });
  proxy = await startSplitgate({
    log: { level: 'silent' },
    upstreams: { stable: stable.url, shadow: shadow.url },
    routes: [
      { name: 'deep', match: { pathPrefix: '/deep' }, stable: 'stable', mirror: { to: 'shadow', percent: 100 } },
      { name: 'gzip', match: { pathPrefix: '/gzip' }, stable: 'stable', mirror: { to: 'shadow', percent: 100, diff: { ignore: ['body.requestId'] } } },
    ],
  });
});

afterAll(async () => {
  await proxy?.stop();
  await stable?.close();
  await shadow?.close();
});

describe('mirroring after review', () => {
  it('a shadow answering 20 000 nested arrays is a counted difference, not a crash', async () => {
    const response = await send(proxy.url, '/deep');
    expect(response.status).toBe(200);
    const summary = await waitForSummary(proxy.adminUrl, 'deep', 'the deep comparison', (s) => s.compared + s.outcomes.compare_error >= 1);
    expect(summary.outcomes, JSON.stringify(summary)).toMatchObject({ diff: 1, compare_error: 0 });
    expect((await send(proxy.url, '/deep')).status).toBe(200);
  });

  it('gzip-encoded JSON is compared by path, with the ignore list applied', async () => {
    expect((await send(proxy.url, '/gzip', { headers: { 'accept-encoding': 'gzip' } })).status).toBe(200);
    const summary = await waitForSummary(proxy.adminUrl, 'gzip', 'the comparison', (s) => s.compared === 1);
    expect(summary.topFields.map((f) => f.field)).toEqual(['body.$.price']);
  });
});
