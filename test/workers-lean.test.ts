/**
 * What a worker and a supervisor load and build, for start-up time and memory (issue 15): a worker's entry loads
 * the data path alone; undici is loaded without its index (fetch, WebSocket, mocks, caches: ~10 MB and ~100 ms per
 * process) through the very classes its index exports; a supervisor's upstreams carry no pool.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as undici from 'undici';
import { describe, expect, it } from 'vitest';
import { validateConfig } from '../src/config/load.js';
import { undiciCore } from '../src/proxy/undici-core.js';
import { UpstreamPools } from '../src/proxy/upstream-pools.js';

const SRC = fileURLToPath(new URL('../src/', import.meta.url));

/** Every module `entry` loads at start (value imports, not `import type` nor a dynamic `import()`), by path. */
function staticClosure(entry: string): { modules: Set<string>; packages: Set<string> } {
  const modules = new Set<string>();
  const packages = new Set<string>();
  const visit = (file: string): void => {
    if (modules.has(file)) return;
    modules.add(file);
    const source = readFileSync(file, 'utf8');
    for (const match of source.matchAll(/^import\s+(?!type\s)(?:[^'";]*?\sfrom\s+)?['"]([^'"]+)['"]/gm)) {
      const specifier = match[1];
      if (specifier.startsWith('.')) visit(resolve(dirname(file), specifier.replace(/\.js$/, '.ts')));
      else packages.add(specifier);
    }
    // createRequire'd deep imports (undici-core.ts)
    for (const match of source.matchAll(/require\('([^']+)'\)/g)) packages.add(match[1]);
  };
  visit(resolve(SRC, entry));
  return { modules: new Set([...modules].map((file) => file.slice(SRC.length))), packages };
}

describe('a worker loads the data path alone', () => {
  it('worker-main.ts reaches no admin, dashboard, rollout, supervisor, CLI or config loader module', () => {
    const { modules } = staticClosure('cluster/worker-main.ts');
    expect(modules).toContain('proxy/service.ts');
    const unwanted = [...modules].filter((m) => /^(admin|rollout|demo)\/|^cluster\/supervisor|^cli|^splitgate\.ts|^config\/load|^control\/controller/.test(m));
    expect(unwanted).toEqual([]);
  });

  it('and no undici index, YAML parser or HTTP client for Prometheus and webhooks', () => {
    const { packages } = staticClosure('cluster/worker-main.ts');
    expect(packages).toContain('undici/lib/dispatcher/pool.js');
    expect([...packages].filter((p) => p === 'undici' || p === 'yaml')).toEqual([]);
  });

  it('and no zod nor config schema: the supervisor validates and sends the result (the schema is ~2 MB of heap per process)', () => {
    const { modules, packages } = staticClosure('cluster/worker-main.ts');
    expect(modules).toContain('routing/table.ts');
    expect(packages).not.toContain('zod');
    expect([...modules].filter((m) => /^config\/(schema|experiment-schema)\.ts$|^flags\/definitions\.ts$/.test(m))).toEqual([]);
    // The processes that validate a config still do.
    for (const validating of ['splitgate.ts', 'cluster/supervisor.ts']) expect(staticClosure(validating).modules).toContain('config/load.ts');
  });

  it('a supervisor or single process loads the fleet\'s modules only with `fleet:`, and the dashboard page on its first visit', () => {
    for (const entry of ['cluster/supervisor.ts', 'splitgate.ts']) {
      const { modules } = staticClosure(entry);
      expect(modules).toContain('admin/admin-server.ts');
      const unwanted = [...modules].filter((m) => /^fleet\/(fleet|rollout-fleet|redis-client|leader-lease|fleet-kit)\.ts$|^experiments\/fleet-|^admin\/dashboard/.test(m));
      expect(unwanted).toEqual([]);
    }
  });

  it('the supervisor does not load undici\'s index either until a rollout queries Prometheus or calls a webhook', () => {
    const { packages } = staticClosure('cluster/supervisor.ts');
    expect(packages).not.toContain('undici');
  });
});

describe('undici without its index', () => {
  it('is the Pool and buildConnector that undici exports', () => {
    const { Pool, buildConnector, request } = undiciCore();
    expect(Pool).toBe(undici.Pool);
    expect(buildConnector).toBe(undici.buildConnector);
    expect(request).toBe(undici.Dispatcher.prototype.request);
  });
});

describe('a supervisor\'s upstreams', () => {
  const config = validateConfig({
    upstreams: { a: 'http://127.0.0.1:1', b: 'http://127.0.0.1:2' },
    routes: [{ name: 'r', stable: 'a', canary: 'b', mirror: { to: 'b', percent: 10 } }],
  });

  it('carry an inert stand-in instead of a pool: nothing to connect, close at once, refuse a request', async () => {
    const pools = new UpstreamPools({ dispatching: false });
    pools.update(config);
    for (const upstream of [pools.get('a')!, pools.get('b')!, pools.getForMirror('b')!]) {
      expect(upstream.pool).not.toBeInstanceOf(undici.Pool);
      expect(() => upstream.pool.dispatch({ method: 'GET', path: '/', origin: upstream.origin }, {} as never)).toThrow(/does not send requests/);
    }
    await pools.close();
  });

  it('while a worker\'s are undici pools', async () => {
    const pools = new UpstreamPools();
    pools.update(config);
    expect(pools.get('a')!.pool).toBeInstanceOf(undici.Pool);
    await pools.close();
  });

  it('still run health checks, on a pool of their own, so its rollout runners see an unhealthy canary', async () => {
    const failing = createServer((_, res) => res.writeHead(500).end());
    await new Promise<void>((done) => failing.listen(0, '127.0.0.1', done));
    const port = (failing.address() as AddressInfo).port;
    const pools = new UpstreamPools({ dispatching: false });
    try {
      pools.update(validateConfig({
        upstreams: { a: 'http://127.0.0.1:1', b: { url: `http://127.0.0.1:${port}`, health: { path: '/health', interval: '100ms', unhealthy: 2 } } },
        routes: [{ name: 'r', stable: 'a', canary: 'b' }],
      }));
      const deadline = Date.now() + 5_000;
      while (pools.health()[0]?.healthy !== false && Date.now() < deadline) await new Promise((done) => setTimeout(done, 50));
      expect(pools.health()).toMatchObject([{ upstream: 'b', healthy: false, lastFailure: 'status 500' }]);
    } finally {
      await pools.close();
      failing.close();
    }
  });
});

describe('undici is loaded only where a request is sent', () => {
  it('a supervisor compiles its tables without it (~10 MB); a health check or a worker\'s pool loads it', () => {
    const script = `
      import { createRequire } from 'node:module';
      const cache = createRequire(import.meta.url).cache;
      const loaded = () => Object.keys(cache).some((path) => path.includes('/node_modules/undici/'));
      await import('./dist/cli.js');
      const { validateConfig } = await import('./dist/config/load.js');
      const { UpstreamPools } = await import('./dist/proxy/upstream-pools.js');
      const config = validateConfig({ upstreams: { a: 'http://127.0.0.1:1', b: 'http://127.0.0.1:2' }, routes: [{ name: 'r', stable: 'a', canary: 'b' }] });
      const supervisor = new UpstreamPools({ dispatching: false });
      supervisor.update(config);
      const afterSupervisor = loaded();
      const worker = new UpstreamPools();
      worker.update(config);
      console.log(JSON.stringify({ afterSupervisor, afterWorker: loaded() }));
      await supervisor.close();
      await worker.close();`;
    const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: fileURLToPath(new URL('..', import.meta.url)), encoding: 'utf8' });
    expect(run.stderr).toBe('');
    expect(JSON.parse(run.stdout)).toEqual({ afterSupervisor: false, afterWorker: true });
  });
});

describe('node-redis is loaded only with a fleet', () => {
  it('a single process and a supervisor start without it (~18 MB); the fleet\'s client loads it on first use', () => {
    const script = `
      import { createRequire } from 'node:module';
      const cache = createRequire(import.meta.url).cache;
      const loaded = () => Object.keys(cache).some((path) => path.includes('/node_modules/redis/'));
      await import('./dist/splitgate.js');
      await import('./dist/cluster/supervisor.js');
      const before = loaded();
      (await import('./dist/fleet/redis-client.js')).loadRedis();
      console.log(JSON.stringify({ before, after: loaded() }));`;
    const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: fileURLToPath(new URL('..', import.meta.url)), encoding: 'utf8' });
    expect(run.stderr).toBe('');
    expect(JSON.parse(run.stdout)).toEqual({ before: false, after: true });
  });
});

describe('re2js is loaded only by a config with a `~` pattern', () => {
  it('a table without patterns is compiled without it (~0.8 MB of heap per process); the first pattern loads it', () => {
    const script = `
      import { createRequire } from 'node:module';
      const cache = createRequire(import.meta.url).cache;
      const loaded = () => Object.keys(cache).some((path) => path.includes('/node_modules/re2js/'));
      const { validateConfig } = await import('./dist/config/load.js');
      const { compileTable } = await import('./dist/routing/table.js');
      const base = { listen: '127.0.0.1:0', upstreams: { a: 'http://127.0.0.1:1', b: 'http://127.0.0.1:2' } };
      compileTable(validateConfig({ ...base, routes: [{ name: 'r', stable: 'a', canary: 'b', weight: 5 }] }), 1);
      const before = loaded();
      const rules = [{ match: { headers: { 'user-agent': '~(?i)bot' } }, version: 'canary' }];
      compileTable(validateConfig({ ...base, routes: [{ name: 'r', stable: 'a', canary: 'b', weight: 5, rules }] }), 1);
      console.log(JSON.stringify({ before, after: loaded() }));`;
    const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: fileURLToPath(new URL('..', import.meta.url)), encoding: 'utf8' });
    expect(run.stderr).toBe('');
    expect(JSON.parse(run.stdout)).toEqual({ before: false, after: true });
  });
});

describe('each process mode loads its own modules', () => {
  it('cli.ts imports neither the single process, the supervisor nor the worker statically: a supervisor runs no data path', () => {
    const { modules } = staticClosure('cli.ts');
    expect([...modules].filter((m) => /^splitgate\.ts$|^cluster\/(supervisor|worker)\.ts$|^proxy\/service\.ts$/.test(m))).toEqual([]);
    expect(staticClosure('bin.ts').modules).toEqual(new Set(['bin.ts', 'process-footprint.ts']));
  });
});
