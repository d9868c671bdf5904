/**
 * Flags at the edge, on the wire: the upstream gets the evaluated flags in one RFC 8941 header, computed from the
 * route's sticky key and the declared attributes; client copies of that header never get through; a mirror copy
 * carries what the primary carried; the flags file reloads with the config (by the watcher too), and a broken one
 * keeps the running flags.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfigFile } from '../../src/config/load.js';
import { createLogger } from '../../src/log.js';
import { Splitgate } from '../../src/splitgate.js';
import { FlagdCore } from '@openfeature/flagd-core';
import { send, sendRaw } from '../helpers/http.js';
import { startSplitgate, type StartedSplitgate } from '../helpers/splitgate.js';
import { startUpstream, type TestUpstream } from '../helpers/upstreams.js';

const DEFINITIONS = {
  flags: {
    'new-checkout': { state: 'ENABLED', variants: { on: true, off: false }, defaultVariant: 'off', targeting: { fractional: [['on', 50], ['off', 50]] } },
    'auth-v2': {
      state: 'ENABLED',
      variants: { v1: 'v1', v2: 'v2' },
      defaultVariant: 'v1',
      targeting: { if: [{ or: [{ ends_with: [{ var: 'email' }, '@example.com'] }, { '==': [{ var: 'plan' }, 'pro'] }] }, 'v2'] },
    },
    limit: { state: 'ENABLED', variants: { low: 10, high: 1.5 }, defaultVariant: 'low' },
    'in-region': { state: 'ENABLED', variants: { yes: true, no: false }, defaultVariant: 'no', targeting: { if: [{ '==': [{ var: 'region' }, 'eu'] }, 'yes'] } },
    'dark-mode': { state: 'DISABLED', variants: { on: true, off: false }, defaultVariant: 'on' },
    layout: { state: 'ENABLED', variants: { a: { cols: 2 } }, defaultVariant: 'a' },
  },
};

/** The header value flagd itself implies for these definitions and this context (flagd-core resolved directly). */
function expectedFromFlagd(context: Record<string, string>): string {
  const core = new FlagdCore();
  core.setConfigurations(JSON.stringify(DEFINITIONS));
  const checkout = core.resolveBooleanEvaluation('new-checkout', false, context).value;
  const auth = core.resolveStringEvaluation('auth-v2', '', context).value;
  const region = core.resolveBooleanEvaluation('in-region', false, context).value;
  return `new-checkout=${checkout ? '?1' : '?0'}, auth-v2="${auth}", limit=10, in-region=${region ? '?1' : '?0'}`;
}

let stable: TestUpstream;
let shadow: TestUpstream;
let proxy: StartedSplitgate;

beforeAll(async () => {
  stable = await startUpstream('stable');
  shadow = await startUpstream('shadow');
  proxy = await startSplitgate({
    log: { level: 'silent' },
    upstreams: { stable: stable.url, shadow: shadow.url },
    flags: { definitions: DEFINITIONS, context: { email: 'header:x-user-email', plan: 'cookie:plan', region: 'region' } },
    routes: [
      { name: 'some', match: { pathPrefix: '/some' }, stable: 'stable', sticky: { key: ['header:x-user-id'] }, flags: { select: ['auth-v2'], header: 'x-app-flags' } },
      { name: 'none', match: { pathPrefix: '/none' }, stable: 'stable', flags: false },
      {
        name: 'all',
        stable: 'stable',
        sticky: { key: ['header:x-user-id'], cookie: false },
        region: { header: 'x-region' },
        mirror: { to: 'shadow', percent: 100 },
      },
    ],
  });
});

afterAll(async () => {
  await proxy?.stop();
  await Promise.all([stable?.close(), shadow?.close()]);
});

function lastSeen(upstream: TestUpstream, header: string): string | undefined {
  const value = upstream.seen.at(-1)?.headers[header];
  return Array.isArray(value) ? value.join('|') : value;
}

describe('the flags header', () => {
  it('carries what flagd decides for the sticky key and the declared attributes, for several users', async () => {
    const users = [
      { id: 'user-1', email: 'a@example.com', plan: 'free', region: 'EU' },
      { id: 'user-2', email: 'b@other.org', plan: 'pro', region: 'us' },
      { id: 'user-3', email: 'c@other.org', plan: 'free', region: 'us' },
      { id: 'user-4', email: 'd@other.org', plan: 'free', region: 'eu' },
      { id: 'user-5', email: 'e@other.org', plan: 'free', region: 'eu' },
      { id: 'user-6', email: 'f@other.org', plan: 'free', region: 'eu' },
    ];
    const values = new Set<string>();
    for (const user of users) {
      const response = await send(proxy.url, '/x', { headers: { 'x-user-id': user.id, 'x-user-email': user.email, cookie: `plan=${user.plan}`, 'x-region': user.region } });
      expect(response.status).toBe(200);
      const sent = lastSeen(stable, 'x-splitgate-flags');
      // Region is lower-cased by routing before it reaches the context.
      expect(sent).toBe(expectedFromFlagd({ targetingKey: user.id, email: user.email, plan: user.plan, region: user.region.toLowerCase() }));
      values.add(sent!);
    }
    // The 50 % split and the rules do put these users in different variants.
    expect(values.size).toBeGreaterThan(2);
  });

  it('sends no targeting key without a sticky key: fractional falls back to the default variant', async () => {
    await send(proxy.url, '/x', { headers: { 'x-region': 'us' } });
    expect(lastSeen(stable, 'x-splitgate-flags')).toBe('new-checkout=?0, auth-v2="v1", limit=10, in-region=?0');
  });

  it('never forwards a client copy, on routes with or without flags, under either header name', async () => {
    await send(proxy.url, '/none', { headers: { 'x-splitgate-flags': 'new-checkout=?1', 'x-app-flags': 'auth-v2="v2"' } });
    expect(lastSeen(stable, 'x-splitgate-flags')).toBeUndefined();
    expect(lastSeen(stable, 'x-app-flags')).toBeUndefined();

    await send(proxy.url, '/some', { headers: { 'x-user-id': 'u', 'x-app-flags': 'auth-v2="v2"', 'x-splitgate-flags': 'limit=99' } });
    expect(lastSeen(stable, 'x-app-flags')).toBe('auth-v2="v1"');
    expect(lastSeen(stable, 'x-splitgate-flags')).toBeUndefined();
  });

  it('takes odd client input in its stride: raw bytes, repeated and empty fields, a broken Cookie header', async () => {
    const request = Buffer.concat([
      Buffer.from('GET /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\nX-User-Id: m\xfcller\r\n', 'latin1'),
      Buffer.from('X-User-Email: a@example.com\r\nX-User-Email: b@example.com\r\nX-Region: \r\nCookie: plan=%E0%A4%A; =; plan\r\n\r\n', 'latin1'),
    ]);
    const reply = await sendRaw(proxy.url, request);
    expect(reply.text).toMatch(/^HTTP\/1\.1 200 /);
    // Repeated emails are joined (", "), so ends_with sees the last one; the sticky key is the bytes as sent.
    expect(lastSeen(stable, 'x-splitgate-flags')).toBe(expectedFromFlagd({ targetingKey: 'm\xfcller', email: 'a@example.com, b@example.com' }));
  });

  it('gives the mirror copy the same flags header as the primary', async () => {
    const before = shadow.seen.length;
    await send(proxy.url, '/m', { headers: { 'x-user-id': 'user-2', 'x-user-email': 'z@example.com', 'x-region': 'eu' } });
    const deadline = Date.now() + 3_000;
    while (shadow.seen.length === before && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(lastSeen(shadow, 'x-splitgate-flags')).toBe(lastSeen(stable, 'x-splitgate-flags'));
    expect(lastSeen(shadow, 'x-splitgate-flags')).toContain('auth-v2="v2"');
  });

  it('counts evaluations by flag, variant and reason on /metrics', async () => {
    const metrics = await (await fetch(`${proxy.adminUrl}/metrics`)).text();
    expect(metrics).toMatch(/splitgate_flag_evaluations_total\{flag="limit",variant="low",reason="STATIC"\} \d+/);
    expect(metrics).toMatch(/splitgate_flag_evaluations_total\{flag="new-checkout",variant="off",reason="DEFAULT"\} [1-9]/);
    expect(metrics).toMatch(/splitgate_flag_evaluations_total\{flag="new-checkout",variant="(on|off)",reason="SPLIT"\} [1-9]/);
    // A disabled flag is evaluated (and counted) but not sent; an object flag is never sent, so not evaluated.
    expect(metrics).toMatch(/splitgate_flag_evaluations_total\{flag="dark-mode",variant="",reason="DISABLED"\} [1-9]/);
    expect(metrics).not.toContain('flag="layout"');
  });
});

describe('the flags file and reloads', () => {
  it('reloads with the config, by the watcher too; a broken flags file keeps the running flags', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sg-flags-reload-'));
    const flagsFile = join(dir, 'flags.flagd.json');
    const configFile = join(dir, 'splitgate.yaml');
    const flagsWith = (variant: string) => JSON.stringify({ flags: { banner: { state: 'ENABLED', variants: { a: 'a', b: 'b' }, defaultVariant: variant } } });
    writeFileSync(flagsFile, flagsWith('a'));
    writeFileSync(
      configFile,
      `listen: 127.0.0.1:0\nadmin: { listen: 127.0.0.1:0 }\nstate: { file: false }\nlog: { level: silent }\n` +
        `upstreams: { stable: "${stable.url}" }\nflags: { file: "${flagsFile}" }\nroutes: [{ name: api, stable: stable }]\n`,
    );
    const splitgate = await Splitgate.start({ config: await loadConfigFile(configFile), configPath: configFile, logger: createLogger({ level: 'silent' }) });
    try {
      const banner = async () => {
        await send(splitgate.proxyAddress.url, '/');
        return lastSeen(stable, 'x-splitgate-flags');
      };
      expect(await banner()).toBe('banner="a"');

      // Only the flags file changes: the watcher reloads.
      writeFileSync(flagsFile, flagsWith('b'));
      const deadline = Date.now() + 5_000;
      while (splitgate.controller.generation === 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      expect(splitgate.controller.generation).toBe(2);
      expect(await banner()).toBe('banner="b"');

      // A broken flags file: the reload is refused with the path inside the file, and "b" stays in force.
      writeFileSync(flagsFile, flagsWith('c'));
      const outcome = await splitgate.reload('test');
      expect(outcome.ok).toBe(false);
      expect(outcome.errors).toContain(`${flagsFile}#flags.banner.defaultVariant: must name one of the variants (a, b), got "c"`);
      expect(await banner()).toBe('banner="b"');
    } finally {
      await splitgate.stop(500);
    }
  });
});
