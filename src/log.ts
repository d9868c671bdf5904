/**
 * Logging: pino JSON lines. The access log is one line per request, sampled so it can be turned down under load;
 * server errors (5xx) and exchanges that ended with an error code (a response cut short after its head, a timeout, a
 * client gone) are kept regardless of the sample when `errors` is on, because those are the lines an on-call engineer
 * goes looking for: a body cut short mid-stream carries the upstream's status, often a 200.
 *
 * Access log entries are queued and handed to pino in batches (ACCESS_LOG_BATCH entries, or ACCESS_LOG_DELAY_MS after
 * the first one, whichever comes first), each line stamped with the time its request ended. Under load a lone
 * sampled line runs pino's code cold between hundreds of requests: measured with loadtest/, writing 1 % of requests
 * one at a time cost about 1.5 % of the proxy's CPU, and batching recovers most of it.
 */
import pino, { type DestinationStream, type Logger } from 'pino';

export type { Logger };

export interface LoggerOptions {
  readonly level: string;
  /** Defaults to an asynchronous stdout writer. */
  readonly destination?: DestinationStream;
  /**
   * Several processes share this stdout (a supervisor's workers): every write(2) carries whole lines and at most
   * PIPE_BUF bytes, which the kernel writes to a pipe in one piece, so no two processes' lines interleave.
   */
  readonly sharedStdout?: boolean;
}

/** POSIX guarantees at least 512; Linux's is 4096. A write of up to this many bytes to a pipe is never split. */
export const PIPE_BUF = 4096;

/** Entries the access log hands to pino at once. */
export const ACCESS_LOG_BATCH = 32;
/** Longest time an access log entry waits to be handed to pino. */
export const ACCESS_LOG_DELAY_MS = 250;

/** Set while the access log writes a queued entry: the time its request ended, which its line must carry. */
let stampTime: number | null = null;

/** pino's ISO time, or the queued entry's own time while the access log writes it. */
function timestamp(): string {
  return `,"time":"${new Date(stampTime ?? Date.now()).toISOString()}"`;
}

export function createLogger(options: LoggerOptions): Logger {
  // Buffered up to 4 KiB per write(2), and flushed every second so a quiet proxy's lines still show up promptly.
  // Shared: sonic-boom starts a new chunk when a line would push the current one past maxWrite, so each write is
  // whole lines of at most PIPE_BUF bytes (a single line longer than that is written alone and may be split).
  const destination =
    options.destination ??
    (options.sharedStdout
      ? pino.destination({ dest: 1, sync: false, minLength: PIPE_BUF / 2, maxWrite: PIPE_BUF, periodicFlush: 1000 })
      : pino.destination({ dest: 1, sync: false, minLength: 4096, periodicFlush: 1000 }));
  return pino(
    {
      level: options.level,
      base: { service: 'splitgate' },
      timestamp,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
}

export interface AccessLogOptions {
  readonly enabled: boolean;
  readonly sample: number;
  readonly errors: boolean;
}

export interface AccessLogEntry {
  readonly requestId: string;
  readonly method: string;
  readonly path: string;
  readonly route: string;
  readonly version: string;
  readonly reason: string;
  readonly rule: number;
  readonly status: number;
  readonly durationMs: number;
  readonly upstream: string;
  readonly error?: string;
  /** Set on a canary exchange's line when its request was then sent to stable (the next line, reason retry_stable). */
  readonly retried?: boolean;
  /** Times the request was sent again after a pooled connection the upstream closed under it (README "When the canary breaks"). */
  readonly staleReplays?: number;
  /** Upgraded (WebSocket) connections: bytes the client sent through the splice, and bytes it received. */
  readonly bytesIn?: number;
  readonly bytesOut?: number;
}

export class AccessLog {
  readonly #logger: Logger;
  #options: AccessLogOptions;
  readonly #random: () => number;
  #queued: AccessLogEntry[] = [];
  #queuedAt: number[] = [];
  #timer: NodeJS.Timeout | null = null;

  constructor(logger: Logger, options: AccessLogOptions, random: () => number = Math.random) {
    this.#logger = logger;
    this.#options = options;
    this.#random = random;
  }

  configure(options: AccessLogOptions): void {
    this.#options = options;
  }

  /**
   * Cheap check first, so unsampled requests build no log object at all. `failed`: the exchange ended with an error
   * code, whatever its status (a cut response keeps the status its head had).
   */
  wants(status: number, failed = false): boolean {
    const options = this.#options;
    if (!options.enabled) return false;
    if (options.errors && (failed || status >= 500)) return true;
    return options.sample >= 1 || (options.sample > 0 && this.#random() < options.sample);
  }

  /** Queues the line of a request that ended now; it is written with the next batch, at most ACCESS_LOG_DELAY_MS on. */
  write(entry: AccessLogEntry): void {
    this.#queued.push(entry);
    this.#queuedAt.push(Date.now());
    if (this.#queued.length >= ACCESS_LOG_BATCH) this.flush();
    else this.#timer ??= setTimeout(flushAccessLog, ACCESS_LOG_DELAY_MS, this).unref();
  }

  /** Hands every queued line to pino now: from the delay timer, and on stop. */
  flush(): void {
    if (this.#timer !== null) {
      clearTimeout(this.#timer);
      this.#timer = null;
    }
    const entries = this.#queued;
    if (entries.length === 0) return;
    const times = this.#queuedAt;
    this.#queued = [];
    this.#queuedAt = [];
    const logger = this.#logger;
    try {
      for (let i = 0; i < entries.length; i++) {
        const entry = entries[i];
        stampTime = times[i];
        if (entry.status >= 500) logger.warn(entry, 'request');
        else logger.info(entry, 'request');
      }
    } finally {
      stampTime = null;
    }
  }
}

function flushAccessLog(log: AccessLog): void {
  log.flush();
}
