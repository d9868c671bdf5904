export const PHASES = ['Idle', 'Initializing', 'Progressing', 'AwaitingApproval', 'Promoting', 'Succeeded', 'RolledBack', 'Paused'];
export const OPERATOR_ACTIONS = ['start', 'pause', 'resume', 'abort', 'promote', 'retry', 'restart', 'approve'];
export class RolloutConflict extends Error {
}
const ACTIVE = new Set(['Initializing', 'Progressing', 'AwaitingApproval', 'Promoting', 'Paused']);
export const IN_PROGRESS = ACTIVE;
export function isFinished(status) {
    return status.phase === 'Succeeded' || status.phase === 'RolledBack';
}
export function idleStatus(revision, weight, now) {
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
export function begin(status, startWeight, now) {
    const next = move(status, now, { phase: 'Initializing', step: -1, weight: startWeight, failedChecks: 0, inconclusiveWindows: 0, pausedBy: null, resumePhase: null, message: 'initializing', lastWindow: null, startedAt: now.toISOString(), stageEnteredAt: undefined, stageRequests: undefined, history: undefined });
    return { status: next, effects: [{ kind: 'weight', weight: startWeight }, event('rollout.started', `rollout of revision ${status.revision} started at ${startWeight} %`)] };
}
export function afterInitialization(spec, status, gate, preRollout, now) {
    if (status.phase !== 'Initializing')
        return { status, effects: [] };
    if (!gate.confirmed) {
        return { status: move(status, now, { message: `waiting for confirm-rollout: ${gate.detail}` }), effects: [] };
    }
    if (!preRollout.ok) {
        const failedChecks = status.failedChecks + 1;
        if (failedChecks >= spec.threshold)
            return rollBack(move(status, now, { failedChecks }), `pre-rollout hooks failed ${failedChecks} times: ${preRollout.detail}`, now);
        return { status: move(status, now, { failedChecks, message: `pre-rollout hooks failed (${failedChecks}/${spec.threshold}): ${preRollout.detail}` }), effects: [event('rollout.check_failed', preRollout.detail)] };
    }
    const weight = spec.steps[0];
    const label = stepLabel(spec, 0);
    return {
        status: move(status, now, { phase: 'Progressing', step: 0, weight, message: label, stageEnteredAt: now.toISOString(), stageRequests: 0 }),
        effects: [{ kind: 'weight', weight }, event('rollout.step', `${label}: canary at ${weight} %`, { step: 1, weight, ...stageDetails(spec, 0) })],
    };
}
export function afterWindow(spec, status, report, promotionConfirmed, now) {
    const analysing = status.phase === 'Progressing' || status.phase === 'AwaitingApproval' || (status.phase === 'Paused' && status.pausedBy === 'inconclusive');
    if (!analysing)
        return { status, effects: [] };
    const details = { weight: status.weight, verdict: report.verdict, ...(report.traffic !== undefined ? { traffic: report.traffic } : {}), checks: report.results };
    if (spec.stages !== undefined)
        status = { ...status, stageRequests: (status.stageRequests ?? 0) + (report.canaryRequests ?? 0) };
    const pacing = report.pacing;
    if (pacing?.action === 'rollback')
        return rollBack(move(status, now, { lastWindow: report }), `error budget: ${pacing.reason}`, now, { ...details, pacing });
    if (pacing?.action === 'pause') {
        const message = `paused at ${status.weight} % by the error budget: ${pacing.reason}`;
        return { status: move(status, now, { phase: 'Paused', pausedBy: 'check', resumePhase: 'Progressing', lastWindow: report, message }), effects: [event('rollout.paused', message, { ...details, pacing })] };
    }
    let verdict = report.verdict;
    let inconclusiveWindows = status.inconclusiveWindows;
    if (verdict === 'inconclusive') {
        inconclusiveWindows++;
        if (spec.inconclusive === 'fail' || (spec.inconclusiveLimit !== undefined && inconclusiveWindows >= spec.inconclusiveLimit))
            verdict = 'fail';
    }
    if (verdict === 'fail') {
        const gentler = gentlerFailure(spec, status, report, details, now);
        if (gentler !== null)
            return gentler;
        const failedChecks = status.failedChecks + 1;
        const why = describeFailures(report, inconclusiveWindows, spec);
        const failed = move(status, now, { failedChecks, inconclusiveWindows: report.verdict === 'inconclusive' ? 0 : inconclusiveWindows, lastWindow: report, phase: 'Progressing', pausedBy: null });
        if (failedChecks >= spec.threshold)
            return rollBack(failed, `${failedChecks} failed windows (threshold ${spec.threshold}); last: ${why}`, now, details);
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
        const effects = status.message.startsWith('paced at') ? [] : [event('rollout.paced', message, { ...details, pacing })];
        return { status: move(passed, now, { message }), effects };
    }
    const waiting = stageWait(spec, passed, now);
    if (waiting !== null)
        return { status: move(passed, now, { phase: 'Progressing', message: waiting }), effects: [] };
    const stage = spec.stages?.[status.step];
    if (stage?.approval) {
        if (passed.phase === 'AwaitingApproval')
            return { status: move(passed, now, { message: `${stepLabel(spec, status.step)}: waiting for approval (rollout approve)` }), effects: [] };
        const message = `${stepLabel(spec, status.step)}: bake and gates passed; waiting for approval (rollout approve)`;
        return { status: move(passed, now, { phase: 'AwaitingApproval', message }), effects: [event('rollout.awaiting_approval', message, details)] };
    }
    return advance(spec, passed, promotionConfirmed, `window passed at ${status.weight} %`, now, details);
}
function advance(spec, passed, promotionConfirmed, why, now, details) {
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
function leaveStage(spec, status, how, now) {
    const stage = spec.stages?.[status.step];
    if (stage === undefined)
        return {};
    const record = { stage: status.step, name: stage.name, enteredAt: status.stageEnteredAt ?? status.updatedAt, leftAt: now.toISOString(), how };
    return { history: [...(status.history ?? []), record] };
}
export function stageWait(spec, status, now) {
    const stage = spec.stages?.[status.step];
    if (stage === undefined)
        return null;
    const entered = Date.parse(status.stageEnteredAt ?? status.updatedAt);
    const left = entered + stage.bake - now.getTime();
    if (left > 0)
        return `${stepLabel(spec, status.step)}: baking, ${formatDuration(left)} left of ${formatDuration(stage.bake)}`;
    const seen = status.stageRequests ?? 0;
    if (seen < stage.minRequests)
        return `${stepLabel(spec, status.step)}: baked; ${seen}/${stage.minRequests} canary requests seen`;
    return null;
}
function gentlerFailure(spec, status, report, details, now) {
    const failed = report.results.filter((r) => r.result === 'fail');
    if (failed.length === 0)
        return null;
    const actions = failed.map((r) => onFailOf(spec, status.step, r.check));
    if (actions.includes('rollback'))
        return null;
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
function onFailOf(spec, step, check) {
    const stage = spec.stages?.[step];
    const hook = stage?.webhooks.find((h) => stageWebhookCheck(stage.name, h.name) === check);
    const own = hook ?? stage?.checks.find((c) => c.name === check) ?? spec.checks.find((c) => c.name === check);
    return own?.onFail ?? 'rollback';
}
export function stageWebhookCheck(stage, hook) {
    return `webhook:${stage}/${hook}`;
}
export function operatorAction(spec, status, action, startWeight, now) {
    switch (action) {
        case 'start':
            if (status.phase !== 'Idle')
                throw new RolloutConflict(`rollout is ${status.phase}; use restart to run it again`);
            return begin(status, startWeight, now);
        case 'pause':
            if (!ACTIVE.has(status.phase) || status.pausedBy === 'operator')
                throw new RolloutConflict(`rollout is ${status.phase}${status.pausedBy === 'operator' ? ' (paused by an operator)' : ''}; nothing to pause`);
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
            if (status.phase !== 'AwaitingApproval')
                throw new RolloutConflict(`rollout is ${status.phase}; nothing waits for approval`);
            const approved = move(status, now, { pausedBy: null, resumePhase: null });
            return advance(spec, approved, null, `${stepLabel(spec, status.step)} approved by an operator`, now);
        }
        case 'abort':
            if (isFinished(status) || status.phase === 'Idle')
                throw new RolloutConflict(`rollout is ${status.phase}; nothing to abort`);
            return rollBack(status, 'aborted by an operator', now);
        case 'promote':
            if (status.phase === 'Succeeded')
                throw new RolloutConflict('rollout already succeeded');
            return succeed(status, spec, 'promoted by an operator', now);
        case 'retry':
        case 'restart': {
            const fresh = idleStatus(status.revision, startWeight, now);
            const started = begin({ ...fresh, seq: status.seq, engagedKill: false }, startWeight, now);
            const effects = status.engagedKill ? [{ kind: 'release-kill' }, ...started.effects] : [...started.effects];
            return { status: started.status, effects: [...effects, event(`rollout.${action}`, `${action} by an operator`)] };
        }
    }
}
function succeed(status, spec, why, now, details) {
    const weight = spec.onSuccess === 'promote' ? 100 : status.weight;
    const effects = [];
    if (status.engagedKill)
        effects.push({ kind: 'release-kill' });
    effects.push({ kind: 'weight', weight });
    effects.push({ kind: 'notify', type: 'post-rollout' });
    effects.push(event('rollout.succeeded', `${why}; canary at ${weight} %`, details));
    return { status: move(status, now, { phase: 'Succeeded', weight, pausedBy: null, resumePhase: null, engagedKill: false, message: `succeeded: ${why}; canary at ${weight} %` }), effects };
}
function rollBack(status, why, now, details) {
    return {
        status: move(status, now, { phase: 'RolledBack', weight: 0, pausedBy: null, resumePhase: null, engagedKill: true, message: `rolled back: ${why}` }),
        effects: [{ kind: 'weight', weight: 0 }, { kind: 'kill' }, { kind: 'notify', type: 'rollback' }, { kind: 'notify', type: 'post-rollout' }, event('rollout.rolled_back', why, details)],
    };
}
function describeFailures(report, inconclusiveWindows, spec) {
    const failed = report.results.filter((r) => r.result === 'fail');
    if (failed.length > 0)
        return failed.map((r) => `${r.check} = ${r.value ?? '–'} (want ${r.threshold}; ${r.detail})`).join('; ');
    if (spec.inconclusive === 'fail')
        return 'inconclusive window counted as failed (inconclusive: fail)';
    return `${inconclusiveWindows} inconclusive windows in a row (limit ${spec.inconclusiveLimit})`;
}
export function stepLabel(spec, step) {
    const stage = spec.stages?.[step];
    if (stage === undefined)
        return `step ${step + 1}/${spec.steps.length}: ${spec.steps[step]} %`;
    return `stage ${step + 1}/${spec.steps.length} "${stage.name}" (${stage.weight} %${stage.audience !== null ? ' + audience' : ''})`;
}
function stageDetails(spec, step) {
    const stage = spec.stages?.[step];
    return stage === undefined ? {} : { stage: stage.name, bake: stage.bake, audience: stage.audience };
}
export function formatDuration(ms) {
    let seconds = Math.max(0, Math.ceil(ms / 1000));
    const parts = [];
    for (const [unit, size] of [['d', 86_400], ['h', 3600], ['m', 60], ['s', 1]]) {
        if (seconds >= size) {
            parts.push(`${Math.floor(seconds / size)}${unit}`);
            seconds %= size;
        }
    }
    return parts.length === 0 ? '0s' : parts.join(' ');
}
function limitText(spec) {
    return spec.inconclusiveLimit === undefined ? ' in a row' : `/${spec.inconclusiveLimit}`;
}
function move(status, now, changes) {
    return { ...status, ...changes, updatedAt: now.toISOString(), seq: status.seq + 1 };
}
function event(action, message, details) {
    return details === undefined ? { kind: 'event', action, message } : { kind: 'event', action, message, details };
}
//# sourceMappingURL=machine.js.map