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

type MurmurHash3 = (key: string) => { result(): number };
let murmur: MurmurHash3 | null = null;

/**
 * MurmurHash3 x86_32 (seed 0) of a string, exactly as flagd-core's `fractional` computes it: the same module it
 * requires (imurmurhash, resolved from flagd-core's own location), so code points beyond ASCII hash alike too.
 * Called without `new`, it reuses one hasher object instead of allocating one per call.
 */
export function murmurHash3(key: string): number {
  murmur ??= createRequire(require.resolve('@openfeature/flagd-core'))('imurmurhash') as MurmurHash3;
  return murmur(key).result();
}
