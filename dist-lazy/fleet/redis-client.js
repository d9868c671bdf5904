import { createRequire } from 'node:module';
import { hostname } from 'node:os';
import { FleetUnavailableError } from './errors.js';
const requireModule = createRequire(import.meta.url);
export function loadRedis() {
    return requireModule('redis');
}
export function reconnectDelay(retries) {
    return Math.min(100 * 2 ** Math.min(retries, 5), 2000);
}
export function createFleetRedis(config, name) {
    const redis = config.redis;
    const secure = redis.url.startsWith('rediss:');
    const socket = {
        connectTimeout: redis.connectTimeout,
        reconnectStrategy: (retries) => reconnectDelay(retries),
        ...(secure
            ? {
                tls: true,
                ...(redis.tls?.caPem !== undefined ? { ca: redis.tls.caPem } : {}),
                ...(redis.tls?.servername !== undefined ? { servername: redis.tls.servername } : {}),
                rejectUnauthorized: redis.tls?.insecureSkipVerify !== true,
            }
            : {}),
    };
    return loadRedis().createClient({
        url: redis.url,
        ...(redis.username !== undefined ? { username: redis.username } : {}),
        ...(redis.password !== undefined ? { password: redis.password } : {}),
        name: `splitgate-${name}-${hostname()}`.replace(/[^\w.-]/g, '_').slice(0, 100),
        disableOfflineQueue: true,
        pingInterval: 5000,
        socket,
    });
}
export class ConnectionWatch {
    #connected = false;
    #lastError = null;
    #logger;
    #role;
    #listeners = [];
    #closed = false;
    constructor(client, role, logger) {
        this.#logger = logger;
        this.#role = role;
        client.on('ready', () => this.#set(true, null));
        client.on('end', () => this.#set(false, 'closed'));
        client.on('reconnecting', () => this.#set(false, this.#lastError));
        client.on('error', (error) => {
            this.#lastError = error.message || error.name;
            if (!client.isReady)
                this.#set(false, this.#lastError);
        });
    }
    get connected() {
        return this.#connected;
    }
    get lastError() {
        return this.#lastError;
    }
    onChange(listener) {
        this.#listeners.push(listener);
    }
    close() {
        this.#closed = true;
    }
    #set(connected, error) {
        if (connected === this.#connected || this.#closed)
            return;
        this.#connected = connected;
        if (connected)
            this.#logger.info({ role: this.#role }, 'fleet store connected');
        else
            this.#logger.warn({ role: this.#role, error }, 'fleet store unreachable; routing stays on the last applied state');
        for (const listener of this.#listeners)
            listener(connected);
    }
}
export async function bounded(call, timeoutMs) {
    let timer;
    const deadline = new Promise((_resolve, reject) => {
        timer = setTimeout(() => reject(new FleetUnavailableError(`the fleet store (Redis) did not answer within ${timeoutMs} ms`)), timeoutMs);
    });
    try {
        return await Promise.race([call(), deadline]);
    }
    catch (error) {
        if (error instanceof FleetUnavailableError)
            throw error;
        throw new FleetUnavailableError(`the fleet store (Redis) is unreachable: ${error.message}`, { cause: error });
    }
    finally {
        clearTimeout(timer);
    }
}
//# sourceMappingURL=redis-client.js.map