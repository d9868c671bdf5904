/**
 * Migration bucketing: a flag whose metadata says `bucketing: crc32-mod100 | md5-mod100` reproduces the in-app
 * formulas `crc32(userId) % 100 < pct` and `int(md5(userId), 16) % 100 < pct` exactly, so no user flips variant
 * when the flag moves from the app to the edge.
 *
 * Vectors computed by hand with Python's standard library (zlib.crc32, hashlib.md5 on UTF-8 bytes):
 *   key          crc32        %100   md5 (hex)                          int % 100
 *   123456789    3421780262   62     25f9e794323b453885f5181f1b624d0b   35
 *   user-1       2116437524   24     d6d7705392bc7af633328bea8c4c6904   20
 *   alice         663665735   35     6384e2b2184bcbf58eccf10ca7a6563c    0
 *   42            841265288   88     a1d0c6e83f027327d8461063f4ac58a6   74
 *   ""                    0    0     d41d8cd98f00b204e9800998ecf8427e   66
 *   héllo        2654700086   86     be50e8478cf24ff3595bc7307fb91b50    8
 *   bob          4123767104    4     9f9d51bc70ef21ca5c14f307980a29d8   32
 */
import { describe, expect, it } from 'vitest';
import { validateConfig } from '../src/config/load.js';
import { crc32, migrationBucket } from '../src/flags/bucketing.js';
import { compileFlagSet, evaluateFlag } from '../src/flags/flag-set.js';
import { ConfigError } from '../src/errors.js';

const VECTORS: Array<[string, number, number, number]> = [
  ['123456789', 3421780262, 62, 35],
  ['user-1', 2116437524, 24, 20],
  ['alice', 663665735, 35, 0],
  ['42', 841265288, 88, 74],
  ['', 0, 0, 66],
  ['héllo', 2654700086, 86, 8],
  ['bob', 4123767104, 4, 32],
];

describe('the formulas', () => {
  it.each(VECTORS)('%j: crc32 %d (mod 100: %d), md5 mod 100: %d', (key, crc, crcBucket, md5Bucket) => {
    expect(crc32(Buffer.from(key, 'utf8'))).toBe(crc);
    expect(migrationBucket('crc32-mod100', key)).toBe(crcBucket);
    expect(migrationBucket('md5-mod100', key)).toBe(md5Bucket);
  });
});

function flagsWith(bucketing: unknown, fractional: unknown, extra: Record<string, unknown> = {}) {
  return {
    upstreams: { stable: 'http://127.0.0.1:3001' },
    routes: [{ name: 'api', stable: 'stable' }],
    flags: {
      definitions: {
        flags: {
          legacy: { state: 'ENABLED', variants: { on: true, off: false }, defaultVariant: 'off', targeting: { fractional }, metadata: { bucketing, ...extra } },
        },
      },
    },
  };
}

function variants(method: string, pct: number): Record<string, string | null> {
  const config = validateConfig(flagsWith(method, [['on', pct], ['off', 100 - pct]]), {});
  const flag = compileFlagSet(config.flags!.definitions!).flags.get('legacy')!;
  return Object.fromEntries(VECTORS.filter(([key]) => key !== '').map(([key]) => [key, evaluateFlag(flag, { targetingKey: key }).variant]));
}

describe('a flag with migration bucketing', () => {
  it('crc32-mod100: on iff crc32(key) % 100 < pct', () => {
    expect(variants('crc32-mod100', 25)).toEqual({ '123456789': 'off', 'user-1': 'on', alice: 'off', '42': 'off', héllo: 'off', bob: 'on' });
    expect(variants('crc32-mod100', 36)).toEqual({ '123456789': 'off', 'user-1': 'on', alice: 'on', '42': 'off', héllo: 'off', bob: 'on' });
  });

  it('md5-mod100: on iff int(md5(key), 16) % 100 < pct', () => {
    expect(variants('md5-mod100', 25)).toEqual({ '123456789': 'off', 'user-1': 'on', alice: 'on', '42': 'off', héllo: 'on', bob: 'off' });
    expect(variants('md5-mod100', 33)).toEqual({ '123456789': 'off', 'user-1': 'on', alice: 'on', '42': 'off', héllo: 'on', bob: 'on' });
  });

  it('reports SPLIT, and the default variant (DEFAULT) without a targeting key', () => {
    const config = validateConfig(flagsWith('crc32-mod100', [['on', 25], ['off', 75]]), {});
    const flag = compileFlagSet(config.flags!.definitions!).flags.get('legacy')!;
    expect(evaluateFlag(flag, { targetingKey: 'user-1' })).toMatchObject({ variant: 'on', value: true, reason: 'SPLIT', member: 'legacy=?1' });
    expect(evaluateFlag(flag, {})).toMatchObject({ variant: 'off', reason: 'DEFAULT' });
  });

  it('is refused, with its path, when the method or the targeting does not fit', () => {
    const problems = (raw: unknown): string[] => {
      try {
        validateConfig(raw, {});
      } catch (error) {
        return (error as ConfigError).issues.map((issue) => `${issue.path}: ${issue.message}`);
      }
      return [];
    };
    const at = 'flags.definitions.flags.legacy.metadata.bucketing';
    expect(problems(flagsWith('sha1-mod100', [['on', 25], ['off', 75]]))).toEqual([`${at}: must be one of crc32-mod100, md5-mod100 (got "sha1-mod100")`]);
    expect(problems(flagsWith('crc32-mod100', [['on', 25], ['off', 70]]))).toEqual([`${at}: fractional percents must add up to 100 (got 95)`]);
    expect(problems(flagsWith('crc32-mod100', [{ var: 'email' }, ['on', 25], ['off', 75]]))).toEqual([
      `${at}: fractional entries must be ["variant", whole percent] (no bucket-by expression: the targeting key is the key)`,
    ]);
    expect(problems(flagsWith('md5-mod100', [['maybe', 25], ['off', 75]]))).toEqual([`${at}: fractional names variant "maybe", which the flag does not have`]);
  });
});
