#!/usr/bin/env node
import { holdOptimizingCompilers, holdYoungGeneration } from './process-footprint.js';

const EARLY_SIGNALS = ['SIGHUP', 'SIGTERM', 'SIGINT'] as const;

// Before anything else is loaded: a supervisor's start-up must not grow its young generation nor page in V8's
// optimizing compilers (process-footprint.ts); the single process releases both once the config says it is one.
holdYoungGeneration();
holdOptimizingCompilers();

// Loading the CLI takes a moment; a SIGHUP in it would otherwise kill the process (its default action, exit 129)
// and a SIGTERM would skip the clean stop. Until the command takes them over, they are remembered (cli.ts).
const received: NodeJS.Signals[] = [];
const remember = (signal: NodeJS.Signals): void => {
  received.push(signal);
};
for (const signal of EARLY_SIGNALS) process.on(signal, remember);
const { main } = await import('./cli.js');

main(process.argv.slice(2), {
  received,
  release: () => {
    for (const signal of EARLY_SIGNALS) process.off(signal, remember);
  },
}).then((code) => {
  process.exitCode = code;
  // Servers are closed by now; give pino's asynchronous writer a moment to flush, then leave.
  setTimeout(() => process.exit(code), code === 0 ? 100 : 0).unref();
});
