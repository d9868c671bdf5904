/**
 * What the admin API and the metrics read: the experiments of the config in force, analysed against the route
 * weights in force. Each read is a look: it updates the running minimum of the always-valid p-values.
 */
import { Counter, type Registry } from 'prom-client';
import type { TableStore } from '../state/table-store.js';
import { analyseExperiment, type ExperimentReport } from './analysis.js';
import type { ExperimentBook } from './experiment-book.js';
import { ARM_NAMES } from './plan.js';

export interface ExperimentsView {
  list(): ExperimentReport[];
  /** undefined: no experiment with that key in the config in force. */
  get(key: string): ExperimentReport | undefined;
}

export function createExperimentsView(book: ExperimentBook, store: TableStore): ExperimentsView {
  const report = (key: string): ExperimentReport | undefined => {
    const active = store.current;
    const experiment = book.planOf(active.config).all.find((e) => e.key === key);
    const record = book.record(key);
    if (experiment === undefined || record === undefined) return undefined;
    const route = active.table.routes.find((r) => r.name === experiment.route);
    const analysed = analyseExperiment(experiment, record, route?.weight ?? 0);
    for (const [name, p] of analysed.minimumPValues) record.minimumPValues.set(name, p);
    return analysed.report;
  };
  return {
    list: () => book.planOf(store.current.config).all.flatMap((e) => report(e.key) ?? []),
    get: report,
  };
}

/** `splitgate_experiment_users_total{experiment,arm}` and `splitgate_experiment_conversions_total{experiment,arm,conversion}`. */
export function registerExperimentMetrics(registry: Registry, book: ExperimentBook): void {
  const registers = [registry];
  new Counter({
    name: 'splitgate_experiment_users_total',
    help: 'Users exposed to an A/B experiment, each counted once, by experiment and arm (A = control/stable, B = treatment/canary).',
    labelNames: ['experiment', 'arm'],
    registers,
    collect() {
      this.reset();
      for (const experiment of book.plan?.all ?? []) {
        const record = book.record(experiment.key);
        if (record === undefined) continue;
        for (const i of [0, 1] as const) this.inc({ experiment: experiment.key, arm: ARM_NAMES[i] }, record.arms[i].users);
      }
    },
  });
  new Counter({
    name: 'splitgate_experiment_conversions_total',
    help: 'Exposed users who converted (each at most once per conversion), by experiment, arm and conversion.',
    labelNames: ['experiment', 'arm', 'conversion'],
    registers,
    collect() {
      this.reset();
      for (const experiment of book.plan?.all ?? []) {
        const record = book.record(experiment.key);
        if (record === undefined) continue;
        for (const i of [0, 1] as const) {
          for (const conversion of experiment.conversions) {
            this.inc({ experiment: experiment.key, arm: ARM_NAMES[i], conversion: conversion.name }, record.arms[i].conversions.get(conversion.name)?.converters ?? 0);
          }
        }
      }
    },
  });
}
