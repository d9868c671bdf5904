/**
 * Enough of the Prometheus text exposition format (0.0.4) to assert on exact values: one sample per line,
 * `name{label="value",...} number`, comments skipped, label values unescaped. And a real Prometheus server
 * (`startPrometheus`) for the rollout checks that query one.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { reservedPort } from './ports.js';

export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

export function parsePrometheus(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = LINE.exec(line);
    if (!match) throw new Error(`not a Prometheus sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, name, value] of (match[2] ?? '').matchAll(LABEL)) {
      labels[name] = value.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    }
    samples.push({ name: match[1], labels, value: parseValue(match[3]) });
  }
  return samples;
}

function parseValue(text: string): number {
  if (text === '+Inf') return Infinity;
  if (text === '-Inf') return -Infinity;
  return Number(text);
}

/** The value of the one sample with exactly these labels, or undefined when there is none. */
export function sampleValue(samples: readonly Sample[], name: string, labels: Record<string, string>): number | undefined {
  const wanted = Object.entries(labels);
  const found = samples.filter(
    (s) => s.name === name && Object.keys(s.labels).length === wanted.length && wanted.every(([k, v]) => s.labels[k] === v),
  );
  if (found.length > 1) throw new Error(`${found.length} samples of ${name} with labels ${JSON.stringify(labels)}`);
  return found[0]?.value;
}

/** Every sample of `name`. */
export function samplesOf(samples: readonly Sample[], name: string): Sample[] {
  return samples.filter((s) => s.name === name);
}

// --- A real Prometheus server, for rollout checks that query one -------------------------------------------------

/**
 * Runs the `prometheus` binary (the Debian package's /usr/bin/prometheus, or $PROMETHEUS_BIN) on 127.0.0.1 with a
 * throw-away config and TSDB, scraping the given targets every second. Tests that need it fail, never skip, when
 * the binary is missing: CI installs it.
 */

export const PROMETHEUS_BIN = process.env.PROMETHEUS_BIN ?? '/usr/bin/prometheus';

export function prometheusInstalled(): boolean {
  return existsSync(PROMETHEUS_BIN);
}

export function assertPrometheusInstalled(): void {
  if (!prometheusInstalled()) {
    throw new Error(
      `${PROMETHEUS_BIN} is missing: the Prometheus rollout tests need a real Prometheus (Debian/Ubuntu: apt-get install prometheus, ` +
        'or set PROMETHEUS_BIN); they fail rather than skip without it',
    );
  }
}

/** A port for a server that cannot be told to listen on port 0 and report it (see ports.ts). */
export const freePort = reservedPort;

export interface PrometheusServer {
  readonly url: string;
  readonly port: number;
  /** An instant query; the `data` of the answer (`resultType`, `result`). */
  query(promql: string): Promise<{ resultType: string; result: any }>;
  /** Resolves once every target has been scraped and is up. */
  waitForScrape(timeoutMs?: number): Promise<void>;
  /** Everything the process printed, for failure messages. */
  output(): string;
  stop(): Promise<void>;
}

export interface PrometheusOptions {
  /** `host:port` of each /metrics endpoint to scrape. */
  readonly targets: readonly string[];
  /** Defaults to a free port. */
  readonly port?: number;
  readonly readyTimeoutMs?: number;
  /** Scrape and rule evaluation interval (a Prometheus duration); defaults to 1s. */
  readonly scrapeInterval?: string;
}

export async function startPrometheus(options: PrometheusOptions): Promise<PrometheusServer> {
  assertPrometheusInstalled();
  const port = options.port ?? (await freePort());
  const dir = mkdtempSync(join(tmpdir(), 'splitgate-prometheus-'));
  const configFile = join(dir, 'prometheus.yml');
  const interval = options.scrapeInterval ?? '1s';
  writeFileSync(
    configFile,
    [
      `global: { scrape_interval: ${interval}, scrape_timeout: ${interval}, evaluation_interval: ${interval} }`,
      'scrape_configs:',
      '  - job_name: splitgate',
      `    static_configs: [{ targets: ${JSON.stringify(options.targets)} }]`,
      '',
    ].join('\n'),
  );
  const child = spawn(
    PROMETHEUS_BIN,
    [`--config.file=${configFile}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout!.setEncoding('utf8').on('data', (text: string) => (output += text));
  child.stderr!.setEncoding('utf8').on('data', (text: string) => (output += text));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = `http://127.0.0.1:${port}`;

  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const query = async (promql: string) => {
    const response = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(promql)}`, { signal: AbortSignal.timeout(5_000) });
    const body = (await response.json()) as { status: string; error?: string; data: { resultType: string; result: any } };
    if (body.status !== 'success') throw new Error(`query ${promql} failed: ${body.error}`);
    return body.data;
  };

  const deadline = Date.now() + (options.readyTimeoutMs ?? 20_000);
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      await stop();
      throw new Error(`prometheus exited (${child.exitCode ?? child.signalCode}) before it was ready: ${output}`);
    }
    const ready = await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(1_000) }).then(
      (r) => r.status === 200,
      () => false,
    );
    if (ready) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`prometheus on ${url} not ready within ${options.readyTimeoutMs ?? 20_000} ms: ${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }

  return {
    url,
    port,
    query,
    output: () => output,
    stop,
    async waitForScrape(timeoutMs = 10_000) {
      const until = Date.now() + timeoutMs;
      for (;;) {
        const up = await query('up{job="splitgate"}');
        if (up.result.length === options.targets.length && up.result.every((s: { value: [number, string] }) => s.value[1] === '1')) return;
        if (Date.now() > until) throw new Error(`prometheus did not scrape ${options.targets.join(', ')} within ${timeoutMs} ms: ${JSON.stringify(up.result)}`);
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    },
  };
}
