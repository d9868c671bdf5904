/**
 * The admin API's flags endpoints: `GET /flags` (each flag as the file defines it, the override in force, what is
 * evaluated, and its evaluations per variant), `PUT /flags/{key}` (kill, enable or pin; flags/flag-overrides.ts)
 * and `DELETE /flags/{key}` (back to the file). Changes go through the controller like route changes do.
 */
import type { Controller, FlagChangeResult } from '../control/controller.js';
import { InvalidRequestError } from '../control/controller.js';
import { SplitgateError } from '../errors.js';
import type { FlagCountBook } from '../flags/flag-counts.js';
import type { FlagSet } from '../flags/flag-set.js';

const FLAG_PATH = /^\/flags\/([^/]+)$/;

export interface FlagEvaluations {
  /** Evaluations for the flags header (OFREP answers are not counted), summed over the workers. */
  total: number;
  /** By variant; evaluations that gave none (DISABLED, ERROR, no default) are under `none`. */
  variants: Record<string, number>;
  none: number;
  /** variants[v] / total, 4 decimals; empty while total is 0. */
  shares: Record<string, number>;
  reasons: Record<string, number>;
}

/** `GET /flags`: definition order; `flags` is empty without a flags block. */
export function flagsView(controller: Controller, set: FlagSet | null, counts: FlagCountBook): unknown {
  const definitions = controller.config.flags?.definitions;
  const overrides = controller.flagOverrides;
  const evaluations = countsByFlag(counts);
  return {
    flags: Object.entries(definitions?.flags ?? {}).map(([key, file]) => {
      const compiled = set?.flags.get(key);
      return {
        key,
        file: { state: file.state, defaultVariant: file.defaultVariant ?? null, targeting: file.targeting !== undefined && Object.keys(file.targeting).length > 0 },
        override: overrides[key] ?? null,
        effective: {
          state: compiled === undefined ? file.state : compiled.enabled ? 'ENABLED' : 'DISABLED',
          defaultVariant: compiled === undefined ? (file.defaultVariant ?? null) : compiled.defaultVariant,
          pinned: overrides[key]?.defaultVariant ?? null,
        },
        variants: file.variants,
        evaluations: evaluations.get(key) ?? emptyEvaluations(),
      };
    }),
  };
}

/**
 * `PUT|DELETE /flags/{key}`; null when `path` is no flag path (the caller goes on). Bad JSON was refused before
 * (400); an unknown flag is 404 SG_UNKNOWN_FLAG, a variant the flag lacks 400 SG_UNKNOWN_VARIANT.
 */
export async function changeFlag(controller: Controller, method: string, path: string, body: unknown, actor: string): Promise<FlagChangeResult | null> {
  const match = FLAG_PATH.exec(path);
  if (match === null) return null;
  let key: string;
  try {
    key = decodeURIComponent(match[1]);
  } catch {
    throw new InvalidRequestError(`flag key in ${path} is not valid percent-encoding`);
  }
  if (method === 'PUT') return controller.setFlagOverride(key, body, actor);
  if (method === 'DELETE') return controller.clearFlagOverride(key, actor);
  throw new SplitgateError('SG_METHOD_NOT_ALLOWED', `${method} is not allowed on ${path} (PUT or DELETE)`, 405);
}

function emptyEvaluations(): FlagEvaluations {
  return { total: 0, variants: {}, none: 0, shares: {}, reasons: {} };
}

function countsByFlag(counts: FlagCountBook): Map<string, FlagEvaluations> {
  const byFlag = new Map<string, FlagEvaluations>();
  for (const cell of counts.all()) {
    if (cell.value === 0) continue;
    const { flag, variant, reason } = cell.labels;
    let entry = byFlag.get(flag);
    if (entry === undefined) byFlag.set(flag, (entry = emptyEvaluations()));
    entry.total += cell.value;
    if (variant === '') entry.none += cell.value;
    else entry.variants[variant] = (entry.variants[variant] ?? 0) + cell.value;
    entry.reasons[reason] = (entry.reasons[reason] ?? 0) + cell.value;
  }
  for (const entry of byFlag.values()) {
    for (const [variant, count] of Object.entries(entry.variants)) entry.shares[variant] = Number((count / entry.total).toFixed(4));
  }
  return byFlag;
}
