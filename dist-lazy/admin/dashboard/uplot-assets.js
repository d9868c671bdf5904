import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
export function loadUplot() {
    try {
        const require = createRequire(import.meta.url);
        const script = readFileSync(require.resolve('uplot/dist/uPlot.iife.min.js'), 'utf8');
        const style = readFileSync(require.resolve('uplot/dist/uPlot.min.css'), 'utf8');
        if (/<\/(script|style)/i.test(script + style))
            return null;
        return { script, style };
    }
    catch {
        return null;
    }
}
//# sourceMappingURL=uplot-assets.js.map