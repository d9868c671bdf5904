export const SCHEDULES = ['emergency', 'aggressive', 'conservative'];
export const PRESETS = Object.freeze({
    emergency: Object.freeze([
        { name: '10-percent', weight: 10, bake: '10m' },
        { name: '50-percent', weight: 50, bake: '10m' },
        { name: '100-percent', weight: 100, bake: '10m' },
    ]),
    aggressive: Object.freeze([
        { name: '1-percent', weight: 1, bake: '30m' },
        { name: '5-percent', weight: 5, bake: '1h' },
        { name: '10-percent', weight: 10, bake: '1h' },
        { name: '25-percent', weight: 25, bake: '2h' },
        { name: '50-percent', weight: 50, bake: '2h' },
        { name: '100-percent', weight: 100, bake: '1h30m' },
    ]),
    conservative: Object.freeze([
        { name: '0.1-percent', weight: 0.1, bake: '1d' },
        { name: '1-percent', weight: 1, bake: '2d' },
        { name: '5-percent', weight: 5, bake: '3d' },
        { name: '10-percent', weight: 10, bake: '3d' },
        { name: '25-percent', weight: 25, bake: '4d' },
        { name: '50-percent', weight: 50, bake: '4d' },
        { name: '100-percent', weight: 100, bake: '4d' },
    ]),
});
export function expandSchedule(schedule, overrides, unknown) {
    const preset = PRESETS[schedule];
    const byName = new Map();
    overrides.forEach((entry, index) => {
        if (entry.name === undefined || !preset.some((stage) => stage.name === entry.name))
            unknown(index, preset.map((s) => s.name));
        else
            byName.set(entry.name, entry);
    });
    return preset.map((stage) => {
        const override = byName.get(stage.name);
        return (override === undefined ? { ...stage } : { ...stage, ...withoutUndefined(override) });
    });
}
function withoutUndefined(value) {
    return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined));
}
//# sourceMappingURL=rollout-presets.js.map