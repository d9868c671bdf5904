#!/usr/bin/env node
import { holdOptimizingCompilers, holdYoungGeneration } from './process-footprint.js';

// Before anything else is loaded: a supervisor's start-up must not grow its young generation nor page in V8's
// optimizing compilers (process-footprint.ts); the single process releases both once the config says it is one.
holdYoungGeneration();
holdOptimizingCompilers();
const { main } = await import('./cli.js');

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
  // Servers are closed by now; give pino's asynchronous writer a moment to flush, then leave.
  setTimeout(() => process.exit(code), code === 0 ? 100 : 0).unref();
});
