import { performance } from 'node:perf_hooks';
const ACQUIRE = `
local won = redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2])
if not won and redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'XX', 'PX', ARGV[2])
  won = true
end
if won then return {1, redis.call('INCR', KEYS[2])} end
return {0, redis.call('PTTL', KEYS[1])}
`;
const RENEW = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return tonumber(redis.call('GET', KEYS[2]) or '0')
end
return 0
`;
const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;
export function leaderKey(fleet) {
    return `sg:{${fleet}}:leader`;
}
export function epochKey(fleet) {
    return `sg:{${fleet}}:epoch`;
}
export class LeaderLease {
    memberId;
    leaseMs;
    renewEveryMs;
    marginMs;
    #client;
    #keys;
    #logger;
    #onChange;
    #clock;
    #leading = false;
    #epoch = null;
    #validUntil = 0;
    #timer = null;
    #deadlineTimer = null;
    #attempt = null;
    #started = false;
    #stopped = false;
    constructor(options) {
        this.#client = options.client;
        this.memberId = options.memberId;
        this.leaseMs = options.leaseMs ?? 10_000;
        this.renewEveryMs = options.renewEveryMs ?? Math.floor(this.leaseMs / 3);
        this.marginMs = options.marginMs ?? Math.min(1_000, Math.floor(this.leaseMs / 5));
        if (!(this.leaseMs > 0) || !(this.renewEveryMs > 0) || !(this.marginMs >= 0) || this.renewEveryMs + this.marginMs >= this.leaseMs) {
            throw new RangeError(`lease: need 0 < renewEveryMs (${this.renewEveryMs}) + marginMs (${this.marginMs}) < leaseMs (${this.leaseMs})`);
        }
        this.#keys = [leaderKey(options.fleet), epochKey(options.fleet)];
        this.#logger = options.logger;
        this.#onChange = options.onChange;
        this.#clock = options.clock ?? (() => performance.now());
    }
    start() {
        if (this.#started || this.#stopped)
            return;
        this.#started = true;
        this.#schedule(0);
    }
    async stop() {
        if (this.#stopped)
            return;
        this.#stopped = true;
        this.#clearTimers();
        const held = this.#epoch !== null;
        if (this.#leading)
            this.#lose('stopping');
        await this.#attempt?.catch(() => { });
        if (!held)
            return;
        try {
            await withTimeout(this.#client.sendCommand(['EVAL', RELEASE, '1', this.#keys[0], this.memberId]), this.renewEveryMs);
        }
        catch (error) {
            this.#logger.warn({ err: error }, 'fleet: could not release the leader lease; it expires on its own');
        }
    }
    leading() {
        if (!this.#leading)
            return false;
        if (this.#clock() >= this.#validUntil) {
            this.#lose('lease not renewed in time');
            return false;
        }
        return true;
    }
    epoch() {
        return this.leading() ? this.#epoch : null;
    }
    stepDown(epoch) {
        if (!this.#leading || this.#epoch !== epoch)
            return;
        this.#lose('a write was fenced');
        this.#schedule(0);
    }
    status() {
        const leading = this.leading();
        return { memberId: this.memberId, leading, epoch: this.#epoch, validForMs: leading ? Math.max(0, Math.round(this.#validUntil - this.#clock())) : 0 };
    }
    #schedule(delayMs) {
        if (this.#stopped)
            return;
        if (this.#timer !== null)
            clearTimeout(this.#timer);
        this.#timer = setTimeout(() => {
            this.#timer = null;
            this.#attempt ??= this.#runAttempt().finally(() => {
                this.#attempt = null;
            });
        }, Math.max(0, delayMs));
        this.#timer.unref();
    }
    async #runAttempt() {
        if (this.#stopped)
            return;
        if (this.leading())
            await this.#renew();
        else
            await this.#acquire();
    }
    async #acquire() {
        const sentAt = this.#clock();
        let reply;
        try {
            reply = await withTimeout(this.#client.sendCommand(['EVAL', ACQUIRE, '2', this.#keys[0], this.#keys[1], this.memberId, String(this.leaseMs)]), this.renewEveryMs);
        }
        catch (error) {
            this.#logger.debug({ err: error }, 'fleet: leader lease acquire failed');
            this.#schedule(this.renewEveryMs);
            return;
        }
        if (this.#stopped)
            return;
        const [won, value] = Array.isArray(reply) ? reply.map(Number) : [0, -1];
        if (won === 1 && Number.isSafeInteger(value)) {
            this.#validUntil = sentAt + this.leaseMs - this.marginMs;
            if (this.#clock() >= this.#validUntil) {
                this.#schedule(0);
                return;
            }
            this.#leading = true;
            this.#epoch = value;
            this.#armDeadline();
            this.#logger.info({ epoch: value, leaseMs: this.leaseMs }, 'fleet: this member is the rollout leader');
            this.#notify();
            this.#schedule(this.renewEveryMs);
            return;
        }
        const pttl = Number.isFinite(value) && value >= 0 ? value : this.renewEveryMs;
        this.#schedule(Math.min(this.renewEveryMs, pttl + 5));
    }
    async #renew() {
        const sentAt = this.#clock();
        const epoch = this.#epoch;
        let reply;
        try {
            reply = await withTimeout(this.#client.sendCommand(['EVAL', RENEW, '2', this.#keys[0], this.#keys[1], this.memberId, String(this.leaseMs)]), this.renewEveryMs);
        }
        catch (error) {
            this.#logger.warn({ err: error, validForMs: Math.round(this.#validUntil - this.#clock()) }, 'fleet: leader lease renewal failed');
            this.#schedule(Math.min(this.renewEveryMs, 250));
            return;
        }
        if (this.#stopped || !this.#leading || this.#epoch !== epoch)
            return;
        if (Number(reply) !== epoch) {
            this.#lose(Number(reply) === 0 ? 'lease held by another member' : 'fencing epoch moved on');
            this.#schedule(0);
            return;
        }
        if (!this.leading()) {
            this.#schedule(0);
            return;
        }
        this.#validUntil = Math.max(this.#validUntil, sentAt + this.leaseMs - this.marginMs);
        this.#armDeadline();
        this.#schedule(this.renewEveryMs);
    }
    #armDeadline() {
        if (this.#deadlineTimer !== null)
            clearTimeout(this.#deadlineTimer);
        this.#deadlineTimer = setTimeout(() => {
            this.#deadlineTimer = null;
            if (!this.leading())
                this.#schedule(0);
        }, Math.max(0, this.#validUntil - this.#clock()) + 1);
        this.#deadlineTimer.unref();
    }
    #lose(reason) {
        if (!this.#leading)
            return;
        this.#leading = false;
        if (this.#deadlineTimer !== null)
            clearTimeout(this.#deadlineTimer);
        this.#deadlineTimer = null;
        this.#logger.warn({ epoch: this.#epoch, reason }, 'fleet: this member stopped acting as the rollout leader');
        this.#notify();
    }
    #notify() {
        try {
            this.#onChange?.(this.#leading, this.#epoch);
        }
        catch (error) {
            this.#logger.error({ err: error }, 'fleet: leader change handler failed');
        }
    }
    #clearTimers() {
        if (this.#timer !== null)
            clearTimeout(this.#timer);
        if (this.#deadlineTimer !== null)
            clearTimeout(this.#deadlineTimer);
        this.#timer = null;
        this.#deadlineTimer = null;
    }
}
export function withTimeout(promise, ms) {
    let timer;
    const timeout = new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer from Redis within ${ms} ms`)), ms);
        timer.unref();
    });
    return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
export function asHash(reply) {
    if (Array.isArray(reply)) {
        const out = {};
        for (let i = 0; i + 1 < reply.length; i += 2)
            out[String(reply[i])] = String(reply[i + 1]);
        return out;
    }
    if (reply instanceof Map)
        return Object.fromEntries([...reply].map(([k, v]) => [String(k), String(v)]));
    return (reply ?? {});
}
//# sourceMappingURL=leader-lease.js.map