/**
 * Whatever a client sends, the process survives: garbage bytes, oversized headers, odd request targets, broken
 * framing, undecodable cookies and nonsense override values each get an answer (or a closed connection), and the
 * proxy answers normally afterwards. Runs splitgate as a child process, so a crash would show as an exit.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { send, sendRaw } from '../helpers/http.js';
import { createTempDir, killIfRunning, spawnSplitgate, type SplitgateProcess, type TempDir } from '../helpers/process.js';
import { startUpstreams, type TestUpstream } from '../helpers/upstreams.js';

let stable: TestUpstream;
let canary: TestUpstream;
let dir: TempDir;
let proxy: SplitgateProcess | undefined;

beforeAll(async () => {
  [stable, canary] = await startUpstreams('stable', 'canary');
  dir = createTempDir();
  const configFile = dir.writeConfig('splitgate.yaml', {
    listen: '127.0.0.1:0',
    admin: { listen: '127.0.0.1:0' },
    upstreams: { stable: stable.url, canary: canary.url },
    routes: [
      {
        name: 'app',
        stable: 'stable',
        canary: 'canary',
        weight: 0,
        sticky: { key: ['header:x-user-id', 'cookie:session'] },
        rules: [{ match: { cookies: { plan: 'internal' } }, version: 'canary' }],
      },
    ],
  });
  proxy = await spawnSplitgate(configFile);
});

afterAll(async () => {
  await killIfRunning(proxy);
  await Promise.all([stable?.close(), canary?.close()]);
  dir?.remove();
});

/** After every case: the process is alive and proxies a normal request. */
afterEach(async () => {
  expect(proxy!.child.exitCode).toBeNull();
  const res = await send(proxy!.url, '/health-check', { headers: { 'x-user-id': 'after' } });
  expect(res.status).toBe(200);
  expect(res.json<{ url: string }>().url).toBe('/health-check');
});

const CRLF = '\r\n';

/** A raw HTTP message: head lines, the blank line, then `body`. */
function message(lines: readonly string[], body = ''): string {
  return `${lines.join(CRLF)}${CRLF}${CRLF}${body}`;
}

describe('malformed client input', () => {
  it('answers 400 to bytes that are not HTTP', async () => {
    const reply = await sendRaw(proxy!.url, Buffer.from('\x00\x01\x02GARBAGE \xff\xfe\r\n\r\n', 'latin1'));
    expect(reply.text).toMatch(/^HTTP\/1\.1 400 /);
  });

  it('answers 431 to a header section over 16 KiB', async () => {
    const reply = await sendRaw(proxy!.url, message(['GET / HTTP/1.1', 'Host: x', `X-Big: ${'a'.repeat(17 * 1024)}`]));
    expect(reply.text).toMatch(/^HTTP\/1\.1 431 /);
  });

  it.each([
    ['absolute-form target with userinfo', message(['GET http://user@evil.example/ HTTP/1.1', 'Host: evil.example', 'Connection: close'])],
    ['asterisk-form target', message(['OPTIONS * HTTP/1.1', 'Host: x', 'Connection: close'])],
  ])('answers 400 SG_BAD_REQUEST_TARGET to an %s', async (_name, bytes) => {
    const reply = await sendRaw(proxy!.url, bytes);
    expect(reply.text).toMatch(/^HTTP\/1\.1 400 /);
    expect(reply.text).toContain('"code":"SG_BAD_REQUEST_TARGET"');
  });

  it('answers 400 SG_BAD_HOST to a request with two Host fields (RFC 9112 §3.2), without asking the upstream', async () => {
    const before = stable.seen.length + canary.seen.length;
    const reply = await sendRaw(proxy!.url, message(['GET /two-hosts HTTP/1.1', 'Host: a.example', 'Host: b.example', 'Connection: close']));
    expect(reply.text).toMatch(/^HTTP\/1\.1 400 /);
    expect(reply.text).toContain('"code":"SG_BAD_HOST"');
    expect(stable.seen.length + canary.seen.length).toBe(before);
  });

  it.each([
    ['a non-numeric Content-Length', message(['POST / HTTP/1.1', 'Host: x', 'Content-Length: abc'])],
    [
      'both Content-Length and Transfer-Encoding',
      message(['POST / HTTP/1.1', 'Host: x', 'Content-Length: 3', 'Transfer-Encoding: chunked'], `0${CRLF}${CRLF}`),
    ],
    ['a control character in a header value', message(['GET / HTTP/1.1', 'Host: x', 'X-Bad: a\x01b'])],
    ['a header line without a colon', message(['GET / HTTP/1.1', 'Host: x', 'NoColonHere'])],
    [
      'a broken chunk size',
      message(['POST / HTTP/1.1', 'Host: x', 'Transfer-Encoding: chunked'], `zz${CRLF}hello${CRLF}0${CRLF}${CRLF}`),
    ],
  ])('answers 400 to %s', async (_name, bytes) => {
    const reply = await sendRaw(proxy!.url, bytes);
    expect(reply.text).toMatch(/^HTTP\/1\.1 400 /);
  });

  it('routes an HTTP/1.0 request without a Host header', async () => {
    const reply = await sendRaw(proxy!.url, message(['GET /old-client HTTP/1.0']));
    expect(reply.text).toMatch(/^HTTP\/1\.1 200 /);
    expect(reply.text).toContain('"url":"/old-client"');
  });

  it('survives a client that sends less body than it announced and hangs up', async () => {
    const before = stable.seen.length;
    const truncated = message(['POST /short HTTP/1.1', 'Host: x', 'Content-Length: 1000'], 'only a little');
    const reply = await sendRaw(proxy!.url, truncated, { end: true });
    // Nothing useful can be sent back to a client that left; what matters is what happens next (afterEach).
    expect(reply.text === '' || reply.text.startsWith('HTTP/1.1 ')).toBe(true);
    expect(stable.seen.length - before).toBeLessThanOrEqual(1);
  });

  it.each([
    ['invalid percent-encoding', 'canary=%E0%A4%A; session=%%%; plan=%zz'],
    ['no pairs at all', ';;;===;;; =; ;'],
    ['a quoted value left open', 'session="unterminated; canary="always'],
    ['a huge value', `session=${'s'.repeat(8000)}`],
  ])('routes a request whose Cookie header has %s', async (_name, cookie) => {
    const res = await send(proxy!.url, '/cookie', { headers: { cookie } });
    expect(res.status).toBe(200);
    expect(['stable', 'canary']).toContain(res.json<{ version: string }>().version);
  });

  it.each([
    ['percent signs', '%%%'],
    ['empty', ''],
    ['both values', 'always, never'],
    ['non-ASCII bytes', 'alw\xe4ys'],
  ])('ignores an x-canary override that is %s', async (_name, value) => {
    const head = message(['GET /override HTTP/1.1', 'Host: x', 'X-User-Id: fixed', `X-Canary: ${value}`, 'Connection: close']);
    const res = await sendRaw(proxy!.url, Buffer.from(head, 'latin1'));
    expect(res.text).toMatch(/^HTTP\/1\.1 200 /);
    // Weight 0 and no rule: an ignored override leaves the request on stable.
    expect(res.text).toContain('"version":"stable"');
  });

  it('ignores repeated x-canary lines that disagree', async () => {
    const res = await send(proxy!.url, '/override', { headers: { 'x-canary': ['always', 'never'] } });
    expect(res.status).toBe(200);
    expect(res.json<{ version: string }>().version).toBe('stable');
  });

  it('ended with the process still running and nothing on stderr', () => {
    expect(proxy!.child.exitCode).toBeNull();
    expect(proxy!.stderr()).toBe('');
  });
});
