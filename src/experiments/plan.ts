/**
 * Config → ExperimentPlan: the experiments of each route with their matchers worked out once, then frozen. A request
 * finds its route's experiments with one map lookup; a route without experiments pays nothing more.
 */
import type { Config } from '../config/schema.js';
import type { ConversionConfig, ExperimentConfig } from '../config/experiment-schema.js';
import { isFlagExperiment, routeHasAnonymousUsers } from './experiment-kinds.js';
import type { FlagDefinitions } from '../flags/definitions.js';
import { flagArmsOf, type FlagArms } from './flag-arms.js';

/** Arm 0 is the control (the route's stable), arm 1 the treatment (its canary). */
export type ArmIndex = 0 | 1;
export const ARM_NAMES: readonly [string, string] = ['A', 'B'];
export const ARM_VERSIONS: readonly [string, string] = ['stable', 'canary'];

export interface CompiledConversion {
  readonly name: string;
  /** This conversion's bit in a user's conversion mask. */
  readonly bit: number;
  /** Reported by the app in the conversion header, rather than matched at the edge. */
  readonly reported: boolean;
  readonly method: string | null;
  readonly path: string | null;
  readonly pathPrefix: string | null;
  /** An exact status, or a class as its hundreds digit times -1 (-2 = 2xx), or 0 for any. */
  readonly status: number;
}

export interface CompiledExperiment {
  readonly key: string;
  readonly route: string;
  readonly exposurePrefix: string;
  readonly exposureMethods: ReadonlySet<string> | null;
  readonly conversions: readonly CompiledConversion[];
  readonly windowMs: number;
  readonly minUsersPerArm: number;
  readonly alpha: number;
  readonly maxUsers: number;
  /** Where the arms come from: the route's stable/canary split, or a flag's variants. */
  readonly arms: 'route-split' | 'flag';
  /** With flag arms: the flag, its [control, treatment] variants and the treatment's expected share. */
  readonly flag: ({ readonly key: string } & FlagArms) | null;
  readonly guardrails: ExperimentConfig['guardrails'];
  readonly config: ExperimentConfig;
}

export interface ExperimentPlan {
  readonly byRoute: ReadonlyMap<string, readonly CompiledExperiment[]>;
  /** Per route, the arm of each of its experiments when every arm is the version: [all stable, all canary]. */
  readonly versionArms: ReadonlyMap<string, readonly [readonly ArmIndex[], readonly ArmIndex[]]>;
  /** Routes with an experiment on flag arms: their arms are worked out per request. */
  readonly flagRoutes: ReadonlySet<string>;
  readonly all: readonly CompiledExperiment[];
  readonly conversionHeader: string;
  readonly cookieName: string;
  /** HMAC key of the signed cookie; null when no experiment's route has anonymous users. */
  readonly cookieSecret: string | null;
  readonly cookieMaxAgeSeconds: number;
}

export function compileExperimentPlan(config: Config): ExperimentPlan {
  const all = config.experiments.map((experiment) => compileExperiment(experiment, config.flags?.definitions));
  const byRoute = new Map<string, CompiledExperiment[]>();
  for (const experiment of all) {
    const list = byRoute.get(experiment.route) ?? [];
    list.push(experiment);
    byRoute.set(experiment.route, list);
  }
  const versionArms = new Map<string, readonly [readonly ArmIndex[], readonly ArmIndex[]]>();
  for (const [route, list] of byRoute) versionArms.set(route, [Object.freeze(list.map(() => 0 as const)), Object.freeze(list.map(() => 1 as const))]);
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

function compileExperiment(experiment: ExperimentConfig, flags: FlagDefinitions | undefined): CompiledExperiment {
  const match = experiment.exposure.match;
  // Validated at load (experiment-schema.ts): the flag exists and splits two ways.
  const flagArms = isFlagExperiment(experiment) ? flagArmsOf(flags!.flags[experiment.flag!]) : null;
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
    arms: flagArms === null ? ('route-split' as const) : ('flag' as const),
    flag: flagArms === null || typeof flagArms === 'string' ? null : Object.freeze({ key: experiment.flag!, ...flagArms }),
    guardrails: experiment.guardrails,
    config: experiment,
  });
}

function compileConversion(conversion: ConversionConfig, bit: number): CompiledConversion {
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
