/**
 * SIGTERM drains: the listener closes at once (new connections are refused, /readyz turns 503), requests already
 * in flight finish normally, and the process exits 0. A request that outlives the drain timeout is cut, and the
 * process still exits 0.
 */
import { Agent } from 'node:http';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { connectionRefused, send, waitFor, type Received } from '../helpers/http.js';
import { createTempDir, killIfRunning, spawnSplitgate, type SplitgateProcess, type TempDir } from '../helpers/process.js';
import { startUpstream, type TestUpstream } from '../helpers/upstreams.js';

const UPSTREAM_DELAY_MS = 500;

let upstream: TestUpstream;
let dir: TempDir;
let proxy: SplitgateProcess | undefined;
let arrived = 0;
/** Slow requests answer after the delay and once the test lets them, so the test can look around first. */
let release: () => void = () => {};
let released = Promise.resolve();

beforeAll(async () => {
  upstream = await startUpstream('stable', (req, res) => {
    req.resume();
    if (req.url === '/never') return;
    arrived++;
    const delay = new Promise((resolve) => setTimeout(resolve, UPSTREAM_DELAY_MS));
    void Promise.all([delay, released]).then(() => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(`slow ${req.url}`);
    });
  });
  dir = createTempDir();
});

afterEach(async () => {
  release();
  await killIfRunning(proxy);
});

afterAll(async () => {
  await upstream?.close();
  dir?.remove();
});

function configFile(name: string, drainTimeout: string): string {
  return dir.writeConfig(name, {
    listen: '127.0.0.1:0',
    admin: { listen: '127.0.0.1:0' },
    upstreams: { stable: upstream.url },
    routes: [{ name: 'app', stable: 'stable' }],
    shutdown: { drainTimeout },
  });
}

describe('SIGTERM', () => {
  it('finishes the in-flight request, refuses new connections, and exits 0', async () => {
    released = new Promise((resolve) => (release = resolve));
    proxy = await spawnSplitgate(configFile('drain.yaml', '10s'));
    expect((await send(proxy.adminUrl, '/readyz')).status).toBe(200);

    const before = arrived;
    const inFlight = send(proxy.url, '/slow');
    let settled = false;
    void inFlight.then(
      () => (settled = true),
      () => (settled = true),
    );
    await waitFor('the slow request at the upstream', () => arrived === before + 1);

    proxy.child.kill('SIGTERM');
    await waitFor('the listener to refuse connections', () => connectionRefused(proxy!.url));
    // Draining: not ready for new traffic, though the admin listener still answers.
    const ready = await send(proxy.adminUrl, '/readyz');
    expect(ready.status).toBe(503);
    expect(settled).toBe(false);
    expect(proxy.child.exitCode).toBeNull();

    release();
    const res: Received = await inFlight;
    expect(res.status).toBe(200);
    expect(res.text).toBe('slow /slow');
    // The client is told not to reuse the connection: this replica is going away.
    expect(res.headers.connection).toBe('close');

    const exit = await proxy.exited;
    expect(exit).toEqual({ code: 0, signal: null });
    expect(proxy.stderr()).toBe('');
  });

  it('a keep-alive client\'s request in flight when the drain begins is answered with Connection: close', async () => {
    released = Promise.resolve();
    proxy = await spawnSplitgate(configFile('keepalive.yaml', '10s'));
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      // The connection is kept alive before the drain...
      expect((await send(proxy.url, '/warm', { agent })).headers.connection).toBe('keep-alive');
      released = new Promise((resolve) => (release = resolve));
      const before = arrived;
      const inFlight = send(proxy.url, '/slow', { agent });
      await waitFor('the slow request at the upstream', () => arrived === before + 1);
      proxy.child.kill('SIGTERM');
      await waitFor('the listener to refuse connections', () => connectionRefused(proxy!.url));
      release();
      // ...and its answer during the drain says close, so the client does not send its next request on it.
      const res = await inFlight;
      expect(res.status).toBe(200);
      expect(res.headers.connection).toBe('close');
      expect(await proxy.exited).toEqual({ code: 0, signal: null });
    } finally {
      agent.destroy();
    }
  });

  it('exits 0 when nothing is in flight, closing idle keep-alive connections', async () => {
    released = Promise.resolve();
    proxy = await spawnSplitgate(configFile('idle.yaml', '10s'));
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      expect((await send(proxy.url, '/warm', { agent })).status).toBe(200);
      const exit = await proxy.stop();
      expect(exit).toEqual({ code: 0, signal: null });
      expect(await connectionRefused(proxy.url)).toBe(true);
    } finally {
      agent.destroy();
    }
  });

  it('cuts a request that outlives the drain timeout and still exits 0', async () => {
    proxy = await spawnSplitgate(configFile('timeout.yaml', '200ms'));
    const stuck = send(proxy.url, '/never').then(
      (res) => ({ status: res.status, error: null as Error | null }),
      (error: Error) => ({ status: 0, error }),
    );
    await waitFor('the stuck request at the upstream', () => upstream.seen.some((s) => s.url === '/never'));
    const exit = await proxy.stop();
    expect(exit).toEqual({ code: 0, signal: null });
    const outcome = await stuck;
    // The client gets no answer it could take for a success.
    expect(outcome.status === 200).toBe(false);
  });
});
