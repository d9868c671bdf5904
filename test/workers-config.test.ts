/** `workers`: 1 by default, a whole number or `auto` (one per available core), with path-accurate errors. */
import { describe, expect, it } from 'vitest';
import { supportsReusePort } from '../src/cluster/ipc.js';
import { validateConfig } from '../src/config/load.js';
import { resolveWorkers } from '../src/config/schema.js';

const BASE = { upstreams: { app: 'http://127.0.0.1:1' }, routes: [{ name: 'app', stable: 'app' }] };

describe('workers config', () => {
  it('defaults to 1 and accepts a count or auto', () => {
    expect(validateConfig(BASE).workers).toBe(1);
    expect(validateConfig({ ...BASE, workers: 4 }).workers).toBe(4);
    expect(validateConfig({ ...BASE, workers: 'auto' }).workers).toBe('auto');
    // As `${SPLITGATE_WORKERS:-2}` substitutes it: text.
    expect(validateConfig({ ...BASE, workers: '3' }).workers).toBe(3);
    expect(validateConfig({ ...BASE, workers: ' 2 ' }).workers).toBe(2);
    expect(resolveWorkers('auto', () => 6)).toBe(6);
    expect(resolveWorkers(3, () => 6)).toBe(3);
  });

  it.each([
    [0, 'workers: must be at least 1, or "auto"'],
    [-2, 'workers: must be at least 1, or "auto"'],
    [1000, 'workers: must be at most 256'],
    ['1000', 'workers: must be at most 256'],
    ['0', 'workers: must be at least 1, or "auto"'],
    ['many', 'workers: must be a whole number from 1 to 256, or "auto"'],
  ])('refuses %j with its path', (workers, message) => {
    expect(() => validateConfig({ ...BASE, workers })).toThrow(message);
  });

  it('uses reusePort from Node 22.12 on, node:cluster before', () => {
    expect(supportsReusePort('20.19.0')).toBe(false);
    expect(supportsReusePort('22.11.0')).toBe(false);
    expect(supportsReusePort('22.12.0')).toBe(true);
    expect(supportsReusePort('23.0.0')).toBe(false);
    expect(supportsReusePort('24.0.0')).toBe(true);
  });
});
