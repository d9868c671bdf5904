/**
 * Every request has its access log line, also those splitgate answers itself (no route, a refused method or target,
 * a full upstream) and WebSocket handshakes that end without an upgrade. With `sample: 0, errors: true` each of these
 * is kept (a refusal always has an error code; 5xx always), a plain 200 is not. Found by review: metrics counted
 * them, the log had no line.
 */
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closedPort, send, waitFor } from '../helpers/http.js';
import { startSplitgate, type StartedSplitgate } from '../helpers/splitgate.js';
import { startUpstream, type TestUpstream } from '../helpers/upstreams.js';

let app: TestUpstream;
let sg: StartedSplitgate;
let releaseHung: (() => void) | null = null;

beforeAll(async () => {
  app = await startUpstream('stable', (req, res) => {
    if (req.url === '/api/hang') {
      releaseHung = () => res.end('late');
      return;
    }
    if (req.url === '/api/upload') {
      // Reads the whole body before answering: a body that cannot be read is still in flight.
      req.resume();
      req.on('end', () => res.end('stored'));
      return;
    }
    if (req.headers.upgrade !== undefined) {
      res.writeHead(503, { 'content-type': 'text/plain' });
      res.end('no sockets today');
      return;
    }
    res.end('ok');
  });
  sg = await startSplitgate({
    log: { level: 'info', accessLog: { sample: 0, errors: true } },
    upstreams: { app: { url: app.url, maxRequests: 1 }, gone: `http://127.0.0.1:${await closedPort()}` },
    routes: [
      { name: 'ws-gone', match: { pathPrefix: '/ws-gone' }, stable: 'gone' },
      { name: 'api', match: { pathPrefix: '/api' }, stable: 'app' },
    ],
  });
});

afterAll(async () => {
  releaseHung?.();
  await sg?.stop();
  await app?.close();
});

function handshake(path: string): Promise<string> {
  const url = new URL(sg.url);
  return new Promise((resolve) => {
    const socket = connect(Number(url.port), url.hostname);
    let text = '';
    socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
    socket.on('error', () => undefined);
    socket.on('close', () => resolve(text));
    socket.write(`GET ${path} HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`);
    setTimeout(() => socket.destroy(), 3_000);
  });
}

async function lineOf(requestId: string): Promise<Record<string, unknown>> {
  const line = await sg.accessLogLine(requestId);
  expect(line, `no access log line for ${requestId}`).toBeDefined();
  return line!;
}

describe('access log lines of answers splitgate gives itself', () => {
  it('a plain 200 is not kept at sample 0 (the control)', async () => {
    const ok = await send(sg.url, '/api/ok');
    expect(ok.status).toBe(200);
    expect(await sg.accessLogLine(String(ok.headers['x-request-id']), 300)).toBeUndefined();
  });

  it('no route, a refused method, an ambiguous target: each line has its route, status and error code', async () => {
    const noRoute = await send(sg.url, '/nowhere');
    const trace = await send(sg.url, '/api/x', { method: 'TRACE' });
    const ambiguous = await send(sg.url, '/api/%2e%2e/x');
    for (const [reply, status] of [[noRoute, 404], [trace, 405], [ambiguous, 400]] as const) {
      expect(reply.status).toBe(status);
      const code = JSON.parse(reply.text).error.code;
      const line = await lineOf(String(reply.headers['x-request-id']));
      expect(line).toMatchObject({ msg: 'request', status, error: code, route: '_unmatched', version: 'none', reason: 'local', upstream: '' });
    }
  });

  it('an upstream at maxRequests: 503 with the route, version and upstream it was decided for', async () => {
    const hung = send(sg.url, '/api/hang');
    await waitFor('the first request at the upstream', () => releaseHung !== null);
    const over = await send(sg.url, '/api/more');
    expect(over.status).toBe(503);
    const line = await lineOf(String(over.headers['x-request-id']));
    expect(line).toMatchObject({ status: 503, error: 'SG_UPSTREAM_OVERLOADED', route: 'api', version: 'stable', reason: 'no_canary', upstream: 'app' });
    releaseHung!();
    expect((await hung).status).toBe(200);
  });

  it('a request whose chunked body turns out malformed while proxied: the 400 the client got, not a client gone (499)', async () => {
    const before = sg.logLines.length;
    const url = new URL(sg.url);
    const reply = await new Promise<string>((resolve) => {
      const socket = connect(Number(url.port), url.hostname);
      let text = '';
      socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
      socket.on('error', () => undefined);
      socket.on('close', () => resolve(text));
      socket.write('POST /api/upload HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n');
      setTimeout(() => socket.write('ZZ\r\n'), 100);
      setTimeout(() => socket.destroy(), 3_000);
    });
    expect(reply).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
    await waitFor('the access log line', () => sg.logLines.slice(before).some((l) => l.msg === 'request' && l.path === '/api/upload'), 3_000);
    expect(sg.logLines.slice(before).find((l) => l.path === '/api/upload')).toMatchObject({ status: 400, error: 'SG_BAD_REQUEST', route: 'api' });
  });

  it('WebSocket handshakes without an upgrade: a refused upstream (502) and an upstream\'s own 503', async () => {
    const before = sg.logLines.length;
    const refused = await handshake('/ws-gone/chat');
    expect(refused).toMatch(/^HTTP\/1\.1 502 /);
    const declined = await handshake('/api/chat');
    expect(declined).toMatch(/^HTTP\/1\.1 503 /);
    await waitFor('two access log lines', () => sg.logLines.slice(before).filter((l) => l.msg === 'request').length >= 2, 3_000);
    const lines = sg.logLines.slice(before).filter((l) => l.msg === 'request');
    expect(lines.find((l) => l.path === '/ws-gone/chat')).toMatchObject({ status: 502, error: 'SG_UPSTREAM_CONNECT_REFUSED', route: 'ws-gone', upstream: 'gone' });
    const relayed = lines.find((l) => l.path === '/api/chat');
    expect(relayed).toMatchObject({ status: 503, route: 'api', upstream: 'app' });
    expect(relayed!.error).toBeUndefined();
  });
});
