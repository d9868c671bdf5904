/**
 * Flag definitions in the config: flagd's schema with path-accurate ConfigErrors (inline and from a file), the
 * rules flagd only checks when evaluating moved to load time, and the flags blocks of routes.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { validateConfig } from '../src/config/load.js';
import { compileTable } from '../src/routing/table.js';
import { VERIFYING_JWT } from './helpers/jwks.js';
import { configProblems } from './helpers/config-problems.js';

const BASE = {
  upstreams: { stable: 'http://127.0.0.1:3001', canary: 'http://127.0.0.1:3002' },
  routes: [{ name: 'api', stable: 'stable', canary: 'canary', sticky: { key: ['header:x-user-id'] } }],
};

const DEFINITIONS = {
  flags: {
    'new-checkout': {
      state: 'ENABLED',
      variants: { on: true, off: false },
      defaultVariant: 'off',
      targeting: { fractional: [['on', 20], ['off', 80]] },
    },
    'auth-v2': { state: 'ENABLED', variants: { v1: 'v1', v2: 'v2' }, defaultVariant: 'v1', targeting: { if: [{ $ref: 'is_staff' }, 'v2'] } },
  },
  $evaluators: { is_staff: { ends_with: [{ var: 'email' }, '@example.com'] } },
};

function problems(raw: unknown): string[] {
  return configProblems(raw, {});
}

function withFlags(flags: unknown, routes: unknown[] = BASE.routes): unknown {
  return { ...BASE, routes, flags };
}

describe('flags: definitions inline', () => {
  it('accepts flagd definitions with $evaluators and fills the header default', () => {
    const config = validateConfig(withFlags({ definitions: DEFINITIONS, context: { email: 'header:X-User-Email', plan: 'cookie:plan' } }), {});
    expect(config.flags?.header).toBe('x-splitgate-flags');
    expect(config.flags?.context).toEqual({ email: { kind: 'header', name: 'x-user-email' }, plan: { kind: 'cookie', name: 'plan' } });
    const table = compileTable(config, 1);
    expect(table.flagSet?.list.map((flag) => flag.key)).toEqual(['new-checkout', 'auth-v2']);
    expect(table.routes[0].flags?.flags.map((flag) => flag.key)).toEqual(['new-checkout', 'auth-v2']);
    // The email header is collected by the header pass, and the cookie parsed, for the flags' context.
    expect(table.headerNames.has('x-user-email')).toBe(true);
    expect(table.routes[0].readsCookies).toBe(true);
  });

  it('names the defaultVariant that is not a variant, with its path', () => {
    const bad = structuredClone(DEFINITIONS);
    bad.flags['new-checkout'].defaultVariant = 'maybe';
    expect(problems(withFlags({ definitions: bad }))).toEqual([
      'flags.definitions.flags["new-checkout"].defaultVariant: must name one of the variants (on, off), got "maybe"',
    ]);
  });

  it('reports shape errors of several flags at once', () => {
    const bad = {
      flags: {
        a: { state: 'ON', variants: { x: 1 }, defaultVariant: 'x' },
        b: { state: 'ENABLED', variants: { x: 1, y: 'two' }, defaultVariant: 'x', colour: 'red' },
      },
    };
    expect(problems(withFlags({ definitions: bad }))).toEqual([
      "flags.definitions.flags.a.state: Invalid enum value. Expected 'ENABLED' | 'DISABLED', received 'ON'",
      'flags.definitions.flags.b: unknown field "colour"',
    ]);
  });

  it('rejects variants of mixed types, a $ref to no evaluator and JsonLogic flagd cannot compile', () => {
    const bad = {
      flags: {
        mixed: { state: 'ENABLED', variants: { x: 1, y: 'two' }, defaultVariant: 'x' },
        dangling: { state: 'ENABLED', variants: { x: 'x' }, defaultVariant: 'x', targeting: { if: [{ $ref: 'nope' }, 'x'] } },
        unknownOp: { state: 'ENABLED', variants: { x: 'x' }, defaultVariant: 'x', targeting: { frobnicate: [1, 2] } },
      },
    };
    expect(problems(withFlags({ definitions: bad }))).toEqual([
      'flags.definitions.flags.mixed.variants: must all have one type (found number, string)',
      'flags.definitions.flags.dangling.targeting.if[0]["$ref"]: $ref "nope" names no entry of $evaluators (known: none)',
      'flags.definitions.flags.unknownOp.targeting: is not JsonLogic that flagd can compile (an unknown operation, or a malformed one)',
    ]);
  });

  it('needs exactly one of file and definitions', () => {
    expect(problems(withFlags({}))).toEqual(['flags: must set exactly one of file or definitions']);
  });

  it('refuses targetingKey as an attribute, and a claim attribute with no jwt in force to verify it', () => {
    expect(problems(withFlags({ definitions: DEFINITIONS, context: { targetingKey: 'header:x-id' } }))).toEqual([
      "flags.context.targetingKey: targetingKey is always the route's sticky key and cannot be declared",
    ]);
    const claimed = withFlags({ definitions: DEFINITIONS, context: { sub: 'claim:sub' } });
    expect(problems(claimed)).toHaveLength(1);
    expect(problems(claimed)[0]).toMatch(/^flags\.context\.sub: claim:sub needs jwt/);
    const verified = validateConfig({ ...(claimed as object), jwt: VERIFYING_JWT }, {});
    expect(verified.flags?.context.sub).toEqual({ kind: 'claim', name: 'sub' });
    expect(compileTable(verified, 1).routes.every((route) => route.readsClaims)).toBe(true);
  });
});

describe('flags: ofrep', () => {
  it('is off by default, /ofrep when on, and wants long secrets', () => {
    expect(validateConfig(withFlags({ definitions: DEFINITIONS }), {}).flags?.ofrep).toBe(false);
    const on = validateConfig(withFlags({ definitions: DEFINITIONS, ofrep: {} }), {});
    expect(compileTable(on, 1).ofrep).toEqual({ path: '/ofrep', apiKey: null, bearerToken: null, targetingKeyOf: null });
    expect(problems(withFlags({ definitions: DEFINITIONS, ofrep: { path: 'ofrep', apiKey: 'short' } }))).toEqual([
      'flags.ofrep.path: must start with "/" and hold only letters, digits and . _ ~ / -',
      'flags.ofrep.apiKey: must be at least 16 characters',
    ]);
  });

  it('takes targetingKeyFrom from a route with a sticky key, and reads that key from an OFREP request', () => {
    const on = validateConfig(withFlags({ definitions: DEFINITIONS, ofrep: { targetingKeyFrom: 'api' } }), {});
    const targetingKeyOf = compileTable(on, 1).ofrep!.targetingKeyOf!;
    expect(targetingKeyOf({ 'x-user-id': 'alice' }, '10.0.0.1')).toBe('alice');
    expect(targetingKeyOf({}, '10.0.0.1')).toBeNull();
    const unsticky = [{ name: 'web', stable: 'stable' }];
    expect(problems(withFlags({ definitions: DEFINITIONS, ofrep: { targetingKeyFrom: 'nope' } }))).toEqual(['flags.ofrep.targetingKeyFrom: unknown route "nope" (known: api)']);
    expect(problems(withFlags({ definitions: DEFINITIONS, ofrep: { targetingKeyFrom: 'web' } }, unsticky))).toEqual(['flags.ofrep.targetingKeyFrom: route "web" has no sticky key to take the targetingKey from']);
  });
});

describe('flags: routes', () => {
  it('checks selected flags, headers routing reads, and region attributes', () => {
    const routes = [
      { ...BASE.routes[0], flags: { select: ['new-checkout', 'old-checkout'], header: 'x-user-id', context: { where: 'region' } } },
    ];
    expect(problems(withFlags({ definitions: DEFINITIONS }, routes))).toEqual([
      'routes[0].flags.header: "x-user-id" is read by route "api" sticky key; client copies of the flags header are dropped, so choose another',
      'routes[0].flags.select[1]: unknown flag "old-checkout" (known: new-checkout, auth-v2)',
      'routes[0].flags.context.where: reads the region, which needs the route to set region.header',
    ]);
  });

  it('refuses a flags header splitgate owns, and route flags without definitions', () => {
    expect(problems(withFlags({ definitions: DEFINITIONS, header: 'Via' }))).toEqual([
      'flags.header: "via" is a header splitgate handles itself; choose another (default x-splitgate-flags)',
    ]);
    expect(problems({ ...BASE, routes: [{ ...BASE.routes[0], flags: { select: 'all' } }] })).toEqual([
      'routes[0].flags: needs the top-level flags block (file or definitions)',
    ]);
  });

  it('selects per route, turns a route off with false, and drops every flags header from clients', () => {
    const routes = [
      { ...BASE.routes[0], match: { pathPrefix: '/a' }, flags: { select: ['auth-v2'], header: 'x-app-flags' } },
      { ...BASE.routes[0], name: 'b', flags: false },
    ];
    const table = compileTable(validateConfig(withFlags({ definitions: DEFINITIONS }, routes), {}), 1);
    expect(table.routes[0].flags?.flags.map((flag) => flag.key)).toEqual(['auth-v2']);
    expect(table.routes[0].flags?.header).toBe('x-app-flags');
    expect(table.routes[1].flags).toBeNull();
    expect([...table.flagsHeaders].sort()).toEqual(['x-app-flags', 'x-splitgate-flags']);
  });
});

describe('flags: file', () => {
  it('reads a JSON file into the config, and reports its problems at paths inside it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sg-flags-'));
    const file = join(dir, 'flags.flagd.json');
    await writeFile(file, JSON.stringify(DEFINITIONS));
    const config = validateConfig(withFlags({ file }), {});
    expect(Object.keys(config.flags?.definitions?.flags ?? {})).toEqual(['new-checkout', 'auth-v2']);

    const bad = structuredClone(DEFINITIONS);
    bad.flags['new-checkout'].defaultVariant = 'maybe';
    await writeFile(file, JSON.stringify(bad));
    expect(problems(withFlags({ file }))).toEqual([`${file}#flags["new-checkout"].defaultVariant: must name one of the variants (on, off), got "maybe"`]);

    await writeFile(file, '{"flags": {');
    expect(problems(withFlags({ file }))[0]).toMatch(new RegExp(`^flags\\.file: ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is not valid JSON: `));
    expect(problems(withFlags({ file: join(dir, 'missing.json') }))).toEqual([`flags.file: cannot read ${join(dir, 'missing.json')}: ENOENT`]);
  });

  it('reads YAML by extension', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sg-flags-'));
    const file = join(dir, 'flags.yaml');
    await writeFile(file, 'flags:\n  beta:\n    state: DISABLED\n    variants: { on: true, off: false }\n    defaultVariant: off\n');
    expect(validateConfig(withFlags({ file }), {}).flags?.definitions?.flags.beta.state).toBe('DISABLED');
  });
});
