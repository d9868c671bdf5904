import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfigFile, parseConfigText, validateConfig } from '../src/config/load.js';
import { parseDuration } from '../src/config/duration.js';
import { parseListenAddress } from '../src/config/listen.js';
import { ConfigError } from '../src/errors.js';

const VALID = {
  upstreams: { stable: 'http://127.0.0.1:3001', canary: { url: 'http://127.0.0.1:3002', connections: 8 } },
  routes: [{ name: 'api', stable: 'stable', canary: 'canary', weight: 10 }],
};

/** The `path: message` lines of the ConfigError thrown for `raw`. */
function problems(raw: unknown, env: Record<string, string> = {}): string[] {
  try {
    validateConfig(raw, env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).code).toBe('SG_CONFIG_INVALID');
    return (error as ConfigError).issues.map((issue) => `${issue.path}: ${issue.message}`);
  }
  throw new Error('expected the config to be rejected');
}

describe('validateConfig', () => {
  it('accepts the minimal config and fills defaults', () => {
    const config = validateConfig(VALID);
    expect(config.listen).toEqual({ host: '0.0.0.0', port: 8080 });
    expect(config.admin.listen).toEqual({ host: '127.0.0.1', port: 9901 });
    expect(config.upstreams.stable).toEqual({ url: 'http://127.0.0.1:3001' });
    expect(config.routes[0].weight).toBe(10);
    expect(config.log.accessLog).toEqual({ enabled: true, sample: 1, errors: true });
    expect(config.shutdown.drainTimeout).toBe(10_000);
  });

  it('accepts the full shape from DESIGN.md', () => {
    const config = parseConfigText(
      `
listen: 0.0.0.0:8080
admin: { listen: 127.0.0.1:9901, token: \${TOKEN} }
upstreams:
  stable: http://127.0.0.1:3001
  canary: http://127.0.0.1:3002
routes:
  - name: api
    match: { host: api.example.com, pathPrefix: /api }
    stable: stable
    canary: canary
    weight: 0.5
    sticky:
      key: [header:x-user-id, cookie:session, ip]
      cookie: { name: sg_uid, maxAge: 86400 }
    overrides: { header: x-canary, cookie: canary }
    rules:
      - match: { headers: { x-beta-tester: "true" } }
        version: canary
      - match: { headers: { user-agent: "~Mobile" } }
        weight: 5
      - match: { region: [us-west] }
        weight: 50
    region: { header: x-region }
`,
      { TOKEN: 's3cret' },
    );
    expect(config.admin.token).toBe('s3cret');
    expect(config.routes[0].sticky?.key).toEqual([
      { kind: 'header', name: 'x-user-id' },
      { kind: 'cookie', name: 'session' },
      { kind: 'ip', name: '' },
    ]);
    expect(config.routes[0].sticky?.cookie).toMatchObject({ name: 'sg_uid', maxAge: 86_400_000 });
  });

  it.each([
    ['weight above 100', { routes: [{ ...VALID.routes[0], weight: 101 }] }, 'routes[0].weight: must be between 0 and 100'],
    ['negative weight', { routes: [{ ...VALID.routes[0], weight: -1 }] }, 'routes[0].weight: must be between 0 and 100'],
    ['weight finer than 0.01', { routes: [{ ...VALID.routes[0], weight: 0.005 }] }, 'routes[0].weight: must have at most two decimals (0.01 % steps)'],
    ['weight as text', { routes: [{ ...VALID.routes[0], weight: 'ten' }] }, 'routes[0].weight: must be number (got string)'],
    ['unknown upstream', { routes: [{ ...VALID.routes[0], canary: 'nope' }] }, 'routes[0].canary: unknown upstream "nope" (known: stable, canary)'],
    ['missing stable', { routes: [{ name: 'api' }] }, 'routes[0].stable: is required'],
    ['unknown field', { routes: [{ ...VALID.routes[0], wieght: 5 }] }, 'routes[0]: unknown field "wieght"'],
    ['bad sticky source', { routes: [{ ...VALID.routes[0], sticky: { key: ['query:x'] } }] }, 'routes[0].sticky.key[0]: must be header:NAME, cookie:NAME or ip (got "query:x")'],
    ['bad regex', { routes: [{ ...VALID.routes[0], rules: [{ match: { headers: { ua: '~(' } }, version: 'canary' }] }] }, 'routes[0].rules[0].match.headers.ua: invalid regular expression'],
    ['rule with both version and weight', { routes: [{ ...VALID.routes[0], rules: [{ match: { headers: { a: 'b' } }, version: 'canary', weight: 5 }] }] }, 'routes[0].rules[0]: must set exactly one of version or weight'],
    ['rule with empty match', { routes: [{ ...VALID.routes[0], rules: [{ match: {}, version: 'canary' }] }] }, 'routes[0].rules[0].match: must have headers, cookies, region or claims'],
    ['region rule without region header', { routes: [{ ...VALID.routes[0], rules: [{ match: { region: ['eu'] }, weight: 5 }] }] }, 'routes[0].rules[0].match.region: needs the route to set region.header'],
    ['weight without canary', { routes: [{ name: 'api', stable: 'stable', weight: 5 }] }, 'routes[0].weight: must be 0 when the route has no canary'],
    ['bad upstream URL', { upstreams: { stable: 'ftp://x' } }, 'upstreams.stable.url: must use http:// or https:// (got ftp:)'],
    ['upstream with a path', { upstreams: { stable: 'http://127.0.0.1:1/api' } }, 'upstreams.stable.url: must be an origin only'],
    ['bad listen', { listen: 'localhost:99999' }, 'listen: must be host:port with a port from 0 to 65535 (got "localhost:99999")'],
    ['bad duration', { timeouts: { headers: 'soon' } }, 'timeouts.headers: must be a duration such as 500ms, 5s or 1m (got "soon")'],
    ['timeout beyond what a timer holds', { timeouts: { body: '1000h' } }, 'timeouts.body: must be at most 24 days'],
    ['admin on all interfaces without a token', { admin: { listen: '0.0.0.0:9901' } }, 'admin.token: is required when admin.listen is not a loopback address (0.0.0.0)'],
    ['admin on the proxy port', { listen: ':9000', admin: { listen: '127.0.0.1:9000' } }, 'admin.listen: must differ from listen (both use port 9000)'],
    ['no routes', { routes: [] }, 'routes: must have at least one route'],
    ['sample above 1', { log: { accessLog: { sample: 2 } } }, 'log.accessLog.sample: must be between 0 and 1'],
    ['missing env var', { admin: { token: '${NOPE}' } }, 'admin.token: environment variable NOPE is not set'],
  ])('%s', (_name, override, expected) => {
    const lines = problems({ ...VALID, ...override });
    expect(lines.some((line) => line.startsWith(expected))).toBe(true);
  });

  it('reports every problem at once, with its path', () => {
    const lines = problems({
      upstreams: { stable: 'http://127.0.0.1:1' },
      routes: [
        { name: 'a', stable: 'stable', weight: 0 },
        { name: 'b', stable: 'stable', canary: 'missing', weight: 150 },
        { name: 'a', stable: 'gone' },
      ],
    });
    // A schema error does not hide a misspelt upstream: both come in one report.
    expect(lines).toEqual(
      expect.arrayContaining([
        'routes[1].weight: must be between 0 and 100',
        'routes[1].canary: unknown upstream "missing" (known: stable)',
        'routes[2].stable: unknown upstream "gone" (known: stable)',
      ]),
    );
    // Checks that need a schema-valid config (duplicate names) come once the schema errors are fixed.
    const second = problems({
      upstreams: { stable: 'http://127.0.0.1:1' },
      routes: [
        { name: 'a', stable: 'stable' },
        { name: 'b', stable: 'stable', canary: 'missing', weight: 50 },
        { name: 'a', stable: 'gone' },
      ],
    });
    expect(second).toEqual([
      'routes[1].canary: unknown upstream "missing" (known: stable)',
      'routes[2].name: duplicate route name "a" (also routes[0])',
      'routes[2].stable: unknown upstream "gone" (known: stable)',
    ]);
  });

  it('interpolates ${VAR} and ${VAR:-default}, and keeps $${ literal', () => {
    const config = validateConfig(
      { ...VALID, admin: { token: '${TOKEN}' }, routes: [{ ...VALID.routes[0], salt: '${SALT:-v1}-$${x}' }] },
      { TOKEN: 'abc' },
    );
    expect(config.admin.token).toBe('abc');
    expect(config.routes[0].salt).toBe('v1-${x}');
  });
});

describe('parseConfigText and loadConfigFile', () => {
  it('reports YAML syntax errors', () => {
    expect(() => parseConfigText('routes: [\n  - name: a\n')).toThrow(/YAML/);
  });

  it('rejects duplicate keys', () => {
    expect(() => parseConfigText('listen: :1\nlisten: :2\nupstreams: {}\nroutes: []\n')).toThrow(/YAML.*[Dd]uplicate|unique/);
  });

  it('reports an alias without its anchor, and an alias bomb, as ConfigErrors (found by the config fuzz)', () => {
    const unresolved = 'upstreams:\n  stable: *a\n  canary: &a { url: http://127.0.0.1:1 }\nroutes: []\n';
    expect(() => parseConfigText(unresolved)).toThrow(ConfigError);
    expect(() => parseConfigText(unresolved)).toThrow(/YAML: .*alias/i);
    const levels = ['a: &a [x, x, x, x, x, x, x, x, x, x]'];
    for (let i = 1; i < 8; i++) levels.push(`${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(10).fill(`*${String.fromCharCode(96 + i)}`).join(', ')}]`);
    expect(() => parseConfigText(`${levels.join('\n')}\nroutes: []\n`)).toThrow(ConfigError);
  });

  it('rejects a document that is not a mapping', () => {
    expect(() => parseConfigText('- a\n- b\n')).toThrow(/must be a YAML mapping/);
  });

  it('names a missing file', async () => {
    await expect(loadConfigFile('/nonexistent/splitgate.yaml')).rejects.toThrow(/cannot read \/nonexistent\/splitgate.yaml: ENOENT/);
  });

  it('loads a file from disk', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'splitgate-config-'));
    const file = join(dir, 'c.yaml');
    await writeFile(file, 'upstreams: { s: "http://127.0.0.1:1" }\nroutes: [{ name: r, stable: s }]\n');
    expect((await loadConfigFile(file)).routes[0].name).toBe('r');
  });
});

describe('parseDuration', () => {
  it.each([
    [250, 250],
    ['250ms', 250],
    ['5s', 5000],
    ['1m30s', 90_000],
    ['1.5s', 1500],
    [1500.4, 1500],
    ['0.0005s', 1],
    ['2h', 7_200_000],
  ])('%j → %d ms', (input, ms) => {
    expect(parseDuration(input)).toBe(ms);
  });

  it.each(['', 'soon', '5', '5 s', '-1s', 's5'])('%j is not a duration', (input) => {
    expect(parseDuration(input)).toBeUndefined();
  });
});

describe('parseListenAddress', () => {
  it.each([
    ['0.0.0.0:8080', { host: '0.0.0.0', port: 8080 }],
    [':8080', { host: '0.0.0.0', port: 8080 }],
    ['[::1]:9901', { host: '::1', port: 9901 }],
    ['localhost:0', { host: 'localhost', port: 0 }],
  ])('%s', (input, expected) => {
    expect(parseListenAddress(input)).toEqual(expected);
  });

  it.each(['8080', 'host:', 'host:70000', 'a:b:c'])('%s is rejected', (input) => {
    expect(parseListenAddress(input)).toBeUndefined();
  });
});

describe('weights in the config', () => {
  it('are kept as the 0.01 % step routing uses, as the admin API keeps them', () => {
    const config = validateConfig({
      upstreams: { s: 'http://127.0.0.1:1', c: 'http://127.0.0.1:2' },
      routes: [
        { name: 'a', stable: 's', canary: 'c', weight: 50.000000001 },
        { name: 'b', stable: 's', canary: 'c', weight: 12.34 },
        { name: 'c', stable: 's', canary: 'c', weight: 1e-9 },
      ],
    });
    expect(config.routes.map((route) => route.weight)).toEqual([50, 12.34, 0]);
    expect(() => validateConfig({ upstreams: { s: 'http://127.0.0.1:1', c: 'http://127.0.0.1:2' }, routes: [{ name: 'a', stable: 's', canary: 'c', weight: 12.345 }] })).toThrow(/two decimals/);
  });
});
