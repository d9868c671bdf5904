import { Writable } from 'node:stream';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ACCESS_LOG_BATCH, ACCESS_LOG_DELAY_MS, AccessLog, createLogger, type AccessLogEntry } from '../src/log.js';

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
    log.flush();
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatchObject({ level: 'info', msg: 'request', route: 'api', version: 'canary', reason: 'weight', status: 200, requestId: 'r1' });
    expect(lines[1]).toMatchObject({ level: 'warn', status: 503, error: 'SG_UPSTREAM_RESET' });
  });

  describe('batching', () => {
    afterEach(() => {
      vi.useRealTimers();
    });

    it('holds lines until a batch is full, then writes the whole batch in order', () => {
      const { logger, lines } = capture();
      const log = new AccessLog(logger, { enabled: true, sample: 1, errors: true });
      for (let i = 1; i < ACCESS_LOG_BATCH; i++) log.write({ ...ENTRY, requestId: `r${i}` });
      expect(lines).toHaveLength(0);
      log.write({ ...ENTRY, requestId: `r${ACCESS_LOG_BATCH}` });
      expect(lines.map((line) => line.requestId)).toEqual(Array.from({ length: ACCESS_LOG_BATCH }, (_, i) => `r${i + 1}`));
      log.flush();
      expect(lines).toHaveLength(ACCESS_LOG_BATCH);
    });

    it('writes a partial batch once the delay has passed, each line stamped with its request end time', () => {
      vi.useFakeTimers({ now: Date.parse('2026-01-02T03:04:05.000Z') });
      const { logger, lines } = capture();
      const log = new AccessLog(logger, { enabled: true, sample: 1, errors: true });
      log.write({ ...ENTRY, requestId: 'early' });
      vi.advanceTimersByTime(100);
      log.write({ ...ENTRY, requestId: 'later', status: 502 });
      vi.advanceTimersByTime(ACCESS_LOG_DELAY_MS - 101);
      expect(lines).toHaveLength(0);
      vi.advanceTimersByTime(1);
      expect(lines).toMatchObject([
        { requestId: 'early', time: '2026-01-02T03:04:05.000Z', level: 'info' },
        { requestId: 'later', time: '2026-01-02T03:04:05.100Z', level: 'warn' },
      ]);
      // Other lines are stamped when they are written, not with a queued entry's time.
      logger.info('after');
      expect(lines[2]).toMatchObject({ msg: 'after', time: '2026-01-02T03:04:05.250Z' });
    });

    it('flush writes what is queued and cancels the pending timer', () => {
      vi.useFakeTimers();
      const { logger, lines } = capture();
      const log = new AccessLog(logger, { enabled: true, sample: 1, errors: true });
      log.write(ENTRY);
      log.flush();
      expect(lines).toHaveLength(1);
      expect(vi.getTimerCount()).toBe(0);
      log.flush();
      expect(lines).toHaveLength(1);
    });
  });
});
