import { isFlagExperiment, routeHasAnonymousUsers } from './experiment-kinds.js';
import { flagArmsOf } from './flag-arms.js';
export const ARM_NAMES = ['A', 'B'];
export const ARM_VERSIONS = ['stable', 'canary'];
export function compileExperimentPlan(config) {
    const all = config.experiments.map((experiment) => compileExperiment(experiment, config.flags?.definitions));
    const byRoute = new Map();
    for (const experiment of all) {
        const list = byRoute.get(experiment.route) ?? [];
        list.push(experiment);
        byRoute.set(experiment.route, list);
    }
    const versionArms = new Map();
    for (const [route, list] of byRoute)
        versionArms.set(route, [Object.freeze(list.map(() => 0)), Object.freeze(list.map(() => 1))]);
    const flagRoutes = new Set(all.filter((e) => e.arms === 'flag').map((e) => e.route));
    const anonymous = config.routes.some((route) => byRoute.has(route.name) && routeHasAnonymousUsers(route));
    const longestWindow = all.reduce((max, e) => Math.max(max, e.windowMs), 0);
    return Object.freeze({
        byRoute,
        versionArms,
        flagRoutes,
        all: Object.freeze(all),
        conversionHeader: config.experimentSettings.conversionHeader,
        cookieName: config.experimentSettings.cookie.name,
        cookieSecret: anonymous ? (config.experimentSettings.cookie.secret ?? null) : null,
        cookieMaxAgeSeconds: Math.ceil(longestWindow / 1000),
    });
}
function compileExperiment(experiment, flags) {
    const match = experiment.exposure.match;
    const flagArms = isFlagExperiment(experiment) ? flagArmsOf(flags.flags[experiment.flag]) : null;
    return Object.freeze({
        key: experiment.key,
        route: experiment.route,
        exposurePrefix: match.pathPrefix ?? '/',
        exposureMethods: match.methods ? new Set(match.methods) : null,
        conversions: Object.freeze(experiment.conversions.map(compileConversion)),
        windowMs: experiment.conversionWindow,
        minUsersPerArm: experiment.minUsersPerArm,
        alpha: experiment.alpha,
        maxUsers: experiment.maxUsers,
        arms: flagArms === null ? 'route-split' : 'flag',
        flag: flagArms === null || typeof flagArms === 'string' ? null : Object.freeze({ key: experiment.flag, ...flagArms }),
        guardrails: experiment.guardrails,
        config: experiment,
    });
}
function compileConversion(conversion, bit) {
    const match = conversion.match;
    const status = match?.status;
    return Object.freeze({
        name: conversion.name,
        bit,
        reported: conversion.header === true,
        method: match?.method ?? null,
        path: match?.path ?? null,
        pathPrefix: match?.pathPrefix ?? null,
        status: status === undefined ? 0 : typeof status === 'number' ? status : -Number(status[0]),
    });
}
//# sourceMappingURL=plan.js.map