/**
 * The audit trail: every change to what splitgate does (weights, kill switch, reloads, rollout steps), with who
 * asked, what it was before and after. Bounded: the oldest events fall off past `capacity`.
 */
export interface ControlEvent {
  readonly id: number;
  readonly time: string;
  readonly actor: string;
  readonly action: string;
  readonly route?: string;
  readonly before?: unknown;
  readonly after?: unknown;
  readonly message?: string;
}

export type NewEvent = Omit<ControlEvent, 'id' | 'time'>;

export class EventLog {
  readonly #capacity: number;
  readonly #now: () => Date;
  readonly #listeners = new Set<(event: ControlEvent) => void>();
  #events: ControlEvent[] = [];
  #nextId = 1;

  constructor(capacity = 1_000, now: () => Date = () => new Date()) {
    this.#capacity = capacity;
    this.#now = now;
  }

  record(event: NewEvent): ControlEvent {
    const full: ControlEvent = { id: this.#nextId++, time: this.#now().toISOString(), ...event };
    this.#events.push(full);
    if (this.#events.length > this.#capacity) this.#events = this.#events.slice(-this.#capacity);
    for (const listener of this.#listeners) listener(full);
    return full;
  }

  /** Newest first; `route` filters; `since` returns only events with a larger id. */
  list(options: { route?: string; limit?: number; since?: number } = {}): ControlEvent[] {
    const out: ControlEvent[] = [];
    for (let i = this.#events.length - 1; i >= 0 && out.length < (options.limit ?? Infinity); i--) {
      const event = this.#events[i];
      if (options.since !== undefined && event.id <= options.since) break;
      if (options.route === undefined || event.route === options.route) out.push(event);
    }
    return out;
  }

  onEvent(listener: (event: ControlEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}
