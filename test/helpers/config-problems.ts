/** A config's validation problems as `path: message` lines, for tests of config errors; throws if it is valid. */
import { expect } from 'vitest';
import { validateConfig } from '../../src/config/load.js';
import { ConfigError } from '../../src/errors.js';

export function configProblems(raw: unknown, env: Readonly<Record<string, string | undefined>> = process.env): string[] {
  try {
    validateConfig(raw, env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).issues.map((issue) => `${issue.path}: ${issue.message}`);
  }
  throw new Error('expected the config to be rejected');
}
