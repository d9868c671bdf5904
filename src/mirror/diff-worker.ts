/**
 * The diff worker's thread: decodes, parses and diffs mirrored exchanges (src/diff/compare.ts) one message at a
 * time, so none of that runs on the proxy's event loop. Holds no state but the compiled specs it has seen.
 */
import { parentPort } from 'node:worker_threads';
import { compareExchange, compileDiffSpec, type CompiledDiffSpec } from '../diff/compare.js';
import type { CapturedResponse } from '../diff/response-diff.js';
import type { DiffReply, DiffRequest } from './comparisons.js';

/** Specs differ per route and per reload; old ones are dropped wholesale past this many. */
const MAX_SPECS = 256;

const specs = new Map<string, CompiledDiffSpec>();

function compiledSpec(request: DiffRequest): CompiledDiffSpec {
  let spec = specs.get(request.spec.key);
  if (spec === undefined) {
    if (specs.size >= MAX_SPECS) specs.clear();
    spec = compileDiffSpec(request.spec);
    specs.set(request.spec.key, spec);
  }
  return spec;
}

/** A Buffer crosses threads as a plain Uint8Array: view the same memory as a Buffer again, without a copy. */
function revive(response: CapturedResponse | null): CapturedResponse | null {
  if (response === null || response.body === null || Buffer.isBuffer(response.body)) return response;
  const bytes = response.body as Uint8Array;
  return { ...response, body: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength) };
}

function answer(request: DiffRequest): DiffReply {
  try {
    const job = { primary: revive(request.job.primary)!, shadow: revive(request.job.shadow)!, secondary: revive(request.job.secondary) };
    return { id: request.id, result: compareExchange(job, compiledSpec(request)) };
  } catch (error) {
    return { id: request.id, error: error instanceof Error ? error.message : String(error) };
  }
}

parentPort!.on('message', (request: DiffRequest) => {
  parentPort!.postMessage(answer(request));
});
