/**
 * The config fingerprint, on its own so that a worker (which only compares fingerprints) does not load the
 * controller and, through it, the config loader (YAML parser, schema).
 */
import { createHash } from 'node:crypto';
import type { Config } from '../config/schema.js';

/** A short, stable fingerprint of the effective config, so operators can see that every replica runs the same. */
export function hashConfig(config: Config): string {
  return createHash('sha256').update(stableStringify(config)).digest('hex').slice(0, 16);
}

export function stableStringify(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableStringify).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.keys(value)
      .sort()
      .map((key) => `${JSON.stringify(key)}:${stableStringify((value as Record<string, unknown>)[key])}`);
    return `{${entries.join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}
