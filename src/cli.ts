/**
 * The `splitgate` command: `splitgate --config FILE` runs the proxy; `splitgate validate FILE` checks a config and
 * prints every problem with its path; `status`, `weight`, `kill`, ... talk to a running instance's admin API.
 * Exit codes: 0 ok, 1 invalid config, failed start or failed call, 2 bad usage.
 */
import cluster from 'node:cluster';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { Supervisor } from './cluster/supervisor.js';
import { loadConfigFile } from './config/load.js';
import { resolveWorkers } from './config/schema.js';
import { CONTROL_COMMANDS, CONTROL_USAGE, DEFAULT_TIMEOUT_MS, runControl } from './cli-control.js';
import { ConfigError } from './errors.js';
import type { Splitgate } from './splitgate.js';
import { releaseOptimizingCompilers, releaseYoungGeneration } from './process-footprint.js';

/** What a supervisor forks: the data path alone, not this CLI with everything it can do. */
const WORKER_ENTRY = fileURLToPath(new URL('./cluster/worker-main.js', import.meta.url));

const USAGE = `usage:
  splitgate --config FILE     run the proxy with FILE (YAML)
  splitgate validate FILE     check FILE and list every problem with its path
${CONTROL_USAGE}
  splitgate --version | --help`;

/** Signals that arrived before the command knew what it is (bin.ts), and how to stop collecting them. */
export interface StartupSignals {
  readonly received: readonly NodeJS.Signals[];
  /** Removes the collecting handlers; call once the command has its own (or wants the default actions back). */
  release(): void;
}

const NO_STARTUP_SIGNALS: StartupSignals = { received: [], release: () => undefined };

/**
 * Not the proxy: the signals get their default action back, and one that came while the CLI loaded is re-raised
 * (a Ctrl-C during `splitgate status` still ends it).
 */
function restoreDefaultSignals(startup: StartupSignals): void {
  startup.release();
  const first = startup.received[0];
  if (first !== undefined) process.kill(process.pid, first);
}

export async function main(argv: string[], startup: StartupSignals = NO_STARTUP_SIGNALS): Promise<number> {
  if (!isRunCommand(argv)) restoreDefaultSignals(startup);
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        config: { type: 'string', short: 'c' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean' },
        admin: { type: 'string' },
        token: { type: 'string' },
        actor: { type: 'string' },
        json: { type: 'boolean' },
        clear: { type: 'boolean' },
        timeout: { type: 'string' },
      },
    });
  } catch (error) {
    process.stderr.write(`splitgate: ${(error as Error).message}\n${USAGE}\n`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (values.version) {
    process.stdout.write(`${packageVersion()}\n`);
    return 0;
  }
  if (positionals[0] === 'validate') {
    const file = positionals[1] ?? values.config;
    if (!file) {
      process.stderr.write(`splitgate validate: which file?\n${USAGE}\n`);
      return 2;
    }
    return validate(file);
  }
  if (values.clear === true && positionals[0] !== 'weight') {
    process.stderr.write(`splitgate: --clear is for \`splitgate weight ROUTE --clear\` only\n${USAGE}\n`);
    return 2;
  }
  if (positionals[0] !== undefined && CONTROL_COMMANDS.has(positionals[0])) {
    const timeoutSeconds = values.timeout === undefined ? DEFAULT_TIMEOUT_MS / 1000 : Number(values.timeout);
    if (!(timeoutSeconds > 0 && timeoutSeconds <= 3_600)) {
      process.stderr.write(`splitgate: --timeout ${JSON.stringify(values.timeout)}: give the seconds to wait for the admin API, from more than 0 to 3600\n`);
      return 2;
    }
    return runControl(positionals[0], positionals.slice(1), {
      // AbortSignal.timeout takes whole milliseconds.
      timeoutMs: Math.max(1, Math.ceil(timeoutSeconds * 1000)),
      admin: values.admin ?? process.env.SPLITGATE_ADMIN_URL ?? 'http://127.0.0.1:9901',
      token: values.token ?? process.env.SPLITGATE_ADMIN_TOKEN,
      actor: values.actor ?? process.env.USER,
      json: values.json ?? false,
      clear: values.clear ?? false,
      out: (text) => process.stdout.write(text),
      err: (text) => process.stderr.write(text),
    });
  }
  if (positionals.length > 0) {
    process.stderr.write(`splitgate: unknown command "${positionals[0]}"\n${USAGE}\n`);
    return 2;
  }
  if (!values.config) {
    process.stderr.write(`splitgate: --config FILE is required\n${USAGE}\n`);
    return 2;
  }
  return run(values.config, startup);
}

/** Whether argv runs the proxy (the only command that handles signals itself): `--config FILE` and nothing else. */
function isRunCommand(argv: readonly string[]): boolean {
  try {
    const { values, positionals } = parseArgs({ args: [...argv], allowPositionals: true, strict: false, options: { config: { type: 'string', short: 'c' } } });
    return positionals.length === 0 && typeof values.config === 'string' && !argv.includes('--help') && !argv.includes('-h') && !argv.includes('--version');
  } catch {
    return false;
  }
}

async function validate(file: string): Promise<number> {
  try {
    const config = await loadConfigFile(file);
    process.stdout.write(`${file}: ok (${config.routes.length} routes, ${Object.keys(config.upstreams).length} upstreams)\n`);
    // Not errors, but what an operator should know: flags sent under another key, values the header cannot carry.
    const definitions = config.flags?.definitions;
    if (definitions !== undefined) {
      const { compileFlagSet } = await import('./flags/flag-set.js');
      for (const note of compileFlagSet(definitions).notes) process.stdout.write(`  flags: ${note}\n`);
    }
    return 0;
  } catch (error) {
    process.stderr.write(`${describe(error)}\n`);
    return 1;
  }
}

/**
 * Runs the proxy until SIGTERM or SIGINT, then drains and resolves 0. Signals are handled from the first moment
 * (bin.ts collects them while the CLI loads): SIGHUP during start-up is applied as a reload once started (the file
 * may have changed after it was read), SIGTERM/SIGINT during start-up stop it as soon as it has started. A second
 * SIGTERM/SIGINT during the drain does not cut it (as NGINX and Envoy: a graceful stop stays graceful; the drain
 * is bounded by shutdown.drainTimeout, and SIGKILL still ends the process at once).
 */
async function run(file: string, startup: StartupSignals): Promise<number> {
  // A supervisor's worker runs this same command; its table and its port come from the supervisor, not the file.
  if (cluster.isWorker) {
    startup.release();
    releaseYoungGeneration();
    releaseOptimizingCompilers();
    return (await import('./cluster/worker.js')).runWorker();
  }
  let instance: Splitgate | Supervisor | null = null;
  let stopSignal: NodeJS.Signals | null = null;
  let reloadWanted = false;
  let draining = false;
  let finish: (code: number) => void = () => undefined;
  const finished = new Promise<number>((resolve) => (finish = resolve));
  const stop = (running: Splitgate | Supervisor, signal: NodeJS.Signals): void => {
    if (draining) {
      running.logger.warn({ signal }, 'already shutting down: the drain goes on (it ends within shutdown.drainTimeout; SIGKILL cuts it)');
      return;
    }
    draining = true;
    running.logger.info({ signal }, 'shutting down');
    running.stop().then(
      () => {
        running.logger.flush();
        finish(0);
      },
      (error: unknown) => {
        running.logger.error({ err: error }, 'shutdown failed');
        finish(1);
      },
    );
  };
  const reload = (running: Splitgate | Supervisor): void => {
    running.reload('signal').catch((error: unknown) => running.logger.error({ err: error }, 'reload failed'));
  };
  const onSignal = (signal: NodeJS.Signals): void => {
    if (instance === null) {
      // Still starting: remembered and acted on once started (there is nothing to drain or reload yet).
      if (signal === 'SIGHUP') reloadWanted = true;
      else stopSignal ??= signal;
      return;
    }
    if (signal === 'SIGHUP') reload(instance);
    else stop(instance, signal);
  };
  // Ours first, then the collector off: no moment without a handler.
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(signal, onSignal);
  startup.release();
  for (const signal of startup.received) onSignal(signal);

  let started: Splitgate | Supervisor;
  try {
    const config = await loadConfigFile(file);
    const workers = resolveWorkers(config.workers, availableParallelism);
    // Each process mode loads only its own modules: a supervisor runs no data path, and the single process's
    // modules would be ~1 MB of a supervisor's heap for nothing (issue 15's supervisor memory goal).
    if (workers > 1) {
      const { Supervisor } = await import('./cluster/supervisor.js');
      started = await Supervisor.start({ config, configPath: file, workers, exec: WORKER_ENTRY, args: [] });
    } else {
      releaseYoungGeneration();
      releaseOptimizingCompilers();
      const { Splitgate } = await import('./splitgate.js');
      started = await Splitgate.start({ config, configPath: file });
    }
  } catch (error) {
    process.stderr.write(`splitgate: cannot start: ${describe(error)}\n`);
    return 1;
  }
  instance = started;
  // The 'splitgate listening' line carries the bound addresses that supervisors and scripts wait for; the async
  // log writer would hold it until 4 KiB of log had piled up.
  started.logger.flush();
  if (stopSignal !== null) {
    started.logger.info({ signal: stopSignal }, 'signal received during start-up: stopping now that splitgate has started');
    stop(started, stopSignal);
  } else if (reloadWanted) {
    started.logger.info({ signal: 'SIGHUP' }, 'SIGHUP received during start-up: reloading now that splitgate has started');
    reload(started);
  }
  return finished;
}

function describe(error: unknown): string {
  if (error instanceof ConfigError) return error.message;
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'EADDRINUSE' || code === 'EACCES') {
    const e = error as NodeJS.ErrnoException & { address?: string; port?: number };
    return `${code}: cannot listen on ${e.address}:${e.port}`;
  }
  return (error as Error).message ?? String(error);
}

function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}
