/**
 * Config fuzz (issue 17): the shipped example configs, mutated (fields dropped, altered, duplicated, given wrong
 * types, huge or negative numbers, unicode, unknown keys; and the YAML text itself cut, spliced and garbled). Loading
 * one must give a Config or a ConfigError whose every issue names where it is, never any other exception: a bad
 * file must never crash `splitgate validate`, a start or a reload.
 *
 * Seeded: the seed is printed; `FUZZ_SEED=<n>` replays a run, `FUZZ_RUNS=<n>` makes it larger (configs get a tenth
 * of the request fuzz's runs, at least 1 000; see loadtest/README.md).
 */
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { parseDocument } from 'yaml';
import { describe, expect, it } from 'vitest';
import { parseConfigText, validateConfig } from '../src/config/load.js';
import { ConfigError } from '../src/errors.js';

const SEED = process.env.FUZZ_SEED !== undefined ? Number(process.env.FUZZ_SEED) : Date.now() ^ (Math.random() * 0x7fffffff);
const RUNS = Math.max(1_000, Math.floor(Number(process.env.FUZZ_RUNS ?? 10_000) / 10));
const ENV = { SPLITGATE_ADMIN_TOKEN: 'fuzz-token-0123456789', SPLITGATE_STATE_FILE: 'fuzz-state.json' };

const SOURCES = ['config/demo.yaml', 'config/example.yaml', 'loadtest/splitgate-bench.yaml'].map((file) => ({
  file,
  text: readFileSync(file, 'utf8'),
}));
const BASES = SOURCES.map(({ text }) => parseDocument(text).toJS() as Record<string, unknown>);

/** Something that is not what a field expects. */
const wrongValue = fc.oneof(
  fc.constantFrom(null, true, false, 0, -1, 1.5, 1e308, -1e308, Number.MAX_SAFE_INTEGER + 2, 2 ** 31, '', ' ', '0', '-1', '1e999', 'NaN', '5x', '10s', '999999h', [], {}),
  fc.integer(),
  fc.double(),
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.constantFrom('http://', 'http://[::1', 'ftp://a', 'http://a/b?c', '~(?=x)', '~[', '~a{1000}', 'header:', 'cookie:', 'ip', '*.', '/', '0.0.0.0:99999', '127.0.0.1:0', 'canary', 'stable', 'always', '${NOPE}', '${X:-y}', '$${Z}'),
  fc.array(fc.jsonValue({ maxDepth: 2 }), { maxLength: 4 }),
  fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 }),
);

type Mutation =
  | { kind: 'delete'; at: number }
  | { kind: 'set'; at: number; value: unknown }
  | { kind: 'duplicate'; at: number }
  | { kind: 'unknownKey'; at: number; key: string; value: unknown };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('set' as const), at: fc.nat(), value: wrongValue }),
  fc.record({ kind: fc.constant('duplicate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('unknownKey' as const), at: fc.nat(), key: fc.string({ unit: 'grapheme', maxLength: 12 }), value: wrongValue }),
);

interface Slot {
  readonly parent: Record<string, unknown> | unknown[];
  readonly key: string | number;
}

/** Every place in the tree a mutation can hit, in a stable order. */
function slots(value: unknown, out: Slot[] = []): Slot[] {
  if (Array.isArray(value)) {
    value.forEach((item, index) => {
      out.push({ parent: value, key: index });
      slots(item, out);
    });
  } else if (value !== null && typeof value === 'object') {
    for (const [key, item] of Object.entries(value)) {
      out.push({ parent: value as Record<string, unknown>, key });
      slots(item, out);
    }
  }
  return out;
}

function mutate(base: Record<string, unknown>, mutations: readonly Mutation[]): Record<string, unknown> {
  const config = structuredClone(base);
  for (const m of mutations) {
    const all = slots(config);
    if (all.length === 0) break;
    const { parent, key } = all[m.at % all.length];
    const current = (parent as Record<string | number, unknown>)[key];
    if (m.kind === 'delete') {
      if (Array.isArray(parent)) parent.splice(key as number, 1);
      else delete parent[key as string];
    } else if (m.kind === 'set') {
      (parent as Record<string | number, unknown>)[key] = structuredClone(m.value);
    } else if (m.kind === 'duplicate') {
      if (Array.isArray(parent)) parent.splice(key as number, 0, structuredClone(current));
      else (parent as Record<string, unknown>)[`${key as string}`.toUpperCase()] = structuredClone(current);
    } else if (current !== null && typeof current === 'object' && !Array.isArray(current)) {
      (current as Record<string, unknown>)[m.key] = structuredClone(m.value);
    }
  }
  return config;
}

/** Loads, and says what happened; anything but a Config or a well-formed ConfigError fails the property. */
function outcomeOf(load: () => unknown): 'config' | 'error' {
  try {
    load();
    return 'config';
  } catch (error) {
    if (!(error instanceof ConfigError)) throw new Error(`not a ConfigError: ${(error as Error)?.stack ?? String(error)}`);
    expect(error.issues.length).toBeGreaterThan(0);
    for (const issue of error.issues) {
      expect(typeof issue.message).toBe('string');
      expect(issue.message.length).toBeGreaterThan(0);
      // A mutated field is reported where it is; only the YAML text, a root that is no mapping, or an unknown
      // top-level field (reported at its parent, the root, as `unknown field "x"` is everywhere) has no path.
      if (!/^(YAML|unknown field|config must be)/.test(issue.message)) expect(issue.path, issue.message).not.toBe('');
    }
    return 'error';
  }
}

describe("config fuzz (seeded: the seed is printed; FUZZ_SEED replays it)", () => {
  it('gives a Config or a ConfigError with paths for mutated config objects', () => {
    console.log(`fuzz-configs: seed ${SEED}, ${RUNS} object mutations`);
    const counts = { config: 0, error: 0 };
    fc.assert(
      fc.property(fc.nat(BASES.length - 1), fc.array(mutation, { minLength: 1, maxLength: 6 }), (which, mutations) => {
        const mutated = mutate(BASES[which], mutations);
        counts[outcomeOf(() => validateConfig(mutated, ENV, SOURCES[which].file))]++;
      }),
      { seed: SEED, numRuns: RUNS },
    );
    // The mutations must reach both outcomes, or the fuzz tests nothing.
    expect(counts.error).toBeGreaterThan(RUNS / 4);
    expect(counts.config).toBeGreaterThan(0);
  });

  it('gives a Config or a ConfigError for mutated YAML text (cut, spliced, garbled)', () => {
    console.log(`fuzz-configs: seed ${SEED}, ${Math.ceil(RUNS / 2)} text mutations`);
    const edit = fc.record({ at: fc.nat(), length: fc.nat(40), insert: fc.oneof(fc.string({ unit: 'grapheme', maxLength: 20 }), fc.constantFrom('\n', ': ', '- ', '{', '[', '"', '\t', '&a', '*a', '!!binary', '${', '}', '#', '\u0000', '\ufeff')) });
    const counts = { config: 0, error: 0 };
    fc.assert(
      fc.property(fc.nat(SOURCES.length - 1), fc.array(edit, { minLength: 1, maxLength: 4 }), (which, edits) => {
        let text = SOURCES[which].text;
        for (const e of edits) {
          const at = e.at % (text.length + 1);
          text = text.slice(0, at) + e.insert + text.slice(at + e.length);
        }
        counts[outcomeOf(() => parseConfigText(text, ENV, SOURCES[which].file))]++;
      }),
      // Half as many: each costs a YAML parse on top (~5 ms), and the object mutations above already reach every field.
      { seed: SEED, numRuns: Math.ceil(RUNS / 2) },
    );
    expect(counts.error).toBeGreaterThan(0);
    expect(counts.config).toBeGreaterThan(0);
  });
});
