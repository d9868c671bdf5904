/**
 * Logging: pino JSON lines. The access log is one line per request, sampled so it can be turned down under load;
 * server errors (5xx) are kept regardless of the sample when `errors` is on, because those are the lines an
 * on-call engineer goes looking for.
 */
import pino, { type DestinationStream, type Logger } from 'pino';

export type { Logger };

export interface LoggerOptions {
  readonly level: string;
  /** Defaults to an asynchronous stdout writer. */
  readonly destination?: DestinationStream;
}

export function createLogger(options: LoggerOptions): Logger {
  const destination = options.destination ?? pino.destination({ dest: 1, sync: false, minLength: 4096 });
  return pino(
    {
      level: options.level,
      base: { service: 'splitgate' },
      timestamp: pino.stdTimeFunctions.isoTime,
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
}

export class AccessLog {
  readonly #logger: Logger;
  #options: AccessLogOptions;
  readonly #random: () => number;

  constructor(logger: Logger, options: AccessLogOptions, random: () => number = Math.random) {
    this.#logger = logger;
    this.#options = options;
    this.#random = random;
  }

  configure(options: AccessLogOptions): void {
    this.#options = options;
  }

  /** Cheap check first, so unsampled requests build no log object at all. */
  wants(status: number): boolean {
    const options = this.#options;
    if (!options.enabled) return false;
    if (status >= 500 && options.errors) return true;
    return options.sample >= 1 || (options.sample > 0 && this.#random() < options.sample);
  }

  write(entry: AccessLogEntry): void {
    if (entry.status >= 500) this.#logger.warn(entry, 'request');
    else this.#logger.info(entry, 'request');
  }
}
