/**
 * jose is loaded on a process's first token verification, never at start: a worker or supervisor whose routes read
 * no claims does not carry it (the same care as undici's index and node-redis, issue 15).
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SRC = fileURLToPath(new URL('../src/', import.meta.url));

/** Packages `entry` loads at start: value imports (not `import type`, not a dynamic `import()`), followed through src. */
function packagesLoadedAtStart(entry: string): Set<string> {
  const seen = new Set<string>();
  const packages = new Set<string>();
  const visit = (file: string): void => {
    if (seen.has(file)) return;
    seen.add(file);
    for (const match of readFileSync(file, 'utf8').matchAll(/^import\s+(?!type\s)(?:[^'";]*?\sfrom\s+)?['"]([^'"]+)['"]/gm)) {
      const specifier = match[1];
      if (specifier.startsWith('.')) visit(resolve(dirname(file), specifier.replace(/\.js$/, '.ts')));
      else packages.add(specifier);
    }
  };
  visit(resolve(SRC, entry));
  return packages;
}

describe('JWT verification is loaded on first use', () => {
  it.each(['cluster/worker-main.ts', 'cluster/supervisor.ts', 'splitgate.ts'])('%s does not load jose at start', (entry) => {
    const packages = packagesLoadedAtStart(entry);
    // The walk does reach the tables and the verifiers' module (so the check below means something).
    expect(packages.has('lru-cache')).toBe(true);
    expect(packages.has('jose')).toBe(false);
  });

  it('the verifier itself imports jose only as types and by a dynamic import', () => {
    const source = readFileSync(resolve(SRC, 'auth/jwt-verifier.ts'), 'utf8');
    expect(source).toMatch(/await import\('jose'\)/);
    expect(packagesLoadedAtStart('auth/jwt-verifier.ts').has('jose')).toBe(false);
  });
});
