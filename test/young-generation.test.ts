/**
 * The supervisor holds its young generation at V8's initial size by setting `--semi-space-growth-factor` at run
 * time (src/young-generation.ts). V8 documents no promise that a flag set after start-up takes effect, so this
 * checks, on the Node running the suite (CI runs it on 20 and on 24), that holding keeps the young generation
 * small through an allocation burst and releasing lets it grow again, in a fresh process of the built module.
 */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { assertBuilt } from './helpers/process.js';

const MODULE = new URL('../dist/young-generation.js', import.meta.url).href;
const MIB = 1024 * 1024;

function runScript(nodeArgs: readonly string[]): { start: number; held: { youngGenerationBytes: number; youngGenerationHeld: boolean }; released: { youngGenerationBytes: number; youngGenerationHeld: boolean } } {
  const script = `
    import { holdYoungGeneration, releaseYoungGeneration, processMemory } from ${JSON.stringify(MODULE)};
    // Short-lived objects with a share that survives a scavenge: what makes V8 grow a young generation.
    const churn = () => { let keep = []; for (let i = 0; i < 2e6; i++) { keep.push({ a: i, b: 'x' + i }); if (keep.length > 50000) keep = []; } };
    const start = processMemory().youngGenerationBytes;
    holdYoungGeneration(); churn(); const held = processMemory();
    releaseYoungGeneration(); churn(); const released = processMemory();
    console.log(JSON.stringify({ start, held, released }));`;
  const result = spawnSync(process.execPath, [...nodeArgs, '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30_000 });
  expect(result.status, result.stderr).toBe(0);
  return JSON.parse(result.stdout);
}

describe('young generation held at run time', () => {
  it('stays at its initial size through an allocation burst while held, and grows again once released', () => {
    assertBuilt();
    const { start, held, released } = runScript([]);
    expect(held.youngGenerationHeld).toBe(true);
    expect(held.youngGenerationBytes).toBeLessThanOrEqual(Math.max(2 * MIB, start));
    expect(released.youngGenerationHeld).toBe(false);
    // 32 MB on Node 20, 128 MB on Node 24 after the same burst.
    expect(released.youngGenerationBytes).toBeGreaterThanOrEqual(8 * held.youngGenerationBytes);
  });

  it('leaves the flag alone when the operator set it on the command line', () => {
    assertBuilt();
    const { held } = runScript(['--semi-space-growth-factor=4']);
    expect(held.youngGenerationHeld).toBe(false);
    expect(held.youngGenerationBytes).toBeGreaterThan(4 * MIB);
  });
});
