/**
 * What a proxy must not change (RFC 9110 §7.6, RFC 9112 §3.2): the method and the request target arrive byte for
 * byte, and messages without content (HEAD answers, 204, 304) stay without content, so a keep-alive connection
 * after them still frames correctly. `Expect: 100-continue` gets its interim answer and the body still arrives.
 */
import { Agent, request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { send } from '../helpers/http.js';
import { startSplitgate, type StartedSplitgate } from '../helpers/splitgate.js';
import { echoHandler, startUpstream, type TestUpstream } from '../helpers/upstreams.js';

const echo = echoHandler('stable');
let upstream: TestUpstream;
let proxy: StartedSplitgate;

beforeAll(async () => {
  upstream = await startUpstream('stable', (req, res) => {
    switch (req.url) {
      case '/sized':
        // A HEAD answer carries the length the GET would have, and no body.
        res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 1234, etag: '"v1"' });
        res.end(req.method === 'HEAD' ? undefined : 'x'.repeat(1234));
        return;
      case '/no-content':
        res.writeHead(204, { 'x-done': 'yes' });
        res.end();
        return;
      case '/too-big':
        // Answers before reading a byte of the body, as an upstream enforcing a size limit does.
        res.writeHead(413, { 'content-type': 'text/plain' });
        res.end('too big');
        return;
      case '/not-modified':
        res.writeHead(304, { etag: '"v1"', 'cache-control': 'max-age=60' });
        res.end();
        return;
      default:
        echo(req, res);
    }
  });
  proxy = await startSplitgate({ upstreams: { stable: upstream.url }, routes: [{ name: 'all', stable: 'stable' }] });
});

afterAll(async () => {
  await proxy?.stop();
  await upstream?.close();
});

describe('request line', () => {
  it.each([
    ['GET', '/a/%2e%2E/b?x=1&x=2&y=%20'],
    ['GET', '//double//slashes/./and/../dots'],
    ['POST', '/encoded%2Fslash/%7Euser?q=a%2Bb&q=a+b&empty=&flag'],
    ['PUT', '/semi;colon;params=1?%00=%ff'],
    ['DELETE', '/items/42?'],
    ['PATCH', '/items/42?fields=a,b&sort=-x'],
    ['OPTIONS', '/cors/preflight'],
    ['PURGE', '/cache/key?all=1'],
  ])('%s %s arrives byte for byte', async (method, path) => {
    const before = upstream.seen.length;
    const res = await send(proxy.url, path, { method, body: method === 'POST' || method === 'PUT' ? 'body' : undefined });
    expect(res.status).toBe(200);
    const seen = upstream.seen[before];
    expect(seen.method).toBe(method);
    expect(seen.url).toBe(path);
    expect(res.json<{ url: string; method: string }>()).toMatchObject({ url: path, method });
  });
});

describe('messages without content', () => {
  it('HEAD gets the headers, no body, and the connection stays usable', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const head = await send(proxy.url, '/sized', { method: 'HEAD', agent });
      expect(head.status).toBe(200);
      expect(head.headers['content-length']).toBe('1234');
      expect(head.headers.etag).toBe('"v1"');
      expect(head.body.length).toBe(0);
      const get = await send(proxy.url, '/sized', { agent });
      expect(get.status).toBe(200);
      expect(get.text).toBe('x'.repeat(1234));
      expect(upstream.seen.at(-2)!.method).toBe('HEAD');
    } finally {
      agent.destroy();
    }
  });

  it('204 and 304 pass through without a body, and the connection stays usable', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const noContent = await send(proxy.url, '/no-content', { method: 'DELETE', agent });
      expect(noContent.status).toBe(204);
      expect(noContent.headers['x-done']).toBe('yes');
      expect(noContent.body.length).toBe(0);
      const notModified = await send(proxy.url, '/not-modified', { headers: { 'if-none-match': '"v1"' }, agent });
      expect(notModified.status).toBe(304);
      expect(notModified.headers.etag).toBe('"v1"');
      expect(notModified.headers['cache-control']).toBe('max-age=60');
      expect(notModified.body.length).toBe(0);
      expect(upstream.seen.at(-1)!.headers['if-none-match']).toBe('"v1"');
      const after = await send(proxy.url, '/after', { agent });
      expect(after.status).toBe(200);
      expect(after.json<{ url: string }>().url).toBe('/after');
    } finally {
      agent.destroy();
    }
  });
});

describe('Expect: 100-continue', () => {
  it('answers 100 Continue, then forwards the body the client sends after it', async () => {
    const body = Buffer.alloc(64 * 1024, 'z');
    const url = new URL(proxy.url);
    const result = await new Promise<{ continued: boolean; status: number; text: string }>((resolve, reject) => {
      let continued = false;
      const req = request({
        host: url.hostname,
        port: url.port,
        method: 'PUT',
        path: '/expect',
        agent: false,
        headers: { expect: '100-continue', 'content-length': body.length, 'content-type': 'application/octet-stream' },
      });
      req.on('error', reject);
      req.on('continue', () => {
        continued = true;
        req.end(body);
      });
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ continued, status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      });
      req.flushHeaders();
    });
    expect(result.continued).toBe(true);
    expect(result.status).toBe(200);
    const echoed = JSON.parse(result.text) as { bodyBytes: number; headers: Record<string, string> };
    expect(echoed.bodyBytes).toBe(body.length);
    expect(echoed.headers['content-length']).toBe(String(body.length));
    // The interim response was the proxy's to give; the upstream is not asked to send another.
    expect(echoed.headers.expect).toBeUndefined();
  });
});

describe('an upstream that answers before the body is in', () => {
  it('relays the early 413 to a client still uploading, and keeps serving', async () => {
    const url = new URL(proxy.url);
    const total = 20 * 1024 * 1024;
    const outcome = await new Promise<string>((resolve) => {
      const headers = { 'content-length': total };
      const req = request({ host: url.hostname, port: url.port, method: 'POST', path: '/too-big', agent: false, headers });
      req.on('error', (error: NodeJS.ErrnoException) => resolve(`client error ${error.code}`));
      req.on('response', (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
        res.on('end', () => resolve(`${res.statusCode} ${text}`));
      });
      const chunk = Buffer.alloc(64 * 1024);
      let sent = 0;
      const pump = (): void => {
        while (sent < total) {
          sent += chunk.length;
          if (!req.write(chunk)) {
            req.once('drain', pump);
            return;
          }
        }
        req.end();
      };
      pump();
    });
    expect(outcome).toBe('413 too big');
    const after = await send(proxy.url, '/after-early');
    expect(after.status).toBe(200);
  });
});
