#!/usr/bin/env node
import { holdYoungGeneration } from './young-generation.js';

// Before anything else is loaded: a supervisor's start-up must not grow its young generation (young-generation.ts);
// the single process releases it once the config says it is one.
holdYoungGeneration();
const { main } = await import('./cli.js');

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
  // Servers are closed by now; give pino's asynchronous writer a moment to flush, then leave.
  setTimeout(() => process.exit(code), code === 0 ? 100 : 0).unref();
});
