/**
 * The flags memo (flags-memo.ts) on a real splitgate: a user whose header the memo holds gets the new value on the
 * very next request after a flag override through the admin API (pin, kill, clear) and after a reload that
 * changes the flags file, because every change compiles a new table with its own empty memo; and a mirror copy of
 * a memoized request carries the primary's header.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfigFile } from '../../src/config/load.js';
import { createLogger } from '../../src/log.js';
import { Splitgate } from '../../src/splitgate.js';
import { send } from '../helpers/http.js';
import { adminCall } from '../helpers/rollout.js';
import { startSplitgate, type StartedSplitgate } from '../helpers/splitgate.js';
import { startUpstream, type TestUpstream } from '../helpers/upstreams.js';

const FLAGS = {
  theme: {
    state: 'ENABLED',
    variants: { light: 'light', dark: 'dark', contrast: 'contrast' },
    defaultVariant: 'light',
    targeting: { if: [{ '==': [{ var: 'plan' }, 'pro'] }, 'dark', 'light'] },
  },
  beta: { state: 'ENABLED', variants: { on: true, off: false }, defaultVariant: 'off', targeting: { fractional: [['on', 50], ['off', 50]] } },
};

let stable: TestUpstream;
let shadow: TestUpstream;
let proxy: StartedSplitgate;

beforeAll(async () => {
  stable = await startUpstream('stable');
  shadow = await startUpstream('shadow');
  proxy = await startSplitgate({
    log: { level: 'silent' },
    upstreams: { stable: stable.url, shadow: shadow.url },
    flags: { definitions: { flags: FLAGS }, context: { plan: 'header:x-plan' } },
    routes: [{ name: 'api', stable: 'stable', sticky: { key: ['header:x-user-id'] }, mirror: { to: 'shadow', percent: 100 } }],
  });
});

afterAll(async () => {
  await proxy?.stop();
  await Promise.all([stable?.close(), shadow?.close()]);
});

function lastSeen(upstream: TestUpstream): string | undefined {
  const value = upstream.seen.at(-1)?.headers['x-splitgate-flags'];
  return Array.isArray(value) ? value.join('|') : value;
}

/** The flags header the upstream got for one request of user u1 on the pro plan. */
async function themeOfProUser(url = proxy.url, upstream = stable): Promise<string | undefined> {
  const reply = await send(url, '/x', { headers: { 'x-user-id': 'u1', 'x-plan': 'pro' } });
  expect(reply.status).toBe(200);
  return lastSeen(upstream)?.match(/theme="(\w+)"/)?.[1];
}

function memoHeld(splitgate: Splitgate): number {
  return splitgate.store.current.table.routes[0].flags!.memo!.held;
}

describe('the flags memo and runtime changes', () => {
  it('serves repeats from the memo, the mirror copy carrying the same header', async () => {
    for (let i = 0; i < 3; i++) expect(await themeOfProUser()).toBe('dark');
    expect(memoHeld(proxy.splitgate)).toBe(1);
    const deadline = Date.now() + 3_000;
    while (lastSeen(shadow) === undefined && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(lastSeen(shadow)).toBe(lastSeen(stable));
  });

  it('a pin, a kill and a clear through the admin API are in force on the very next request of a memoized user', async () => {
    expect(await themeOfProUser()).toBe('dark');
    const generation = proxy.splitgate.store.current.generation;

    expect((await adminCall(proxy.adminUrl, 'PUT', '/flags/theme', { defaultVariant: 'contrast' })).status).toBe(200);
    expect(proxy.splitgate.store.current.generation).toBeGreaterThan(generation);
    expect(memoHeld(proxy.splitgate)).toBe(0);
    expect(await themeOfProUser()).toBe('contrast');
    expect(await themeOfProUser()).toBe('contrast');

    expect((await adminCall(proxy.adminUrl, 'PUT', '/flags/theme', { state: 'DISABLED' })).status).toBe(200);
    expect(await themeOfProUser()).toBeUndefined();
    expect(lastSeen(stable)).toMatch(/^beta=\?[01]$/);

    expect((await adminCall(proxy.adminUrl, 'DELETE', '/flags/theme')).status).toBe(200);
    expect(await themeOfProUser()).toBe('dark');
  });

  it('a reload that changes the flags file is in force on the very next request of a memoized user', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sg-flags-memo-'));
    const flagsFile = join(dir, 'flags.flagd.json');
    const configFile = join(dir, 'splitgate.yaml');
    const flagsWith = (proVariant: string) => JSON.stringify({ flags: { ...FLAGS, theme: { ...FLAGS.theme, targeting: { if: [{ '==': [{ var: 'plan' }, 'pro'] }, proVariant, 'light'] } } } });
    writeFileSync(flagsFile, flagsWith('dark'));
    writeFileSync(
      configFile,
      `listen: 127.0.0.1:0\nadmin: { listen: 127.0.0.1:0 }\nstate: { file: false }\nwatch: false\nlog: { level: silent }\n` +
        `upstreams: { stable: "${stable.url}" }\nflags: { file: "${flagsFile}", context: { plan: "header:x-plan" } }\n` +
        `routes: [{ name: api, stable: stable, sticky: { key: ["header:x-user-id"] } }]\n`,
    );
    const splitgate = await Splitgate.start({ config: await loadConfigFile(configFile), configPath: configFile, logger: createLogger({ level: 'silent' }) });
    try {
      const url = splitgate.proxyAddress.url;
      for (let i = 0; i < 3; i++) expect(await themeOfProUser(url)).toBe('dark');
      expect(memoHeld(splitgate)).toBe(1);
      writeFileSync(flagsFile, flagsWith('contrast'));
      expect((await splitgate.reload('test')).ok).toBe(true);
      expect(await themeOfProUser(url)).toBe('contrast');
    } finally {
      await splitgate.stop(500);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
