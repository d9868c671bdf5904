/**
 * Regression (issue 14, item 15): a user copies the README's YAML. Every ```yaml block must parse, a complete
 * config (upstreams and routes) must pass `splitgate validate` as it stands, and a fragment that extends a route
 * ("- name: api" with "# ...") must pass once laid over the complete config's route of that name, together with
 * the fragments before it (the README grows one `api` route section by section).
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseDocument, stringify } from 'yaml';
import { describe, expect, it } from 'vitest';
import { configSchema } from '../src/config/schema.js';

const run = promisify(execFile);

// Blocks may be indented (inside a list item): the fence's indentation is taken off every line.
const readme = readFileSync('README.md', 'utf8');
const blocks = [...readme.matchAll(/^( *)```yaml\n([\s\S]*?)^\1```$/gm)].map((match, index) => ({
  index,
  text: match[2]
    .split('\n')
    .map((line) => line.slice(match[1].length))
    .join('\n'),
}));

type Raw = { upstreams?: unknown; routes?: Array<Record<string, unknown>> } & Record<string, unknown>;

function parse(text: string): Raw {
  // `${VAR}` is how the README writes secrets; splitgate reads such references before YAML sees them.
  const document = parseDocument(text.replace(/\$\{[A-Za-z_][A-Za-z0-9_]*(?::-[^}]*)?\}/g, 'env-reference-value'), { uniqueKeys: true });
  expect(document.errors.map((error) => error.message)).toEqual([]);
  return document.toJS() as Raw;
}

const isComplete = (raw: Raw) => raw.upstreams !== undefined && Array.isArray(raw.routes);

async function validate(raw: Raw): Promise<{ code: number; output: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'splitgate-readme-'));
  const file = join(dir, 'config.yaml');
  await writeFile(file, stringify(raw));
  try {
    const { stdout, stderr } = await run(process.execPath, ['dist/bin.js', 'validate', file]);
    return { code: 0, output: stdout + stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, output: failed.stdout + failed.stderr };
  }
}

const TOP_LEVEL_KEYS = new Set(Object.keys(configSchema.shape));

/**
 * A fragment's routes extend the config's routes of the same name; its other top-level keys extend (maps) or replace
 * the config's.
 * A fragment of route fields alone (`overrides: ...`) extends the first route.
 */
function layer(config: Raw, fragment: Raw): Raw {
  if (!Object.keys(fragment).some((key) => TOP_LEVEL_KEYS.has(key))) {
    return { ...config, routes: [{ ...config.routes![0], ...fragment }, ...config.routes!.slice(1)] };
  }
  const merged: Raw = { ...config };
  for (const [key, value] of Object.entries(fragment)) {
    const current = merged[key];
    // Maps such as `upstreams:` gain the fragment's entries; anything else is replaced.
    merged[key] = isMap(current) && isMap(value) ? { ...current, ...value } : value;
  }
  if (!fragment.routes) return merged;
  const routes = config.routes!.map((route) => ({ ...route, ...(fragment.routes!.find((r) => r.name === route.name) ?? {}) }));
  for (const route of fragment.routes) if (!routes.some((r) => r.name === route.name)) routes.push(route);
  return { ...merged, routes };
}

function isMap(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

describe('README YAML', () => {
  it('has YAML blocks, at least one of them a complete config', () => {
    expect(blocks.length).toBeGreaterThanOrEqual(3);
    expect(blocks.filter((block) => isComplete(parse(block.text)))).not.toHaveLength(0);
  });

  it.each(blocks)('block $index parses as YAML', ({ text }) => {
    const raw = parse(text);
    expect(raw).toBeTypeOf('object');
  });

  it.each(blocks)('block $index is a valid config, or a valid part of the complete one', async ({ text }) => {
    const raw = parse(text);
    let config: Raw;
    if (isComplete(raw)) {
      config = raw;
    } else {
      config = blocks.map((block) => parse(block.text)).find(isComplete)!;
      for (const block of blocks.slice(0, blocks.findIndex((b) => b.text === text) + 1)) {
        const fragment = parse(block.text);
        if (!isComplete(fragment)) config = layer(config, fragment);
      }
    }
    const result = await validate(config);
    // Files the README names (`ca: /etc/splitgate/internal-ca.pem`) are the reader's own; everything else must hold.
    const problems = result.output
      .split('\n')
      .filter((line) => /^\s+\S+: /.test(line))
      .filter((line) => !/cannot read (\S+): ENOENT$/.test(line.trim()) || !readme.includes(/cannot read (\S+): ENOENT$/.exec(line.trim())![1]));
    expect(problems).toEqual([]);
    if (!/cannot read/.test(result.output)) expect(result.code).toBe(0);
  });
});
