/**
 * A plain node:http client for integration tests: full control over methods, paths and headers (fetch refuses
 * hop-by-hop and some other names), the whole response buffered, and a safety timeout so a wedged proxy fails a
 * test with a message instead of hanging it. `sendRaw` speaks bytes over TCP for input no client library sends.
 */
import { Agent, request, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http';
import { connect } from 'node:net';
import { reservedPort } from './ports.js';

export interface SendOptions {
  readonly method?: string;
  readonly headers?: OutgoingHttpHeaders;
  readonly body?: string | Buffer;
  /** Defaults to a fresh connection per request (`false`). */
  readonly agent?: Agent | false;
  readonly timeoutMs?: number;
}

export interface Received {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly rawHeaders: string[];
  readonly body: Buffer;
  readonly text: string;
  json<T = any>(): T;
}

const DEFAULT_TIMEOUT_MS = 10_000;

/** One request to `baseUrl` + `path` (path sent as given, byte for byte). */
export function send(baseUrl: string, path = '/', options: SendOptions = {}): Promise<Received> {
  const url = new URL(baseUrl);
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  return new Promise((resolve, reject) => {
    const req = request({
      host: url.hostname,
      port: url.port,
      method: options.method ?? 'GET',
      path,
      headers: options.headers,
      agent: options.agent ?? false,
    });
    const timer = setTimeout(() => {
      req.destroy(new Error(`no complete response within ${timeoutMs} ms for ${options.method ?? 'GET'} ${path}`));
    }, timeoutMs);
    req.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
      res.on('end', () => {
        clearTimeout(timer);
        const body = Buffer.concat(chunks);
        const text = body.toString('utf8');
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          rawHeaders: res.rawHeaders,
          body,
          text,
          json: () => JSON.parse(text),
        });
      });
    });
    req.end(options.body);
  });
}

/** Runs `task(0..count-1)` with at most `concurrency` at a time; results in index order. */
export async function inParallel<T>(count: number, concurrency: number, task: (index: number) => Promise<T>): Promise<T[]> {
  const results = new Array<T>(count);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      const index = next++;
      results[index] = await task(index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  return results;
}

export interface RawReply {
  /** Everything the server sent before it closed (latin1). */
  readonly text: string;
  /** The socket error that ended the exchange, if any (a reset after the reply, for instance). */
  readonly error: NodeJS.ErrnoException | null;
}

export interface RawOptions {
  /** Half-close after writing, as a client that gives up on sending does. */
  readonly end?: boolean;
  readonly timeoutMs?: number;
}

/** Writes `bytes` to a TCP connection and collects the reply until the server closes (or `timeoutMs`). */
export function sendRaw(baseUrl: string, bytes: string | Buffer, options: RawOptions = {}): Promise<RawReply> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const url = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: url.hostname, port: Number(url.port), allowHalfOpen: true });
    const chunks: Buffer[] = [];
    let error: NodeJS.ErrnoException | null = null;
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`server did not close within ${timeoutMs} ms; got: ${Buffer.concat(chunks).toString('latin1').slice(0, 200)}`));
    }, timeoutMs);
    socket.on('connect', () => (options.end ? socket.end(bytes) : socket.write(bytes)));
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('end', () => socket.destroy());
    socket.on('error', (e: NodeJS.ErrnoException) => (error = e));
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ text: Buffer.concat(chunks).toString('latin1'), error });
    });
  });
}

/** Resolves true when a TCP connection to `baseUrl` is refused, false when it is accepted (and then closed) or reset. */
export function connectionRefused(baseUrl: string): Promise<boolean> {
  const url = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: url.hostname, port: Number(url.port) });
    socket.on('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ECONNREFUSED') resolve(true);
      // A connection caught half-open while the listener closes is reset, not refused: not refused yet, ask again.
      else if (error.code === 'ECONNRESET') resolve(false);
      else reject(error);
    });
  });
}

/** Polls `check` until it returns true; fails with `what` after `timeoutMs`. For events with no hook to await. */
export async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** A port with nothing listening, which no other server of the test run will be given: connections are refused. */
export function closedPort(): Promise<number> {
  return reservedPort();
}
