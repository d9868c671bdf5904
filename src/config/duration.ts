/**
 * Durations in config: a number is milliseconds; a string is a sum of `<n><unit>` parts (`1m30s`, `250ms`).
 * Returns undefined for anything else so the schema can report it with its path.
 */
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const DURATION = /^(?:(\d+(?:\.\d+)?)(ms|s|m|h|d))+$/;
const PART = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/g;

/** The longest delay a Node timer honours; longer ones fire after 1 ms. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

export function parseDuration(value: number | string): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? Math.round(value) : undefined;
  const text = value.trim();
  if (!DURATION.test(text)) return undefined;
  let total = 0;
  for (const part of text.matchAll(PART)) total += Number(part[1]) * UNIT_MS[part[2]];
  // Whole milliseconds: undici refuses fractional timeouts (every request would fail), and so do timers.
  return Math.round(total);
}
