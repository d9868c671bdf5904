#!/usr/bin/env node
/**
 * The bench's `http-proxy` peer: node-http-proxy (the most used Node proxy, the design card's package) in its
 * ordinary setup, so splitgate can be compared with what a team would write with it.
 *
 *   node loadtest/http-proxy-peer.mjs PORT UPSTREAM_URL        (PORT 0 picks one; prints `listening <port>`)
 *
 * - One keep-alive `http.Agent` for the upstream (without one, node-http-proxy opens a connection per request and
 *   measures TCP handshakes, not proxying). Up to 256 sockets, like splitgate's pool.
 * - `xfwd: true`: X-Forwarded-For/-Port/-Proto/-Host, as splitgate adds its forwarding fields (so neither side is
 *   spared the work of the other).
 * - An upstream error answers 502 instead of node-http-proxy's default (throwing, which ends the process).
 */
import { Agent, createServer } from 'node:http';
import httpProxy from 'http-proxy';

const port = Number(process.argv[2] ?? 0);
const target = process.argv[3];
if (!target) {
  process.stderr.write('usage: node loadtest/http-proxy-peer.mjs PORT UPSTREAM_URL\n');
  process.exit(2);
}

const agent = new Agent({ keepAlive: true, maxSockets: 256, keepAliveMsecs: 4_000 });
const proxy = httpProxy.createProxyServer({ target, agent, xfwd: true });
proxy.on('error', (error, _req, res) => {
  // `res` is a socket for upgrade requests; the bench sends none.
  if (typeof res.writeHead !== 'function' || res.headersSent) {
    res.destroy?.();
    return;
  }
  const body = `bad gateway: ${error.code ?? error.message}\n`;
  res.writeHead(502, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body) });
  res.end(body);
});

const server = createServer({ keepAliveTimeout: 65_000 }, (req, res) => proxy.web(req, res));
server.listen(port, '127.0.0.1', () => process.stdout.write(`listening ${server.address().port}\n`));

function shutdown() {
  server.closeAllConnections();
  server.close();
  agent.destroy();
  setTimeout(() => process.exit(0), 200).unref();
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
