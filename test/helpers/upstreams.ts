/**
 * Real upstream servers on 127.0.0.1, port 0, for integration tests. By default each answers with JSON naming its
 * version and echoing the request; a test can pass its own handler for special behaviour (slow, reset, big body).
 */
import { createServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from 'node:http';
import { spawn } from 'node:child_process';
import { createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import { expect } from 'vitest';
import { send } from './http.js';

export interface TestUpstream {
  readonly version: string;
  readonly server: Server;
  readonly url: string;
  readonly port: number;
  /** Requests seen, in order (method, url, headers), for assertions on what the proxy sent. */
  readonly seen: Array<{ method: string; url: string; headers: IncomingMessage['headers']; rawHeaders: string[] }>;
  close(): Promise<void>;
}

/** 500 for `/fail…`, 200 otherwise: a test decides which requests are errors by their path. */
export const failByPath: RequestListener = (req, res) => {
  res.statusCode = req.url?.startsWith('/fail') ? 500 : 200;
  res.end();
};

/** `failing` requests to `/fail/<i>`, then `ok` to `/ok/<i>`, one at a time, each answered as failByPath says. */
export async function sendOkAndFailing(proxyUrl: string, ok: number, failing: number): Promise<void> {
  for (let i = 0; i < ok + failing; i++) {
    const path = i < failing ? `/fail/${i}` : `/ok/${i}`;
    expect((await send(proxyUrl, path)).status).toBe(i < failing ? 500 : 200);
  }
}

export function echoHandler(version: string): RequestListener {
  return (req: IncomingMessage, res: ServerResponse) => {
    let bytes = 0;
    req.on('data', (chunk: Buffer) => (bytes += chunk.length));
    req.on('end', () => {
      const body = JSON.stringify({ version, method: req.method, url: req.url, headers: req.headers, bodyBytes: bytes });
      res.writeHead(200, { 'content-type': 'application/json', 'x-upstream-version': version });
      res.end(body);
    });
  };
}

export async function startUpstream(version: string, handler: RequestListener = echoHandler(version)): Promise<TestUpstream> {
  const seen: TestUpstream['seen'] = [];
  const server = createServer((req, res) => {
    seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, rawHeaders: req.rawHeaders });
    handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    version,
    server,
    port,
    url: `http://127.0.0.1:${port}`,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Starts one echo upstream per version name. */
export async function startUpstreams(...versions: string[]): Promise<TestUpstream[]> {
  return Promise.all(versions.map((version) => startUpstream(version)));
}

export interface RawUpstream {
  readonly url: string;
  readonly port: number;
  /** Connections accepted so far. */
  readonly connections: () => number;
  close(): Promise<void>;
}

/**
 * A TCP server that speaks no HTTP of its own: `onRequest` gets the socket and the bytes of the request head once
 * they have arrived, and writes (or resets) whatever a test needs, byte for byte.
 */
export async function startRawUpstream(onRequest: (socket: Socket, head: string) => void): Promise<RawUpstream> {
  const sockets = new Set<Socket>();
  let accepted = 0;
  const server = createNetServer((socket) => {
    accepted++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    let head = '';
    const onData = (chunk: Buffer): void => {
      head += chunk.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      socket.off('data', onData);
      onRequest(socket, head);
    };
    socket.on('data', onData);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    connections: () => accepted,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

export interface UpstreamProcess {
  readonly url: string;
  readonly pid: number;
  /** Resolves when the process has exited (after `kill`, or by itself). */
  readonly exited: Promise<void>;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

/**
 * An echo upstream in its own process, so a test can SIGKILL it the way a crashing canary dies: every connection
 * it held closes at once (FIN), with requests on them half done. SIGUSR2 makes it die resetting them instead (RST),
 * as a crash that leaves bytes unread does, or a proxy in front of it that gives up. Each answer waits `delayMs`, so
 * requests are in flight.
 */
export async function startUpstreamProcess(version: string, delayMs = 0): Promise<UpstreamProcess> {
  const script = `
    const { createServer } = require('node:http');
    const server = createServer({ keepAliveTimeout: 65000 }, (req, res) => {
      req.resume();
      req.on('end', () => setTimeout(() => {
        res.writeHead(200, { 'content-type': 'application/json', 'x-upstream-version': ${JSON.stringify(version)} });
        res.end(JSON.stringify({ version: ${JSON.stringify(version)}, url: req.url }));
      }, ${Number(delayMs)}));
    });
    const sockets = new Set();
    server.on('connection', (socket) => { sockets.add(socket); socket.on('close', () => sockets.delete(socket)); });
    process.on('SIGUSR2', () => { for (const socket of sockets) socket.resetAndDestroy(); process.exit(1); });
    server.listen(0, '127.0.0.1', () => process.stdout.write('listening ' + server.address().port + '\\n'));`;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const found = /listening (\d+)/.exec(out);
      if (found) resolve(Number(found[1]));
    });
    child.once('exit', (code) => reject(new Error(`upstream process ${version} exited (${code}) before listening`)));
  });
  return {
    url: `http://127.0.0.1:${port}`,
    pid: child.pid!,
    exited,
    kill: async (signal = 'SIGKILL') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
}
