/**
 * `@openfeature/flagd-core`, loaded on first use. Loading it (its JsonLogic engine, semver, the bundled schema
 * validators) costs ~90 ms through its CommonJS build (~400 ms through its ESM wrapper, measured here on Node 20),
 * which a splitgate without `flags:` (its workers, its supervisor, the CLI) should not pay at start.
 */
import { createRequire } from 'node:module';
import type * as FlagdCoreModule from '@openfeature/flagd-core';

const require = createRequire(import.meta.url);
let loaded: typeof FlagdCoreModule | null = null;

export function flagdCore(): typeof FlagdCoreModule {
  return (loaded ??= require('@openfeature/flagd-core') as typeof FlagdCoreModule);
}
