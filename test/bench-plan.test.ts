/**
 * `npm run bench` must run as documented with no settings at all; its environment switches are checked before
 * anything starts. `--plan` prints what a run would measure and exits. The same for `npm run bench:flags`, whose
 * config must load as it stands (with and without its flags block).
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { loadConfigFile, validateConfig } from '../src/config/load.js';
import { buildFlagContext, flagsHeaderValue } from '../src/flags/route-flags.js';
import { RequestContext } from '../src/routing/context.js';
import { compileTable } from '../src/routing/table.js';

interface Plan {
  candidates: string[];
  sideBySidePair: string[];
  sideBySidePairs: string[][];
  settings: { rounds: number; sideBySideRounds: number; node: string; nodeB: string; w2Cpus: string };
}

function plan(env: Record<string, string> = {}): { status: number | null; plan: Plan | null; stderr: string } {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('BENCH_')));
  const run = spawnSync(process.execPath, ['loadtest/bench.mjs', '--plan'], { env: { ...clean, ...env }, encoding: 'utf8' });
  return { status: run.status, plan: run.status === 0 ? (JSON.parse(run.stdout) as Plan) : null, stderr: run.stderr };
}

describe('bench plan', () => {
  it('with no settings: direct, the peers (nginx-proxy, http-proxy, bare-undici) and splitgate, then splitgate beside bare-undici and http-proxy', () => {
    const { status, plan: got } = plan();
    expect(status).toBe(0);
    expect(got!.candidates).toEqual(['direct', 'nginx-proxy', 'http-proxy', 'bare-undici', 'splitgate']);
    expect(got!.sideBySidePair).toEqual(['bare-undici', 'splitgate']);
    expect(got!.sideBySidePairs).toEqual([
      ['bare-undici', 'splitgate'],
      ['http-proxy', 'splitgate'],
    ]);
    // The proxies run on the node that runs the bench unless BENCH_NODE names another; splitgate-w2 on core 1.
    expect(got!.settings).toMatchObject({ rounds: 3, sideBySideRounds: 4, node: process.execPath, w2Cpus: '1' });
  });

  it('runs splitgate-w2 (workers: 2) only when named, and then measures it beside splitgate (the scaling efficiency)', () => {
    const { status, plan: got } = plan({ BENCH_CANDIDATES: 'bare-undici,splitgate,splitgate-w2', BENCH_W2_CPUS: '0,1' });
    expect(status).toBe(0);
    expect(got!.candidates).toEqual(['bare-undici', 'splitgate', 'splitgate-w2']);
    expect(got!.sideBySidePairs).toEqual([
      ['bare-undici', 'splitgate'],
      ['splitgate', 'splitgate-w2'],
    ]);
    expect(got!.settings.w2Cpus).toBe('0,1');
  });

  it('takes several side-by-side pairs separated by ";" and the Node binary for the proxies from BENCH_NODE', () => {
    const { status, plan: got } = plan({ BENCH_PAIR: 'bare-undici,splitgate;nginx-proxy,splitgate', BENCH_NODE: process.execPath });
    expect(status).toBe(0);
    expect(got!.sideBySidePair).toEqual(['bare-undici', 'splitgate']);
    expect(got!.sideBySidePairs).toEqual([
      ['bare-undici', 'splitgate'],
      ['nginx-proxy', 'splitgate'],
    ]);
    expect(got!.settings.node).toBe(process.execPath);
  });

  it('runs one build on two Node versions side by side: bare-undici-b and splitgate-b on BENCH_NODE_B', () => {
    const { status, plan: got } = plan({
      BENCH_CANDIDATES: 'bare-undici,bare-undici-b,splitgate,splitgate-b',
      BENCH_SPLITGATE_B: 'dist',
      BENCH_NODE_B: process.execPath,
      BENCH_PAIR: 'bare-undici,bare-undici-b;splitgate,splitgate-b',
    });
    expect(status).toBe(0);
    expect(got!.candidates).toEqual(['bare-undici', 'bare-undici-b', 'splitgate', 'splitgate-b']);
    expect(got!.sideBySidePairs).toEqual([
      ['bare-undici', 'bare-undici-b'],
      ['splitgate', 'splitgate-b'],
    ]);
    expect(got!.settings.nodeB).toBe(process.execPath);
    expect(plan({ BENCH_NODE_B: '/nonexistent/node' }).status).toBe(2);
  });

  it('adds the second build when BENCH_SPLITGATE_B names one', () => {
    const { status, plan: got } = plan({ BENCH_SPLITGATE_B: 'dist-before', BENCH_PAIR: 'splitgate-b,splitgate' });
    expect(status).toBe(0);
    expect(got!.candidates).toEqual(['direct', 'nginx-proxy', 'http-proxy', 'bare-undici', 'splitgate', 'splitgate-b']);
    expect(got!.sideBySidePair).toEqual(['splitgate-b', 'splitgate']);
  });

  it('measures bare-headers (the baseline plus the fields splitgate adds) only when asked for', () => {
    const { status, plan: got } = plan({ BENCH_CANDIDATES: 'bare-undici,bare-headers,splitgate', BENCH_PAIR: 'bare-headers,splitgate' });
    expect(status).toBe(0);
    expect(got!.candidates).toEqual(['bare-undici', 'bare-headers', 'splitgate']);
    expect(got!.sideBySidePair).toEqual(['bare-headers', 'splitgate']);
  });

  it('refuses splitgate-b without BENCH_SPLITGATE_B, and an unknown candidate, with exit 2', () => {
    const missing = plan({ BENCH_CANDIDATES: 'splitgate,splitgate-b' });
    expect(missing.status).toBe(2);
    expect(missing.stderr).toMatch(/splitgate-b needs BENCH_SPLITGATE_B/);
    const unknown = plan({ BENCH_CANDIDATES: 'splitgate,envoy' });
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toMatch(/unknown candidate "envoy"/);
  });

  it('refuses a missing BENCH_NODE, a malformed pair and a malformed BENCH_W2_CPUS with exit 2', () => {
    const node = plan({ BENCH_NODE: '/nonexistent/node' });
    expect(node.status).toBe(2);
    expect(node.stderr).toMatch(/BENCH_NODE: "\/nonexistent\/node" does not exist/);
    const pair = plan({ BENCH_PAIR: 'bare-undici,splitgate;direct,splitgate' });
    expect(pair.status).toBe(2);
    expect(pair.stderr).toMatch(/BENCH_PAIR/);
    const cpus = plan({ BENCH_W2_CPUS: 'both' });
    expect(cpus.status).toBe(2);
    expect(cpus.stderr).toMatch(/BENCH_W2_CPUS/);
  });
});

describe('flags bench (npm run bench:flags)', () => {
  const FLAGS_CONFIG = 'loadtest/splitgate-flags-bench.yaml';

  it('plans 5 side-by-side rounds and the OFREP part by default, and refuses an unknown part with exit 2', () => {
    const clean = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('BENCH_')));
    const run = (env: Record<string, string> = {}) => spawnSync(process.execPath, ['loadtest/bench-flags.mjs', '--plan'], { env: { ...clean, ...env }, encoding: 'utf8' });
    const ok = run();
    expect(ok.status).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ parts: ['sidebyside', 'ofrep'], rounds: 5, connections: 64, flags: 10, ofrepSingleFlag: 'ui-theme' });
    const bad = run({ BENCH_FLAGS_PARTS: 'sidebyside,grpc' });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/BENCH_FLAGS_PARTS/);
  });

  it('its config loads with 10 flags (splits, rules on headers, a shared evaluator, one disabled) and sends the 9 enabled ones', async () => {
    const config = await loadConfigFile(FLAGS_CONFIG, {});
    const definitions = config.flags!.definitions!;
    const flags = Object.values(definitions.flags);
    expect(flags).toHaveLength(10);
    expect(flags.filter((flag) => flag.state === 'DISABLED')).toHaveLength(1);
    const text = JSON.stringify(definitions);
    for (const operation of ['fractional', 'starts_with', 'ends_with', 'sem_ver', '"in"', '$ref']) expect(text).toContain(operation);
    expect(Object.keys(definitions.$evaluators ?? {})).toEqual(['is_staff']);

    const route = compileTable(config, 1).routes[0].flags!;
    expect(route.flags).toHaveLength(10);
    const header = (headers: Record<string, string>, stickyKey: string) =>
      flagsHeaderValue(route, buildFlagContext(route, new RequestContext(headers, {}, undefined, 0, stickyKey, null), undefined));
    const staff = header({ 'x-user-email': 'a@example.com', 'x-app-version': '2.4.0', 'x-country': 'de', 'x-platform': 'ios-17.2' }, 'user-000001');
    const other = header({ 'x-user-email': 'b@mail.test', 'x-app-version': '1.0.0', 'x-country': 'jp', 'x-platform': 'web' }, 'user-000002');
    expect(staff.split(', ')).toHaveLength(9);
    expect(staff).toContain('auth-v2="v2", native-share=?1, new-editor=?1, eu-consent="strict", max-items=50');
    expect(other).toContain('auth-v2="v1", native-share=?0, new-editor=?0, eu-consent="basic", max-items=20');
    expect(staff).not.toContain('legacy-export');
  });

  it('its config without the flags block (the plain side) is valid too, and so is it with the same flags untargeted', () => {
    const raw = parseYaml(readFileSync(FLAGS_CONFIG, 'utf8')) as Record<string, { file?: string }>;
    const untargeted = validateConfig({ ...raw, flags: { ...raw.flags, file: 'loadtest/flags-bench-static.flagd.json' } }, {}).flags!.definitions!;
    const targeted = JSON.parse(readFileSync('loadtest/flags-bench.flagd.json', 'utf8')) as { flags: Record<string, unknown> };
    expect(Object.keys(untargeted.flags)).toEqual(Object.keys(targeted.flags));
    expect(Object.values(untargeted.flags).some((flag) => flag.targeting !== undefined)).toBe(false);
    delete raw.flags;
    expect(validateConfig(raw, {}).flags).toBeUndefined();
  });
});
