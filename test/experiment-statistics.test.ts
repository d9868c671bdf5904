/**
 * The experiment statistics (issue 20) against hand-computed cases (values worked out with Python's math module:
 * erfc, exp, log, sqrt), then seeded, bounded simulations that show the error rates the README promises.
 */
import { describe, expect, it } from 'vitest';
import {
  chiSquaredSurvival,
  logGamma,
  mixtureSprt,
  normalQuantile,
  normalSurvival,
  sampleRatioMismatch,
  twoProportionZTest,
  type ArmCounts,
} from '../src/experiments/statistics.js';
import { seededRandom } from './helpers/seeded-random.js';

function converters(random: () => number, users: number, rate: number): number {
  let count = 0;
  for (let i = 0; i < users; i++) if (random() < rate) count++;
  return count;
}

describe('distributions', () => {
  it('chi-squared tail: 1, 2 and 3 degrees of freedom, and the usual critical values', () => {
    expect(chiSquaredSurvival(1.6, 1)).toBeCloseTo(0.20590321073206833, 10);
    expect(chiSquaredSurvival(4, 2)).toBeCloseTo(Math.exp(-2), 12);
    expect(chiSquaredSurvival(7.815, 3)).toBeCloseTo(0.04999390297488389, 9);
    expect(chiSquaredSurvival(3.841458820694124, 1)).toBeCloseTo(0.05, 9);
    expect(chiSquaredSurvival(10.827566170662733, 1)).toBeCloseTo(0.001, 9);
    expect(chiSquaredSurvival(0, 1)).toBe(1);
  });

  it('normal tail and quantile, into the far tail', () => {
    expect(normalSurvival(1.959963984540054)).toBeCloseTo(0.025, 12);
    expect(normalSurvival(-1)).toBeCloseTo(0.8413447460685429, 12);
    expect(normalSurvival(8) / 6.22096057427178e-16).toBeCloseTo(1, 8);
    expect(normalQuantile(0.975)).toBeCloseTo(1.959963984540054, 10);
    expect(normalQuantile(0.001)).toBeCloseTo(-3.090232306167813, 9);
    expect(logGamma(0.5)).toBeCloseTo(Math.log(Math.sqrt(Math.PI)), 12);
    expect(logGamma(10)).toBeCloseTo(Math.log(362_880), 10);
  });
});

describe('sample-ratio mismatch', () => {
  it('520 against 480 on a 50/50 split: chi-squared 1.6, p 0.206, no mismatch', () => {
    const check = sampleRatioMismatch([520, 480], [50, 50]);
    expect(check.chiSquared).toBeCloseTo(1.6, 12);
    expect(check.degreesOfFreedom).toBe(1);
    expect(check.pValue).toBeCloseTo(0.20590321073206833, 10);
    expect(check.mismatch).toBe(false);
  });

  it('5 200 against 4 800 is a mismatch (chi-squared 16, p 6.3e-5); the same ratio on a 52/48 split is not', () => {
    const skewed = sampleRatioMismatch([5_200, 4_800], [50, 50]);
    expect(skewed.chiSquared).toBeCloseTo(16, 10);
    expect(skewed.pValue).toBeCloseTo(6.334248366623996e-5, 12);
    expect(skewed.mismatch).toBe(true);
    expect(sampleRatioMismatch([5_200, 4_800], [52, 48]).chiSquared).toBeCloseTo(0, 10);
  });

  it('users in an arm configured at 0 % are a mismatch; no users at all is none', () => {
    expect(sampleRatioMismatch([10, 1], [100, 0]).mismatch).toBe(true);
    expect(sampleRatioMismatch([0, 0], [50, 50])).toMatchObject({ pValue: 1, mismatch: false });
  });

  it('flags about 0.1 % of fair 90/10 assignments (seeded: 4 000 experiments of 2 000 users)', () => {
    const random = seededRandom(20);
    let alarms = 0;
    for (let e = 0; e < 4_000; e++) {
      const treatment = converters(random, 2_000, 0.1);
      if (sampleRatioMismatch([2_000 - treatment, treatment], [90, 10]).mismatch) alarms++;
    }
    // Binomial(4000, 0.001): mean 4, and 12 or more has probability < 0.1 %.
    expect(alarms).toBeLessThan(12);
  });
});

describe('fixed-horizon two-proportion z-test', () => {
  it('200/2 000 against 250/2 000: z 2.502, p 0.0124, lift +25 %, interval [0.0054, 0.0446]', () => {
    const test = twoProportionZTest({ users: 2_000, converters: 200 }, { users: 2_000, converters: 250 });
    expect(test.z).toBeCloseTo(2.501955416802671, 9);
    expect(test.pValue).toBeCloseTo(0.012350947711191435, 9);
    expect(test.lift).toBeCloseTo(0.25, 12);
    expect(test.interval[0]).toBeCloseTo(0.00543100855465602, 9);
    expect(test.interval[1]).toBeCloseTo(0.04456899144534397, 9);
  });

  it('no users in an arm: nothing to say', () => {
    expect(twoProportionZTest({ users: 0, converters: 0 }, { users: 5, converters: 1 }).pValue).toBeNaN();
  });
});

describe('mixture SPRT (always valid)', () => {
  it('the same 200/2 000 against 250/2 000 (τ 0.01): Λ 3.396, p 0.294, interval [−0.0115, 0.0615]', () => {
    const test = mixtureSprt({ users: 2_000, converters: 200 }, { users: 2_000, converters: 250 });
    expect(test.likelihoodRatio).toBeCloseTo(3.3956470621517525, 9);
    expect(test.pValue).toBeCloseTo(0.2944946814838643, 9);
    expect(test.interval[0]).toBeCloseTo(-0.011482513858432332, 9);
    expect(test.interval[1]).toBeCloseTo(0.06148251385843232, 9);
  });

  it('2 000/20 000 against 2 300/20 000: p 7.6e-5, interval [0.0056, 0.0244], lift +15 % within [5.6 %, 24.4 %]', () => {
    const test = mixtureSprt({ users: 20_000, converters: 2_000 }, { users: 20_000, converters: 2_300 });
    expect(test.pValue).toBeCloseTo(7.57659403542404e-5, 11);
    expect(test.interval[0]).toBeCloseTo(0.005589424858727847, 9);
    expect(test.interval[1]).toBeCloseTo(0.02441057514127215, 9);
    expect(test.lift).toBeCloseTo(0.15, 12);
    expect(test.liftInterval[0]).toBeCloseTo(0.05589424858727847, 8);
  });

  it('no variance yet (no one converted in either arm): p 1, an unbounded interval', () => {
    expect(mixtureSprt({ users: 100, converters: 0 }, { users: 100, converters: 0 })).toMatchObject({ pValue: 1, interval: [-Infinity, Infinity] });
  });
});

/**
 * Each experiment: both arms at `rates`, a look after every `usersPerLook` users (half to each arm) up to
 * `maxUsers`; returns the users at which each test first declared a difference (null: never).
 */
function simulate(random: () => number, rates: readonly [number, number], usersPerLook: number, maxUsers: number): { sequential: number | null; peekedZ: number | null } {
  const half = usersPerLook / 2;
  let control: ArmCounts = { users: 0, converters: 0 };
  let treatment: ArmCounts = { users: 0, converters: 0 };
  let runningP = 1;
  let sequential: number | null = null;
  let peekedZ: number | null = null;
  for (let users = usersPerLook; users <= maxUsers; users += usersPerLook) {
    control = { users: control.users + half, converters: control.converters + converters(random, half, rates[0]) };
    treatment = { users: treatment.users + half, converters: treatment.converters + converters(random, half, rates[1]) };
    runningP = Math.min(runningP, mixtureSprt(control, treatment).pValue);
    if (sequential === null && runningP <= 0.05) sequential = users;
    if (peekedZ === null && twoProportionZTest(control, treatment).pValue < 0.05) peekedZ = users;
    if (sequential !== null && peekedZ !== null) break;
  }
  return { sequential, peekedZ };
}

describe('simulations (seeded, bounded)', () => {
  it('A/A, peeked after every 100 users up to 10 000: the mSPRT declares a difference in ≤ alpha of 1 000 experiments, the peeked z-test in far more', () => {
    const random = seededRandom(7);
    let sequential = 0;
    let peekedZ = 0;
    for (let e = 0; e < 1_000; e++) {
      const outcome = simulate(random, [0.1, 0.1], 100, 10_000);
      if (outcome.sequential !== null) sequential++;
      if (outcome.peekedZ !== null) peekedZ++;
    }
    console.log(`A/A: mSPRT declared a difference in ${sequential / 10} %, the z-test peeked 100 times in ${peekedZ / 10} %`);
    expect(sequential / 1_000).toBeLessThanOrEqual(0.05);
    // Peeking 100 times at a 5 % test: about a quarter or more of identical pairs "differ".
    expect(peekedZ / 1_000).toBeGreaterThan(0.15);
  });

  it('a real 10 % relative lift (10 % → 11 %) is found by 60 000 users (30 000 per arm) in ≥ 80 % of 300 experiments, as the README says', () => {
    const random = seededRandom(11);
    let found = 0;
    let foundAtPlannedZ = 0;
    for (let e = 0; e < 300; e++) {
      const outcome = simulate(random, [0.1, 0.11], 2_000, 60_000);
      if (outcome.sequential !== null) found++;
    }
    // The fixed-horizon z-test read once at its planned size (14 731 per arm for 80 % power) for comparison.
    for (let e = 0; e < 300; e++) {
      const control = { users: 14_731, converters: converters(random, 14_731, 0.1) };
      const treatment = { users: 14_731, converters: converters(random, 14_731, 0.11) };
      if (twoProportionZTest(control, treatment).pValue < 0.05) foundAtPlannedZ++;
    }
    console.log(`10 % lift: mSPRT found it by 60 000 users in ${((found / 300) * 100).toFixed(1)} %; the z-test read once at 2 × 14 731 users in ${((foundAtPlannedZ / 300) * 100).toFixed(1)} %`);
    expect(found / 300).toBeGreaterThanOrEqual(0.8);
    expect(foundAtPlannedZ / 300).toBeGreaterThan(0.7);
    expect(foundAtPlannedZ / 300).toBeLessThan(0.9);
  });
});
