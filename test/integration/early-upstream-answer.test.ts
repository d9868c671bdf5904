/**
 * An upstream may answer a request before it has read the body (an early 401 or 413, RFC 9110 §15.5.14), or reset the
 * connection. The client is still sending its body: splitgate must let it finish (the rest is read and dropped, as
 * NGINX discards it) so that a client that sends its whole body before reading gets the answer, and the connection
 * serves the next request. Found by review: the connection stalled until its 65 s idle timeout, then was reset.
 */
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { send, waitFor } from '../helpers/http.js';
import { startSplitgate, type StartedSplitgate } from '../helpers/splitgate.js';
import { startRawUpstream, startUpstream, type RawUpstream, type TestUpstream } from '../helpers/upstreams.js';

const BODY_BYTES = 4 * 1024 * 1024;

let early401: RawUpstream;
let early413: RawUpstream;
let resetting: RawUpstream;
let echo: TestUpstream;
let shadow: TestUpstream;
let sg: StartedSplitgate;

beforeAll(async () => {
  // Each answers as soon as the head is in, without reading the body; the socket then drops what arrives.
  early401 = await startRawUpstream((socket) => socket.write('HTTP/1.1 401 Unauthorized\r\nContent-Length: 6\r\n\r\nno way'));
  early413 = await startRawUpstream((socket) => socket.end('HTTP/1.1 413 Content Too Large\r\nContent-Length: 8\r\nConnection: close\r\n\r\ntoo big!'));
  resetting = await startRawUpstream((socket) => socket.resetAndDestroy());
  echo = await startUpstream('other');
  shadow = await startUpstream('shadow');
  sg = await startSplitgate({
    log: { level: 'warn' },
    limits: { maxBodyBytes: 64 * 1024 * 1024 },
    upstreams: { early401: early401.url, early413: early413.url, resetting: resetting.url, other: echo.url, shadow: shadow.url },
    routes: [
      { name: 'mirrored', match: { pathPrefix: '/mirrored' }, stable: 'early401', mirror: { to: 'shadow', percent: 100, methods: ['POST'], maxBodyBytes: 8 * 1024 * 1024 } },
      { name: 'early401', match: { pathPrefix: '/early401' }, stable: 'early401' },
      { name: 'stalled', match: { pathPrefix: '/stalled' }, stable: 'early401', timeouts: { clientBody: '300ms' } },
      { name: 'early413', match: { pathPrefix: '/early413' }, stable: 'early413' },
      { name: 'reset', match: { pathPrefix: '/reset' }, stable: 'resetting' },
      { name: 'other', stable: 'other' },
    ],
  });
});

afterAll(async () => {
  await sg?.stop();
  await Promise.all([early401?.close(), early413?.close(), resetting?.close(), echo?.close(), shadow?.close()]);
});

interface Conversation {
  readonly statuses: number[];
  /** Whether the client could write everything (the server kept reading). */
  readonly sentAll: boolean;
  readonly closed: boolean;
}

/**
 * Writes `bytes` in full and only then starts reading (as Python's http.client or a Java client do), then reads until
 * `responses` responses have come or `waitMs` passed. Counts status lines.
 */
function converse(bytes: Buffer, responses: number, waitMs = 5_000): Promise<Conversation & { socket: Socket }> {
  const url = new URL(sg.url);
  return new Promise((resolve) => {
    const socket = connect(Number(url.port), url.hostname);
    let text = '';
    let sentAll = false;
    let closed = false;
    const statuses = (): number[] => [...text.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => Number(m[1]));
    const finish = (): void => {
      clearTimeout(timer);
      resolve({ statuses: statuses(), sentAll, closed, socket });
    };
    const timer = setTimeout(finish, waitMs);
    socket.on('error', () => undefined);
    socket.on('close', () => {
      closed = true;
      finish();
    });
    socket.write(bytes, () => {
      sentAll = true;
      socket.on('data', (chunk: Buffer) => {
        text += chunk.toString('latin1');
        // The last response's body may follow its status line in a later chunk: a moment for it.
        if (statuses().length >= responses) setTimeout(finish, 50);
      });
    });
  });
}

const body = Buffer.alloc(BODY_BYTES, 'u');
const pipelinedGet = 'GET /next HTTP/1.1\r\nHost: t\r\n\r\n';

function upload(path: string, options: { chunked?: boolean } = {}): Buffer {
  if (!options.chunked) return Buffer.concat([Buffer.from(`POST ${path} HTTP/1.1\r\nHost: t\r\nContent-Length: ${BODY_BYTES}\r\n\r\n`), body, Buffer.from(pipelinedGet)]);
  const chunks: Buffer[] = [Buffer.from(`POST ${path} HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n`)];
  for (let offset = 0; offset < BODY_BYTES; offset += 65_536) chunks.push(Buffer.from('10000\r\n'), body.subarray(offset, offset + 65_536), Buffer.from('\r\n'));
  chunks.push(Buffer.from(`0\r\n\r\n${pipelinedGet}`));
  return Buffer.concat(chunks);
}

describe('an upstream answers before it read the request body', () => {
  it.each([
    ['an early 401 (the upstream keeps its connection)', '/early401', 401, {}],
    ['an early 413 with Connection: close', '/early413', 413, {}],
    ['a reset before any answer', '/reset', 502, {}],
    ['an early 401 to a chunked body read through the body limit', '/early401', 401, { chunked: true }],
  ])('%s: the client sends its whole body, gets the answer, and its next request is served', async (_name, path, status, options) => {
    const reply = await converse(upload(path, options), 2);
    reply.socket.destroy();
    expect(reply.sentAll).toBe(true);
    expect(reply.statuses).toEqual([status, 200]);
    expect(reply.closed).toBe(false);
  });

  it('a mirrored request answered early sends the shadow no copy with part of the body (primary_error)', async () => {
    for (const chunked of [false, true]) {
      const reply = await converse(upload('/mirrored/up', { chunked }), 2);
      reply.socket.destroy();
      expect(reply.statuses).toEqual([401, 200]);
    }
    const outcome = async (name: string): Promise<number> => {
      const text = (await send(sg.adminUrl, '/metrics')).text;
      return Number(new RegExp(`^splitgate_mirror_requests_total\\{route="mirrored",outcome="${name}"\\} (\\d+)`, 'm').exec(text)?.[1] ?? 0);
    };
    await waitFor('both copies settled', async () => (await outcome('primary_error')) === 2);
    expect(shadow.seen.filter((r) => r.url === '/mirrored/up')).toEqual([]);
    expect(await outcome('diff')).toBe(0);
  });

  it('the body bytes are dropped, never read as requests', async () => {
    // A body made of request heads: were it parsed after the early answer, each would be a request.
    const inner = 'GET /smuggled HTTP/1.1\r\nHost: t\r\n\r\n';
    const smuggling = Buffer.from(inner.repeat(Math.ceil(BODY_BYTES / inner.length)).slice(0, BODY_BYTES));
    const bytes = Buffer.concat([Buffer.from(`POST /early401 HTTP/1.1\r\nHost: t\r\nContent-Length: ${BODY_BYTES}\r\n\r\n`), smuggling, Buffer.from(pipelinedGet)]);
    const seenBefore = echo.seen.length;
    const reply = await converse(bytes, 2);
    reply.socket.destroy();
    expect(reply.statuses).toEqual([401, 200]);
    expect(echo.seen.slice(seenBefore).map((r) => r.url)).toEqual(['/next']);
  });

  it('a dropped body that turns out malformed closes the connection, with no answer to a request nobody sent', async () => {
    const url = new URL(sg.url);
    const socket = connect(Number(url.port), url.hostname);
    socket.on('error', () => undefined);
    let text = '';
    const closed = new Promise<boolean>((resolve) => {
      socket.on('close', () => resolve(true));
      setTimeout(() => resolve(false), 3_000);
    });
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString('latin1');
      // The answer is in: now the rest of the body, malformed.
      if (text.includes('no way')) socket.write('\r\nZZ\r\n');
    });
    socket.write(Buffer.concat([Buffer.from('POST /early401 HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n10000\r\n'), body.subarray(0, 65_536)]));
    expect(await closed).toBe(true);
    socket.destroy();
    expect([...text.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => Number(m[1]))).toEqual([401]);
  });

  it('a client that stops sending the rest of the body is closed after timeouts.clientBody', async () => {
    const url = new URL(sg.url);
    const socket = connect(Number(url.port), url.hostname);
    socket.on('error', () => undefined);
    let text = '';
    socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
    const closed = new Promise<number>((resolve) => socket.on('close', () => resolve(Date.now())));
    socket.write(`POST /stalled HTTP/1.1\r\nHost: t\r\nContent-Length: ${BODY_BYTES}\r\n\r\n`);
    socket.write(body.subarray(0, 65_536));
    const startedAt = Date.now();
    const closedAt = await Promise.race([closed, new Promise<number>((resolve) => setTimeout(() => resolve(-1), 5_000))]);
    socket.destroy();
    expect(text).toMatch(/^HTTP\/1\.1 401 /);
    expect(closedAt).toBeGreaterThan(0);
    expect(closedAt - startedAt).toBeLessThan(3_000);
  });
});
