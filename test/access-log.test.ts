import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { AccessLog, createLogger, type AccessLogEntry } from '../src/log.js';

function capture() {
  const lines: Array<Record<string, unknown>> = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString().split('\n')) if (line) lines.push(JSON.parse(line) as Record<string, unknown>);
      callback();
    },
  });
  return { lines, logger: createLogger({ level: 'info', destination }) };
}

const ENTRY: AccessLogEntry = {
  requestId: 'r1', method: 'GET', path: '/x', route: 'api', version: 'canary', reason: 'weight', rule: -1,
  status: 200, durationMs: 1.5, upstream: 'c',
};

describe('AccessLog', () => {
  it('samples by the configured share, with the injected random source', () => {
    const { logger } = capture();
    const draws = [0.05, 0.15, 0.099, 0.5];
    const log = new AccessLog(logger, { enabled: true, sample: 0.1, errors: true }, () => draws.shift()!);
    expect([log.wants(200), log.wants(200), log.wants(404), log.wants(200)]).toEqual([true, false, true, false]);
  });

  it('keeps 5xx regardless of the sample when errors is on, and drops them when off', () => {
    const { logger } = capture();
    expect(new AccessLog(logger, { enabled: true, sample: 0, errors: true }, () => 0.99).wants(502)).toBe(true);
    expect(new AccessLog(logger, { enabled: true, sample: 0, errors: false }, () => 0).wants(502)).toBe(false);
    expect(new AccessLog(logger, { enabled: false, sample: 1, errors: true }).wants(500)).toBe(false);
  });

  it('writes one JSON line with the decision fields, warn for 5xx', () => {
    const { logger, lines } = capture();
    const log = new AccessLog(logger, { enabled: true, sample: 1, errors: true });
    log.write(ENTRY);
    log.write({ ...ENTRY, status: 503, error: 'SG_UPSTREAM_RESET' });
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatchObject({ level: 'info', msg: 'request', route: 'api', version: 'canary', reason: 'weight', status: 200, requestId: 'r1' });
    expect(lines[1]).toMatchObject({ level: 'warn', status: 503, error: 'SG_UPSTREAM_RESET' });
  });
});
