/**
 * A raw TCP client for hostile input: writes bytes as given (optionally in pieces, with pauses), then reads the
 * responses until the server closes, enough responses have arrived, or a bound runs out. Every exchange is
 * bounded, so a proxy that hangs fails the test instead of stalling it.
 */
import { connect } from 'node:net';

export interface RawResponse {
  readonly status: number;
  readonly head: string;
  readonly body: string;
}

export interface RawExchange {
  /** Responses parsed off the connection, in order. */
  readonly responses: RawResponse[];
  /** Everything received (latin1). */
  readonly text: string;
  /** The server closed (or reset) the connection. */
  readonly closed: boolean;
  /** Neither a close nor the responses waited for arrived within the bound. */
  readonly timedOut: boolean;
  readonly error: NodeJS.ErrnoException | null;
}

export interface RawExchangeOptions {
  /** Resolve once this many complete responses arrived (default: wait for the close). */
  readonly responses?: number;
  readonly timeoutMs?: number;
  /** Half-close after the last piece. */
  readonly end?: boolean;
  /** Written one after another, `pauseMs` apart. */
  readonly pauseMs?: number;
}

/** Complete responses at the start of `text` (Content-Length or chunked bodies; none for 1xx/204/304). */
export function parseResponses(text: string): RawResponse[] {
  return parseResponseStream(text).responses;
}

/**
 * The complete responses at the start of `text`, and what follows them (a partial or malformed response).
 * `firstIsHead`: the first response answers a HEAD request (a Content-Length but no body).
 */
export function parseResponseStream(text: string, firstIsHead = false): { responses: RawResponse[]; rest: string } {
  const responses: RawResponse[] = [];
  let offset = 0;
  while (offset < text.length) {
    const end = text.indexOf('\r\n\r\n', offset);
    if (end === -1) break;
    const head = text.slice(offset, end);
    const status = /^HTTP\/1\.[01] (\d{3})/.exec(head);
    if (status === null) break;
    const code = Number(status[1]);
    let cursor = end + 4;
    let body = '';
    const length = /\r\ncontent-length: *(\d+)/i.exec(head);
    if (code < 200 || code === 204 || code === 304 || (firstIsHead && responses.every((r) => r.status < 200))) {
      // no body
    } else if (length !== null) {
      const n = Number(length[1]);
      if (text.length < cursor + n) break;
      body = text.slice(cursor, cursor + n);
      cursor += n;
    } else if (/\r\ntransfer-encoding: *chunked/i.test(head)) {
      const last = text.indexOf('\r\n0\r\n', cursor - 2);
      const trailerEnd = last === -1 ? -1 : text.indexOf('\r\n\r\n', last + 2);
      if (trailerEnd === -1) break;
      body = text.slice(cursor, trailerEnd);
      cursor = trailerEnd + 4;
    } else {
      // Delimited by the close.
      body = text.slice(cursor);
      cursor = text.length;
    }
    responses.push({ status: code, head, body });
    offset = cursor;
  }
  return { responses, rest: text.slice(offset) };
}

export function rawExchange(baseUrl: string, pieces: string | Buffer | ReadonlyArray<string | Buffer>, options: RawExchangeOptions = {}): Promise<RawExchange> {
  const url = new URL(baseUrl);
  const timeoutMs = options.timeoutMs ?? 5_000;
  const list = typeof pieces === 'string' || Buffer.isBuffer(pieces) ? [pieces] : pieces;
  return new Promise((resolve) => {
    const socket = connect({ host: url.hostname, port: Number(url.port), allowHalfOpen: true });
    const chunks: Buffer[] = [];
    let error: NodeJS.ErrnoException | null = null;
    let settled = false;
    let writer: NodeJS.Timeout | undefined;
    const finish = (closed: boolean, timedOut: boolean): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearTimeout(writer);
      socket.destroy();
      const text = Buffer.concat(chunks).toString('latin1');
      resolve({ responses: parseResponses(text), text, closed, timedOut, error });
    };
    const timer = setTimeout(() => finish(false, true), timeoutMs);
    let index = 0;
    const writeNext = (): void => {
      if (settled || socket.destroyed) return;
      const piece = list[index++];
      const last = index >= list.length;
      if (last && options.end) socket.end(piece);
      else socket.write(piece);
      if (!last) writer = setTimeout(writeNext, options.pauseMs ?? 0);
    };
    socket.on('connect', writeNext);
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      if (options.responses !== undefined && parseResponses(Buffer.concat(chunks).toString('latin1')).length >= options.responses) finish(false, false);
    });
    socket.on('end', () => finish(true, false));
    socket.on('error', (e: NodeJS.ErrnoException) => {
      error = e;
      finish(true, false);
    });
    socket.on('close', () => finish(true, false));
  });
}
