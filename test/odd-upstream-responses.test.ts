/**
 * The pure parts of splitgate's handling of odd upstream responses (test/integration/upstream-odd-responses.test.ts
 * has them end to end): repeated Connection lines, which failures the access log always keeps, how an unexpected
 * status line is classified, and an exchange whose error answer cannot be written still ending.
 */
import { createServer, request, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { errors as undiciErrors } from 'undici';
import { AccessLog, createLogger } from '../src/log.js';
import { clientConnection } from '../src/proxy/client-connections.js';
import { ProxyExchange, type ExchangeObserver, type ExchangeOutcome } from '../src/proxy/exchange.js';
import { buildClientHeaders } from '../src/proxy/headers.js';
import { HeaderNameIndex, readRequestHead } from '../src/proxy/request-head.js';
import { mapUpstreamError } from '../src/proxy/upstream-errors.js';
import { TimeoutSweep } from '../src/proxy/timeout-sweep.js';

const raw = (...fields: string[]): Buffer[] => fields.map((field) => Buffer.from(field, 'latin1'));

/** Flat [name, value, ...] → names, lower case. */
function names(flat: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < flat.length; i += 2) out.push(flat[i].toLowerCase());
  return out;
}

describe('buildClientHeaders: Connection on several lines is one list (RFC 9110 §5.3)', () => {
  it.each([
    ['a token line, then keep-alive', ['Connection', 'X-Secret', 'Connection', 'keep-alive', 'X-Secret', 's', 'X-Keep', 'k']],
    ['keep-alive, then a token line', ['Connection', 'keep-alive', 'X-Secret', 's', 'Connection', 'x-secret', 'X-Keep', 'k']],
    ['two token lines', ['Connection', 'X-Secret', 'X-Secret', 's', 'X-Other', 'o', 'Connection', 'close, X-Other', 'X-Keep', 'k']],
  ])('drops every field named on any line: %s', (_what, fields) => {
    expect(names(buildClientHeaders(raw(...fields), null)!)).toEqual(['x-keep']);
  });

  it('the request side already joins them (request-head.ts)', () => {
    const head = readRequestHead(['Host', 'h', 'Connection', 'X-Secret', 'Connection', 'keep-alive', 'X-Secret', 's', 'X-Keep', 'k'], new HeaderNameIndex([]));
    expect(head.forward).not.toContain('x-secret');
    expect(head.forward).toContain('x-keep');
  });
});

describe('AccessLog.wants: errors: true keeps every exchange that ended with an error code', () => {
  const logger = createLogger({ level: 'info', destination: new Writable({ write: (_c, _e, cb) => cb() }) });

  it('whatever its status, with the sample at 0', () => {
    const log = new AccessLog(logger, { enabled: true, sample: 0, errors: true }, () => 0.99);
    expect([log.wants(200, true), log.wants(206, true), log.wants(499, true), log.wants(502, false)]).toEqual([true, true, true, true]);
    expect([log.wants(200, false), log.wants(404, false), log.wants(200)]).toEqual([false, false, false]);
  });

  it('sampled like the rest with errors: false, and never when disabled', () => {
    expect(new AccessLog(logger, { enabled: true, sample: 0, errors: false }, () => 0).wants(200, true)).toBe(false);
    expect(new AccessLog(logger, { enabled: false, sample: 1, errors: true }).wants(200, true)).toBe(false);
  });
});

describe('mapUpstreamError: a status line undici did not expect', () => {
  it.each(['bad response', 'bad upgrade'])('"%s" (undici SocketError) is a protocol error, not a reset', (message) => {
    expect(mapUpstreamError(new undiciErrors.SocketError(message))).toMatchObject({ status: 502, code: 'SG_UPSTREAM_PROTOCOL', kind: 'protocol' });
  });

  it('other socket errors stay resets', () => {
    expect(mapUpstreamError(new undiciErrors.SocketError('other side closed'))).toMatchObject({ code: 'SG_UPSTREAM_RESET', kind: 'reset' });
  });
});

describe('ProxyExchange: an error answer that cannot be written', () => {
  let server: Server | undefined;

  afterEach(async () => {
    server?.closeAllConnections();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    server = undefined;
  });

  /**
   * A real node:http response, whose head something else already sent (flushHeaders): node:http then throws on
   * the exchange's writeHead. The collaborators are the least the exchange reads on this path.
   */
  it('still ends the exchange, once, and closes the client connection instead of leaving it waiting', async () => {
    const ended: ExchangeOutcome[] = [];
    const observer: ExchangeObserver = {
      exchangeEnded: (outcome) => ended.push(outcome),
      retryToStable: () => false,
      replayAfterStaleConnection: () => false,
      sweep: new TimeoutSweep(),
      draining: false,
    };
    const upstream = { name: 'stable', inFlight: 1 };
    let thrown: unknown = null;
    const handled = new Promise<ServerResponse>((resolve) => {
      server = createServer((req, res) => {
        const backend = { upstream, queueTimeout: 0, clientBodyTimeout: 0, sendTimeout: 0 };
        const route = { name: 'api', retry: null, guard: null };
        const exchange = new ProxyExchange(
          req,
          res,
          clientConnection(req.socket),
          route as never,
          {} as never,
          backend as never,
          { version: 'stable', reason: 'weight', rule: -1 } as never,
          'rid-1',
          null,
          0,
          observer,
          null,
          false,
          [],
        );
        res.flushHeaders();
        try {
          exchange.onError(Object.assign(new Error('reset'), { code: 'ECONNRESET' }));
        } catch (error) {
          thrown = error;
        }
        resolve(res);
      });
    });
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    const port = (server!.address() as AddressInfo).port;
    const client = new Promise<string>((resolve) => {
      setTimeout(resolve, 2_000, 'still waiting');
      const req = request({ host: '127.0.0.1', port, path: '/' }, (res) => {
        res.resume();
        res.on('error', () => resolve('cut'));
        res.on('aborted', () => resolve('cut'));
        res.on('end', () => resolve('ended'));
      });
      req.on('error', () => resolve('cut'));
      req.end();
    });
    const res = await handled;
    expect(thrown).toBeNull();
    expect(ended).toEqual([{ exchange: expect.anything(), status: 502, error: { code: 'SG_UPSTREAM_RESET', kind: 'reset' } }]);
    expect(upstream.inFlight).toBe(0);
    expect(res.destroyed).toBe(true);
    expect(await client).toBe('cut');
  });
});
