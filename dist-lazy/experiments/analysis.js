import { mixtureSprt, sampleRatioMismatch, twoProportionZTest } from './statistics.js';
import { ARM_NAMES, ARM_VERSIONS } from './plan.js';
import { describeBreach } from './guardrails.js';
const NOT_JUDGED = { windowSeconds: 0, breached: false, checks: [] };
export const FIXED_HORIZON_NOTE = 'valid only at the planned sample size (read once, at a sample size fixed in advance)';
export function analyseExperiment(experiment, record, treatmentPercent, guardrails = NOT_JUDGED) {
    const breach = describeBreach(guardrails);
    const stoppedPrefix = record.stopped === null ? '' : `stopped ${record.stopped.at}: `;
    const users = [record.totals[0].users, record.totals[1].users];
    const weights = [100 - treatmentPercent, treatmentPercent];
    const srm = sampleRatioMismatch(users, weights);
    const collecting = users[0] < experiment.minUsersPerArm || users[1] < experiment.minUsersPerArm;
    const minimumPValues = new Map();
    const conversions = experiment.conversions.map((conversion) => {
        const counts = record.totals.map((arm) => ({ users: arm.users, totals: arm.conversions.get(conversion.name) ?? { converters: 0, valueSum: 0, valueSquares: 0 } }));
        const control = { users: counts[0].users, converters: counts[0].totals.converters };
        const treatment = { users: counts[1].users, converters: counts[1].totals.converters };
        const sequential = mixtureSprt(control, treatment, { alpha: experiment.alpha });
        const previous = record.minimumPValues.get(conversion.name) ?? 1;
        const minimum = collecting ? previous : Math.min(previous, sequential.pValue);
        minimumPValues.set(conversion.name, minimum);
        const fixed = twoProportionZTest(control, treatment, experiment.alpha);
        const report = {
            name: conversion.name,
            arms: counts.map((c, i) => ({
                arm: ARM_NAMES[i],
                users: c.users,
                converters: c.totals.converters,
                rate: c.users > 0 ? c.totals.converters / c.users : null,
                valueSum: c.totals.valueSum,
                valueMean: c.totals.converters > 0 ? c.totals.valueSum / c.totals.converters : null,
                valueSd: c.totals.converters > 1 ? Math.sqrt(Math.max(0, (c.totals.valueSquares - c.totals.valueSum ** 2 / c.totals.converters) / (c.totals.converters - 1))) : null,
            })),
            alwaysValid: {
                pValue: minimum,
                pValueThisLook: sequential.pValue,
                difference: finite(sequential.difference),
                differenceInterval: finitePair(sequential.interval),
                lift: finite(sequential.lift),
                liftInterval: finitePair(sequential.liftInterval),
            },
            fixedHorizon: { note: FIXED_HORIZON_NOTE, pValue: finite(fixed.pValue), difference: finite(fixed.difference), lift: finite(fixed.lift), differenceInterval: finitePair(fixed.interval) },
            verdict: '',
        };
        const verdict = breach !== null ? `${breach}; no winner is declared` : verdictOf(experiment, users, srm.mismatch, srm.pValue, collecting, report);
        return { ...report, verdict: stoppedPrefix + verdict };
    });
    const primary = conversions[0].alwaysValid;
    const decided = breach === null && !srm.mismatch && !collecting && primary.pValue < experiment.alpha && primary.difference !== null && primary.difference !== 0;
    return {
        report: {
            key: experiment.key,
            route: experiment.route,
            alpha: experiment.alpha,
            minUsersPerArm: experiment.minUsersPerArm,
            arms: [0, 1].map((i) => ({ arm: ARM_NAMES[i], role: i === 0 ? 'control' : 'treatment', version: experiment.flag === null ? ARM_VERSIONS[i] : experiment.flag.variants[i], users: users[i], expectedShare: weights[i] / 100 })),
            sampleRatio: { chiSquared: srm.chiSquared, pValue: srm.pValue, mismatch: srm.mismatch },
            verdict: conversions[0].verdict,
            conversions,
            tracking: { keyedUsers: record.trackedUsers, maxUsers: experiment.maxUsers, evictions: record.evictions },
            armsFrom: experiment.arms,
            flag: experiment.flag?.key ?? null,
            stopped: record.stopped,
            guardrails,
            winner: decided ? (primary.difference > 0 ? 'B' : 'A') : null,
        },
        minimumPValues,
    };
}
function verdictOf(experiment, users, mismatch, srmP, collecting, report) {
    if (mismatch)
        return `SRM detected: users per arm (A ${users[0]}, B ${users[1]}) do not match the configured split (p = ${formatP(srmP)}); no winner is declared`;
    if (collecting)
        return `collecting: A ${users[0]}, B ${users[1]} of ${experiment.minUsersPerArm} users per arm`;
    const valid = report.alwaysValid;
    const confidence = `${formatNumber((1 - experiment.alpha) * 100)} %`;
    const lift = valid.lift === null ? 'n/a (A converts no one)' : `${formatPercent(valid.lift)}`;
    const interval = valid.liftInterval === null ? '' : `, ${confidence} CI ${formatPercent(valid.liftInterval[0])} to ${formatPercent(valid.liftInterval[1])}`;
    const p = `always-valid p = ${formatP(valid.pValue)}`;
    if (valid.pValue < experiment.alpha && valid.difference !== null) {
        const detail = `(${interval.slice(2)}${interval === '' ? '' : ', '}${p})`;
        return valid.difference > 0 ? `B wins: ${lift} ${detail}` : `A wins: B ${lift} ${detail}`;
    }
    return `no difference so far (lift ${lift}${interval}, ${p})`;
}
function finite(value) {
    return Number.isFinite(value) ? value : null;
}
function finitePair(pair) {
    return Number.isFinite(pair[0]) && Number.isFinite(pair[1]) ? pair : null;
}
function formatPercent(ratio) {
    const percent = ratio * 100;
    return `${percent >= 0 ? '+' : '−'}${formatNumber(Math.abs(percent))} %`;
}
function formatNumber(value) {
    return (Math.round(value * 10) / 10).toString();
}
function formatP(p) {
    return p < 0.0001 ? p.toExponential(1) : (Math.round(p * 10_000) / 10_000).toString();
}
//# sourceMappingURL=analysis.js.map