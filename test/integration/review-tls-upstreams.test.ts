/**
 * Issue 14, item 2: an https:// upstream's TLS identity is the upstream's, never the client's. SNI and the
 * certificate check use the URL's host name (or `servername`), a private CA is trusted through `ca`, pooled
 * connections survive clients sending different Host values, and a bad CA file is a config error.
 *
 * The certificates are made at test time with the openssl CLI: a CA, a leaf for localhost, api.internal and
 * 127.0.0.1 signed by it, and a second CA that signed nothing here.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfigFile, validateConfig } from '../../src/config/load.js';
import { ConfigError } from '../../src/errors.js';
import { createLogger } from '../../src/log.js';
import { Splitgate } from '../../src/splitgate.js';
import { send, waitFor } from '../helpers/http.js';
import { startSplitgate, type StartedSplitgate } from '../helpers/splitgate.js';

interface TlsUpstream {
  readonly server: Server;
  readonly port: number;
  /** SNI of each TLS connection, in order (`false` when the client sent none). */
  readonly servernames: Array<string | false>;
  /** Host header of each request. */
  readonly hosts: Array<string | undefined>;
}

let dir: string;
let caFile: string;
let otherCaFile: string;
let key: Buffer;
let cert: Buffer;

function openssl(...args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
}

function makeCertificates(): void {
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  const ca = ['-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'];
  openssl('req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=splitgate test CA', ...ca);
  openssl('req', '-x509', ...ec, '-keyout', 'other.key', '-out', 'other.pem', '-days', '2', '-subj', '/CN=another CA', ...ca);
  openssl('req', ...ec, '-keyout', 'leaf.key', '-out', 'leaf.csr', '-subj', '/CN=localhost');
  writeFileSync(
    join(dir, 'leaf.ext'),
    'subjectAltName=DNS:localhost,DNS:api.internal,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n',
  );
  openssl('x509', '-req', '-in', 'leaf.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'leaf.pem', '-days', '2', '-extfile', 'leaf.ext');
  caFile = join(dir, 'ca.pem');
  otherCaFile = join(dir, 'other.pem');
  key = readFileSync(join(dir, 'leaf.key'));
  cert = readFileSync(join(dir, 'leaf.pem'));
}

async function startTlsUpstream(): Promise<TlsUpstream> {
  const servernames: Array<string | false> = [];
  const hosts: Array<string | undefined> = [];
  const server = createServer({ key, cert }, (req, res) => {
    hosts.push(req.headers.host);
    res.end(`sni=${(req.socket as TLSSocket).servername}`);
  });
  server.on('secureConnection', (socket: TLSSocket) => servernames.push(socket.servername ?? false));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port, servernames, hosts };
}

async function stopServer(server: Server | undefined): Promise<void> {
  if (server === undefined) return;
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
}

let byName: TlsUpstream;
let reuse: TlsUpstream;
let override: TlsUpstream;
let noCa: TlsUpstream;
let byAddress: TlsUpstream;
let primary: TlsUpstream;
let shadow: TlsUpstream;
let proxy: StartedSplitgate;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'splitgate-tls-'));
  makeCertificates();
  [byName, reuse, override, noCa, byAddress, primary, shadow] = await Promise.all(Array.from({ length: 7 }, () => startTlsUpstream()));
  proxy = await startSplitgate({
    log: { level: 'silent' },
    upstreams: {
      byName: { url: `https://localhost:${byName.port}`, ca: caFile },
      reuse: { url: `https://localhost:${reuse.port}`, ca: caFile },
      override: { url: `https://localhost:${override.port}`, ca: caFile, servername: 'api.internal' },
      noCa: `https://localhost:${noCa.port}`,
      byAddress: { url: `https://127.0.0.1:${byAddress.port}`, ca: caFile },
      primary: { url: `https://localhost:${primary.port}`, ca: caFile },
      shadow: { url: `https://localhost:${shadow.port}`, ca: caFile },
    },
    routes: [
      ...['byName', 'reuse', 'override', 'noCa', 'byAddress'].map((name) => ({ name, match: { pathPrefix: `/${name}` }, stable: name })),
      { name: 'mirrored', match: { pathPrefix: '/mirrored' }, stable: 'primary', mirror: { to: 'shadow', percent: 100, hostSuffix: '.shadow' } },
    ],
  });
});

afterAll(async () => {
  await proxy?.stop();
  await Promise.all([byName, reuse, override, noCa, byAddress, primary, shadow].map((u) => stopServer(u?.server)));
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('https upstreams: TLS name and trust', () => {
  it('uses the upstream URL host name for SNI and the certificate check, whatever Host the client sends', async () => {
    const reply = await send(proxy.url, '/byName', { headers: { host: 'api.example.com' } });
    expect(reply.status).toBe(200);
    expect(reply.text).toBe('sni=localhost');
    expect(byName.servernames).toEqual(['localhost']);
    // The client's Host is still what the upstream's HTTP layer sees.
    expect(byName.hosts).toEqual(['api.example.com']);
  });

  it('keeps one pooled connection while clients alternate Host values', async () => {
    const hosts = ['a.example.com', 'b.example.com', 'c.example.com'];
    for (let i = 0; i < 9; i++) {
      const reply = await send(proxy.url, `/reuse/${i}`, { headers: { host: hosts[i % hosts.length] } });
      expect(reply.status).toBe(200);
    }
    expect(reuse.hosts).toHaveLength(9);
    expect(reuse.servernames).toEqual(['localhost']);
  });

  it('sends the configured servername instead of the URL host name', async () => {
    const reply = await send(proxy.url, '/override', { headers: { host: 'api.example.com' } });
    expect(reply.status).toBe(200);
    expect(override.servernames).toEqual(['api.internal']);
  });

  it('sends no SNI to an IP-literal upstream and checks the certificate against the address (RFC 6066 §3)', async () => {
    const reply = await send(proxy.url, '/byAddress', { headers: { host: 'api.example.com' } });
    expect(reply.status).toBe(200);
    expect(byAddress.servernames).toEqual([false]);
  });

  it('mirror copies (Host with a suffix) use the shadow upstream name too, on one connection', async () => {
    for (const host of ['a.example.com', 'b.example.com', 'a.example.com']) {
      expect((await send(proxy.url, '/mirrored', { headers: { host } })).status).toBe(200);
    }
    await waitFor('three mirror copies', () => shadow.hosts.length === 3);
    expect(shadow.hosts).toEqual(['a.example.com.shadow', 'b.example.com.shadow', 'a.example.com.shadow']);
    expect(shadow.servernames).toEqual(['localhost']);
  });

  it('verifies certificates by default: a private CA without `ca` is a 502 naming the TLS failure', async () => {
    const reply = await send(proxy.url, '/noCa', { headers: { host: 'localhost' } });
    expect(reply.status).toBe(502);
    expect(reply.json().error.code).toBe('SG_UPSTREAM_TLS');
    expect(reply.json().error.message).toMatch(/UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED|UNABLE_TO_GET_ISSUER/);
    expect(noCa.hosts).toEqual([]);
    const metrics = await (await fetch(`${proxy.adminUrl}/metrics`)).text();
    expect(metrics).toMatch(/splitgate_upstream_errors_total\{route="noCa",version="stable",kind="tls"\} 1/);
  });
});

describe('https upstream options in the config', () => {
  function issuesOf(upstream: Record<string, unknown>): string[] {
    try {
      validateConfig({ upstreams: { api: upstream }, routes: [{ name: 'r', stable: 'api' }] });
    } catch (error) {
      if (error instanceof ConfigError) return error.issues.map((i) => `${i.path}: ${i.message}`);
      throw error;
    }
    return [];
  }

  it('reports an unreadable or invalid CA file, and options that do not apply, with their paths', () => {
    const missing = join(dir, 'missing.pem');
    expect(issuesOf({ url: 'https://api.internal', ca: missing })).toEqual([`upstreams.api.ca: cannot read ${missing}: ENOENT`]);
    const garbage = join(dir, 'garbage.pem');
    writeFileSync(garbage, 'not a certificate\n');
    expect(issuesOf({ url: 'https://api.internal', ca: garbage })[0]).toMatch(/^upstreams\.api\.ca: .*garbage\.pem holds no PEM certificate/);
    const broken = join(dir, 'broken.pem');
    writeFileSync(broken, `${readFileSync(caFile, 'utf8')}-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n`);
    expect(issuesOf({ url: 'https://api.internal', ca: broken })[0]).toMatch(/^upstreams\.api\.ca: certificate 2 in .*broken\.pem is invalid/);
    expect(issuesOf({ url: 'http://api.internal', ca: caFile, servername: 'x.internal' })).toEqual([
      'upstreams.api.servername: applies to https:// upstreams only',
      'upstreams.api.ca: applies to https:// upstreams only',
    ]);
    expect(issuesOf({ url: 'https://api.internal', ca: caFile, insecureSkipVerify: true })[0]).toMatch(/^upstreams\.api\.ca: set ca or insecureSkipVerify, not both/);
    expect(issuesOf({ url: 'https://api.internal', servername: '10.0.0.1' })[0]).toMatch(/^upstreams\.api\.servername: must be a host name, not an IP address/);
    expect(issuesOf({ url: 'https://api.internal', servername: 'bad name' })[0]).toMatch(/^upstreams\.api\.servername: must be a DNS host name/);
  });

  it('accepts a bundle of several CA certificates', () => {
    const bundle = join(dir, 'bundle.pem');
    writeFileSync(bundle, `${readFileSync(otherCaFile, 'utf8')}\n${readFileSync(caFile, 'utf8')}`);
    expect(issuesOf({ url: 'https://api.internal', ca: bundle })).toEqual([]);
  });

  it('a reload picks up a changed CA file (new pool) and rejects an unreadable one with its path', async () => {
    const upstream = await startTlsUpstream();
    const trusted = join(dir, 'reload-ca.pem');
    copyFileSync(caFile, trusted);
    const file = join(dir, 'reload.yaml');
    writeFileSync(
      file,
      [
        'listen: 127.0.0.1:0',
        'admin: { listen: 127.0.0.1:0 }',
        'state: { file: false }',
        'watch: false',
        'log: { level: silent }',
        `upstreams: { api: { url: "https://localhost:${upstream.port}", ca: ${JSON.stringify(trusted)} } }`,
        'routes: [{ name: api, stable: api }]',
        '',
      ].join('\n'),
    );
    const splitgate = await Splitgate.start({ config: await loadConfigFile(file), configPath: file, logger: createLogger({ level: 'silent' }) });
    try {
      const url = splitgate.proxyAddress.url;
      expect((await send(url, '/')).status).toBe(200);

      // Same path, other content: the config changed, and the new pool trusts only the other CA.
      copyFileSync(otherCaFile, trusted);
      const changed = await splitgate.reload('test');
      expect(changed.ok).toBe(true);
      expect(changed.warnings ?? []).not.toContain('config unchanged');
      const refused = await send(url, '/');
      expect(refused.status).toBe(502);
      expect(refused.json().error.code).toBe('SG_UPSTREAM_TLS');

      rmSync(trusted);
      const rejected = await splitgate.reload('test');
      expect(rejected.ok).toBe(false);
      expect(rejected.errors).toEqual([`upstreams.api.ca: cannot read ${trusted}: ENOENT`]);
    } finally {
      await splitgate.stop(1_000);
      await stopServer(upstream.server);
    }
  });
});
