export class EventLog {
    #capacity;
    #now;
    #listeners = new Set();
    #events = [];
    #nextId = 1;
    constructor(capacity = 1_000, now = () => new Date()) {
        this.#capacity = capacity;
        this.#now = now;
    }
    record(event) {
        const full = { id: this.#nextId++, time: this.#now().toISOString(), ...event };
        this.#events.push(full);
        if (this.#events.length > this.#capacity)
            this.#events = this.#events.slice(-this.#capacity);
        for (const listener of this.#listeners)
            listener(full);
        return full;
    }
    list(options = {}) {
        const out = [];
        for (let i = this.#events.length - 1; i >= 0 && out.length < (options.limit ?? Infinity); i--) {
            const event = this.#events[i];
            if (options.since !== undefined && event.id <= options.since)
                break;
            if (options.route === undefined || event.route === options.route)
                out.push(event);
        }
        return out;
    }
    onEvent(listener) {
        this.#listeners.add(listener);
        return () => this.#listeners.delete(listener);
    }
}
//# sourceMappingURL=event-log.js.map