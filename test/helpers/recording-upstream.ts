/**
 * An upstream that speaks strict HTTP/1.1 by hand and records exactly what it received: every complete request,
 * and every byte sequence that is not a well-framed request (a `violation`). Smuggling tests and the request fuzz
 * assert on it: whatever a client sends, the upstream must only ever see well-framed requests (RFC 9112 §2-§7:
 * CRLF line ends, token names, no CR/LF/NUL in values, one framing: a single Content-Length or `chunked` alone),
 * so a second request can never hide in the body of a first.
 *
 * Each complete request is answered `200` with `upstream saw <target>` (keep-alive), so a client can tell which
 * requests reached it.
 */
import { createServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  readonly connection: number;
  readonly method: string;
  readonly target: string;
  readonly headers: ReadonlyArray<readonly [string, string]>;
  readonly body: Buffer;
  readonly trailers: ReadonlyArray<readonly [string, string]>;
}

export interface RecordingUpstream {
  readonly url: string;
  readonly requests: RecordedRequest[];
  /** Byte sequences that are not well-framed HTTP/1.1 requests, with the reason. Must stay empty. */
  readonly violations: string[];
  /** Connections that closed with part of a request still unread (an aborted body: allowed, never answered). */
  readonly truncated: () => number;
  readonly connections: () => number;
  /** Forgets what was recorded so far (between fuzz batches). */
  reset(): void;
  close(): Promise<void>;
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const REQUEST_LINE = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+) (\/[\x21-\x7e]*) HTTP\/1\.1$/;
/**
 * What a client may send, read as leniently as node:http's parser does (any target form, HTTP/1.0, runs of spaces
 * between the parts): the reference reading of a client's bytes.
 */
const CLIENT_REQUEST_LINE = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+) +([\x21-\x7e]+) +HTTP\/1\.[01] *$/;
/** field-value: visible ASCII, SP, HTAB and obs-text; no CR, LF or NUL (RFC 9110 §5.5). */
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
const MAX_HEAD = 256 * 1024;

class Violation extends Error {}

/** Parses requests off one connection's bytes; returns the requests completed and how many bytes they used. */
function parseRequests(buffer: Buffer, connection: number, requests: RecordedRequest[] = [], fromClient = false): { requests: RecordedRequest[]; used: number } {
  let offset = 0;
  for (;;) {
    // RFC 9112 §2.2: a server ignores empty lines before a request line (node:http does), so a client's request may
    // follow a stray CRLF after the one before it. What splitgate sends upstream must not have them.
    if (fromClient) while (buffer[offset] === 0x0d && buffer[offset + 1] === 0x0a) offset += 2;
    const end = buffer.indexOf('\r\n\r\n', offset, 'latin1');
    if (end === -1) {
      if (buffer.length - offset > MAX_HEAD) throw new Violation(`head longer than ${MAX_HEAD} bytes`);
      // A bare LF line end would never be followed by CRLF CRLF: catch it as soon as a line is visibly wrong.
      const partial = buffer.subarray(offset).toString('latin1');
      const lf = partial.indexOf('\n');
      if (lf !== -1 && (lf === 0 || partial[lf - 1] !== '\r')) throw new Violation(`bare LF in head: ${JSON.stringify(partial.slice(0, 200))}`);
      break;
    }
    const head = buffer.subarray(offset, end).toString('latin1');
    const lines = head.split('\r\n');
    const requestLine = (fromClient ? CLIENT_REQUEST_LINE : REQUEST_LINE).exec(lines[0]);
    if (requestLine === null) throw new Violation(`bad request line ${JSON.stringify(lines[0].slice(0, 200))}`);
    const headers: Array<[string, string]> = [];
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':');
      const name = colon === -1 ? '' : line.slice(0, colon);
      const value = colon === -1 ? '' : line.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, '');
      if (!TOKEN.test(name)) throw new Violation(`bad field line ${JSON.stringify(line.slice(0, 200))}`);
      if (!FIELD_VALUE.test(value)) throw new Violation(`bad field value in ${JSON.stringify(line.slice(0, 200))}`);
      headers.push([name.toLowerCase(), value]);
    }
    const lengths = headers.filter(([name]) => name === 'content-length');
    const encodings = headers.filter(([name]) => name === 'transfer-encoding');
    if (lengths.length > 0 && encodings.length > 0) throw new Violation('both Content-Length and Transfer-Encoding');
    if (lengths.length > 1) throw new Violation('more than one Content-Length');
    if (encodings.length > 1 || (encodings.length === 1 && encodings[0][1].toLowerCase() !== 'chunked')) {
      throw new Violation(`Transfer-Encoding other than a single "chunked": ${JSON.stringify(encodings.map((e) => e[1]))}`);
    }
    if (!fromClient && headers.filter(([name]) => name === 'host').length !== 1) throw new Violation('not exactly one Host');
    let cursor = end + 4;
    let body: Buffer;
    const trailers: Array<[string, string]> = [];
    if (encodings.length === 1) {
      const parts: Buffer[] = [];
      let complete = false;
      for (;;) {
        const lineEnd = buffer.indexOf('\r\n', cursor, 'latin1');
        if (lineEnd === -1) break;
        const sizeLine = buffer.subarray(cursor, lineEnd).toString('latin1');
        const size = /^([0-9a-fA-F]{1,15})(;[\x20-\x7e]*)?$/.exec(sizeLine);
        if (size === null) throw new Violation(`bad chunk size line ${JSON.stringify(sizeLine.slice(0, 100))}`);
        const n = Number.parseInt(size[1], 16);
        if (n === 0) {
          // Trailer section, then CRLF.
          let at = lineEnd + 2;
          let done = false;
          for (;;) {
            const tEnd = buffer.indexOf('\r\n', at, 'latin1');
            if (tEnd === -1) break;
            const line = buffer.subarray(at, tEnd).toString('latin1');
            at = tEnd + 2;
            if (line === '') {
              done = true;
              break;
            }
            const colon = line.indexOf(':');
            if (colon <= 0 || !TOKEN.test(line.slice(0, colon))) throw new Violation(`bad trailer line ${JSON.stringify(line.slice(0, 100))}`);
            trailers.push([line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim()]);
          }
          if (done) {
            cursor = at;
            complete = true;
          }
          break;
        }
        if (buffer.length < lineEnd + 2 + n + 2) break;
        if (buffer.toString('latin1', lineEnd + 2 + n, lineEnd + 4 + n) !== '\r\n') throw new Violation('chunk data not followed by CRLF');
        parts.push(buffer.subarray(lineEnd + 2, lineEnd + 2 + n));
        cursor = lineEnd + 4 + n;
      }
      if (!complete) break;
      body = Buffer.concat(parts);
    } else if (lengths.length === 1) {
      if (!/^\d{1,15}$/.test(lengths[0][1])) throw new Violation(`bad Content-Length ${JSON.stringify(lengths[0][1])}`);
      const n = Number(lengths[0][1]);
      if (buffer.length < cursor + n) break;
      body = buffer.subarray(cursor, cursor + n);
      cursor += n;
    } else {
      body = Buffer.alloc(0);
    }
    requests.push({ connection, method: requestLine[1], target: requestLine[2], headers, body: Buffer.from(body), trailers });
    offset = cursor;
  }
  return { requests, used: offset };
}

/**
 * The requests a strict HTTP/1.1 reader finds in `bytes` (as a client sent them), up to the first byte that is
 * not well-framed: the reference for what a client really asked for.
 */
export function readStrictRequests(bytes: Buffer): RecordedRequest[] {
  const found: RecordedRequest[] = [];
  try {
    parseRequests(bytes, 0, found, true);
  } catch (error) {
    if (!(error instanceof Violation)) throw error;
  }
  return found;
}

export async function startRecordingUpstream(): Promise<RecordingUpstream> {
  const requests: RecordedRequest[] = [];
  const violations: string[] = [];
  const sockets = new Set<Socket>();
  let accepted = 0;
  let truncated = 0;
  const server = createServer((socket) => {
    const connection = ++accepted;
    sockets.add(socket);
    let pending: Buffer = Buffer.alloc(0);
    let broken = false;
    socket.on('error', () => {});
    socket.on('close', () => {
      sockets.delete(socket);
      if (!broken && pending.length > 0) truncated++;
    });
    socket.on('data', (chunk: Buffer) => {
      if (broken) return;
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      let parsed: { requests: RecordedRequest[]; used: number };
      try {
        parsed = parseRequests(pending, connection);
      } catch (error) {
        if (!(error instanceof Violation)) throw error;
        broken = true;
        violations.push(error.message);
        socket.destroy();
        return;
      }
      pending = pending.subarray(parsed.used);
      for (const request of parsed.requests) {
        requests.push(request);
        const body = `upstream saw ${request.target}`;
        socket.write(
          `HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${request.method === 'HEAD' ? '' : body}`,
        );
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    violations,
    truncated: () => truncated,
    connections: () => accepted,
    reset: () => {
      requests.length = 0;
      violations.length = 0;
      truncated = 0;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
