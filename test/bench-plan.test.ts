/**
 * `npm run bench` must run as documented with no settings at all; its environment switches are checked before
 * anything starts. `--plan` prints what a run would measure and exits.
 */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

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
