import { describe, expect, it } from 'vitest';
import { BROWSER_FIGURES, differenceText, experimentVerdictText } from '../src/admin/dashboard/figures.js';

const report = (overrides: Record<string, unknown> = {}) => ({
  alpha: 0.05,
  minUsersPerArm: 100,
  arms: [
    { arm: 'A', users: 1200 },
    { arm: 'B', users: 1180 },
  ],
  sampleRatio: { mismatch: false, pValue: 0.68 },
  conversions: [{ alwaysValid: { pValue: 0.012, difference: 0.004, lift: 0.041, liftInterval: [0.006, 0.079] as [number, number] } }],
  ...overrides,
});

describe('differenceText', () => {
  it.each([
    ['ratio', 40, 44.8, '+12 % vs stable'],
    ['ratio', 40, 38, '−5 % vs stable'],
    ['ratio', 100, 100.04, '±0 % vs stable'],
    ['ratio', 0, 0, '±0 % vs stable'],
    ['ratio', 0, 3, 'n/a (stable 0)'],
    ['points', 0.5, 4.7, '+4.2 pp vs stable'],
    ['points', 2, 1, '−1 pp vs stable'],
    ['points', 0, 50, '+50 pp vs stable'],
    ['ratio', null, 3, ''],
    ['points', 1, undefined, ''],
  ] as const)('%s of stable %s and canary %s: %s', (kind, stable, canary, text) => {
    expect(differenceText(kind, stable, canary)).toBe(text);
  });
});

describe('experimentVerdictText', () => {
  it("shows the server's verdict when it gives one, a sentence or an object with text", () => {
    expect(experimentVerdictText(report({ verdict: 'B wins: +4.1 % (as the server says)' }))).toBe('B wins: +4.1 % (as the server says)');
    expect(experimentVerdictText(report({ verdict: { text: 'stopped: guardrail latency' } }))).toBe('stopped: guardrail latency');
  });

  it('derives it otherwise: a winner with the lift and its interval', () => {
    expect(experimentVerdictText(report())).toBe('B wins: +4.1 % (95 % CI +0.6 % to +7.9 %, p = 0.012)');
    const worse = report({ conversions: [{ alwaysValid: { pValue: 0.001, difference: -0.01, lift: -0.2, liftInterval: [-0.3, -0.1] } }] });
    expect(experimentVerdictText(worse)).toBe('A wins: B −20 % (95 % CI −30 % to −10 %, p = 0.001)');
  });

  it('SRM first, then collecting, then no difference', () => {
    expect(experimentVerdictText(report({ sampleRatio: { mismatch: true, pValue: 1e-6 } }))).toBe('SRM detected: users per arm (A 1200, B 1180) do not match the configured split; no winner is declared');
    expect(experimentVerdictText(report({ arms: [{ arm: 'A', users: 120 }, { arm: 'B', users: 40 }] }))).toBe('collecting: A 120, B 40 of 100 users per arm');
    const flat = report({ conversions: [{ alwaysValid: { pValue: 0.4, difference: 0.001, lift: 0.01, liftInterval: [-0.05, 0.07] } }] });
    expect(experimentVerdictText(flat)).toBe('no difference (lift +1 %, 95 % CI −5 % to +7 %, p = 0.4)');
  });

  it('runs the same in the page: the browser source gives the same answers', () => {
    const page = new Function(`${BROWSER_FIGURES}; return { differenceText, experimentVerdictText };`)() as { differenceText: typeof differenceText; experimentVerdictText: typeof experimentVerdictText };
    expect(page.differenceText('ratio', 40, 44.8)).toBe('+12 % vs stable');
    expect(page.experimentVerdictText(report())).toBe(experimentVerdictText(report()));
  });
});
