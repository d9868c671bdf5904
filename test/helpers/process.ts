/**
 * splitgate as a child process, the way operators run it: `node dist/bin.js --config FILE`. The CLI prints its
 * bound addresses as the JSON log line `splitgate listening`; with `listen: 127.0.0.1:0` the helper reads them
 * from there (so the config must keep log.level at info or below), and no port is ever fixed.
 * Runs dist/, so `npm run build` first.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Readable } from 'node:stream';
import { stringify } from 'yaml';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const BIN = join(ROOT, 'dist', 'bin.js');

/** The child runs dist/, not src/: without a build there is nothing to run. */
export function assertBuilt(): void {
  if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run \`npm run build\` before the integration tests`);
}

export interface TempDir {
  readonly path: string;
  /** Writes `config` (an object, serialized as YAML, or YAML text) to `name` and returns the file's path. */
  writeConfig(name: string, config: Record<string, unknown> | string): string;
  remove(): void;
}

export function createTempDir(): TempDir {
  const path = mkdtempSync(join(tmpdir(), 'splitgate-it-'));
  return {
    path,
    writeConfig(name, config) {
      const file = join(path, name);
      writeFileSync(file, typeof config === 'string' ? config : stringify(config));
      return file;
    },
    remove: () => rmSync(path, { recursive: true, force: true }),
  };
}

export interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface SplitgateProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly url: string;
  readonly adminUrl: string;
  /** Parsed JSON lines from stdout so far. */
  readonly logLines: Array<Record<string, unknown>>;
  /** Stdout lines that were not one JSON object (a torn or interleaved write); a test asserts there are none. */
  readonly badLines: string[];
  stderr(): string;
  readonly exited: Promise<Exit>;
  /** Sends `signal` (SIGTERM by default) and waits for the process to exit. */
  stop(signal?: NodeJS.Signals): Promise<Exit>;
}

/** Calls `onEntry` with each line of `stream` that is one JSON object, as it arrives, and `onOther` with any other. */
export function onJsonLines(stream: Readable, onEntry: (entry: Record<string, unknown>) => void, onOther: (line: string) => void = () => undefined): void {
  let pending = '';
  stream.setEncoding('utf8').on('data', (text: string) => {
    pending += text;
    let newline: number;
    while ((newline = pending.indexOf('\n')) !== -1) {
      const line = pending.slice(0, newline);
      pending = pending.slice(newline + 1);
      if (line.trim() === '') continue;
      let entry: Record<string, unknown>;
      try {
        entry = JSON.parse(line) as Record<string, unknown>;
      } catch {
        onOther(line);
        continue;
      }
      onEntry(entry);
    }
  });
}

/** Starts `node dist/bin.js --config <file>` and resolves once it logs `splitgate listening`. */
export function spawnSplitgate(configFile: string, timeoutMs = 10_000, options: { nodeArgs?: readonly string[]; env?: Record<string, string> } = {}): Promise<SplitgateProcess> {
  assertBuilt();
  // Run in the config's directory, so relative paths in it (a state file, say) land there and not in the repo.
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), BIN, '--config', configFile], {
    cwd: dirname(configFile),
    ...(options.env ? { env: { ...process.env, ...options.env } } : {}),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logLines: Array<Record<string, unknown>> = [];
  const badLines: string[] = [];
  let stderr = '';
  const exited = new Promise<Exit>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`splitgate did not report listening within ${timeoutMs} ms; stderr: ${stderr}`));
    }, timeoutMs);
    child.stderr!.setEncoding('utf8').on('data', (text: string) => (stderr += text));
    onJsonLines(
      child.stdout!,
      (entry) => {
        logLines.push(entry);
        if (entry.msg !== 'splitgate listening') return;
        clearTimeout(timer);
        resolve({
          child,
          pid: child.pid!,
          url: entry.listen as string,
          adminUrl: entry.admin as string,
          logLines,
          badLines,
          stderr: () => stderr,
          exited,
          stop: (signal = 'SIGTERM') => {
            if (child.exitCode === null && child.signalCode === null) child.kill(signal);
            return exited;
          },
        });
      },
      (line) => badLines.push(line),
    );
    void exited.then((exit) => {
      clearTimeout(timer);
      reject(new Error(`splitgate exited (${exit.code ?? exit.signal}) before listening; stderr: ${stderr}`));
    });
  });
}

/** Kills (SIGKILL) a child that is still running; for afterAll, after a test that failed half-way. */
export async function killIfRunning(instance: SplitgateProcess | undefined): Promise<void> {
  if (instance === undefined || instance.child.exitCode !== null || instance.child.signalCode !== null) return;
  instance.child.kill('SIGKILL');
  await instance.exited;
}

export interface CliResult extends Exit {
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the CLI to completion with `args`. */
export function runCli(args: readonly string[], timeoutMs = 10_000): Promise<CliResult> {
  assertBuilt();
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text));
  child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`splitgate ${args.join(' ')} did not exit within ${timeoutMs} ms`));
    }, timeoutMs);
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** Peak resident set size (VmHWM) of a Linux process, in bytes. */
export function peakRssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = /^VmHWM:\s+(\d+)\s+kB$/m.exec(status);
  if (!match) throw new Error(`no VmHWM in /proc/${pid}/status`);
  return Number(match[1]) * 1024;
}

