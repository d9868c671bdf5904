/**
 * uPlot (the charting library of the dashboard's time series), read once from node_modules and inlined into the
 * page: the admin listener serves no other files, the page loads nothing from elsewhere (offline machines, a strict
 * CSP), and the script is allowed by its hash like the page's own. Without the package the page still works, without
 * charts (`null`).
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

export interface UplotAssets {
  readonly script: string;
  readonly style: string;
}

export function loadUplot(): UplotAssets | null {
  try {
    const require = createRequire(import.meta.url);
    const script = readFileSync(require.resolve('uplot/dist/uPlot.iife.min.js'), 'utf8');
    const style = readFileSync(require.resolve('uplot/dist/uPlot.min.css'), 'utf8');
    // Inlined in <script> and <style>: a closing tag inside would end them early.
    if (/<\/(script|style)/i.test(script + style)) return null;
    return { script, style };
  } catch {
    return null;
  }
}
