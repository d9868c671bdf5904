/**
 * The `splitgate` binary as operators call it: `validate FILE` exits 0 on a good config and 1 with every problem
 * listed by path on a bad one; starting on a bad config fails the same way, before listening; usage errors exit 2.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closedPort } from '../helpers/http.js';
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

describe('splitgate control commands: failures are one line, a wedged admin is not waited on for ever', () => {
  let wedged: Server;
  let wedgedUrl: string;
  let refusedUrl: string;

  beforeAll(async () => {
    // Accepts connections and never answers: an admin listener whose process is stuck.
    wedged = createServer(() => undefined);
    await new Promise<void>((resolve) => wedged.listen(0, '127.0.0.1', resolve));
    wedgedUrl = `http://127.0.0.1:${(wedged.address() as AddressInfo).port}`;
    refusedUrl = `http://127.0.0.1:${await closedPort()}`;
  });
  afterAll(async () => {
    wedged?.closeAllConnections?.();
    await new Promise((resolve) => wedged?.close(resolve));
  });

  it.each([
    ['status'],
    ['kill', 'api'],
    ['rollout', 'pause', 'api'],
    ['rollout', 'status'],
    ['experiment', 'stop', 'nope'],
    ['flag', 'off', 'x'],
    ['flag', 'list'],
  ])('%s %s %s against an unreachable admin: one line, exit 1', async (...args) => {
    const result = await runCli([...args.filter((a) => a !== undefined), '--admin', refusedUrl]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(new RegExp(`^splitgate ${args[0]}: cannot reach the admin API at ${refusedUrl} \\(ECONNREFUSED\\)\\n$`));
  });

  it('gives up on an admin that never answers after --timeout, saying so', async () => {
    const startedAt = Date.now();
    const result = await runCli(['kill', 'api', '--admin', wedgedUrl, '--timeout', '0.5']);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^splitgate kill: no answer from the admin API at .* within 0\.5 s \(--timeout\); the change may still have been applied: check with splitgate status\n$/);
    expect(Date.now() - startedAt).toBeLessThan(8_000);
    const read = await runCli(['status', '--admin', wedgedUrl, '--timeout', '0.3001']);
    expect(read.code).toBe(1);
    expect(read.stderr).toMatch(/^splitgate status: no answer from the admin API at .* within 0\.301 s \(--timeout\)\n$/);
  });

  it.each([
    [['weight', 'api', '10', '20'], 'unexpected argument "20"'],
    [['kill', 'api', 'extra'], 'unexpected argument "extra"'],
    [['status', 'api'], 'unexpected argument "api"'],
    [['flag', 'off', 'x', 'y'], 'unexpected argument "y"'],
    [['experiment', 'ship', 'k', 'A', 'B'], 'unexpected argument "B"'],
    [['rollout', 'pause', 'api', 'web'], 'unexpected argument "web"'],
  ])('refuses extra arguments, exit 2, before calling anything: %j', async (args, message) => {
    const result = await runCli([...args, '--admin', wedgedUrl]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(message);
  });

  it.each([['abc'], ['0'], ['-1'], ['99999']])('refuses --timeout %s, exit 2', async (value) => {
    const result = await runCli(['status', '--admin', wedgedUrl, '--timeout', value]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('--timeout');
  });
});
