import { formatDuration } from './machine.js';
const RUNNING = new Set(['Initializing', 'Progressing', 'AwaitingApproval', 'Promoting', 'Paused']);
export function planView(spec, status, now) {
    const stages = spec.stages;
    if (stages === undefined)
        return null;
    const history = new Map((status.history ?? []).map((record) => [record.stage, record]));
    const started = status.step >= 0 && status.phase !== 'Idle';
    const running = RUNNING.has(status.phase);
    const current = started && running ? status.step : null;
    let cursor = now.getTime();
    const views = stages.map((stage, index) => {
        const base = stageBasics(stage, index);
        const record = history.get(index);
        if (record !== undefined)
            return { ...base, state: 'done', enteredAt: record.enteredAt, leftAt: record.leftAt, expected: false, how: record.how };
        if (index === current) {
            const entered = Date.parse(status.stageEnteredAt ?? status.updatedAt);
            const bakeLeftMs = Math.max(0, entered + stage.bake - now.getTime());
            cursor = now.getTime() + bakeLeftMs;
            return { ...base, state: 'current', enteredAt: new Date(entered).toISOString(), leftAt: new Date(cursor).toISOString(), expected: true, bakeLeftMs, requestsSeen: status.stageRequests ?? 0 };
        }
        if (!running && started)
            return { ...base, state: 'pending', enteredAt: null, leftAt: null, expected: false };
        if (index < (current ?? 0))
            return { ...base, state: 'done', enteredAt: null, leftAt: null, expected: false };
        const enteredAt = new Date(cursor).toISOString();
        cursor += stage.bake;
        return { ...base, state: 'pending', enteredAt, leftAt: new Date(cursor).toISOString(), expected: true };
    });
    return {
        schedule: spec.schedule ?? null,
        phase: status.phase,
        currentStage: current,
        stages: views,
        expectedEndAt: running || status.phase === 'Idle' ? new Date(cursor).toISOString() : null,
    };
}
function stageBasics(stage, index) {
    return {
        stage: index,
        name: stage.name,
        weight: stage.weight,
        audience: stage.audience,
        bakeMs: stage.bake,
        bake: formatDuration(stage.bake),
        minRequests: stage.minRequests,
        approval: stage.approval,
    };
}
export function formatPlan(route, plan) {
    const lines = [`${route}: release plan${plan.schedule ? ` (schedule ${plan.schedule})` : ''}, ${plan.phase}${plan.expectedEndAt ? `, done at the earliest ${shortTime(plan.expectedEndAt)}` : ''}`];
    lines.push(`  ${'#'.padEnd(3)}${'stage'.padEnd(16)}${'weight'.padStart(8)}  ${'audience'.padEnd(28)}${'bake'.padEnd(10)}${'state'.padEnd(9)}times`);
    for (const stage of plan.stages) {
        const audience = stage.audience === null ? '–' : audienceText(stage.audience);
        const gates = [stage.minRequests > 0 ? `≥ ${stage.minRequests} req` : '', stage.approval ? 'approval' : ''].filter(Boolean).join(', ');
        let times = '';
        if (stage.state === 'done')
            times = stage.enteredAt ? `${shortTime(stage.enteredAt)} → ${shortTime(stage.leftAt)}` : '';
        else if (stage.state === 'current')
            times = `entered ${shortTime(stage.enteredAt)}; ${formatDuration(stage.bakeLeftMs ?? 0)} of bake left; ${stage.requestsSeen ?? 0} canary requests`;
        else if (stage.enteredAt)
            times = `expected ${shortTime(stage.enteredAt)} → ${shortTime(stage.leftAt)}`;
        const marker = stage.state === 'current' ? '▶' : ' ';
        lines.push(`${marker} ${String(stage.stage + 1).padEnd(3)}${stage.name.padEnd(16)}${`${stage.weight} %`.padStart(8)}  ${truncate(audience, 27).padEnd(28)}${stage.bake.padEnd(10)}${stage.state.padEnd(9)}${times}${gates ? `  [${gates}]` : ''}`);
    }
    return `${lines.join('\n')}\n`;
}
function audienceText(audience) {
    const parts = [];
    for (const [name, value] of Object.entries(audience.header ?? {}))
        parts.push(`header ${name}=${value}`);
    if (audience.region)
        parts.push(`region ${audience.region.join('|')}`);
    for (const [name, value] of Object.entries(audience.claim ?? {}))
        parts.push(`claim ${name}=${value}`);
    return parts.join(', ');
}
function truncate(text, max) {
    return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}
function shortTime(iso) {
    return `${iso.slice(0, 10)} ${iso.slice(11, 16)}Z`;
}
//# sourceMappingURL=plan-view.js.map