/**
 * A worker's entry point (the supervisor forks this, not the CLI): it loads the data path and nothing else, no
 * admin API, dashboard, rollout runners, config loader or supervisor, so that a worker starts sooner and holds
 * less memory.
 */
import { runWorker } from './worker.js';

runWorker().then((code) => {
  process.exitCode = code;
  // Servers are closed by now; give pino's asynchronous writer a moment to flush, then leave.
  setTimeout(() => process.exit(code), code === 0 ? 100 : 0).unref();
});
