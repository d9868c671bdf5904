/**
 * Module hooks for the diff worker when splitgate runs from its TypeScript sources (the in-process tests under
 * vitest, which transforms only the modules of its own thread): `./x.js` imports of a `.ts` module resolve to the
 * `.ts` file, which is transpiled (types stripped) with the project's own TypeScript. The build never uses this
 * file: dist/ holds the compiled worker, which Node loads as it is.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

let ts;

/** `data.base`: a file URL inside the project, from where `typescript` (a dev dependency) is resolved. */
export function initialize(data) {
  ts = createRequire(data.base)('typescript');
}

export async function resolve(specifier, context, nextResolve) {
  if (context.parentURL?.endsWith('.ts') && specifier.startsWith('.') && specifier.endsWith('.js')) {
    const url = new URL(specifier, context.parentURL);
    if (!existsSync(fileURLToPath(url))) return { url: `${url.href.slice(0, -3)}.ts`, format: 'module', shortCircuit: true };
  }
  return nextResolve(specifier, context);
}

export async function load(url, context, nextLoad) {
  if (!url.startsWith('file:') || !url.endsWith('.ts')) return nextLoad(url, context);
  const fileName = fileURLToPath(url);
  const output = ts.transpileModule(await readFile(fileName, 'utf8'), {
    fileName,
    compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, sourceMap: false },
  });
  return { format: 'module', source: output.outputText, shortCircuit: true };
}
