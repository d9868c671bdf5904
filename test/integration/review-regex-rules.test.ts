/**
 * Issue 14 item 1 through a real splitgate: values that made V8's backtracking engine spin for 173 s
 * (`~.*Mobile.*Safari` vs `"Mobile " × 2200`) and 39 s (`^(\w+\s?)*$` vs 29 characters) are answered promptly,
 * by the right version, and a request sent alongside is not held up. The time bounds only catch a hang.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { send } from '../helpers/http.js';
import { startSplitgate, type StartedSplitgate } from '../helpers/splitgate.js';
import { startUpstreams, type TestUpstream } from '../helpers/upstreams.js';

let stable: TestUpstream;
let canary: TestUpstream;
let proxy: StartedSplitgate;
const HANG_GUARD_MS = 5_000;

beforeAll(async () => {
  [stable, canary] = await startUpstreams('stable', 'canary');
  proxy = await startSplitgate({
    upstreams: { stable: stable.url, canary: canary.url },
    routes: [
      {
        name: 'rules',
        stable: 'stable',
        canary: 'canary',
        weight: 0,
        rules: [
          { match: { headers: { 'user-agent': '~.*Mobile.*Safari' } }, version: 'canary' },
          { match: { headers: { 'x-words': '~^(\\w+\\s?)*$' } }, version: 'canary' },
        ],
      },
    ],
  });
});

afterAll(async () => {
  await proxy?.stop();
  await Promise.all([stable?.close(), canary?.close()]);
});

async function versionFor(headers: Record<string, string>): Promise<string> {
  const res = await send(proxy.url, '/', { headers, timeoutMs: HANG_GUARD_MS });
  expect(res.status).toBe(200);
  return res.json<{ version: string }>().version;
}

describe('rule patterns on hostile values', () => {
  it.each([
    ['User-Agent "Mobile " × 2200', { 'user-agent': 'Mobile '.repeat(2200) }, 'stable'],
    ['User-Agent "Mobile " × 140 and Safari', { 'user-agent': `${'Mobile '.repeat(140)}Safari/604.1` }, 'canary'],
    ['29 word characters and a "!"', { 'x-words': `${'a'.repeat(29)}!` }, 'stable'],
    ['2000 word characters and a "!"', { 'x-words': `${'a'.repeat(2000)}!` }, 'stable'],
    ['words and spaces', { 'x-words': 'alpha beta gamma' }, 'canary'],
  ])('%s → answered promptly by %s', async (_name, headers, version) => {
    expect(await versionFor(headers)).toBe(version);
  });

  it('does not hold up a request sent alongside', async () => {
    const hostile = Array.from({ length: 4 }, () => versionFor({ 'user-agent': 'Mobile '.repeat(2200), 'x-words': `${'a'.repeat(29)}!` }));
    const started = performance.now();
    expect(await versionFor({ 'user-agent': 'curl/8' })).toBe('stable');
    expect(performance.now() - started).toBeLessThan(HANG_GUARD_MS);
    expect(await Promise.all(hostile)).toEqual(['stable', 'stable', 'stable', 'stable']);
  });
});
