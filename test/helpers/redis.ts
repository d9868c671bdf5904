/**
 * A real redis-server for fleet tests (Debian's, installed by .ci/run): on a free 127.0.0.1 port, no persistence
 * (`--save "" --appendonly no`), so a restart comes back empty, as a Redis without persistence does. `stop` and
 * `start` again reuse the same port, so a test can take Redis away under load and bring it back.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createConnection } from 'node:net';
import { createClient } from 'redis';
import { afterAll, beforeAll } from 'vitest';
import { reservedPort } from './ports.js';

export const REDIS_SERVER = process.env.REDIS_SERVER ?? '/usr/bin/redis-server';

export interface TestRedis {
  readonly port: number;
  readonly url: string;
  readonly running: boolean;
  /** Starts it (again) on the same port; resolves once it accepts connections. */
  start(): Promise<void>;
  /** SIGKILL and wait for the exit: to the clients this is Redis gone at once. */
  stop(): Promise<void>;
  /** SIGSTOP: connections stay open but nothing answers (a hung Redis, a partition without RST). */
  pause(): void;
  /** SIGCONT after pause(). */
  resume(): void;
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

export async function startRedis(): Promise<TestRedis> {
  const port = await reservedPort();
  let child: ChildProcess | null = null;
  let output = '';
  const redis: TestRedis = {
    port,
    url: `redis://127.0.0.1:${port}`,
    get running() {
      return child !== null;
    },
    async start() {
      if (child !== null) return;
      const started = spawn(REDIS_SERVER, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: ['ignore', 'pipe', 'pipe'] });
      started.stdout!.setEncoding('utf8').on('data', (text: string) => (output = (output + text).slice(-4000)));
      started.stderr!.setEncoding('utf8').on('data', (text: string) => (output = (output + text).slice(-4000)));
      child = started;
      started.once('exit', () => {
        if (child === started) child = null;
      });
      for (let attempt = 0; attempt < 100; attempt++) {
        if (await accepts(port)) return;
        if (child === null) break;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      throw new Error(`redis-server did not accept connections on ${port}: ${output}`);
    },
    pause() {
      child?.kill('SIGSTOP');
    },
    resume() {
      child?.kill('SIGCONT');
    },
    async stop() {
      const running = child;
      if (running === null) return;
      const exited = new Promise<void>((resolve) => running.once('exit', () => resolve()));
      running.kill('SIGKILL');
      running.kill('SIGCONT');
      await exited;
      child = null;
    },
  };
  await redis.start();
  return redis;
}

export type TestRedisClient = ReturnType<typeof createClient>;

/**
 * A connected client for tests. Reconnects are off and the offline queue is disabled, so a command on a dead
 * connection fails at once instead of waiting for a server that a test has killed on purpose.
 */
export async function connectTestClient(url: string): Promise<TestRedisClient> {
  const client = createClient({ url, disableOfflineQueue: true, socket: { reconnectStrategy: false, connectTimeout: 2_000 } });
  client.on('error', () => {});
  await client.connect();
  return client;
}

export interface FileRedis {
  /** The file's redis-server (started before its first test). */
  readonly server: TestRedis;
  /** A test client, closed after the file's tests. */
  client(): Promise<TestRedisClient>;
}

/** One redis-server for a test file: started before its tests, stopped after them with every client it handed out. */
export function redisForFile(): FileRedis {
  let server: TestRedis | undefined;
  const clients: TestRedisClient[] = [];
  beforeAll(async () => {
    server = await startRedis();
  });
  afterAll(async () => {
    try {
      for (const client of clients) if (client.isOpen) client.destroy();
    } finally {
      await server?.stop();
    }
  });
  return {
    get server() {
      if (server === undefined) throw new Error('redis-server is not started yet: use it inside a test or a hook');
      return server;
    },
    async client() {
      const client = await connectTestClient(this.server.url);
      clients.push(client);
      return client;
    },
  };
}
