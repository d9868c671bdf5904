/**
 * Regressions from the admin review, on real processes (`node dist/bin.js`):
 * - a corrupt state file is moved aside and shown in `splitgate status`; an unreadable one (EACCES, the process
 *   running unprivileged) is never overwritten while so, and its kill switch comes back once it reads again;
 * - SIGHUP during start-up is a reload once started (not exit 129), SIGTERM during start-up exits 0, and a second
 *   SIGTERM during the drain does not cut the in-flight request;
 * - a wrong method on an admin path is 405 with Allow; an oversized body 413 SG_BODY_TOO_LARGE; /events?since=abc 400;
 * - `splitgate weight` refuses what is not a plain decimal and sends nothing; `splitgate reload` prints warnings.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { send, waitFor } from '../helpers/http.js';
import { BIN, assertBuilt, createTempDir, killIfRunning, onJsonLines, runCli, spawnSplitgate, type SplitgateProcess, type TempDir } from '../helpers/process.js';
import { adminCall } from '../helpers/rollout.js';
import { startUpstream, startUpstreams, type TestUpstream } from '../helpers/upstreams.js';

/** An unprivileged uid for the EACCES case when the tests run as root (root reads through chmod 000). */
const NOBODY = 65534;
const isRoot = process.getuid?.() === 0;

let upstreams: TestUpstream[];
let dir: TempDir;
let instance: SplitgateProcess | undefined;
const launched: ChildProcess[] = [];

beforeAll(async () => {
  upstreams = await startUpstreams('stable', 'canary');
  dir = createTempDir();
});
afterEach(async () => {
  await killIfRunning(instance);
  instance = undefined;
  for (const child of launched.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});
afterAll(async () => {
  await Promise.all(upstreams.map((u) => u.close()));
  dir?.remove();
});

function writeConfig(name: string, extra: Record<string, unknown> = {}, weight = 50): string {
  return dir.writeConfig(name, {
    listen: '127.0.0.1:0',
    admin: { listen: '127.0.0.1:0' },
    watch: false,
    log: { level: 'info', accessLog: { enabled: false } },
    upstreams: { stable: upstreams[0].url, canary: upstreams[1].url },
    routes: [{ name: 'api', stable: 'stable', canary: 'canary', weight }],
    ...extra,
  });
}

/** The child runs as `uid`: a Node binary under a 0700 directory (mktemp's) cannot be run by it. Said plainly. */
function assertRunnableBy(uid: number): void {
  const probe = spawnSync(process.execPath, ['-e', '0'], { uid, gid: uid });
  if (probe.error !== undefined || probe.status !== 0) {
    throw new Error(`uid ${uid} cannot run ${process.execPath} (${probe.error?.message ?? `exit ${probe.status}`}): every directory above it must be world-executable (.ci/run makes its Node 24 prefix 0755)`);
  }
}

interface Launched {
  readonly child: ChildProcess;
  readonly lines: Array<Record<string, unknown>>;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  listening(): Promise<{ admin: string; listen: string }>;
}

/** `node dist/bin.js --config FILE`, watched from its first moment (spawnSplitgate resolves only once listening). */
function launch(configFile: string, options: { uid?: number; cwd?: string } = {}): Launched {
  assertBuilt();
  const child = spawn(process.execPath, [BIN, '--config', configFile], {
    cwd: options.cwd ?? dir.path,
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(options.uid === undefined ? {} : { uid: options.uid, gid: options.uid }),
  });
  launched.push(child);
  const lines: Array<Record<string, unknown>> = [];
  onJsonLines(child.stdout!, (entry) => lines.push(entry));
  child.stderr!.resume();
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  return {
    child,
    lines,
    exited,
    async listening() {
      await waitFor('splitgate listening', () => lines.some((l) => l.msg === 'splitgate listening') || child.exitCode !== null, 10_000);
      const line = lines.find((l) => l.msg === 'splitgate listening');
      if (line === undefined) throw new Error(`exited before listening: ${child.exitCode}`);
      return { admin: line.admin as string, listen: line.listen as string };
    },
  };
}

describe('a state file that cannot be used at start', () => {
  it('corrupt: the process starts, the file is kept aside, `splitgate status` shows the problem, a change does not destroy it', async () => {
    mkdirSync(join(dir.path, 'corrupt'), { recursive: true });
    const statePath = join(dir.path, 'corrupt/state.json');
    const damaged = '{\n  "version": 1,\n  "routes": {\n    "api": {\n      "killed": true,\n      "weight": 100';
    writeFileSync(statePath, damaged);
    instance = await spawnSplitgate(writeConfig('corrupt.yaml', { state: { file: statePath } }));
    const status = (await adminCall(instance.adminUrl, 'GET', '/status')).body as { stateError: string };
    const aside = readdirSync(join(dir.path, 'corrupt')).find((name) => name.startsWith('state.json.corrupt-'));
    expect(aside).toBeDefined();
    expect(status.stateError).toContain(`kept as ${join(dir.path, 'corrupt', aside!)}`);
    expect(instance.logLines.some((l) => l.level === 'error' && l.msg === 'runtime state ignored')).toBe(true);
    const events = (await adminCall(instance.adminUrl, 'GET', '/events')).body as { events: Array<{ action: string; message?: string }> };
    expect(events.events.some((e) => e.action === 'state.ignored' && e.message?.includes(aside!))).toBe(true);
    const cli = await runCli(['status', '--admin', instance.adminUrl]);
    expect(cli.code).toBe(0);
    expect(cli.stdout).toMatch(/STATE FILE PROBLEM: .*not valid.*kept as .*state\.json\.corrupt-/);

    expect((await adminCall(instance.adminUrl, 'PUT', '/routes/api/weight', { weight: 50 })).status).toBe(200);
    expect(readFileSync(join(dir.path, 'corrupt', aside!), 'utf8')).toBe(damaged);
    expect(JSON.parse(readFileSync(statePath, 'utf8')).routes.api).toEqual({ weight: 50, weightSource: 'operator' });
  });

  it('unreadable (EACCES): never overwritten while so; once readable, its kill comes back and is saved with the change', async () => {
    const home = join(dir.path, 'eacces');
    mkdirSync(join(home, 'state'), { recursive: true });
    const statePath = join(home, 'state/state.json');
    const stored = `${JSON.stringify({ version: 1, routes: { api: { killed: true, weight: 100, weightSource: 'operator' } } })}\n`;
    writeFileSync(statePath, stored);
    const configFile = writeConfig('eacces.yaml', { state: { file: statePath } });
    if (isRoot) {
      chmodSync(dir.path, 0o755);
      chmodSync(configFile, 0o644);
      for (const path of [home, join(home, 'state'), statePath]) chownSync(path, NOBODY, NOBODY);
    }
    chmodSync(join(home, 'state'), 0o000);
    if (isRoot) assertRunnableBy(NOBODY);
    const run = launch(configFile, isRoot ? { uid: NOBODY, cwd: home } : { cwd: home });
    const { admin } = await run.listening();

    const status = (await adminCall(admin, 'GET', '/status')).body as { stateError: string; routes: Array<{ killed: boolean; weight: number }> };
    expect(status.stateError).toMatch(/cannot read state file .*EACCES.*not overwritten until it can be read or is removed/);
    expect(status.routes[0]).toMatchObject({ killed: false, weight: 50 });

    const held = await adminCall(admin, 'PUT', '/routes/api/weight', { weight: 30 });
    expect(held.status).toBe(200);
    expect((held.body as { warning: string }).warning).toMatch(/in force, but NOT saved: cannot read state file/);
    const cli = await runCli(['weight', 'api', '40', '--admin', admin]);
    expect(cli.code).toBe(0);
    expect(cli.stderr).toMatch(/warning: in force, but NOT saved/);

    // The operator fixes the permissions: the next change brings the stored kill back and saves both.
    chmodSync(join(home, 'state'), 0o755);
    expect(readFileSync(statePath, 'utf8')).toBe(stored);
    const saved = await adminCall(admin, 'PUT', '/routes/api/weight', { weight: 20 });
    expect(saved.status).toBe(200);
    expect(saved.body).toMatchObject({ weight: 20, killed: true });
    expect((saved.body as { warning?: string }).warning).toBeUndefined();
    expect(JSON.parse(readFileSync(statePath, 'utf8')).routes.api).toEqual({ killed: true, weight: 20, weightSource: 'operator' });
    const events = (await adminCall(admin, 'GET', '/events')).body as { events: Array<{ action: string }> };
    expect(events.events.map((e) => e.action)).toContain('state.restored');
    run.child.kill('SIGTERM');
    expect((await run.exited).code).toBe(0);
  });
});

/**
 * Whether the process has a SIGHUP handler (SigCgt in /proc): from the moment bin.ts runs. Before node runs
 * any JavaScript (its first ~50 ms) the kernel's default applies, as for any program.
 */
function catchesSighup(pid: number): boolean {
  const mask = /^SigCgt:\s+([0-9a-f]+)$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  // Bit n-1 stands for signal n; SIGHUP is 1.
  return mask !== undefined && (BigInt(`0x${mask}`) & 1n) === 1n;
}

describe('signals during start-up and the drain', () => {
  it('SIGHUP during start-up does not kill it: applied as a reload once started', async () => {
    const run = launch(writeConfig('hup.yaml', {}, 10));
    await waitFor('the SIGHUP handler', () => catchesSighup(run.child.pid!), 5_000);
    run.child.kill('SIGHUP');
    expect(run.lines.some((l) => l.msg === 'splitgate listening'), 'the signal came during start-up').toBe(false);
    const { admin } = await run.listening();
    await waitFor('the reload', () => run.lines.some((l) => l.msg === 'SIGHUP received during start-up: reloading now that splitgate has started'));
    expect((await send(admin, '/healthz')).status).toBe(200);
    expect(run.child.exitCode).toBeNull();
    run.child.kill('SIGTERM');
    expect(await run.exited).toEqual({ code: 0, signal: null });
  });

  it('SIGTERM during start-up exits 0 once started, not ignored', async () => {
    const run = launch(writeConfig('term.yaml'));
    // Node itself catches SIGTERM from its first moment (to restore the terminal, then die by it); splitgate's own
    // handlers come in with its SIGHUP one.
    await waitFor('splitgate\'s signal handlers', () => catchesSighup(run.child.pid!), 5_000);
    run.child.kill('SIGTERM');
    expect(run.lines.some((l) => l.msg === 'splitgate listening'), 'the signal came during start-up').toBe(false);
    expect(await run.exited).toEqual({ code: 0, signal: null });
    expect(run.lines.some((l) => l.msg === 'signal received during start-up: stopping now that splitgate has started')).toBe(true);
  });

  it('a second SIGTERM during the drain does not cut the in-flight request; it still exits 0', async () => {
    let arrived = 0;
    const slow = await startUpstream('stable', (req, res) => {
      req.resume();
      arrived++;
      setTimeout(() => res.end('slow done'), 1500);
    });
    try {
      const configFile = dir.writeConfig('drain.yaml', {
        listen: '127.0.0.1:0',
        admin: { listen: '127.0.0.1:0' },
        watch: false,
        log: { level: 'info', accessLog: { enabled: false } },
        upstreams: { stable: slow.url },
        routes: [{ name: 'app', stable: 'stable' }],
        shutdown: { drainTimeout: '10s' },
      });
      instance = await spawnSplitgate(configFile);
      const inFlight = send(instance.url, '/slow');
      await waitFor('the slow request at the upstream', () => arrived === 1);
      instance.child.kill('SIGTERM');
      await new Promise((resolve) => setTimeout(resolve, 200));
      instance.child.kill('SIGTERM');
      const reply = await inFlight;
      expect(reply.status).toBe(200);
      expect(reply.text).toBe('slow done');
      expect(await instance.exited).toEqual({ code: 0, signal: null });
      expect(instance.logLines.some((l) => typeof l.msg === 'string' && l.msg.startsWith('already shutting down'))).toBe(true);
    } finally {
      await slow.close();
    }
  });
});

describe('admin API and CLI input', () => {
  beforeAll(async () => {
    instance = undefined;
  });

  it('a wrong method on an admin path: 405 SG_METHOD_NOT_ALLOWED with Allow', async () => {
    instance = await spawnSplitgate(writeConfig('admin.yaml'));
    const cases: Array<[string, string, string]> = [
      ['GET', '/routes/api/weight', 'PUT, DELETE'],
      ['POST', '/routes/api/weight', 'PUT, DELETE'],
      ['PUT', '/routes/api/kill', 'POST'],
      ['GET', '/reload', 'POST'],
      ['POST', '/status', 'GET, HEAD'],
      ['PATCH', '/routes/api/weight', 'PUT, DELETE'],
    ];
    for (const [method, path, allow] of cases) {
      const response = await fetch(new URL(path, instance.adminUrl), { method, ...(method === 'GET' ? {} : { body: '{}', headers: { 'content-type': 'application/json' } }) });
      expect(response.status, `${method} ${path}`).toBe(405);
      expect(response.headers.get('allow'), `${method} ${path}`).toBe(allow);
      expect(((await response.json()) as { error: { code: string } }).error.code).toBe('SG_METHOD_NOT_ALLOWED');
    }
    expect((await fetch(new URL('/routes/api/nothing', instance.adminUrl), { method: 'POST' })).status).toBe(404);
    // Nothing changed on the way.
    expect(((await adminCall(instance.adminUrl, 'GET', '/status')).body as { routes: Array<{ weight: number; killed: boolean }> }).routes[0]).toMatchObject({ weight: 50, killed: false });
  });

  it('a body over 64 KiB is 413 SG_BODY_TOO_LARGE; /events?since=abc is 400', async () => {
    instance = await spawnSplitgate(writeConfig('admin-limits.yaml'));
    const big = await fetch(new URL('/routes/api/weight', instance.adminUrl), { method: 'PUT', body: JSON.stringify({ weight: 1, pad: 'x'.repeat(70_000) }), headers: { 'content-type': 'application/json' } });
    expect(big.status).toBe(413);
    expect(((await big.json()) as { error: { code: string } }).error.code).toBe('SG_BODY_TOO_LARGE');
    const since = await fetch(new URL('/events?since=abc', instance.adminUrl));
    expect(since.status).toBe(400);
    expect(((await since.json()) as { error: { code: string } }).error.code).toBe('SG_INVALID');
    expect((await fetch(new URL('/events?since=0', instance.adminUrl))).status).toBe(200);
  });

  it('`splitgate weight` takes only a plain decimal from 0 to 100 (two decimals) and sends nothing otherwise', async () => {
    instance = await spawnSplitgate(writeConfig('cli.yaml', {}, 10));
    for (const typed of ['', ' ', '0x10', '0b11', '1e1', '+5', '5.', '.5', '12.345', '101', 'Infinity']) {
      const result = await runCli(['weight', 'api', typed, '--admin', instance.adminUrl]);
      expect(result.code, JSON.stringify(typed)).not.toBe(0);
      expect(result.stderr).toMatch(/is not a percentage: write a plain decimal number from 0 to 100/);
    }
    expect((await runCli(['weight', 'api', '--admin', instance.adminUrl])).code).not.toBe(0);
    const events = (await adminCall(instance.adminUrl, 'GET', '/events')).body as { events: Array<{ action: string }> };
    expect(events.events.filter((e) => e.action === 'weight.set')).toEqual([]);
    const ok = await runCli(['weight', 'api', '12.5', '--admin', instance.adminUrl]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/api: weight 12.5 %/);
    // --clear drops the operator weight: back to the config's 10; with a PERCENT beside it, nothing is sent.
    expect((await runCli(['weight', 'api', '30', '--clear', '--admin', instance.adminUrl])).code).toBe(2);
    const cleared = await runCli(['weight', 'api', '--clear', '--admin', instance.adminUrl]);
    expect(cleared.code, cleared.stderr).toBe(0);
    const route = ((await adminCall(instance.adminUrl, 'GET', '/status')).body as { routes: Array<{ weight: number; weightSource: string }> }).routes[0];
    expect(route).toMatchObject({ weight: 10, weightSource: 'config' });
    // Another command with --clear is refused, not run without it (kill would have killed the route).
    expect((await runCli(['kill', 'api', '--clear', '--admin', instance.adminUrl])).code).toBe(2);
    expect(((await adminCall(instance.adminUrl, 'GET', '/status')).body as { routes: Array<{ killed: boolean }> }).routes[0].killed).toBe(false);
    const again = await runCli(['weight', 'api', '--clear', '--admin', instance.adminUrl]);
    expect(again.code).not.toBe(0);
    expect(again.stderr).toMatch(/no operator weight/);
  });

  it('`splitgate reload` prints the reply\'s warnings', async () => {
    instance = await spawnSplitgate(writeConfig('reload.yaml'));
    const result = await runCli(['reload', '--admin', instance.adminUrl]);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/reloaded: generation \d+/);
    expect(result.stderr).toBe('warning: config unchanged\n');
  });
});

