/**
 * The `splitgate` binary as operators call it: `validate FILE` exits 0 on a good config and 1 with every problem
 * listed by path on a bad one; starting on a bad config fails the same way, before listening; usage errors exit 2.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTempDir, runCli, type TempDir } from '../helpers/process.js';

let dir: TempDir;

beforeAll(() => {
  dir = createTempDir();
});

afterAll(() => {
  dir?.remove();
});

const GOOD = `
listen: 127.0.0.1:0
admin: { listen: 127.0.0.1:0 }
upstreams:
  stable: http://127.0.0.1:3001
  canary: http://127.0.0.1:3002
routes:
  - name: api
    match: { pathPrefix: /api }
    stable: stable
    canary: canary
    weight: 12.5
    sticky: { key: [header:x-user-id], cookie: { name: sg_uid, maxAge: 86400 } }
    rules:
      - match: { headers: { x-beta-tester: "true" } }
        version: canary
  - name: web
    stable: stable
`;

/** Three problems in three places: a field rule, a wrong URL scheme and a reference to an unknown upstream. */
const BAD = `
listen: 127.0.0.1:0
admin: { listen: 127.0.0.1:0 }
upstreams:
  stable: http://127.0.0.1:3001
  canary: ftp://127.0.0.1:3002
routes:
  - name: api
    stable: stable
    canary: nope
  - name: web
    stable: stable
    canary: canary
    weight: 150
`;

const EXPECTED_ISSUES = [
  'upstreams.canary.url: must use http:// or https:// (got ftp:)',
  'routes[1].weight: must be between 0 and 100',
  'routes[0].canary: unknown upstream "nope"',
];

/** The lines of a ConfigError message that name a problem (indented under the heading). */
function issueLines(output: string): string[] {
  return output
    .split('\n')
    .filter((line) => line.startsWith('  '))
    .map((line) => line.trim());
}

describe('splitgate validate FILE', () => {
  it('exits 0 and says ok for a good config', async () => {
    const file = dir.writeConfig('good.yaml', GOOD);
    const result = await runCli(['validate', file]);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(`${file}: ok`);
    expect(result.stderr).toBe('');
  });

  it('exits 1 and lists every problem with its path for a bad config', async () => {
    const file = dir.writeConfig('bad.yaml', BAD);
    const result = await runCli(['validate', file]);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain(`invalid config in ${file}:`);
    const lines = issueLines(result.stderr);
    for (const expected of EXPECTED_ISSUES) expect(lines.some((line) => line.startsWith(expected)), expected).toBe(true);
    expect(lines).toHaveLength(EXPECTED_ISSUES.length);
  });

  it('exits 1 for a file that does not exist or is not YAML', async () => {
    const missing = await runCli(['validate', `${dir.path}/missing.yaml`]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('cannot read');
    const notYaml = await runCli(['validate', dir.writeConfig('broken.yaml', 'routes: [\n  - name: x\n  stable: {')]);
    expect(notYaml.code).toBe(1);
    expect(notYaml.stderr).toContain('YAML');
  });
});

describe('splitgate --config FILE', () => {
  it('refuses to start on an invalid config, with the same problems listed, exit 1', async () => {
    const file = dir.writeConfig('bad-start.yaml', BAD);
    const [start, validate] = await Promise.all([runCli(['--config', file]), runCli(['validate', file])]);
    expect(start.code).toBe(1);
    expect(start.stderr).toContain('splitgate: cannot start: invalid config');
    expect(issueLines(start.stderr)).toEqual(issueLines(validate.stderr));
    // It never got as far as listening.
    expect(start.stdout).not.toContain('splitgate listening');
  });

  it.each([
    ['no arguments', []],
    ['an unknown command', ['frobnicate']],
    ['an unknown option', ['--nope']],
    ['validate without a file', ['validate']],
  ])('exits 2 with usage for %s', async (_name, args) => {
    const result = await runCli(args);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('usage:');
  });
});
