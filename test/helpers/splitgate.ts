/**
 * Starts a real splitgate in the test process on 127.0.0.1 port 0 (proxy and admin), logging nowhere unless a
 * test asks for the lines.
 */
import { Writable } from 'node:stream';
import { validateConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/log.js';
import { Splitgate } from '../../src/splitgate.js';
import { waitFor } from './http.js';
import type { Entropy } from '../../src/routing/context.js';

export interface StartedSplitgate {
  readonly splitgate: Splitgate;
  readonly url: string;
  readonly adminUrl: string;
  /** Parsed JSON log lines written so far. */
  readonly logLines: Array<Record<string, unknown>>;
  /**
   * The access log line of `requestId`, once written: the access log writes in batches, at most
   * ACCESS_LOG_DELAY_MS after a request ends. Undefined when none shows up within `timeoutMs`.
   */
  accessLogLine(requestId: string, timeoutMs?: number): Promise<Record<string, unknown> | undefined>;
  stop(): Promise<void>;
}

export async function startSplitgate(rawConfig: Record<string, unknown>, entropy?: Entropy): Promise<StartedSplitgate> {
  // No state file and no file watch unless a test asks: tests must not share runtime state through the disk.
  const config = validateConfig({ listen: '127.0.0.1:0', admin: { listen: '127.0.0.1:0' }, state: { file: false }, watch: false, ...rawConfig });
  const logLines: Array<Record<string, unknown>> = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString('utf8').split('\n')) if (line) logLines.push(JSON.parse(line) as Record<string, unknown>);
      callback();
    },
  });
  const logger = createLogger({ level: config.log.level, destination });
  const splitgate = await Splitgate.start({ config, logger, entropy });
  return {
    splitgate,
    url: splitgate.proxyAddress.url,
    adminUrl: splitgate.adminAddress.url,
    logLines,
    accessLogLine: async (requestId, timeoutMs = 2_000) => {
      const find = (): Record<string, unknown> | undefined => logLines.find((l) => l.msg === 'request' && l.requestId === requestId);
      await waitFor(`access log line ${requestId}`, () => find() !== undefined, timeoutMs).catch(() => undefined);
      return find();
    },
    stop: () => splitgate.stop(1_000),
  };
}
