#!/usr/bin/env node
/**
 * The fair, minimal baseline for splitgate: node:http server + one undici Pool, `pool.dispatch` with a small
 * handler object using undici's legacy callbacks (onConnect/onHeaders/onData/onComplete/onError). No routing,
 * no metrics, no logging: what any Node proxy built on undici pays at the least.
 *
 *   node loadtest/bare-proxy.mjs [PORT] [UPSTREAM_URL]          (or env BARE_PORT, BARE_UPSTREAM)
 *   node loadtest/bare-proxy.mjs --forwarding-headers PORT URL   (the bench's `bare-headers` candidate)
 *
 * `--forwarding-headers` also adds the six request fields splitgate must add (X-Forwarded-For/-Proto/-Host, Via,
 * X-Request-Id, X-Splitgate-Version), with the simplest values that have the same shape, so the bench can tell
 * what those fields cost (in undici's header checks and the longer request head) from what the rest of splitgate
 * costs. It reads nothing and decides nothing: the request id is a counter and the version is always `stable`.
 *
 * PORT 0 picks a free port; the bound port is printed on stdout as `listening <port>`.
 * Pool and server options match splitgate's defaults (256 connections, pipelining 1, keep-alive 4 s upstream,
 * 65 s to clients), so the two differ only in what splitgate does per request.
 */
import { createServer } from 'node:http';
import { pathToFileURL } from 'node:url';
import { Pool } from 'undici';

/** Hop-by-hop fields the baseline drops (both directions); everything else passes as it came. */
function isHopByHop(lowerName) {
  return lowerName === 'connection' || lowerName === 'keep-alive' || lowerName === 'transfer-encoding';
}

class Exchange {
  constructor(res) {
    this.res = res;
    this.abort = null;
    this.resume = null;
    this.done = false;
    this.gone = false;
    this.streaming = false;
  }

  onConnect(abort) {
    if (this.done || this.gone) {
      abort(new Error('client closed'));
      return;
    }
    this.abort = abort;
  }

  onHeaders(statusCode, rawHeaders, resume, statusText) {
    if (statusCode < 200 || this.streaming) return true;
    this.resume = resume;
    const headers = [];
    for (let i = 0; i < rawHeaders.length; i += 2) {
      const name = rawHeaders[i].toString('latin1');
      if (isHopByHop(name.toLowerCase())) continue;
      headers.push(name, rawHeaders[i + 1].toString('latin1'));
    }
    this.res.writeHead(statusCode, statusText || undefined, headers);
    this.streaming = true;
    return true;
  }

  onData(chunk) {
    if (this.res.write(chunk)) return true;
    this.res.once('drain', () => this.resume?.());
    return false;
  }

  onComplete() {
    if (this.done) return;
    this.done = true;
    this.res.end();
  }

  onError(error) {
    if (this.done) return;
    this.done = true;
    const res = this.res;
    if (this.gone || res.destroyed) return;
    if (this.streaming) {
      res.destroy();
      return;
    }
    const body = `bad gateway: ${error.code ?? error.message}\n`;
    res.writeHead(502, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  }
}

/**
 * The baseline's request handler over `pool` (anything with undici's `dispatch`); hot-path.mjs times it too.
 * `forwardingHeaders`: also add the fields splitgate adds (see the top of this file).
 */
export function createBareHandler(pool, { forwardingHeaders = false } = {}) {
  let requestCount = 0;
  return (req, res) => {
    const exchange = new Exchange(res);
    // Cancel upstream work when the client goes away (a handler that does not wedges pooled connections).
    res.on('close', () => {
      if (exchange.done || res.writableFinished) return;
      exchange.gone = true;
      exchange.abort?.(new Error('client closed'));
    });

    const raw = req.rawHeaders;
    const headers = [];
    for (let i = 0; i < raw.length; i += 2) {
      if (isHopByHop(raw[i].toLowerCase())) continue;
      headers.push(raw[i], raw[i + 1]);
    }
    if (forwardingHeaders) {
      // A UUID's shape and length, as splitgate's ids, from a counter.
      const requestId = `00000000-0000-4000-8000-${(requestCount++ % 0x1000000000000).toString(16).padStart(12, '0')}`;
      headers.push(
        'x-forwarded-for', req.socket.remoteAddress ?? '',
        'x-forwarded-proto', 'http',
        'via', '1.1 splitgate',
        'x-request-id', requestId,
        'x-splitgate-version', 'stable',
        // req.headers is built anyway (the body check below reads it).
        'x-forwarded-host', req.headers.host ?? '',
      );
    }
    const contentLength = req.headers['content-length'];
    const hasBody = req.headers['transfer-encoding'] !== undefined || (contentLength !== undefined && contentLength !== '0');
    pool.dispatch({ path: req.url, method: req.method, headers, body: hasBody ? req : null }, exchange);
  };
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) main();

function main() {
  const args = process.argv.slice(2);
  const forwardingHeaders = args[0] === '--forwarding-headers';
  if (forwardingHeaders) args.shift();
  const port = Number(args[0] ?? process.env.BARE_PORT ?? 0);
  const upstream = args[1] ?? process.env.BARE_UPSTREAM;
  if (!upstream) {
    process.stderr.write('usage: node loadtest/bare-proxy.mjs [--forwarding-headers] PORT UPSTREAM_URL\n');
    process.exit(2);
  }
  const pool = new Pool(new URL(upstream).origin, {
    connections: 256,
    pipelining: 1,
    keepAliveTimeout: 4_000,
    keepAliveMaxTimeout: 60_000,
  });
  const server = createServer({ keepAliveTimeout: 65_000 }, createBareHandler(pool, { forwardingHeaders }));
  server.listen(port, '127.0.0.1', () => {
    process.stdout.write(`listening ${server.address().port}\n`);
  });

  function shutdown() {
    server.closeAllConnections();
    server.close();
    pool.close().finally(() => process.exit(0));
    setTimeout(() => process.exit(0), 2_000).unref();
  }
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
}
