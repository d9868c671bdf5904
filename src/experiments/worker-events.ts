/**
 * Experiments with `workers: N`: one user's requests may land on different workers, so no worker can tell alone
 * whether a user is new or a conversion counts. The supervisor holds the deduplication (one LRU per experiment,
 * `maxUsers` as in a single process) and the totals; workers send it what they saw, batched with their other
 * counter deltas (about once a second, and on every collect):
 *
 * - a worker reports a user's first exposure-matching response once; after it, each conversion once (its own LRU of
 *   what it reported, `maxUsers` too). For a user it has not seen exposed (the exposure may be on another worker), it
 *   reports per conversion and batch (about once a second) the first conversion-matching response and the latest, so
 *   a conversion after an exposure elsewhere is not lost behind an earlier one (counted with the latest's time and
 *   value when a third, in between, would have been the one). Never one event per request;
 * - the supervisor applies them by their timestamps, so it counts what one process seeing every request would: a
 *   user's exposure is the earliest reported; a conversion counts once, the earliest at or after the exposure and
 *   inside the window (a later-arriving earlier one replaces its value). One that arrives before the exposure it
 *   follows (another worker's batch is still on its way) is held with the user, at most MAX_PENDING (the newest);
 * - anonymous users' counts are already deduplicated by their signed cookie: the worker sends them as counted.
 *
 * Events wait in the worker for the next batch, at most MAX_QUEUED; beyond it they are dropped, counted and logged
 * by the worker (a warning with the count at its next take), which can only happen when the supervisor stops reading.
 */
import { LRUCache } from 'lru-cache';
import type { ArmIndex, CompiledExperiment } from './plan.js';
import { conversionValue, exposureMatches, type ObservedResponse } from './user-state.js';

export interface ExperimentEvent {
  readonly experiment: string;
  /** null: an anonymous user's count, already deduplicated (by the signed cookie): added as it is. */
  readonly user: string | null;
  readonly arm: ArmIndex;
  /** Epoch milliseconds of the response. */
  readonly at: number;
  /** null: an exposure. */
  readonly conversion: string | null;
  readonly value: number;
}

export const MAX_QUEUED = 100_000;
export const MAX_PENDING = 16;

/** What a worker has already reported for one user of one experiment. */
interface Reported {
  exposure: boolean;
  /** Bit i: conversion i reported since this worker saw the exposure (final: the supervisor needs no other). */
  conversions: number;
  /** Before that: conversions reported in batch `batch`... */
  batch: number;
  batchConversions: number;
  /** ...and, by conversion bit, where in the batch's events the latest one since the first sits (replaced in place). */
  latestSlots: number[] | null;
}

/** In a worker: turns responses into events, each reported once per user (see the module comment). */
export class ExperimentEventQueue {
  readonly #reported = new Map<string, LRUCache<string, Reported>>();
  #events: ExperimentEvent[] = [];
  #batch = 0;
  dropped = 0;

  observeKeyed(experiment: CompiledExperiment, user: string, arm: ArmIndex, response: ObservedResponse, nowMs: number): void {
    let reported = this.#reported.get(experiment.key);
    if (reported === undefined) {
      reported = new LRUCache<string, Reported>({ max: experiment.maxUsers });
      this.#reported.set(experiment.key, reported);
    }
    const seen = reported.get(user) ?? { exposure: false, conversions: 0, batch: -1, batchConversions: 0, latestSlots: null };
    let changed = false;
    if (!seen.exposure && exposureMatches(experiment, response)) {
      seen.exposure = true;
      changed = true;
      this.push({ experiment: experiment.key, user, arm, at: nowMs, conversion: null, value: 0 });
    }
    if (seen.batch !== this.#batch) {
      seen.batch = this.#batch;
      seen.batchConversions = 0;
      seen.latestSlots = null;
    }
    for (const conversion of experiment.conversions) {
      const mask = 1 << conversion.bit;
      if ((seen.conversions & mask) !== 0) continue;
      const value = conversionValue(conversion, response);
      if (value === undefined) continue;
      changed = true;
      const event: ExperimentEvent = { experiment: experiment.key, user, arm, at: nowMs, conversion: conversion.name, value };
      if (seen.exposure) seen.conversions |= mask;
      else if ((seen.batchConversions & mask) === 0) seen.batchConversions |= mask;
      else {
        // Not the batch's first: the exposure may be on another worker between that one and this one, so the latest
        // goes too (one slot, overwritten), and a conversion after the exposure is not lost behind one before it.
        const slots = (seen.latestSlots ??= []);
        const slot = slots[conversion.bit];
        if (slot !== undefined) this.#events[slot] = event;
        else if (this.push(event)) slots[conversion.bit] = this.#events.length - 1;
        continue;
      }
      this.push(event);
    }
    if (changed) reported.set(user, seen);
  }

  /** False when the queue is full and the event was dropped. */
  push(event: ExperimentEvent): boolean {
    if (this.#events.length >= MAX_QUEUED) {
      this.dropped++;
      return false;
    }
    this.#events.push(event);
    return true;
  }

  /** The events since the previous take (null: none). */
  take(): ExperimentEvent[] | null {
    this.#batch++;
    if (this.#events.length === 0) return null;
    const events = this.#events;
    this.#events = [];
    return events;
  }
}

/** In the supervisor: one user as merged from every worker's events. */
export interface MergedUser {
  arm: ArmIndex;
  /** Epoch ms of the earliest exposure reported; null while only conversions are known. */
  exposedAt: number | null;
  /** Conversions counted, with the time and value of the one counted. */
  readonly converted: Map<string, { at: number; value: number }>;
  /** Conversions reported before any exposure at or before them is known, newest MAX_PENDING. */
  pending: ExperimentEvent[] | null;
}

/**
 * A change to the totals: a new converter; with `previous`, a converter's value replaced; with `removed`, a converter
 * taken back (an earlier exposure arrived, and the conversion is outside the window from it).
 */
export interface ConversionChange {
  readonly name: string;
  readonly value: number;
  readonly previous?: number;
  readonly removed?: true;
}

export interface MergeStep {
  readonly arm: ArmIndex;
  readonly exposed: boolean;
  readonly changes: readonly ConversionChange[];
}

const NO_CHANGES: readonly ConversionChange[] = [];

/** Applies one event to `user` (the caller's LRU entry, which it updates) and says what the totals gain. */
export function mergeEvent(experiment: CompiledExperiment, user: MergedUser, event: ExperimentEvent): MergeStep {
  if (event.conversion !== null) return { arm: user.arm, exposed: false, changes: considerConversion(experiment, user, event) };
  if (user.exposedAt !== null && event.at >= user.exposedAt) return { arm: user.arm, exposed: false, changes: NO_CHANGES };
  const first = user.exposedAt === null;
  user.exposedAt = event.at;
  if (first) user.arm = event.arm;
  const changes: ConversionChange[] = [];
  for (const [name, counted] of user.converted) {
    if (withinWindow(experiment, event.at, counted.at)) continue;
    user.converted.delete(name);
    changes.push({ name, value: counted.value, removed: true });
  }
  const held = user.pending;
  user.pending = null;
  if (held !== null) for (const e of held) changes.push(...considerConversion(experiment, user, e));
  return { arm: user.arm, exposed: first, changes };
}

function considerConversion(experiment: CompiledExperiment, user: MergedUser, event: ExperimentEvent): readonly ConversionChange[] {
  const name = event.conversion!;
  if (!experiment.conversions.some((c) => c.name === name)) return NO_CHANGES;
  if (user.exposedAt === null || event.at < user.exposedAt) {
    const pending = (user.pending ??= []);
    if (pending.length >= MAX_PENDING) pending.shift();
    pending.push(event);
    return NO_CHANGES;
  }
  if (!withinWindow(experiment, user.exposedAt, event.at)) return NO_CHANGES;
  const counted = user.converted.get(name);
  if (counted === undefined) {
    user.converted.set(name, { at: event.at, value: event.value });
    return [{ name, value: event.value }];
  }
  if (event.at >= counted.at) return NO_CHANGES;
  user.converted.set(name, { at: event.at, value: event.value });
  return [{ name, value: event.value, previous: counted.value }];
}

/** In whole seconds, as a single process judges it (user-state.ts), so both count alike. */
function withinWindow(experiment: CompiledExperiment, exposedAtMs: number, atMs: number): boolean {
  return Math.floor(atMs / 1000) - Math.floor(exposedAtMs / 1000) <= experiment.windowMs / 1000;
}
