import cluster from 'node:cluster';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { loadConfigFile } from './config/load.js';
import { resolveWorkers } from './config/schema.js';
import { CONTROL_COMMANDS, CONTROL_USAGE, runControl } from './cli-control.js';
import { ConfigError } from './errors.js';
import { releaseOptimizingCompilers, releaseYoungGeneration } from './process-footprint.js';
const WORKER_ENTRY = fileURLToPath(new URL('./cluster/worker-main.js', import.meta.url));
const USAGE = `usage:
  splitgate --config FILE     run the proxy with FILE (YAML)
  splitgate validate FILE     check FILE and list every problem with its path
${CONTROL_USAGE}
  splitgate --version | --help`;
export async function main(argv) {
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
            },
        });
    }
    catch (error) {
        process.stderr.write(`splitgate: ${error.message}\n${USAGE}\n`);
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
    if (positionals[0] !== undefined && CONTROL_COMMANDS.has(positionals[0])) {
        return runControl(positionals[0], positionals.slice(1), {
            admin: values.admin ?? process.env.SPLITGATE_ADMIN_URL ?? 'http://127.0.0.1:9901',
            token: values.token ?? process.env.SPLITGATE_ADMIN_TOKEN,
            actor: values.actor ?? process.env.USER,
            json: values.json ?? false,
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
    return run(values.config);
}
async function validate(file) {
    try {
        const config = await loadConfigFile(file);
        process.stdout.write(`${file}: ok (${config.routes.length} routes, ${Object.keys(config.upstreams).length} upstreams)\n`);
        const definitions = config.flags?.definitions;
        if (definitions !== undefined) {
            const { compileFlagSet } = await import('./flags/flag-set.js');
            for (const note of compileFlagSet(definitions).notes)
                process.stdout.write(`  flags: ${note}\n`);
        }
        return 0;
    }
    catch (error) {
        process.stderr.write(`${describe(error)}\n`);
        return 1;
    }
}
async function run(file) {
    if (cluster.isWorker) {
        releaseYoungGeneration();
        releaseOptimizingCompilers();
        return (await import('./cluster/worker.js')).runWorker();
    }
    let instance;
    try {
        const config = await loadConfigFile(file);
        const workers = resolveWorkers(config.workers, availableParallelism);
        if (workers > 1) {
            const { Supervisor } = await import('./cluster/supervisor.js');
            instance = await Supervisor.start({ config, configPath: file, workers, exec: WORKER_ENTRY, args: [] });
        }
        else {
            releaseYoungGeneration();
            releaseOptimizingCompilers();
            const { Splitgate } = await import('./splitgate.js');
            instance = await Splitgate.start({ config, configPath: file });
        }
    }
    catch (error) {
        process.stderr.write(`splitgate: cannot start: ${describe(error)}\n`);
        return 1;
    }
    instance.logger.flush();
    return new Promise((resolve) => {
        const shutdown = (signal) => {
            instance.logger.info({ signal }, 'shutting down');
            instance.stop().then(() => {
                instance.logger.flush();
                resolve(0);
            }, (error) => {
                instance.logger.error({ err: error }, 'shutdown failed');
                resolve(1);
            });
        };
        process.once('SIGTERM', shutdown);
        process.once('SIGINT', shutdown);
        process.on('SIGHUP', () => {
            instance.reload('signal').catch((error) => instance.logger.error({ err: error }, 'reload failed'));
        });
    });
}
function describe(error) {
    if (error instanceof ConfigError)
        return error.message;
    const code = error.code;
    if (code === 'EADDRINUSE' || code === 'EACCES') {
        const e = error;
        return `${code}: cannot listen on ${e.address}:${e.port}`;
    }
    return error.message ?? String(error);
}
function packageVersion() {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
    return pkg.version;
}
//# sourceMappingURL=cli.js.map