/**
 * One mirrored exchange's comparison as a job: plain data in (the captured responses and the route's diff spec),
 * plain data out (differences with stored, redacted values; noise fields). Pure, so it runs the same on the diff
 * worker and in tests, and everything in a job survives a structured clone.
 */
import type { FieldFilter } from './json-diff.js';
import { compileNameRedaction, type NameRedaction } from './redact.js';
import { compileIgnoreList, diffResponses, type CapturedResponse, type HeaderPolicy, type ResponseDifference } from './response-diff.js';
import { storedDifferences } from './stored-value.js';

/** A route's comparison settings, as data: what a worker needs to compile the same rules the route has. */
export interface DiffSpec {
  /** Identifies equal specs, so a worker compiles each one once. */
  readonly key: string;
  readonly headerPolicy: HeaderPolicy;
  readonly ignore: readonly string[];
  /** The diff byte cap: compressed bodies decoding to more than this are compared by length and hash. */
  readonly maxDecodedBytes: number;
  /** Names (REDACT_ENTRY syntax) whose values are redacted, besides the built-in credential-like ones. */
  readonly redact: readonly string[];
}

export interface CompiledDiffSpec {
  readonly headerPolicy: HeaderPolicy;
  readonly ignored: FieldFilter;
  readonly maxDecodedBytes: number;
  readonly redacted: NameRedaction;
}

export function createDiffSpec(options: Omit<DiffSpec, 'key'>): DiffSpec {
  const { headerPolicy, ignore, maxDecodedBytes, redact } = options;
  const key = JSON.stringify([headerPolicy.include === null ? null : [...headerPolicy.include], [...headerPolicy.exclude], ignore, maxDecodedBytes, redact]);
  return Object.freeze({ key, headerPolicy, ignore: [...ignore], maxDecodedBytes, redact: [...redact] });
}

export function compileDiffSpec(spec: DiffSpec): CompiledDiffSpec {
  return {
    headerPolicy: spec.headerPolicy,
    ignored: compileIgnoreList(spec.ignore),
    maxDecodedBytes: spec.maxDecodedBytes,
    redacted: compileNameRedaction(spec.redact),
  };
}

export interface ComparisonJob {
  readonly primary: CapturedResponse;
  readonly shadow: CapturedResponse;
  /** Stable's second answer (a noise sample), when one was taken. */
  readonly secondary: CapturedResponse | null;
}

export interface ComparisonResult {
  /** Primary vs shadow, values as stored (bounded text, credentials redacted). */
  readonly differences: readonly ResponseDifference[];
  /** Fields that differed between stable and itself, or null without a noise sample. */
  readonly noiseFields: readonly string[] | null;
}

export function compareExchange(job: ComparisonJob, spec: CompiledDiffSpec): ComparisonResult {
  const options = { maxDecodedBytes: spec.maxDecodedBytes };
  const noiseFields =
    job.secondary === null ? null : diffResponses(job.primary, job.secondary, spec.headerPolicy, spec.ignored, options).map((d) => d.field);
  const differences = diffResponses(job.primary, job.shadow, spec.headerPolicy, spec.ignored, options);
  return { differences: storedDifferences(differences, spec.redacted), noiseFields };
}
