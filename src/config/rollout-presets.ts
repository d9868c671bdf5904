/**
 * The release schedules a plan can start from (`rollout.schedule`): named, documented stage lists chosen by risk.
 * Pure data plus one merge: a plan's own `stages` entries override a preset's stage of the same name field by field,
 * so `schedule: aggressive` with `stages: [{ name: 1-percent, bake: 2h }]` changes one bake and nothing else.
 * README "Release plans" shows these tables; test/release-plan-presets.test.ts holds them as a golden file.
 */

export const SCHEDULES = ['emergency', 'aggressive', 'conservative'] as const;
export type Schedule = (typeof SCHEDULES)[number];

/** A preset stage: a weight and how long it bakes, in the same units a user writes. */
export interface PresetStage {
  readonly name: string;
  readonly weight: number;
  readonly bake: string;
}

export const PRESETS: Readonly<Record<Schedule, readonly PresetStage[]>> = Object.freeze({
  /** A fix that must reach everyone soon: 10 → 50 → 100 % in about 30 minutes. */
  emergency: Object.freeze([
    { name: '10-percent', weight: 10, bake: '10m' },
    { name: '50-percent', weight: 50, bake: '10m' },
    { name: '100-percent', weight: 100, bake: '10m' },
  ]),
  /** A normal release in a working day: 1 → 5 → 10 → 25 → 50 → 100 % in about 8 hours. */
  aggressive: Object.freeze([
    { name: '1-percent', weight: 1, bake: '30m' },
    { name: '5-percent', weight: 5, bake: '1h' },
    { name: '10-percent', weight: 10, bake: '1h' },
    { name: '25-percent', weight: 25, bake: '2h' },
    { name: '50-percent', weight: 50, bake: '2h' },
    { name: '100-percent', weight: 100, bake: '1h30m' },
  ]),
  /** A risky change: 0.1 → 1 → 5 → 10 → 25 → 50 → 100 % in about three weeks. */
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

/**
 * The preset's stages with the plan's own entries laid over them by name. An entry naming no preset stage is
 * reported through `unknown` (its index), so the schema can say which one with its path.
 */
export function expandSchedule<T extends { readonly name?: string }>(
  schedule: Schedule,
  overrides: readonly T[],
  unknown: (index: number, known: readonly string[]) => void,
): Array<PresetStage & Partial<T>> {
  const preset = PRESETS[schedule];
  const byName = new Map<string, T>();
  overrides.forEach((entry, index) => {
    if (entry.name === undefined || !preset.some((stage) => stage.name === entry.name)) unknown(index, preset.map((s) => s.name));
    else byName.set(entry.name, entry);
  });
  return preset.map((stage) => {
    const override = byName.get(stage.name);
    return (override === undefined ? { ...stage } : { ...stage, ...withoutUndefined(override) }) as PresetStage & Partial<T>;
  });
}

function withoutUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
