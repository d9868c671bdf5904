#!/usr/bin/env node
import { main } from './cli.js';

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
  // Servers are closed by now; give pino's asynchronous writer a moment to flush, then leave.
  setTimeout(() => process.exit(code), code === 0 ? 100 : 0).unref();
});
