/**
 * A WebSocket handshake on a route that reads claims waits for its token's verification like any request: a
 * verified claim picks the canary, a forged one stable, and the connection is spliced either way.
 */
import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AUDIENCE, createSigningKey, ISSUER, signToken, startJwksServer, type JwksServer, type SigningKey } from '../helpers/jwks.js';
import { startSplitgate, type StartedSplitgate } from '../helpers/splitgate.js';

/** Answers every upgrade with 101, naming its version. */
async function startWsUpstream(version: string): Promise<{ server: Server; url: string }> {
  const server = createServer((_req, res) => res.end(version));
  server.on('upgrade', (_req, socket: Socket) => {
    socket.end(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nX-Upstream-Version: ${version}\r\n\r\n`);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

/** The response head to a WebSocket handshake carrying `token`. */
function handshake(proxyUrl: string, token: string): Promise<string> {
  const url = new URL(proxyUrl);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(url.port), url.hostname);
    let received = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no handshake response in 5 s (got ${JSON.stringify(received)})`));
    }, 5_000);
    socket.on('error', reject);
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString('latin1');
      const end = received.indexOf('\r\n\r\n');
      if (end === -1) return;
      clearTimeout(timer);
      socket.destroy();
      resolve(received.slice(0, end));
    });
    socket.write(
      `GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n` +
        `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nAuthorization: Bearer ${token}\r\n\r\n`,
    );
  });
}

let stable: { server: Server; url: string };
let canary: { server: Server; url: string };
let jwks: JwksServer;
let proxy: StartedSplitgate;
let key: SigningKey;
let attacker: SigningKey;

beforeAll(async () => {
  [key, attacker] = await Promise.all([createSigningKey('k1'), createSigningKey('k1')]);
  [stable, canary] = await Promise.all([startWsUpstream('stable'), startWsUpstream('canary')]);
  jwks = await startJwksServer([key]);
  proxy = await startSplitgate({
    upstreams: { stable: stable.url, canary: canary.url },
    jwt: { jwks: { url: jwks.url }, issuer: ISSUER, audience: AUDIENCE },
    routes: [{ name: 'ws', stable: 'stable', canary: 'canary', weight: 0, rules: [{ match: { claims: { role: 'tester' } }, version: 'canary' }] }],
  });
});

afterAll(async () => {
  await proxy?.stop();
  await jwks?.close();
  for (const upstream of [stable, canary]) {
    upstream?.server.closeAllConnections();
    await new Promise((resolve) => upstream?.server.close(resolve));
  }
});

describe('WebSocket handshakes on a route that reads claims', () => {
  it('a verified claim upgrades to the canary, a forged one to stable', async () => {
    const verified = await handshake(proxy.url, await signToken(key, { sub: 't', role: 'tester' }));
    expect(verified).toMatch(/^HTTP\/1\.1 101 /);
    expect(verified).toMatch(/x-upstream-version: canary/i);

    const forged = await handshake(proxy.url, await signToken(attacker, { sub: 'm', role: 'tester' }));
    expect(forged).toMatch(/^HTTP\/1\.1 101 /);
    expect(forged).toMatch(/x-upstream-version: stable/i);
  });
});
