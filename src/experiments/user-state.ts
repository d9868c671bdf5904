/**
 * One user's progress through one experiment, and the pure step that advances it on a response: exposed once (on the
 * first request matching the exposure rule), each conversion at most once, only while exposed and inside the
 * conversion window. The caller keeps the state (an LRU for keyed users, a signed cookie for anonymous ones) and
 * adds the step's increments to the totals. No I/O, no clock: `now` is passed in.
 */
import type { ArmIndex, CompiledConversion, CompiledExperiment } from './plan.js';

export interface UserState {
  readonly arm: ArmIndex;
  /** Epoch seconds of the exposure. */
  readonly exposedAt: number;
  /** Bit i set: conversion i has been counted for this user. */
  readonly converted: number;
}

/** What one response did to the totals. */
export interface UserStep {
  /** The state to keep (the same object when nothing changed). */
  readonly state: UserState | undefined;
  readonly exposed: boolean;
  /** Conversions counted now, with their reported value (0 when none). */
  readonly conversions: ReadonlyArray<{ readonly conversion: CompiledConversion; readonly value: number }>;
}

export interface ObservedResponse {
  readonly method: string;
  /** The request path without its query. */
  readonly path: string;
  readonly status: number;
  /** Conversions the app reported in the response header: name → value (0 when it gave none). */
  readonly reported: ReadonlyMap<string, number> | null;
}

const NOTHING: readonly [] = [];

export function stepUser(experiment: CompiledExperiment, state: UserState | undefined, arm: ArmIndex, response: ObservedResponse, nowSeconds: number): UserStep {
  let current = state;
  let exposed = false;
  if (current === undefined) {
    if (!exposureMatches(experiment, response)) return { state, exposed: false, conversions: NOTHING };
    current = { arm, exposedAt: nowSeconds, converted: 0 };
    exposed = true;
  }
  if (nowSeconds - current.exposedAt > experiment.windowMs / 1000) return { state: current, exposed, conversions: NOTHING };
  let converted = current.converted;
  let conversions: Array<{ conversion: CompiledConversion; value: number }> | null = null;
  for (const conversion of experiment.conversions) {
    const mask = 1 << conversion.bit;
    if ((converted & mask) !== 0) continue;
    const value = conversionValue(conversion, response);
    if (value === undefined) continue;
    converted |= mask;
    (conversions ??= []).push({ conversion, value });
  }
  if (conversions === null) return { state: current, exposed, conversions: NOTHING };
  return { state: { arm: current.arm, exposedAt: current.exposedAt, converted }, exposed, conversions };
}

/** Whether a response can change any user's state: it matches the exposure rule or a conversion. */
export function responseCounts(experiment: CompiledExperiment, response: ObservedResponse): boolean {
  return exposureMatches(experiment, response) || experiment.conversions.some((conversion) => conversionValue(conversion, response) !== undefined);
}

export function exposureMatches(experiment: CompiledExperiment, response: ObservedResponse): boolean {
  if (experiment.exposureMethods !== null && !experiment.exposureMethods.has(response.method)) return false;
  return response.path.startsWith(experiment.exposurePrefix);
}

/** The conversion's value when this response is one (0 without a reported value), undefined otherwise. */
export function conversionValue(conversion: CompiledConversion, response: ObservedResponse): number | undefined {
  if (conversion.reported) return response.reported?.get(conversion.name);
  if (conversion.method !== null && conversion.method !== response.method) return undefined;
  if (conversion.path !== null && conversion.path !== response.path) return undefined;
  if (conversion.pathPrefix !== null && !response.path.startsWith(conversion.pathPrefix)) return undefined;
  const status = conversion.status;
  if (status > 0 ? response.status !== status : status < 0 && Math.floor(response.status / 100) !== -status) return undefined;
  return 0;
}

/**
 * The conversion header's value: `purchase`, `purchase;value=12.5`, several separated by commas (or repeated
 * fields, joined by the caller). A malformed or non-finite value counts the conversion without a value.
 */
export function parseReportedConversions(header: string): Map<string, number> {
  const reported = new Map<string, number>();
  for (const item of header.split(',')) {
    const parts = item.split(';');
    const name = parts[0].trim();
    if (name === '') continue;
    let value = 0;
    for (let i = 1; i < parts.length; i++) {
      const eq = parts[i].indexOf('=');
      if (eq === -1 || parts[i].slice(0, eq).trim().toLowerCase() !== 'value') continue;
      const parsed = Number(parts[i].slice(eq + 1).trim());
      if (Number.isFinite(parsed)) value = parsed;
    }
    if (!reported.has(name)) reported.set(name, value);
  }
  return reported;
}
