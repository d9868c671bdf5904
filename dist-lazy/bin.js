#!/usr/bin/env node
import { holdOptimizingCompilers, holdYoungGeneration } from './process-footprint.js';
holdYoungGeneration();
holdOptimizingCompilers();
const { main } = await import('./cli.js');
main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
    setTimeout(() => process.exit(code), code === 0 ? 100 : 0).unref();
});
//# sourceMappingURL=bin.js.map