/**
 * flagd's `fractional` operator (flagd-core 4.0.1 `fractional`, branch for branch) for the targeting engine
 * (flagd-core.ts `compileTargeting`), where a `fractional` sits inside a rule (`{"if": [..., {"fractional": ...}]}`)
 * and flag-set.ts cannot bucket it ahead. flagd-core's copies its arguments, builds a bucket list and computes the
 * bucket in BigInt on every evaluation (~0.4 µs under the bench's profile); this one walks the arguments in place
 * and splits the product at 16 bits, exact in doubles, as flag-set.ts `resolveFractional` does.
 */
import { FLAGD_LOGGER, murmurHash3 } from './flagd-core.js';

/** flagd's limit on the sum of the weights (2^31 - 1); above it, the rule resolves to nothing. */
const MAX_TOTAL_WEIGHT = 2147483647;

type Variant = string | number | boolean | null;

/**
 * `{"fractional": [bucketBy?, [variant, weight?], ...]}`: the variant whose cumulative weight first exceeds
 * (MurmurHash3(bucketBy) × total) >> 32, bucketBy being flag key + targetingKey unless given; null for a malformed
 * rule, no targeting key, or no bucket. Throws, like flagd's, where its context has no flagd logger.
 */
export function fractional(data: unknown, context: unknown): Variant {
  const scope = context as Record<string | symbol, unknown>;
  if (!scope[FLAGD_LOGGER]) throw new Error('Logger not found in context');
  if (!Array.isArray(data)) return null;
  const args = data as unknown[];
  if (args.length < 1) return null;
  const flagdProperties = scope.$flagd as { flagKey?: unknown } | undefined;
  if (!flagdProperties) return null;
  let bucketBy: string;
  let first: number;
  if (typeof args[0] === 'string') {
    bucketBy = args[0];
    first = 1;
  } else {
    const targetingKey = scope.targetingKey;
    if (!targetingKey) return null;
    bucketBy = `${flagdProperties.flagKey as string}${targetingKey as string}`;
    first = 0;
  }
  let totalWeight = 0;
  for (let i = first; i < args.length; i++) {
    const weight = bucketWeight(args[i]);
    if (weight < 0) return null;
    totalWeight += weight;
  }
  if (totalWeight > MAX_TOTAL_WEIGHT) return null;
  const hash = murmurHash3(bucketBy) >>> 0;
  const bucket = Math.floor(((hash >>> 16) * totalWeight + Math.floor(((hash & 0xffff) * totalWeight) / 65536)) / 65536);
  let sum = 0;
  for (let i = first; i < args.length; i++) {
    const entry = args[i] as unknown[];
    sum += bucketWeight(entry);
    if (sum > bucket) return entry[0] === undefined ? null : (entry[0] as Variant);
  }
  return null;
}

/** An entry's weight as flagd reads it (1 if none, negative counted as 0), or -1 where flagd rejects the entry. */
function bucketWeight(entry: unknown): number {
  if (!Array.isArray(entry) || entry.length === 0 || entry.length > 2) return -1;
  const variant: unknown = entry[0];
  if (variant !== null && variant !== undefined && typeof variant !== 'string' && typeof variant !== 'number' && typeof variant !== 'boolean') return -1;
  if (entry.length < 2) return 1;
  const raw: unknown = entry[1];
  if (typeof raw !== 'number' || !Number.isInteger(raw)) return -1;
  return Math.max(0, raw);
}
