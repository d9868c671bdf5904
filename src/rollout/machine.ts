/**
 * The rollout state machine: pure transitions from a status and an input (a window's verdict, a webhook gate,
 * an operator action) to the next status and the effects the runner must carry out. No clock (the caller passes
 * `now`), no I/O, so every path is tested with synthetic windows.
 *
 *   Idle → Initializing (confirm-rollout gate, pre-rollout hooks) → Progressing(step k) … → Promoting → Succeeded
 *   any active phase → RolledBack (threshold of failed windows reached, or operator abort)
 *   Progressing ⇄ Paused (operator pause/resume; or inconclusive windows with `inconclusive: hold`, left by itself
 *   once a window is conclusive again; or a check with `onFail: pause`, left by an operator's resume)
 *
 * With a release plan (`rollout.stages`), step k is stage k. A passing window leaves a stage only when its bake
 * (wall-clock time since the stage was entered, kept in the status so it survives restarts and leader changes) and
 * its minRequests (canary requests seen over the stage) are met; a stage with `approval: required` then waits in
 * AwaitingApproval (windows still judged) for an operator's approve. A failing check does what its `onFail` says.
 */
import type { RolloutConfig, WEBHOOK_TYPES } from '../config/schema.js';
import type { WindowTraffic } from '../metrics/rolling-window.js';
import type { CheckResult } from './checks.js';
import type { PacingVerdict } from './error-budget.js';
import type { Verdict } from './statistics.js';

export type Phase = 'Idle' | 'Initializing' | 'Progressing' | 'AwaitingApproval' | 'Promoting' | 'Succeeded' | 'RolledBack' | 'Paused';
export const PHASES: readonly Phase[] = ['Idle', 'Initializing', 'Progressing', 'AwaitingApproval', 'Promoting', 'Succeeded', 'RolledBack', 'Paused'];
export type WebhookType = (typeof WEBHOOK_TYPES)[number];
export type OperatorAction = 'start' | 'pause' | 'resume' | 'abort' | 'promote' | 'retry' | 'restart' | 'approve';
export const OPERATOR_ACTIONS: readonly OperatorAction[] = ['start', 'pause', 'resume', 'abort', 'promote', 'retry', 'restart', 'approve'];

export interface WindowReport {
  readonly at: string;
  readonly weight: number;
  /** Which requests the built-in checks judged (`rollout.analysis.traffic`); absent in reports saved before it existed. */
  readonly traffic?: WindowTraffic;
  readonly verdict: Verdict;
  readonly results: readonly CheckResult[];
  /** Canary requests in the window (what a stage's minRequests adds up); absent in reports saved before it existed. */
  readonly canaryRequests?: number;
  /** The route's error budget (with `slo:`): burn rates and budget left, and what they mean for the rollout. */
  readonly pacing?: PacingVerdict;
}

/** A release-plan stage the rollout has left: when it was in it, and how it was left. */
export interface StageRecord {
  readonly stage: number;
  readonly name: string;
  readonly enteredAt: string;
  readonly leftAt: string;
  readonly how: string;
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
  readonly pausedBy: 'operator' | 'inconclusive' | 'check' | null;
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
  /** When the current step (a plan's stage) was entered: its bake counts from here. Absent before the first step. */
  readonly stageEnteredAt?: string;
  /** Canary requests seen in the current stage's windows (its minRequests). */
  readonly stageRequests?: number;
  /** The plan's stages left so far, oldest first. */
  readonly history?: readonly StageRecord[];
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

const ACTIVE: ReadonlySet<Phase> = new Set(['Initializing', 'Progressing', 'AwaitingApproval', 'Promoting', 'Paused']);

/** Phases in which a rollout is under way (an operator weight would be undone by its next window). */
export const IN_PROGRESS: ReadonlySet<Phase> = ACTIVE;

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
  const next = move(status, now, { phase: 'Initializing', step: -1, weight: startWeight, failedChecks: 0, inconclusiveWindows: 0, pausedBy: null, resumePhase: null, message: 'initializing', lastWindow: null, startedAt: now.toISOString(), stageEnteredAt: undefined, stageRequests: undefined, history: undefined });
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
  const label = stepLabel(spec, 0);
  return {
    status: move(status, now, { phase: 'Progressing', step: 0, weight, message: label, stageEnteredAt: now.toISOString(), stageRequests: 0 }),
    effects: [{ kind: 'weight', weight }, event('rollout.step', `${label}: canary at ${weight} %`, { step: 1, weight, ...stageDetails(spec, 0) })],
  };
}

/**
 * One analysis window ended. `promotionConfirmed` is the confirm-promotion gate, asked by the runner only when
 * this window passes the last step (null when not asked or when there is no such hook).
 */
export function afterWindow(spec: RolloutConfig, status: RolloutStatus, report: WindowReport, promotionConfirmed: { confirmed: boolean; detail: string } | null, now: Date): Transition {
  const analysing = status.phase === 'Progressing' || status.phase === 'AwaitingApproval' || (status.phase === 'Paused' && status.pausedBy === 'inconclusive');
  if (!analysing) return { status, effects: [] };
  const details = { weight: status.weight, verdict: report.verdict, ...(report.traffic !== undefined ? { traffic: report.traffic } : {}), checks: report.results };
  if (spec.stages !== undefined) status = { ...status, stageRequests: (status.stageRequests ?? 0) + (report.canaryRequests ?? 0) };
  const pacing = report.pacing;
  if (pacing?.action === 'rollback') return rollBack(move(status, now, { lastWindow: report }), `error budget: ${pacing.reason}`, now, { ...details, pacing });
  if (pacing?.action === 'pause') {
    const message = `paused at ${status.weight} % by the error budget: ${pacing.reason}`;
    return { status: move(status, now, { phase: 'Paused', pausedBy: 'check', resumePhase: 'Progressing', lastWindow: report, message }), effects: [event('rollout.paused', message, { ...details, pacing })] };
  }

  let verdict = report.verdict;
  let inconclusiveWindows = status.inconclusiveWindows;
  if (verdict === 'inconclusive') {
    inconclusiveWindows++;
    if (spec.inconclusive === 'fail' || (spec.inconclusiveLimit !== undefined && inconclusiveWindows >= spec.inconclusiveLimit)) verdict = 'fail';
  }

  if (verdict === 'fail') {
    const gentler = gentlerFailure(spec, status, report, details, now);
    if (gentler !== null) return gentler;
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

  const passed = move(status, now, { phase: status.phase === 'AwaitingApproval' ? 'AwaitingApproval' : 'Progressing', pausedBy: null, inconclusiveWindows: 0, lastWindow: report });
  if (pacing?.action === 'hold' || pacing?.action === 'freeze') {
    const message = `paced at ${status.weight} %: ${pacing.reason}`;
    // One event when the pacing starts holding, not one per window of a hold that may last hours.
    const effects = status.message.startsWith('paced at') ? [] : [event('rollout.paced', message, { ...details, pacing })];
    return { status: move(passed, now, { message }), effects };
  }
  const waiting = stageWait(spec, passed, now);
  if (waiting !== null) return { status: move(passed, now, { phase: 'Progressing', message: waiting }), effects: [] };
  const stage = spec.stages?.[status.step];
  if (stage?.approval) {
    if (passed.phase === 'AwaitingApproval') return { status: move(passed, now, { message: `${stepLabel(spec, status.step)}: waiting for approval (rollout approve)` }), effects: [] };
    const message = `${stepLabel(spec, status.step)}: bake and gates passed; waiting for approval (rollout approve)`;
    return { status: move(passed, now, { phase: 'AwaitingApproval', message }), effects: [event('rollout.awaiting_approval', message, details)] };
  }
  return advance(spec, passed, promotionConfirmed, `window passed at ${status.weight} %`, now, details);
}

/**
 * Leaves the current step for the next one (or succeeds after the last). `promotionConfirmed`: the
 * confirm-promotion gate's answer when the last step is left (null when not asked).
 */
function advance(spec: RolloutConfig, passed: RolloutStatus, promotionConfirmed: { confirmed: boolean; detail: string } | null, why: string, now: Date, details?: Record<string, unknown>): Transition {
  const last = spec.steps.length - 1;
  const left = leaveStage(spec, passed, why, now);
  if (passed.step < last) {
    const step = passed.step + 1;
    const weight = spec.steps[step];
    const label = stepLabel(spec, step);
    return {
      status: move(passed, now, { phase: 'Progressing', step, weight, message: label, stageEnteredAt: now.toISOString(), stageRequests: 0, ...left }),
      effects: [{ kind: 'weight', weight }, event('rollout.step', `${why}; ${label}: canary at ${weight} %`, { ...details, step: step + 1, to: weight, ...stageDetails(spec, step) })],
    };
  }
  if (promotionConfirmed !== null && !promotionConfirmed.confirmed) {
    return { status: move(passed, now, { message: `all steps passed; waiting for confirm-promotion: ${promotionConfirmed.detail}` }), effects: [] };
  }
  return succeed(move(passed, now, left), spec, spec.stages !== undefined ? 'all stages passed' : 'all steps passed', now, details);
}

/** The history entry for the stage being left (a plan only). */
function leaveStage(spec: RolloutConfig, status: RolloutStatus, how: string, now: Date): Partial<RolloutStatus> {
  const stage = spec.stages?.[status.step];
  if (stage === undefined) return {};
  const record: StageRecord = { stage: status.step, name: stage.name, enteredAt: status.stageEnteredAt ?? status.updatedAt, leftAt: now.toISOString(), how };
  return { history: [...(status.history ?? []), record] };
}

/** Why the current stage may not be left yet (its bake or its minRequests), or null when it may. */
export function stageWait(spec: RolloutConfig, status: RolloutStatus, now: Date): string | null {
  const stage = spec.stages?.[status.step];
  if (stage === undefined) return null;
  const entered = Date.parse(status.stageEnteredAt ?? status.updatedAt);
  const left = entered + stage.bake - now.getTime();
  if (left > 0) return `${stepLabel(spec, status.step)}: baking, ${formatDuration(left)} left of ${formatDuration(stage.bake)}`;
  const seen = status.stageRequests ?? 0;
  if (seen < stage.minRequests) return `${stepLabel(spec, status.step)}: baked; ${seen}/${stage.minRequests} canary requests seen`;
  return null;
}

/**
 * A failed window whose failing checks all say `onFail: pause` or `hold` (none `rollback`): pause for an operator,
 * or hold the stage without counting a failure. Null when the window counts as failed.
 */
function gentlerFailure(spec: RolloutConfig, status: RolloutStatus, report: WindowReport, details: Record<string, unknown>, now: Date): Transition | null {
  const failed = report.results.filter((r) => r.result === 'fail');
  if (failed.length === 0) return null;
  const actions = failed.map((r) => onFailOf(spec, status.step, r.check));
  if (actions.includes('rollback')) return null;
  const why = failed.map((r) => `${r.check} = ${r.value ?? '–'} (want ${r.threshold}; ${r.detail})`).join('; ');
  if (actions.includes('pause')) {
    const message = `paused at ${status.weight} % by a failed check (onFail: pause): ${why}`;
    return {
      status: move(status, now, { phase: 'Paused', pausedBy: 'check', resumePhase: 'Progressing', inconclusiveWindows: 0, lastWindow: report, message }),
      effects: [event('rollout.paused', message, details)],
    };
  }
  const message = `holding at ${status.weight} % (onFail: hold): ${why}`;
  return {
    status: move(status, now, { phase: status.phase === 'AwaitingApproval' ? 'AwaitingApproval' : 'Progressing', pausedBy: null, inconclusiveWindows: 0, lastWindow: report, message }),
    effects: [event('rollout.held', message, details)],
  };
}

/**
 * A check's onFail: the current stage's own checks and webhooks first, then the rollout's checks; anything else
 * (the rollout's webhooks, outlier ejection) rolls back.
 */
function onFailOf(spec: RolloutConfig, step: number, check: string): 'rollback' | 'pause' | 'hold' {
  const stage = spec.stages?.[step];
  const hook = stage?.webhooks.find((h) => stageWebhookCheck(stage.name, h.name) === check);
  const own = hook ?? stage?.checks.find((c) => c.name === check) ?? spec.checks.find((c) => c.name === check);
  return own?.onFail ?? 'rollback';
}

/** How a stage webhook's result is named in window reports and verdicts. */
export function stageWebhookCheck(stage: string, hook: string): string {
  return `webhook:${stage}/${hook}`;
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
      if (status.phase !== 'Paused' || (status.pausedBy !== 'operator' && status.pausedBy !== 'check')) {
        throw new RolloutConflict(`rollout is ${status.phase}; only an operator pause can be resumed, or a pause by a check (onFail: pause)`);
      }
      return {
        status: move(status, now, { phase: status.resumePhase ?? 'Progressing', pausedBy: null, resumePhase: null, message: `resumed at ${status.weight} %` }),
        effects: [event('rollout.resumed', `resumed at ${status.weight} %`)],
      };
    case 'approve': {
      if (status.phase !== 'AwaitingApproval') throw new RolloutConflict(`rollout is ${status.phase}; nothing waits for approval`);
      const approved = move(status, now, { pausedBy: null, resumePhase: null });
      return advance(spec, approved, null, `${stepLabel(spec, status.step)} approved by an operator`, now);
    }
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

/** `stage 2/4 "beta"` for a plan, `step 2/4: 10 %` otherwise. */
export function stepLabel(spec: RolloutConfig, step: number): string {
  const stage = spec.stages?.[step];
  if (stage === undefined) return `step ${step + 1}/${spec.steps.length}: ${spec.steps[step]} %`;
  return `stage ${step + 1}/${spec.steps.length} "${stage.name}" (${stage.weight} %${stage.audience !== null ? ' + audience' : ''})`;
}

function stageDetails(spec: RolloutConfig, step: number): Record<string, unknown> {
  const stage = spec.stages?.[step];
  return stage === undefined ? {} : { stage: stage.name, bake: stage.bake, audience: stage.audience };
}

/** 90061000 → "1d 1h 1m 1s": whole seconds, the largest units first. */
export function formatDuration(ms: number): string {
  let seconds = Math.max(0, Math.ceil(ms / 1000));
  const parts: string[] = [];
  for (const [unit, size] of [['d', 86_400], ['h', 3600], ['m', 60], ['s', 1]] as const) {
    if (seconds >= size) {
      parts.push(`${Math.floor(seconds / size)}${unit}`);
      seconds %= size;
    }
  }
  return parts.length === 0 ? '0s' : parts.join(' ');
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
