/**
 * The `limits` section (issue 17): defaults as documented in README "Limits", path-accurate errors, and the values
 * a node:http server takes from it (applyLimits), the header count one above the limit so the service can see a
 * request is over it.
 */
import { createServer } from 'node:http';
import { describe, expect, it } from 'vitest';
import { validateConfig } from '../src/config/load.js';
import { ConfigError } from '../src/errors.js';
import { applyLimits } from '../src/proxy/proxy-listener.js';

const BASE = { upstreams: { stable: 'http://127.0.0.1:3001' }, routes: [{ name: 'app', stable: 'stable' }] };

function issues(raw: Record<string, unknown>): string[] {
  try {
    validateConfig(raw, {});
  } catch (error) {
    if (error instanceof ConfigError) return error.issues.map((i) => `${i.path}: ${i.message}`);
    throw error;
  }
  return [];
}

describe('limits config', () => {
  it('defaults to the documented values', () => {
    expect(validateConfig(BASE, {}).limits).toEqual({
      maxConnections: 10_000,
      maxHeaderBytes: 16_384,
      maxHeaderCount: 100,
      maxBodyBytes: 0,
      headersTimeout: 60_000,
      requestTimeout: 0,
      keepAliveTimeout: 65_000,
      upgradeIdleTimeout: 300_000,
    });
  });

  it.each([
    [{ maxConnections: -1 }, 'limits.maxConnections: Number must be greater than or equal to 0'],
    [{ maxHeaderBytes: 100 }, 'limits.maxHeaderBytes: Number must be greater than or equal to 1024'],
    [{ maxHeaderCount: 0 }, 'limits.maxHeaderCount: Number must be greater than or equal to 1'],
    [{ maxBodyBytes: 1.5 }, 'limits.maxBodyBytes: must be integer (got float)'],
    [{ headersTimeout: 'soon' }, 'limits.headersTimeout: must be a duration such as 500ms, 5s or 1m (got "soon")'],
    [{ headersTimeout: '30s', requestTimeout: '10s' }, 'limits.headersTimeout: must not exceed requestTimeout'],
    [{ maxConnection: 5 }, 'limits: unknown field "maxConnection"'],
  ])('rejects %j with its path', (limits, expected) => {
    expect(issues({ ...BASE, limits })).toEqual([expected]);
  });

  it('sets a node:http server from them; 0 connections means no limit', () => {
    const server = createServer();
    const limits = validateConfig({ ...BASE, limits: { maxConnections: 0, maxHeaderCount: 20, headersTimeout: '2s', requestTimeout: '5s', keepAliveTimeout: '3s', maxHeaderBytes: 4096 } }, {}).limits;
    applyLimits(server, limits);
    expect(server.maxConnections).toBe(Infinity);
    expect(server.maxHeadersCount).toBe(21);
    expect(server.headersTimeout).toBe(2_000);
    expect(server.requestTimeout).toBe(5_000);
    expect(server.keepAliveTimeout).toBe(3_000);
    applyLimits(server, validateConfig(BASE, {}).limits);
    expect(server.maxConnections).toBe(10_000);
  });
});
