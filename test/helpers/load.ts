/**
 * A small, bounded load generator for integration tests: `concurrency` workers, each keeping one keep-alive
 * request in flight against `baseUrl` until `stop()` is called, `durationMs` has passed or `maxRequests` have been
 * sent, whichever comes first. A refused connection (a proxy that is restarting) is counted, not thrown, and the
 * worker backs off briefly instead of spinning. Never unbounded: the duration defaults to 60 s.
 */
import { Agent, type OutgoingHttpHeaders } from 'node:http';
import { send } from './http.js';

export interface LoadOptions {
  readonly concurrency?: number;
  readonly durationMs?: number;
  readonly maxRequests?: number;
  readonly path?: string;
  readonly headers?: OutgoingHttpHeaders;
  /** Pause between one worker's requests, to hold the rate down on a busy machine. */
  readonly pauseMs?: number;
  /**
   * False: a new connection per request, so a proxy whose workers share the port by connection (reusePort,
   * node:cluster) spreads the load over all of them. Default true (one keep-alive connection per load worker).
   */
  readonly keepAlive?: boolean;
  /** Called with each answer and the time its request was sent (status 0: no answer). */
  readonly onAnswer?: (sentAt: number, status: number, version: string | undefined) => void;
}

export interface LoadStats {
  readonly sent: number;
  /** Responses by status code. */
  readonly byStatus: Readonly<Record<number, number>>;
  /** Requests that got no response (refused, reset, timed out). */
  readonly failed: number;
  /** Responses by the `version` the echo upstream named (stable, canary), where the body says. */
  readonly byVersion: Readonly<Record<string, number>>;
}

export interface Load {
  stats(): LoadStats;
  /** Stops sending, waits for the requests in flight, closes the connections and returns the totals. */
  stop(): Promise<LoadStats>;
  /** Resolves when the load ends by itself (duration or count) or after `stop()`. */
  readonly done: Promise<LoadStats>;
}

const DEFAULT_DURATION_MS = 60_000;

export function startLoad(baseUrl: string, options: LoadOptions = {}): Load {
  const concurrency = options.concurrency ?? 4;
  const deadline = Date.now() + (options.durationMs ?? DEFAULT_DURATION_MS);
  const maxRequests = options.maxRequests ?? Infinity;
  const agent = new Agent({ keepAlive: options.keepAlive ?? true, maxSockets: concurrency });
  const byStatus: Record<number, number> = {};
  const byVersion: Record<string, number> = {};
  let sent = 0;
  let failed = 0;
  let stopped = false;

  const stats = (): LoadStats => ({ sent, failed, byStatus: { ...byStatus }, byVersion: { ...byVersion } });
  const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  const worker = async (): Promise<void> => {
    while (!stopped && Date.now() < deadline && sent < maxRequests) {
      sent++;
      const sentAt = Date.now();
      try {
        const response = await send(baseUrl, options.path ?? '/', { agent, headers: options.headers, timeoutMs: 5_000 });
        byStatus[response.status] = (byStatus[response.status] ?? 0) + 1;
        const version = response.headers['x-upstream-version'];
        if (typeof version === 'string') byVersion[version] = (byVersion[version] ?? 0) + 1;
        options.onAnswer?.(sentAt, response.status, typeof version === 'string' ? version : undefined);
      } catch {
        failed++;
        options.onAnswer?.(sentAt, 0, undefined);
        await pause(50);
      }
      if (options.pauseMs) await pause(options.pauseMs);
    }
  };

  const done = Promise.all(Array.from({ length: concurrency }, worker)).then(() => {
    agent.destroy();
    return stats();
  });
  return {
    stats,
    done,
    stop: () => {
      stopped = true;
      return done;
    },
  };
}
