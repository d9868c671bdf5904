/**
 * Request fuzz (issue 17): generated malformed and hostile requests over raw sockets (framing, header names and
 * values, methods, targets, versions, huge and many headers, slow, split, truncated and garbled bytes) against a
 * splitgate child process in front of a strict recording upstream (helpers/recording-upstream.ts). Properties:
 *
 * - no crash: the process is alive after every batch, with nothing on stderr, and proxies a plain request;
 * - no hang: every exchange ends (a close, or all its answers) within a bound;
 * - every answer is a clean HTTP response: a proxied 200 from the upstream, a 100 Continue, or a 4xx/5xx, and
 *   nothing after the responses but the close;
 * - nothing smuggled: the upstream sees only well-framed requests, and a request hidden in a body or a header
 *   (`/smuggled/<id>`) reaches it only if the client's bytes, read strictly, really contain it as a request of its
 *   own, or splitgate answered it as one.
 *
 * Seeded with fast-check: the seed is printed, `FUZZ_SEED=<n>` replays a run, `FUZZ_RUNS=<n>` sets the number of
 * requests (10 000 by default; see loadtest/README.md). Requests run 250 at a time in batches of 2 500.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inParallel, send } from './helpers/http.js';
import { createTempDir, killIfRunning, spawnSplitgate, type SplitgateProcess, type TempDir } from './helpers/process.js';
import { parseResponseStream, rawExchange } from './helpers/raw-client.js';
import { readStrictRequests, startRecordingUpstream, type RecordingUpstream } from './helpers/recording-upstream.js';

const SEED = process.env.FUZZ_SEED !== undefined ? Number(process.env.FUZZ_SEED) : Date.now() ^ (Math.random() * 0x7fffffff);
const RUNS = Number(process.env.FUZZ_RUNS ?? 10_000);
const BATCH = 2_500;
const CONCURRENCY = 250;
/** headersTimeout (1 s) + node:http's check (1 s) + client body timeout (1 s) + slack for a loaded machine. */
const EXCHANGE_BOUND_MS = 8_000;

let upstream: RecordingUpstream;
let shadow: RecordingUpstream;
let dir: TempDir;
let proxy: SplitgateProcess | undefined;

beforeAll(async () => {
  upstream = await startRecordingUpstream();
  shadow = await startRecordingUpstream();
  dir = createTempDir();
  const configFile = dir.writeConfig('splitgate.yaml', {
    listen: '127.0.0.1:0',
    admin: { listen: '127.0.0.1:0' },
    state: { file: false },
    watch: false,
    // Two upstream names on one recorder: both versions' code paths run.
    upstreams: { stable: upstream.url, canary: upstream.url, shadow: shadow.url },
    timeouts: { clientBody: '1s', send: '2s' },
    limits: { headersTimeout: '1s', keepAliveTimeout: '1s', maxBodyBytes: 65_536 },
    routes: [
      {
        name: 'app',
        stable: 'stable',
        canary: 'canary',
        weight: 50,
        sticky: { key: ['header:x-user-id', 'cookie:session', 'ip'], cookie: { name: 'sg_uid' } },
        overrides: { header: 'x-canary', cookie: 'canary' },
        region: { header: 'x-region' },
        rules: [
          { match: { headers: { 'user-agent': '~(?i)mobile' } }, weight: 10 },
          { match: { cookies: { plan: 'beta' } }, version: 'canary' },
        ],
        mirror: { to: 'shadow', percent: 20, methods: ['GET', 'POST', 'PUT'] },
      },
    ],
    log: { level: 'info', accessLog: { enabled: false } },
  });
  proxy = await spawnSplitgate(configFile);
});

afterAll(async () => {
  await killIfRunning(proxy);
  await Promise.all([upstream?.close(), shadow?.close()]);
  dir?.remove();
});

const SMUGGLE = 'GET /smuggled/{ID} HTTP/1.1\r\nHost: app\r\n\r\n';

/** Text as bytes: latin1 strings are written as they are; other strings as their UTF-8 bytes. */
function bytesOf(text: string): string {
  return /^[\x00-\xff]*$/.test(text) ? text : Buffer.from(text, 'utf8').toString('latin1');
}

const token = fc.stringMatching(/^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,12}$/);
const anyText = fc.oneof(
  fc.string({ maxLength: 30 }),
  fc.string({ unit: 'binary', maxLength: 30 }),
  fc.string({ unit: 'grapheme', maxLength: 20 }),
  fc.constantFrom('\r', '\n', '\r\n', '\x00', '\t', ' ', '\x7f', '\xff', ':', ';', ',', '"'),
);

const method = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom('GET', 'POST', 'PUT', 'HEAD', 'DELETE', 'OPTIONS', 'PATCH') },
  { weight: 2, arbitrary: fc.constantFrom('CONNECT', 'TRACE', 'PRI', 'get', 'G\x00T', '', 'GET GET', 'M-SEARCH', 'PROPFIND', 'SOURCE') },
  { weight: 1, arbitrary: token },
  { weight: 1, arbitrary: anyText },
);

const target = fc.oneof(
  { weight: 8, arbitrary: fc.tuple(fc.constantFrom('', '/', '/a/b', '/..%2f', '/%00', '/?q=1&q=2', '/#frag', '//x', '/~'), fc.option(anyText, { nil: '' })).map(([a, b]) => `/fz/{ID}${a}${b}`) },
  { weight: 2, arbitrary: fc.constantFrom('*', 'http://evil.example/fz/{ID}', 'app:80', '', 'fz/{ID}', '/fz/{ID} HTTP/1.1', `/fz/{ID}/${'a'.repeat(9000)}`) },
  { weight: 1, arbitrary: anyText.map((t) => `/fz/{ID}/${t}`) },
);

const version = fc.oneof(
  { weight: 10, arbitrary: fc.constant('HTTP/1.1') },
  { weight: 3, arbitrary: fc.constantFrom('HTTP/1.0', 'HTTP/2.0', 'HTTP/0.9', 'HTTP/1.2', 'http/1.1', 'HTTP/1.1 ', 'HTTP/11', '', 'HTTP/1.1\x00') },
);

const KNOWN_NAMES = [
  'host', 'content-length', 'transfer-encoding', 'connection', 'upgrade', 'expect', 'te', 'trailer', 'keep-alive',
  'proxy-connection', 'x-canary', 'cookie', 'x-user-id', 'x-region', 'x-forwarded-for', 'x-forwarded-proto',
  'x-forwarded-host', 'x-request-id', 'x-splitgate-version', 'via', 'user-agent', 'authorization', 'sec-websocket-key',
] as const;

const headerName = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...KNOWN_NAMES).chain((name) => fc.constantFrom(name, name.toUpperCase(), `${name} `, ` ${name}`)) },
  { weight: 3, arbitrary: token },
  { weight: 1, arbitrary: anyText },
);

const headerValue = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom('always', 'never', 'chunked', 'chunked, identity', 'identity', ' chunked', 'xchunked', 'close', 'keep-alive', 'upgrade', 'Upgrade', 'websocket', 'h2c', '100-continue', 'gzip, chunked', '0', '5', '-1', '+5', '1e3', '99999999999999999999', 'session=a; plan=beta; canary=always', '1.2.3.4, 5.6.7.8', 'Mobile Safari', 'app', 'app:80', '') },
  { weight: 3, arbitrary: anyText },
  { weight: 1, arbitrary: fc.constant(`a\r\n\r\n${SMUGGLE}`) },
  { weight: 1, arbitrary: fc.constant(`a\r\n ${SMUGGLE}`) },
);

const framing = fc.constantFrom('none', 'cl', 'cl', 'chunked', 'chunked', 'cl+chunked', 'chunked+cl', 'te-obfuscated', 'cl-dup', 'cl-short', 'cl-long', 'chunk-bad', 'chunk-ext', 'trailers');

const body = fc.oneof(
  { weight: 3, arbitrary: fc.constant('') },
  { weight: 3, arbitrary: fc.constant(SMUGGLE) },
  { weight: 3, arbitrary: anyText },
  { weight: 1, arbitrary: fc.integer({ min: 1_000, max: 100_000 }).map((n) => 'b'.repeat(n)) },
);

const hostileSpec = fc.record({
  method,
  target,
  version,
  host: fc.oneof({ weight: 8, arbitrary: fc.constant('app') }, { weight: 1, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: anyText }),
  headers: fc.array(fc.tuple(headerName, headerValue), { maxLength: 8 }),
  many: fc.oneof({ weight: 9, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 50, max: 400 }) }),
  huge: fc.oneof({ weight: 9, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 1_000, max: 40_000 }) }),
  framing,
  body,
  eol: fc.oneof({ weight: 12, arbitrary: fc.constant('\r\n') }, { weight: 1, arbitrary: fc.constantFrom('\n', '\r', '\n\r') }),
  pipelined: fc.oneof({ weight: 4, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
  pieces: fc.integer({ min: 1, max: 4 }),
  pauseMs: fc.constantFrom(0, 0, 0, 0, 5, 30),
  halfClose: fc.oneof({ weight: 30, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
  truncate: fc.oneof({ weight: 6, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.double({ min: 0, max: 1, noNaN: true }) }),
  flips: fc.oneof({ weight: 6, arbitrary: fc.constant([] as Array<[number, number]>) }, { weight: 1, arbitrary: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }) }),
});

type Spec = typeof hostileSpec extends fc.Arbitrary<infer T> ? T : never;

/** Well-formed requests with odd but legal content: they reach the upstream, so the data path runs too. */
const validSpec: fc.Arbitrary<Spec> = fc.record({
  method: fc.constantFrom('GET', 'POST', 'PUT', 'HEAD', 'DELETE', 'OPTIONS', 'PATCH'),
  target: fc.stringMatching(/^[A-Za-z0-9._~%/!$&'()*+,;=:@?-]{0,40}$/).map((path) => `/fz/{ID}/${path}`),
  version: fc.constantFrom('HTTP/1.1', 'HTTP/1.1', 'HTTP/1.0'),
  host: fc.constant('app'),
  headers: fc.array(
    fc.tuple(
      fc.constantFrom('x-canary', 'cookie', 'x-user-id', 'x-region', 'x-forwarded-for', 'x-request-id', 'user-agent', 'authorization', 'x-splitgate-version', 'via', 'connection', 'te', 'accept', 'x-forwarded-proto'),
      fc.oneof(fc.constantFrom('always', 'never', 'session=a; plan=beta', 'canary=always; sg_uid=x', 'Mobile', 'keep-alive', 'trailers', 'close', '1.2.3.4'), fc.stringMatching(/^[\x21-\x7e]([\x20-\x7e]{0,40}[\x21-\x7e])?$/)),
    ),
    { maxLength: 8 },
  ),
  many: fc.oneof({ weight: 9, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 10, max: 80 }) }),
  huge: fc.oneof({ weight: 9, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 1_000, max: 12_000 }) }),
  framing: fc.constantFrom('none', 'cl', 'chunked', 'chunk-ext', 'trailers'),
  body,
  eol: fc.constant('\r\n'),
  pipelined: fc.boolean(),
  pieces: fc.integer({ min: 1, max: 4 }),
  pauseMs: fc.constantFrom(0, 0, 0, 5),
  halfClose: fc.constant(true),
  truncate: fc.constant(null),
  flips: fc.constant([] as Array<[number, number]>),
});

const spec = fc.oneof({ weight: 2, arbitrary: hostileSpec }, { weight: 1, arbitrary: validSpec });

function chunked(data: string, eol: string, kind: string): string {
  if (kind === 'chunk-bad') return `${data.length.toString(16)}zz${eol}${data}${eol}0${eol}${eol}`;
  if (kind === 'chunk-ext') return `${data.length.toString(16)};ext="${'e'.repeat(50)}"${eol}${data}${eol}0${eol}${eol}`;
  const trailers = kind === 'trailers' ? `X-Trailer: 1${eol}` : '';
  return data.length === 0 ? `0${eol}${trailers}${eol}` : `${data.length.toString(16)}${eol}${data}${eol}0${eol}${trailers}${eol}`;
}

/** The request's bytes, and how they are delivered. */
function build(s: Spec, id: number): { pieces: Buffer[]; end: boolean; pauseMs: number; firstIsHead: boolean } {
  const eol = s.eol;
  const data = bytesOf(s.body);
  const lines = [`${bytesOf(s.method)} ${bytesOf(s.target)} ${s.version}`];
  if (s.host !== null) lines.push(`Host: ${bytesOf(s.host)}`);
  for (const [name, value] of s.headers) lines.push(`${bytesOf(name)}: ${bytesOf(value)}`);
  for (let i = 0; i < s.many; i++) lines.push(`X-Many-${i}: ${i}`);
  if (s.huge > 0) lines.push(`X-Huge: ${'h'.repeat(s.huge)}`);
  let payload = '';
  switch (s.framing) {
    case 'cl':
      lines.push(`Content-Length: ${data.length}`);
      payload = data;
      break;
    case 'cl-dup':
      lines.push(`Content-Length: ${data.length}`, `Content-Length: ${data.length}`);
      payload = data;
      break;
    case 'cl-short':
      lines.push(`Content-Length: ${Math.max(0, data.length - 7)}`);
      payload = data;
      break;
    case 'cl-long':
      lines.push(`Content-Length: ${data.length + 7}`);
      payload = data;
      break;
    case 'chunked':
    case 'chunk-bad':
    case 'chunk-ext':
    case 'trailers':
      lines.push('Transfer-Encoding: chunked');
      payload = chunked(data, eol, s.framing);
      break;
    case 'cl+chunked':
      lines.push(`Content-Length: ${data.length}`, 'Transfer-Encoding: chunked');
      payload = chunked(data, eol, 'chunked');
      break;
    case 'chunked+cl':
      lines.push('Transfer-Encoding: chunked', `Content-Length: ${data.length}`);
      payload = data;
      break;
    case 'te-obfuscated':
      lines.push('Transfer-Encoding: chunked', 'Transfer-Encoding: x');
      payload = chunked(data, eol, 'chunked');
      break;
    default:
      payload = data;
  }
  let text = `${lines.join(eol)}${eol}${eol}${payload}`;
  if (s.pipelined) text += `GET /fz/{ID}/next HTTP/1.1\r\nHost: app\r\nConnection: close\r\n\r\n`;
  let bytes = Buffer.from(text.replaceAll('{ID}', String(id)), 'latin1');
  if (s.truncate !== null) bytes = bytes.subarray(0, Math.floor(bytes.length * s.truncate));
  for (const [at, value] of s.flips) if (bytes.length > 0) bytes[at % bytes.length] = value;
  const pieces: Buffer[] = [];
  const size = Math.ceil(bytes.length / s.pieces) || 1;
  for (let offset = 0; offset < bytes.length; offset += size) pieces.push(bytes.subarray(offset, offset + size));
  if (pieces.length === 0) pieces.push(Buffer.alloc(0));
  return { pieces, end: s.halfClose, pauseMs: s.pauseMs, firstIsHead: s.method === 'HEAD' };
}

interface Outcome {
  readonly id: number;
  readonly sent: Buffer;
  readonly problem: string | null;
  /** Targets the client got a proxied answer for ("upstream saw <target>"). */
  readonly answered: string[];
}

async function exchange(s: Spec, id: number): Promise<Outcome> {
  const request = build(s, id);
  const sent = Buffer.concat(request.pieces);
  const reply = await rawExchange(proxy!.url, request.pieces, { end: request.end, pauseMs: request.pauseMs, timeoutMs: EXCHANGE_BOUND_MS });
  const answered: string[] = [];
  let problem: string | null = null;
  const { responses, rest } = parseResponseStream(reply.text, request.firstIsHead);
  if (reply.timedOut) problem = `no close within ${EXCHANGE_BOUND_MS} ms (hang)`;
  else if (rest !== '' && !(request.firstIsHead && responses.length === 0)) problem = `bytes after the responses: ${JSON.stringify(rest.slice(0, 200))}`;
  for (const response of responses) {
    if (response.status === 200 && response.body.startsWith('upstream saw ')) answered.push(response.body.slice('upstream saw '.length));
    else if (response.status === 200 && request.firstIsHead) continue;
    else if (response.status !== 100 && !(response.status >= 400 && response.status <= 599)) problem ??= `unexpected answer ${response.status}: ${JSON.stringify(response.head.slice(0, 200))}`;
  }
  return { id, sent, problem, answered };
}

function describeInput(outcome: Outcome): string {
  return `#${outcome.id}: ${outcome.problem}\n  sent ${JSON.stringify(outcome.sent.toString('latin1').slice(0, 600))}`;
}

describe('request fuzz (seeded: the seed is printed; FUZZ_SEED replays it)', () => {
  it(`survives ${RUNS} generated hostile requests: no crash, no hang, clean answers, nothing smuggled`, async () => {
    console.log(`fuzz-requests: seed ${SEED}, ${RUNS} requests (FUZZ_SEED=${SEED} FUZZ_RUNS=${RUNS} replays)`);
    const specs = fc.sample(spec, { seed: SEED, numRuns: RUNS });
    let forwarded = 0;
    for (let start = 0; start < specs.length; start += BATCH) {
      const batch = specs.slice(start, start + BATCH);
      const outcomes = await inParallel(batch.length, CONCURRENCY, (i) => exchange(batch[i], start + i));
      const failures = outcomes.filter((o) => o.problem !== null);
      expect(failures.slice(0, 3).map(describeInput), `seed ${SEED}`).toEqual([]);

      // Nothing smuggled: every /smuggled/<id> the upstream received was a request of its own in the client's
      // bytes, or splitgate answered it as one.
      const byId = new Map(outcomes.map((o) => [o.id, o]));
      for (const request of upstream.requests) {
        const smuggled = /^\/smuggled\/(\d+)/.exec(request.target);
        if (smuggled === null) continue;
        // The digits name the client that sent it, unless a byte flip garbled them (`/smuggled/56x1` from #5611):
        // then the clients are those whose bytes hold the target. The proxy cannot have made it up.
        const named = byId.get(Number(smuggled[1]));
        const senders = named?.sent.toString('latin1').includes(request.target)
          ? [named]
          : outcomes.filter((o) => o.sent.toString('latin1').includes(request.target));
        expect(senders.length, `seed ${SEED}: ${request.target} reached the upstream, yet no client of this batch sent it`).toBeGreaterThan(0);
        const legitimate = senders.some((o) => readStrictRequests(o.sent).some((r) => r.target === request.target) || o.answered.includes(request.target));
        expect(legitimate, `seed ${SEED}: smuggled ${request.target}\n${describeInput({ ...senders[0], problem: 'smuggled' })}`).toBe(true);
      }
      expect(upstream.violations, `seed ${SEED}`).toEqual([]);
      expect(shadow.violations, `seed ${SEED}`).toEqual([]);
      forwarded += upstream.requests.length;
      upstream.reset();
      shadow.reset();

      // The process is alive and serves a plain request after every batch.
      expect(proxy!.child.exitCode, proxy!.stderr().slice(0, 3000)).toBeNull();
      const plain = await send(proxy!.url, `/fz/plain-${start}`, { headers: { host: 'app' } });
      expect(plain.status).toBe(200);
      expect(plain.text).toBe(`upstream saw /fz/plain-${start}`);
      upstream.reset();
    }
    console.log(`fuzz-requests: ${RUNS} requests, ${forwarded} forwarded to the upstream, all well-framed`);
    expect(forwarded).toBeGreaterThan(RUNS / 10);
    expect(proxy!.stderr()).toBe('');
  }, 600_000);
});
