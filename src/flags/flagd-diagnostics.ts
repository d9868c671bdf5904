/**
 * What flagd-core says about a document, as splitgate reports it: its JSON schema's first complaint, its errors as
 * one line, and the logger that keeps it quiet otherwise. Apart from the zod schema (definitions.ts), which a worker
 * never loads: the flag set a worker compiles uses these too.
 */
import { flagdCore } from './flagd-core.js';

/**
 * The first complaint of flagd's JSON schema (flagd-core's strict validation) about a document, or null. A note,
 * not an error: the schema bundled with flagd-core lags flagd's evaluator (it refuses the negative fractional
 * weights flagd's own test flags use, which flagd clamps to 0), and flagd-core itself only logs it.
 */
export function flagdSchemaProblem(definitions: unknown): { path: string; message: string } | null {
  try {
    new (flagdCore().MemoryStorage)(SILENT_LOGGER).setConfigurations(JSON.stringify(definitions), true);
    return null;
  } catch (error) {
    // flagd-core's message is `invalid flagd flag configuration: <ajv errors as JSON>`.
    const text = (error as Error).message;
    const json = text.indexOf('[');
    try {
      const errors = JSON.parse(text.slice(json)) as Array<{ instancePath?: string; message?: string }>;
      const first = errors[0];
      return { path: first.instancePath || '/', message: first.message ?? text };
    } catch {
      return { path: '/', message: describeFlagdError(error) };
    }
  }
}

/** flagd-core wraps its reasons in a ParseError whose cause says what went wrong. */
export function describeFlagdError(error: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = error; e instanceof Error && parts.length < 3; e = e.cause) parts.push(e.message.split('\n')[0]);
  return parts.join(': ') || String(error);
}

/** flagd-core logs through this; splitgate reports problems as ConfigErrors instead. */
export const SILENT_LOGGER = { error: noop, warn: noop, info: noop, debug: noop };

function noop(): void {
  // Intentionally silent: see SILENT_LOGGER.
}
