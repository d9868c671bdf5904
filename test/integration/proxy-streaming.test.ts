/**
 * Bodies stream through, both ways, with backpressure (RFC 9110 §7.6: a proxy forwards the message, it does not
 * store it): 200 MiB up and 200 MiB down arrive intact, and the proxy process's peak memory stays flat. The proxy
 * runs as a child process so its own peak RSS (VmHWM) can be read, apart from the test's clients and upstreams.
 */
import { createHash, randomBytes } from 'node:crypto';
import { request, type IncomingMessage, type ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTempDir, killIfRunning, peakRssBytes, spawnSplitgate, type SplitgateProcess, type TempDir } from '../helpers/process.js';
import { startUpstream, type TestUpstream } from '../helpers/upstreams.js';

const TOTAL = 200 * 1024 * 1024;
const CHUNK = 256 * 1024;
/** Peak RSS allowed for the proxy after moving 800 MiB: buffering even one body would blow far past it. */
const PEAK_RSS_LIMIT = 200 * 1024 * 1024;

const base = randomBytes(CHUNK);

/** `TOTAL` bytes, chunk i being `base` stamped with i, so a lost, repeated or reordered chunk changes the hash. */
function* payload(): Generator<Buffer> {
  for (let i = 0; i < TOTAL / CHUNK; i++) {
    const chunk = Buffer.from(base);
    for (let offset = 0; offset < CHUNK; offset += 16 * 1024) chunk.writeUInt32BE(i, offset);
    yield chunk;
  }
}

const expectedSha256 = (() => {
  const hash = createHash('sha256');
  for (const chunk of payload()) hash.update(chunk);
  return hash.digest('hex');
})();

interface Digest {
  bytes: number;
  sha256: string;
}

/** How long each receiver sits on a full socket before reading: without backpressure the proxy would buffer. */
const STALL_MS = 400;

/** Digest of everything `stream` carries, read only after a stall. */
async function digest(stream: NodeJS.ReadableStream): Promise<Digest> {
  stream.pause();
  await new Promise((resolve) => setTimeout(resolve, STALL_MS));
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    bytes += chunk.length;
    hash.update(chunk);
  }
  return { bytes, sha256: hash.digest('hex') };
}

/** `/upload` answers with the digest of what arrived; `/download` sends the payload, with or without a length. */
async function bulkHandler(req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (req.url === '/upload') {
    const received = await digest(req);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(received));
    return;
  }
  req.resume();
  const headers: Record<string, string | number> = { 'content-type': 'application/octet-stream' };
  if (req.url === '/download') headers['content-length'] = TOTAL;
  res.writeHead(200, headers);
  await pipeline(Readable.from(payload()), res);
}

let upstream: TestUpstream;
let dir: TempDir;
let proxy: SplitgateProcess | undefined;

beforeAll(async () => {
  upstream = await startUpstream('stable', (req, res) => {
    bulkHandler(req, res).catch((error: Error) => res.destroy(error));
  });
  dir = createTempDir();
  const configFile = dir.writeConfig('splitgate.yaml', {
    listen: '127.0.0.1:0',
    admin: { listen: '127.0.0.1:0' },
    upstreams: { stable: upstream.url },
    routes: [{ name: 'bulk', stable: 'stable' }],
  });
  proxy = await spawnSplitgate(configFile);
});

afterAll(async () => {
  await killIfRunning(proxy);
  await upstream?.close();
  dir?.remove();
});

function upload(headers: Record<string, string | number>): Promise<{ status: number; body: Digest }> {
  const url = new URL(proxy!.url);
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, method: 'POST', path: '/upload', headers, agent: false });
    req.on('error', reject);
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', reject);
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Digest }));
    });
    pipeline(Readable.from(payload()), req).catch(reject);
  });
}

function download(path: string): Promise<{ status: number; headers: IncomingMessage['headers']; body: Digest }> {
  const url = new URL(proxy!.url);
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, path, agent: false });
    req.on('error', reject);
    req.on('response', (res) => {
      digest(res).then((body) => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }), reject);
    });
    req.end();
  });
}

describe('streaming 200 MiB through a splitgate process', () => {
  it('passes a 200 MiB upload with content-length intact', async () => {
    const result = await upload({ 'content-type': 'application/octet-stream', 'content-length': TOTAL });
    expect(result.status).toBe(200);
    expect(result.body).toEqual({ bytes: TOTAL, sha256: expectedSha256 });
    expect(upstream.seen.at(-1)!.headers['content-length']).toBe(String(TOTAL));
  });

  it('passes a 200 MiB chunked upload intact', async () => {
    const result = await upload({ 'content-type': 'application/octet-stream' });
    expect(result.status).toBe(200);
    expect(result.body).toEqual({ bytes: TOTAL, sha256: expectedSha256 });
    const seen = upstream.seen.at(-1)!.headers;
    expect(seen['transfer-encoding']).toBe('chunked');
    expect(seen['content-length']).toBeUndefined();
  });

  it('passes a 200 MiB download with content-length intact', async () => {
    const result = await download('/download');
    expect(result.status).toBe(200);
    expect(result.headers['content-length']).toBe(String(TOTAL));
    expect(result.body).toEqual({ bytes: TOTAL, sha256: expectedSha256 });
  });

  it('passes a 200 MiB chunked download intact', async () => {
    const result = await download('/download-chunked');
    expect(result.status).toBe(200);
    expect(result.headers['content-length']).toBeUndefined();
    expect(result.body).toEqual({ bytes: TOTAL, sha256: expectedSha256 });
  });

  it('kept the proxy process peak RSS flat while 800 MiB went through', () => {
    const peak = peakRssBytes(proxy!.pid);
    expect(peak).toBeGreaterThan(0);
    expect(peak).toBeLessThan(PEAK_RSS_LIMIT);
  });
});
