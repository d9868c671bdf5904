/**
 * `npm run bench` must run as documented with no settings at all; its environment switches are checked before
 * anything starts. `--plan` prints what a run would measure and exits.
 */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

interface Plan {
  candidates: string[];
  sideBySidePair: string[];
  settings: { rounds: number; sideBySideRounds: number };
}

function plan(env: Record<string, string> = {}): { status: number | null; plan: Plan | null; stderr: string } {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('BENCH_')));
  const run = spawnSync(process.execPath, ['loadtest/bench.mjs', '--plan'], { env: { ...clean, ...env }, encoding: 'utf8' });
  return { status: run.status, plan: run.status === 0 ? (JSON.parse(run.stdout) as Plan) : null, stderr: run.stderr };
}

describe('bench plan', () => {
  it('with no settings: direct, bare-undici and splitgate, then bare-undici beside splitgate', () => {
    const { status, plan: got } = plan();
    expect(status).toBe(0);
    expect(got!.candidates).toEqual(['direct', 'bare-undici', 'splitgate']);
    expect(got!.sideBySidePair).toEqual(['bare-undici', 'splitgate']);
    expect(got!.settings).toMatchObject({ rounds: 3, sideBySideRounds: 4 });
  });

  it('adds the second build when BENCH_SPLITGATE_B names one', () => {
    const { status, plan: got } = plan({ BENCH_SPLITGATE_B: 'dist-before', BENCH_PAIR: 'splitgate-b,splitgate' });
    expect(status).toBe(0);
    expect(got!.candidates).toEqual(['direct', 'bare-undici', 'splitgate', 'splitgate-b']);
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
});
