import pino from 'pino';
export const PIPE_BUF = 4096;
export const ACCESS_LOG_BATCH = 32;
export const ACCESS_LOG_DELAY_MS = 250;
let stampTime = null;
function timestamp() {
    return `,"time":"${new Date(stampTime ?? Date.now()).toISOString()}"`;
}
export function createLogger(options) {
    const destination = options.destination ??
        (options.sharedStdout
            ? pino.destination({ dest: 1, sync: false, minLength: PIPE_BUF / 2, maxWrite: PIPE_BUF, periodicFlush: 1000 })
            : pino.destination({ dest: 1, sync: false, minLength: 4096, periodicFlush: 1000 }));
    return pino({
        level: options.level,
        base: { service: 'splitgate' },
        timestamp,
        formatters: { level: (label) => ({ level: label }) },
    }, destination);
}
export class AccessLog {
    #logger;
    #options;
    #random;
    #queued = [];
    #queuedAt = [];
    #timer = null;
    constructor(logger, options, random = Math.random) {
        this.#logger = logger;
        this.#options = options;
        this.#random = random;
    }
    configure(options) {
        this.#options = options;
    }
    wants(status) {
        const options = this.#options;
        if (!options.enabled)
            return false;
        if (status >= 500 && options.errors)
            return true;
        return options.sample >= 1 || (options.sample > 0 && this.#random() < options.sample);
    }
    write(entry) {
        this.#queued.push(entry);
        this.#queuedAt.push(Date.now());
        if (this.#queued.length >= ACCESS_LOG_BATCH)
            this.flush();
        else
            this.#timer ??= setTimeout(flushAccessLog, ACCESS_LOG_DELAY_MS, this).unref();
    }
    flush() {
        if (this.#timer !== null) {
            clearTimeout(this.#timer);
            this.#timer = null;
        }
        const entries = this.#queued;
        if (entries.length === 0)
            return;
        const times = this.#queuedAt;
        this.#queued = [];
        this.#queuedAt = [];
        const logger = this.#logger;
        try {
            for (let i = 0; i < entries.length; i++) {
                const entry = entries[i];
                stampTime = times[i];
                if (entry.status >= 500)
                    logger.warn(entry, 'request');
                else
                    logger.info(entry, 'request');
            }
        }
        finally {
            stampTime = null;
        }
    }
}
function flushAccessLog(log) {
    log.flush();
}
//# sourceMappingURL=log.js.map