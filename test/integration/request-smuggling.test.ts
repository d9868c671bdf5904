/**
 * Request smuggling, pinned case by case: for every ambiguous or malformed framing a front proxy and its upstream
 * could read differently (CL.TE, TE.CL, obfuscated Transfer-Encoding, duplicate Content-Length, obs-fold, bare LF,
 * NUL/CR in values, oversized chunk sizes, non-origin targets, pipelining), what the client gets, whether the
 * connection is closed, and that the upstream (a strict recording parser, helpers/recording-upstream.ts) received
 * only well-framed requests and never the request hidden in the attack (`/smuggled`).
 *
 * splitgate never forwards the client's framing: node:http's parser (llhttp, strict: no `insecureHTTPParser`)
 * reads the request, and undici frames it anew for the upstream (Content-Length, or chunked). So a smuggle could
 * only happen if node:http itself took body bytes for a new request; each case here shows it does not.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createTempDir, killIfRunning, spawnSplitgate } from '../helpers/process.js';
import { rawExchange } from '../helpers/raw-client.js';
import { startRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';
import { startSplitgate, type StartedSplitgate } from '../helpers/splitgate.js';

let upstream: RecordingUpstream;
let proxy: StartedSplitgate;

beforeAll(async () => {
  upstream = await startRecordingUpstream();
  proxy = await startSplitgate({ upstreams: { stable: upstream.url }, routes: [{ name: 'app', stable: 'stable' }], log: { level: 'silent' } });
});

afterAll(async () => {
  await proxy?.stop();
  await upstream?.close();
});

afterEach(async () => {
  // Whatever the case did, the upstream saw no malformed bytes, and the proxy still serves a plain request.
  expect(upstream.violations).toEqual([]);
  upstream.reset();
  const check = await rawExchange(proxy.url, 'GET /after HTTP/1.1\r\nHost: app\r\nConnection: close\r\n\r\n');
  expect(check.responses.map((r) => r.status)).toEqual([200]);
  expect(upstream.requests.map((r) => r.target)).toEqual(['/after']);
  upstream.reset();
});

const SMUGGLED = 'GET /smuggled HTTP/1.1\r\nHost: app\r\n\r\n';
const SMUGGLED_HANDSHAKE =
  'GET /smuggled HTTP/1.1\r\nHost: app\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n';

interface Case {
  readonly name: string;
  readonly bytes: string;
  /** Statuses the client receives, in order. */
  readonly statuses: readonly number[];
  /** Targets the upstream receives, in order (never `/smuggled` unless it was a real request). */
  readonly upstream: readonly string[];
  /** For a forwarded request: the body the upstream must receive. */
  readonly body?: string;
}

/** Rejected by the parser: 400, connection closed, nothing forwarded. */
function rejected(name: string, bytes: string, status = 400): Case {
  return { name, bytes, statuses: [status], upstream: [] };
}

const CASES: readonly Case[] = [
  // CL.TE and TE.CL: both framings in one request. RFC 9112 §6.3 lets a server reject it; llhttp does.
  rejected('CL.TE: Content-Length first, then Transfer-Encoding: chunked', `POST /a HTTP/1.1\r\nHost: app\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${SMUGGLED}`),
  rejected('TE.CL: Transfer-Encoding: chunked first, then Content-Length', `POST /a HTTP/1.1\r\nHost: app\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n5c\r\n${SMUGGLED}\r\n0\r\n\r\n`),
  // Obfuscated Transfer-Encoding: chunked must be the final coding of a request, or its length is unknown (§6.3).
  rejected('TE "chunked, identity" (chunked not last)', `POST /a HTTP/1.1\r\nHost: app\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n${SMUGGLED}`),
  rejected('TE "xchunked" with a Content-Length', `POST /a HTTP/1.1\r\nHost: app\r\nContent-Length: 5\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n${SMUGGLED}`),
  // Node 20's parser reads an empty Transfer-Encoding as no body (Node 24 refuses it): splitgate refuses it on both,
  // and never forwards what node:http parsed after it (found by the request fuzz, seed 2083807230).
  rejected('TE with an empty value, a request pipelined after it', `PUT /a HTTP/1.1\r\nHost: app\r\nTransfer-Encoding: \r\n\r\n${SMUGGLED}`),
  rejected('TE with an empty value, a WebSocket handshake pipelined after it', `POST /a HTTP/1.1\r\nHost: app\r\nTransfer-Encoding: \r\n\r\n${SMUGGLED_HANDSHAKE}`),
  rejected('a WebSocket handshake with an empty Transfer-Encoding', SMUGGLED_HANDSHAKE.replace('Host: app\r\n', 'Host: app\r\nTransfer-Encoding: \r\n')),
  // HTTP/1.1 without Host: node:http's own 400 closed the connection yet served what was pipelined behind it, whose
  // answer the client never got; behind an empty Transfer-Encoding those bytes may be another hop's body (found by
  // the request fuzz, seed 562203051).
  rejected('no Host in an HTTP/1.1 request, a request pipelined after it', `GET /a HTTP/1.1\r\nX-A: b\r\n\r\n${SMUGGLED}`),
  rejected('an empty Transfer-Encoding and no Host, a request pipelined after it', `OPTIONS /a HTTP/1.1\r\nTransfer-Encoding: \r\nUser-Agent: a\r\n\r\n${SMUGGLED}`),
  rejected('a WebSocket handshake without Host, a request pipelined after it', `${SMUGGLED_HANDSHAKE.replace('Host: app\r\n', '')}${SMUGGLED}`),
  // An Expect other than 100-continue: node:http answered 417 itself, kept the connection and served what followed,
  // even behind an empty Transfer-Encoding (found in review). splitgate answers it: 400 when unreadable, else 417.
  rejected('an empty Transfer-Encoding with Expect: foo, a request pipelined after it', `PUT /a HTTP/1.1\r\nHost: app\r\nTransfer-Encoding: \r\nExpect: foo\r\n\r\n${SMUGGLED}`),
  rejected('no Host with Expect: foo, a request pipelined after it', `GET /a HTTP/1.1\r\nExpect: foo\r\n\r\n${SMUGGLED}`),
  {
    name: 'Expect: foo on a readable request: 417, and the next request on the connection is served',
    bytes: `GET /a HTTP/1.1\r\nHost: app\r\nExpect: foo\r\n\r\nGET /next HTTP/1.1\r\nHost: app\r\nConnection: close\r\n\r\n`,
    statuses: [417, 200],
    upstream: ['/next'],
  },
  // A limit's answer closes the connection: what was pipelined behind it would never get its answer.
  rejected('more header fields than maxHeaderCount, a request pipelined after it', `GET /a HTTP/1.1\r\nHost: app\r\n${'X-F: 1\r\n'.repeat(100)}\r\n${SMUGGLED}`, 431),
  rejected('TE "identity" alone', `POST /a HTTP/1.1\r\nHost: app\r\nTransfer-Encoding: identity\r\n\r\n${SMUGGLED}`),
  rejected('TE "xchunked" alone', `POST /a HTTP/1.1\r\nHost: app\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n${SMUGGLED}`),
  rejected('TE " chunked" (leading space) with a Content-Length', `POST /a HTTP/1.1\r\nHost: app\r\nContent-Length: 40\r\nTransfer-Encoding:  chunked\r\n\r\n0\r\n\r\n${SMUGGLED}`),
  rejected('TE with a tab before the value and a Content-Length', `POST /a HTTP/1.1\r\nHost: app\r\nContent-Length: 40\r\nTransfer-Encoding:\tchunked\r\n\r\n0\r\n\r\n${SMUGGLED}`),
  rejected('space between the field name Transfer-Encoding and the colon', `POST /a HTTP/1.1\r\nHost: app\r\nTransfer-Encoding : chunked\r\nContent-Length: 40\r\n\r\n0\r\n\r\n${SMUGGLED}`),
  rejected('duplicate TE: chunked, then identity', `POST /a HTTP/1.1\r\nHost: app\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n0\r\n\r\n${SMUGGLED}`),
  rejected('TE value with a trailing vertical tab', `POST /a HTTP/1.1\r\nHost: app\r\nTransfer-Encoding: chunked\x0b\r\n\r\n0\r\n\r\n${SMUGGLED}`),
  // Content-Length ambiguity.
  rejected('two conflicting Content-Length fields', `POST /a HTTP/1.1\r\nHost: app\r\nContent-Length: 0\r\nContent-Length: 40\r\n\r\n${SMUGGLED}`),
  rejected('two equal Content-Length fields', `POST /a HTTP/1.1\r\nHost: app\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc`),
  rejected('a Content-Length list "0, 40"', `POST /a HTTP/1.1\r\nHost: app\r\nContent-Length: 0, 40\r\n\r\n${SMUGGLED}`),
  rejected('a signed Content-Length "+40"', `POST /a HTTP/1.1\r\nHost: app\r\nContent-Length: +40\r\n\r\n${SMUGGLED}`),
  rejected('a Content-Length beyond 2^64', `POST /a HTTP/1.1\r\nHost: app\r\nContent-Length: 99999999999999999999999\r\n\r\n${SMUGGLED}`),
  // Line folding and line ends.
  rejected('obs-fold continuing a header onto the next line', `GET /a HTTP/1.1\r\nHost: app\r\nX-Folded: one\r\n two\r\n\r\n`),
  rejected('obs-fold hiding Transfer-Encoding: chunked', `POST /a HTTP/1.1\r\nHost: app\r\nContent-Length: 40\r\nX-Folded: a\r\n Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n${SMUGGLED}`),
  rejected('bare LF line ends throughout', 'GET /a HTTP/1.1\nHost: app\n\n'),
  rejected('one bare LF hiding a Transfer-Encoding line', `POST /a HTTP/1.1\r\nHost: app\r\nContent-Length: 40\r\nX-A: b\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${SMUGGLED}`),
  rejected('a bare CR inside a header value', `GET /a HTTP/1.1\r\nHost: app\r\nX-A: b\rTransfer-Encoding: chunked\r\n\r\n`),
  rejected('a NUL inside a header value', 'GET /a HTTP/1.1\r\nHost: app\r\nX-A: b\x00c\r\n\r\n'),
  rejected('a space inside a header name', 'GET /a HTTP/1.1\r\nHost: app\r\nX A: b\r\n\r\n'),
  rejected('no Host in an HTTP/1.1 request', 'GET /a HTTP/1.1\r\nX-A: b\r\n\r\n'),
  // Chunk framing.
  rejected('a chunk size of 2^80', `POST /a HTTP/1.1\r\nHost: app\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffffff\r\nabc\r\n0\r\n\r\n${SMUGGLED}`),
  rejected('a negative chunk size', `POST /a HTTP/1.1\r\nHost: app\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\nabc\r\n0\r\n\r\n${SMUGGLED}`),
  rejected('a chunk size line ended by a bare LF', `POST /a HTTP/1.1\r\nHost: app\r\nTransfer-Encoding: chunked\r\n\r\n3\nabc\r\n0\r\n\r\n${SMUGGLED}`),
  rejected('chunk data longer than its size', `POST /a HTTP/1.1\r\nHost: app\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcdef\r\n0\r\n\r\n${SMUGGLED}`),
  // An absolute-form target is taken as RFC 9112 §3.2.2 says (its authority is the Host) and goes on in origin-form.
  { name: 'absolute-form target', bytes: 'GET http://evil.example/a HTTP/1.1\r\nHost: app\r\nConnection: close\r\n\r\n', statuses: [200], upstream: ['/a'] },
  // llhttp reads an HTTP/2.0 request line; splitgate answers 505 SG_HTTP_VERSION rather than forward it as 1.1.
  { name: 'an HTTP/2.0 request line over HTTP/1 framing', bytes: 'GET /a HTTP/2.0\r\nHost: app\r\nConnection: close\r\n\r\n', statuses: [505], upstream: [] },
  { name: 'asterisk-form target', bytes: 'OPTIONS * HTTP/1.1\r\nHost: app\r\nConnection: close\r\n\r\n', statuses: [400], upstream: [] },
  // What must pass: well-framed requests, a body that merely looks like a request, pipelining.
  {
    name: 'a Content-Length body that contains a request is a body',
    bytes: `POST /a HTTP/1.1\r\nHost: app\r\nConnection: close\r\nContent-Length: ${SMUGGLED.length}\r\n\r\n${SMUGGLED}`,
    statuses: [200],
    upstream: ['/a'],
    body: SMUGGLED,
  },
  {
    name: 'a chunked body that contains a request is a body',
    bytes: `POST /a HTTP/1.1\r\nHost: app\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n${SMUGGLED.length.toString(16)}\r\n${SMUGGLED}\r\n0\r\n\r\n`,
    statuses: [200],
    upstream: ['/a'],
    body: SMUGGLED,
  },
  {
    name: 'TE with a tab before "chunked" (optional whitespace) and no Content-Length',
    bytes: 'POST /a HTTP/1.1\r\nHost: app\r\nConnection: close\r\nTransfer-Encoding:\tchunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n',
    statuses: [200],
    upstream: ['/a'],
    body: 'abc',
  },
  {
    // llhttp tolerates extra spaces in the request line; the upstream gets a request line of splitgate's own making.
    name: 'a request line with two spaces is read as one request and forwarded well-formed',
    bytes: 'GET  /a HTTP/1.1\r\nHost: app\r\nConnection: close\r\n\r\n',
    statuses: [200],
    upstream: ['/a'],
  },
  {
    name: 'HTTP/1.0 with Transfer-Encoding: chunked is read chunked, and its body forwarded framed',
    bytes: `POST /a HTTP/1.0\r\nHost: app\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n`,
    statuses: [200],
    upstream: ['/a'],
    body: 'abc',
  },
  {
    name: 'HTTP/1.0 with Transfer-Encoding and keep-alive: answered, then closed; the request behind it is never read',
    bytes: `POST /a HTTP/1.0\r\nHost: app\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n${SMUGGLED}`,
    statuses: [200],
    upstream: ['/a'],
    body: 'abc',
  },
  {
    name: 'three pipelined requests in one packet, answered in order',
    bytes: `GET /one HTTP/1.1\r\nHost: app\r\n\r\nPOST /two HTTP/1.1\r\nHost: app\r\nContent-Length: 3\r\n\r\nabcGET /three HTTP/1.1\r\nHost: app\r\nConnection: close\r\n\r\n`,
    statuses: [200, 200, 200],
    upstream: ['/one', '/two', '/three'],
  },
  {
    name: 'a pipelined request after a rejected one is never read',
    bytes: `GET /one HTTP/1.1\r\nHost: app\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab${SMUGGLED}`,
    statuses: [400],
    upstream: [],
  },
];

describe('request smuggling', () => {
  for (const c of CASES) {
    it(`${c.name}: ${c.statuses.join(', ')}${c.upstream.length === 0 ? ', nothing forwarded' : ''}`, async () => {
      const reply = await rawExchange(proxy.url, c.bytes, { timeoutMs: 5_000 });
      expect(reply.timedOut, `no close within 5 s; got ${JSON.stringify(reply.text.slice(0, 300))}`).toBe(false);
      expect(reply.responses.map((r) => r.status)).toEqual(c.statuses);
      // Every rejection closes the connection: what follows the bad bytes is never read as a request.
      expect(reply.closed).toBe(true);
      // The upstream connection may still be closing: give a forwarded request a moment to be recorded.
      await new Promise((r) => setTimeout(r, c.upstream.length === 0 ? 50 : 0));
      expect(upstream.requests.map((r) => r.target)).toEqual(c.upstream);
      expect(upstream.requests.some((r) => r.target === '/smuggled')).toBe(false);
      if (c.body !== undefined) expect(upstream.requests[0].body.toString('latin1')).toBe(c.body);
    });
  }
});

describe('with NODE_OPTIONS=--insecure-http-parser', () => {
  it('still refuses CL.TE and bare LF: the proxy listener sets the strict parser explicitly', async () => {
    const dir = createTempDir();
    const previous = process.env.NODE_OPTIONS;
    process.env.NODE_OPTIONS = `${previous ?? ''} --insecure-http-parser`.trim();
    let child: Awaited<ReturnType<typeof spawnSplitgate>> | undefined;
    try {
      child = await spawnSplitgate(
        dir.writeConfig('splitgate.yaml', {
          listen: '127.0.0.1:0',
          admin: { listen: '127.0.0.1:0' },
          state: { file: false },
          watch: false,
          upstreams: { stable: upstream.url },
          routes: [{ name: 'app', stable: 'stable' }],
        }),
      );
    } finally {
      if (previous === undefined) delete process.env.NODE_OPTIONS;
      else process.env.NODE_OPTIONS = previous;
    }
    try {
      const clte = await rawExchange(child.url, `POST /a HTTP/1.1\r\nHost: app\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${SMUGGLED}`);
      expect(clte.responses.map((r) => r.status)).toEqual([400]);
      const bareLf = await rawExchange(child.url, 'GET /a HTTP/1.1\nHost: app\n\n');
      expect(bareLf.responses.map((r) => r.status)).toEqual([400]);
      expect(upstream.requests).toEqual([]);
    } finally {
      await killIfRunning(child);
      dir.remove();
    }
  });
});

