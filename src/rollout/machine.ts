/**
 * The rollout state machine: pure transitions from a status and an input (a window's verdict, a webhook gate,
 * an operator action) to the next status and the effects the runner must carry out. No clock (the caller passes
 * `now`), no I/O, so every path is tested with synthetic windows.
 *
 *   Idle → Initializing (confirm-rollout gate, pre-rollout hooks) → Progressing(step k) … → Promoting → Succeeded
 *   any active phase → RolledBack (threshold of failed windows reached, or operator abort)
 *   Progressing ⇄ Paused (operator pause/resume; or inconclusive windows with `inconclusive: hold`, left by itself
 *   once a window is conclusive again)
 */
import type { RolloutConfig, WEBHOOK_TYPES } from '../config/schema.js';
import type { WindowTraffic } from '../metrics/rolling-window.js';
import type { CheckResult } from './checks.js';
import type { Verdict } from './statistics.js';

export type Phase = 'Idle' | 'Initializing' | 'Progressing' | 'Promoting' | 'Succeeded' | 'RolledBack' | 'Paused';
export const PHASES: readonly Phase[] = ['Idle', 'Initializing', 'Progressing', 'Promoting', 'Succeeded', 'RolledBack', 'Paused'];
export type WebhookType = (typeof WEBHOOK_TYPES)[number];
export type OperatorAction = 'start' | 'pause' | 'resume' | 'abort' | 'promote' | 'retry' | 'restart';
export const OPERATOR_ACTIONS: readonly OperatorAction[] = ['start', 'pause', 'resume', 'abort', 'promote', 'retry', 'restart'];

export interface WindowReport {
  readonly at: string;
  readonly weight: number;
  /** Which requests the built-in checks judged (`rollout.analysis.traffic`); absent in reports saved before it existed. */
  readonly traffic?: WindowTraffic;
  readonly verdict: Verdict;
  readonly results: readonly CheckResult[];
}

export interface RolloutStatus {
  /** The canary revision this rollout belongs to; a new one starts a new rollout. */
  readonly revision: string;
  readonly phase: Phase;
  /** Index into the steps of the weight in force; -1 before the first step. */
  readonly step: number;
  readonly weight: number;
  readonly failedChecks: number;
  readonly inconclusiveWindows: number;
  readonly pausedBy: 'operator' | 'inconclusive' | null;
  /** Where an operator resume returns to. */
  readonly resumePhase: Phase | null;
  /** True when this rollout engaged the kill switch (on rollback), so a restart may lift it. */
  readonly engagedKill: boolean;
  readonly message: string;
  readonly lastWindow: WindowReport | null;
  readonly startedAt: string;
  readonly updatedAt: string;
  /** Increases on every transition: a slow webhook's answer is dropped if the rollout moved on meanwhile. */
  readonly seq: number;
}

export type Effect =
  | { readonly kind: 'weight'; readonly weight: number }
  | { readonly kind: 'kill' }
  | { readonly kind: 'release-kill' }
  | { readonly kind: 'notify'; readonly type: WebhookType }
  | { readonly kind: 'event'; readonly action: string; readonly message: string; readonly details?: unknown };

export interface Transition {
  readonly status: RolloutStatus;
  readonly effects: readonly Effect[];
}

export class RolloutConflict extends Error {}

const ACTIVE: ReadonlySet<Phase> = new Set(['Initializing', 'Progressing', 'Promoting', 'Paused']);

export function isFinished(status: RolloutStatus): boolean {
  return status.phase === 'Succeeded' || status.phase === 'RolledBack';
}

export function idleStatus(revision: string, weight: number, now: Date): RolloutStatus {
  const time = now.toISOString();
  return {
    revision,
    phase: 'Idle',
    step: -1,
    weight,
    failedChecks: 0,
    inconclusiveWindows: 0,
    pausedBy: null,
    resumePhase: null,
    engagedKill: false,
    message: 'waiting to start',
    lastWindow: null,
    startedAt: time,
    updatedAt: time,
    seq: 0,
  };
}

/** Idle → Initializing. The runner then runs the confirm-rollout gate and pre-rollout hooks. */
export function begin(status: RolloutStatus, startWeight: number, now: Date): Transition {
  const next = move(status, now, { phase: 'Initializing', step: -1, weight: startWeight, failedChecks: 0, inconclusiveWindows: 0, pausedBy: null, resumePhase: null, message: 'initializing', lastWindow: null, startedAt: now.toISOString() });
  return { status: next, effects: [{ kind: 'weight', weight: startWeight }, event('rollout.started', `rollout of revision ${status.revision} started at ${startWeight} %`)] };
}

/** The outcome of Initializing: the confirm-rollout gate (null when there is none) and the pre-rollout hooks. */
export function afterInitialization(
  spec: RolloutConfig,
  status: RolloutStatus,
  gate: { confirmed: boolean; detail: string },
  preRollout: { ok: boolean; detail: string },
  now: Date,
): Transition {
  if (status.phase !== 'Initializing') return { status, effects: [] };
  if (!gate.confirmed) {
    return { status: move(status, now, { message: `waiting for confirm-rollout: ${gate.detail}` }), effects: [] };
  }
  if (!preRollout.ok) {
    const failedChecks = status.failedChecks + 1;
    if (failedChecks >= spec.threshold) return rollBack(move(status, now, { failedChecks }), `pre-rollout hooks failed ${failedChecks} times: ${preRollout.detail}`, now);
    return { status: move(status, now, { failedChecks, message: `pre-rollout hooks failed (${failedChecks}/${spec.threshold}): ${preRollout.detail}` }), effects: [event('rollout.check_failed', preRollout.detail)] };
  }
  const weight = spec.steps[0];
  return {
    status: move(status, now, { phase: 'Progressing', step: 0, weight, message: `step 1/${spec.steps.length}: ${weight} %` }),
    effects: [{ kind: 'weight', weight }, event('rollout.step', `step 1/${spec.steps.length}: canary at ${weight} %`, { step: 1, weight })],
  };
}

/**
 * One analysis window ended. `promotionConfirmed` is the confirm-promotion gate, asked by the runner only when
 * this window passes the last step (null when not asked or when there is no such hook).
 */
export function afterWindow(spec: RolloutConfig, status: RolloutStatus, report: WindowReport, promotionConfirmed: { confirmed: boolean; detail: string } | null, now: Date): Transition {
  const analysing = status.phase === 'Progressing' || (status.phase === 'Paused' && status.pausedBy === 'inconclusive');
  if (!analysing) return { status, effects: [] };
  const details = { weight: status.weight, verdict: report.verdict, ...(report.traffic !== undefined ? { traffic: report.traffic } : {}), checks: report.results };

  let verdict = report.verdict;
  let inconclusiveWindows = status.inconclusiveWindows;
  if (verdict === 'inconclusive') {
    inconclusiveWindows++;
    if (spec.inconclusive === 'fail' || (spec.inconclusiveLimit !== undefined && inconclusiveWindows >= spec.inconclusiveLimit)) verdict = 'fail';
  }

  if (verdict === 'fail') {
    const failedChecks = status.failedChecks + 1;
    const why = describeFailures(report, inconclusiveWindows, spec);
    const failed = move(status, now, { failedChecks, inconclusiveWindows: report.verdict === 'inconclusive' ? 0 : inconclusiveWindows, lastWindow: report, phase: 'Progressing', pausedBy: null });
    if (failedChecks >= spec.threshold) return rollBack(failed, `${failedChecks} failed windows (threshold ${spec.threshold}); last: ${why}`, now, details);
    return {
      status: move(failed, now, { message: `window failed (${failedChecks}/${spec.threshold}): ${why}` }),
      effects: [event('rollout.check_failed', `window failed (${failedChecks}/${spec.threshold}) at ${status.weight} %: ${why}`, details)],
    };
  }

  if (verdict === 'inconclusive') {
    const why = report.results.filter((r) => r.result === 'inconclusive').map((r) => `${r.check}: ${r.detail}`).join('; ');
    return {
      status: move(status, now, { phase: 'Paused', pausedBy: 'inconclusive', inconclusiveWindows, lastWindow: report, message: `holding at ${status.weight} %: inconclusive (${inconclusiveWindows}${limitText(spec)}): ${why}` }),
      effects: [event('rollout.inconclusive', `holding at ${status.weight} % (${inconclusiveWindows}${limitText(spec)}): ${why}`, details)],
    };
  }

  const passed = move(status, now, { phase: 'Progressing', pausedBy: null, inconclusiveWindows: 0, lastWindow: report });
  const last = spec.steps.length - 1;
  if (status.step < last) {
    const step = status.step + 1;
    const weight = spec.steps[step];
    return {
      status: move(passed, now, { step, weight, message: `step ${step + 1}/${spec.steps.length}: ${weight} %` }),
      effects: [{ kind: 'weight', weight }, event('rollout.step', `window passed at ${status.weight} %; step ${step + 1}/${spec.steps.length}: canary at ${weight} %`, { ...details, step: step + 1, to: weight })],
    };
  }
  if (promotionConfirmed !== null && !promotionConfirmed.confirmed) {
    return { status: move(passed, now, { message: `all steps passed; waiting for confirm-promotion: ${promotionConfirmed.detail}` }), effects: [] };
  }
  return succeed(passed, spec, 'all steps passed', now, details);
}

/** An operator's command. Throws RolloutConflict when it makes no sense in the current phase. */
export function operatorAction(spec: RolloutConfig, status: RolloutStatus, action: OperatorAction, startWeight: number, now: Date): Transition {
  switch (action) {
    case 'start':
      if (status.phase !== 'Idle') throw new RolloutConflict(`rollout is ${status.phase}; use restart to run it again`);
      return begin(status, startWeight, now);
    case 'pause':
      if (!ACTIVE.has(status.phase) || status.pausedBy === 'operator') throw new RolloutConflict(`rollout is ${status.phase}${status.pausedBy === 'operator' ? ' (paused by an operator)' : ''}; nothing to pause`);
      return {
        status: move(status, now, { phase: 'Paused', pausedBy: 'operator', resumePhase: status.phase === 'Paused' ? 'Progressing' : status.phase, message: `paused by an operator at ${status.weight} %` }),
        effects: [event('rollout.paused', `paused at ${status.weight} %`)],
      };
    case 'resume':
      if (status.phase !== 'Paused' || status.pausedBy !== 'operator') throw new RolloutConflict(`rollout is ${status.phase}; only an operator pause can be resumed`);
      return {
        status: move(status, now, { phase: status.resumePhase ?? 'Progressing', pausedBy: null, resumePhase: null, message: `resumed at ${status.weight} %` }),
        effects: [event('rollout.resumed', `resumed at ${status.weight} %`)],
      };
    case 'abort':
      if (isFinished(status) || status.phase === 'Idle') throw new RolloutConflict(`rollout is ${status.phase}; nothing to abort`);
      return rollBack(status, 'aborted by an operator', now);
    case 'promote':
      if (status.phase === 'Succeeded') throw new RolloutConflict('rollout already succeeded');
      return succeed(status, spec, 'promoted by an operator', now);
    case 'retry':
    case 'restart': {
      const fresh = idleStatus(status.revision, startWeight, now);
      const started = begin({ ...fresh, seq: status.seq, engagedKill: false }, startWeight, now);
      const effects: Effect[] = status.engagedKill ? [{ kind: 'release-kill' }, ...started.effects] : [...started.effects];
      return { status: started.status, effects: [...effects, event(`rollout.${action}`, `${action} by an operator`)] };
    }
  }
}

function succeed(status: RolloutStatus, spec: RolloutConfig, why: string, now: Date, details?: unknown): Transition {
  const weight = spec.onSuccess === 'promote' ? 100 : status.weight;
  const effects: Effect[] = [];
  if (status.engagedKill) effects.push({ kind: 'release-kill' });
  effects.push({ kind: 'weight', weight });
  effects.push({ kind: 'notify', type: 'post-rollout' });
  effects.push(event('rollout.succeeded', `${why}; canary at ${weight} %`, details));
  return { status: move(status, now, { phase: 'Succeeded', weight, pausedBy: null, resumePhase: null, engagedKill: false, message: `succeeded: ${why}; canary at ${weight} %` }), effects };
}

/** Weight 0 and the kill switch at once: no request after a rollback reaches the canary, overrides included. */
function rollBack(status: RolloutStatus, why: string, now: Date, details?: unknown): Transition {
  return {
    status: move(status, now, { phase: 'RolledBack', weight: 0, pausedBy: null, resumePhase: null, engagedKill: true, message: `rolled back: ${why}` }),
    effects: [{ kind: 'weight', weight: 0 }, { kind: 'kill' }, { kind: 'notify', type: 'rollback' }, { kind: 'notify', type: 'post-rollout' }, event('rollout.rolled_back', why, details)],
  };
}

function describeFailures(report: WindowReport, inconclusiveWindows: number, spec: RolloutConfig): string {
  const failed = report.results.filter((r) => r.result === 'fail');
  if (failed.length > 0) return failed.map((r) => `${r.check} = ${r.value ?? '–'} (want ${r.threshold}; ${r.detail})`).join('; ');
  if (spec.inconclusive === 'fail') return 'inconclusive window counted as failed (inconclusive: fail)';
  return `${inconclusiveWindows} inconclusive windows in a row (limit ${spec.inconclusiveLimit})`;
}

function limitText(spec: RolloutConfig): string {
  return spec.inconclusiveLimit === undefined ? ' in a row' : `/${spec.inconclusiveLimit}`;
}

function move(status: RolloutStatus, now: Date, changes: Partial<RolloutStatus>): RolloutStatus {
  return { ...status, ...changes, updatedAt: now.toISOString(), seq: status.seq + 1 };
}

function event(action: string, message: string, details?: unknown): Effect {
  return details === undefined ? { kind: 'event', action, message } : { kind: 'event', action, message, details };
}
