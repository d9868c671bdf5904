/**
 * The supervisor's event log for canary ejections and restorations reads as one proxy's, though each worker runs its
 * own outlier detector, probes and health checks (src/cluster/worker-pool.ts #newsForMachine). Driven through the real
 * WorkerPool with node:cluster replaced by fake workers whose IPC messages the test sends; the expected logs are
 * what one process would have written for the same story.
 */
import { EventEmitter } from 'node:events';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

interface FakeWorker extends EventEmitter {
  sent: Array<{ type: string; holds?: unknown[] }>;
  dead: boolean;
  process: { pid: number; kill(): void };
  send(message: { type: string }, handle: unknown, done?: () => void): void;
  isConnected(): boolean;
  isDead(): boolean;
}

const fakeCluster = vi.hoisted(() => {
  const { EventEmitter: Emitter } = require('node:events') as typeof import('node:events');
  const cluster = Object.assign(new Emitter(), { forked: [] as FakeWorker[], fork: (): FakeWorker => undefined as never });
  let pid = 1000;
  cluster.fork = () => {
    const worker = Object.assign(new Emitter(), {
      sent: [] as FakeWorker['sent'],
      dead: false,
      process: { pid: pid++, kill: () => undefined },
      send(message: { type: string }, _handle: unknown, done?: () => void) {
        worker.sent.push(message);
        done?.();
      },
      isConnected: () => !worker.dead,
      isDead: () => worker.dead,
    }) as FakeWorker;
    worker.process.kill = () => {
      worker.dead = true;
      cluster.emit('exit', worker, null, 'SIGKILL');
      worker.emit('exit');
    };
    cluster.forked.push(worker);
    return worker;
  };
  return cluster;
});
vi.mock('node:cluster', () => ({ default: fakeCluster }));

const { WorkerPool } = await import('../src/cluster/worker-pool.js');

type RouteShape = { name: string; canary: string; outlier: false | Record<string, never> };
interface Recorded {
  actor: string;
  action: string;
  message?: string;
  after: { slot: number };
}

let table: { generation: number; config: { routes: RouteShape[] } };
let recorded: Recorded[];
/** Ejections the pool left out of the machine's count, by slot and route. */
let crossings: Array<[number, string]>;

function setTable(generation: number, routes: RouteShape[]): void {
  table = { generation, config: { routes } };
}

/** A worker's outlier event, as worker.ts sends it. */
function event(worker: FakeWorker, action: 'upstream.ejected' | 'upstream.restored', source: 'detector' | 'checks', reason: string, ejectionMs?: number): void {
  const after = { upstream: 'canary', reason, ejections: 1, source, ...(ejectionMs === undefined ? {} : { ejectionMs }) };
  worker.emit('message', { type: 'event', event: { action, route: 'api', message: reason, after } });
}

/** A passive ejection as worker.ts sends it, with the end its guard set (epoch ms). */
function ejectedUntil(worker: FakeWorker, reason: string, ejectionMs: number, until: number): void {
  const after = { upstream: 'canary', reason, ejections: 1, source: 'detector', ejectionMs, ejectedUntil: until };
  worker.emit('message', { type: 'event', event: { action: 'upstream.ejected', route: 'api', message: reason, after } });
}

/** A health-check outage both workers see: failing on each, then passing on each. */
function checksFailThenPass(first: FakeWorker, second: FakeWorker): void {
  event(first, 'upstream.ejected', 'checks', 'health checks fail');
  event(second, 'upstream.ejected', 'checks', 'health checks fail');
  event(first, 'upstream.restored', 'checks', 'health checks pass');
  event(second, 'upstream.restored', 'checks', 'health checks pass');
}

const log = (): string[] => recorded.filter((e) => e.actor === 'outlier').map((e) => `${e.action.slice(9)}@${e.after.slot}: ${e.message}`);

async function startPool(): Promise<{ pool: InstanceType<typeof WorkerPool>; a: FakeWorker; b: FakeWorker }> {
  fakeCluster.removeAllListeners('exit');
  fakeCluster.forked = [];
  recorded = [];
  crossings = [];
  const pool = new WorkerPool({
    count: 2,
    listen: { host: '127.0.0.1', port: 1, reusePort: false },
    current: () => table as never,
    events: { record: (entry: Recorded) => recorded.push(entry) } as never,
    logger: { info() {}, warn() {}, error() {} } as never,
    spare: false,
    ackTimeoutMs: 50,
    onDeltas: () => undefined,
    onExit: () => undefined,
    onCrossingEjection: (slot, route) => crossings.push([slot, route]),
  });
  const started = pool.start();
  const bringUp = (worker: FakeWorker): void => {
    worker.emit('message', { type: 'ready' });
    worker.emit('message', { type: 'listening', port: 1, generation: table.generation });
  };
  bringUp(fakeCluster.forked[0]);
  bringUp(fakeCluster.forked[1]);
  await started;
  const [a, b] = fakeCluster.forked;
  return { pool, a, b };
}

async function publish(pool: InstanceType<typeof WorkerPool>, workers: FakeWorker[], generation: number, routes: RouteShape[], beforeAcks: () => void = () => undefined): Promise<void> {
  setTable(generation, routes);
  const delivered = pool.publish(table as never);
  beforeAcks();
  for (const worker of workers) worker.emit('message', { type: 'ack', generation });
  await delivered;
}

const API: RouteShape = { name: 'api', canary: 'canary', outlier: {} };

/** The story's clock moves on (only Date: the pool's restart timers run on real time). */
function later(ms: number): void {
  vi.setSystemTime(Date.now() + ms);
}

describe('the supervisor logs canary ejections as one proxy would', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['Date'] });
    setTable(1, [API]);
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('a probe that succeeds on one worker restores the canary for the machine, though another never probes', async () => {
    const { a, b } = await startPool();
    event(a, 'upstream.ejected', 'detector', '3 failures in a row', 30_000);
    // b holds the ejection and gets no canary traffic: it stays probing, and says nothing.
    expect(b.sent.at(-1)).toMatchObject({ type: 'eject' });
    later(30_000);
    event(a, 'upstream.restored', 'detector', 'a probe succeeded');
    checksFailThenPass(a, b);
    event(b, 'upstream.restored', 'detector', 'a probe succeeded');
    expect(log()).toEqual(['ejected@0: 3 failures in a row', 'restored@0: a probe succeeded', 'ejected@0: health checks fail', 'restored@1: health checks pass']);
  });

  it('a crash seen by the detector and the health checks ends in one restoration, when a probe succeeds', async () => {
    const { a, b } = await startPool();
    event(a, 'upstream.ejected', 'detector', '3 failures in a row', 30_000);
    checksFailThenPass(a, b);
    later(30_000);
    event(a, 'upstream.restored', 'detector', 'a probe succeeded');
    event(b, 'upstream.restored', 'detector', 'a probe succeeded');
    expect(log()).toEqual(['ejected@0: 3 failures in a row', 'restored@0: a probe succeeded']);
  });

  it('a crash both workers saw is one ejection: the second worker ejected before the first one\'s reached it', async () => {
    const { a, b } = await startPool();
    event(a, 'upstream.ejected', 'detector', '3 failures in a row', 30_000);
    later(3);
    event(b, 'upstream.ejected', 'detector', '3 failures in a row', 30_000);
    expect(log()).toEqual(['ejected@0: 3 failures in a row']);
    expect(crossings).toEqual([[1, 'api']]);
    later(30_000);
    event(b, 'upstream.restored', 'detector', 'a probe succeeded');
    event(a, 'upstream.restored', 'detector', 'a probe succeeded');
    expect(log()).toEqual(['ejected@0: 3 failures in a row', 'restored@1: a probe succeeded']);
  });

  it('probes failing on both workers at once are one new ejection, and a later failed probe is news again', async () => {
    const { a, b } = await startPool();
    event(a, 'upstream.ejected', 'detector', '3 failures in a row', 30_000);
    event(b, 'upstream.ejected', 'detector', '3 failures in a row', 30_000);
    later(30_000);
    event(a, 'upstream.ejected', 'detector', 'a probe failed', 60_000);
    later(2);
    event(b, 'upstream.ejected', 'detector', 'a probe failed', 60_000);
    later(60_000);
    event(b, 'upstream.ejected', 'detector', 'a probe failed', 90_000);
    expect(log()).toEqual(['ejected@0: 3 failures in a row', 'ejected@0: a probe failed', 'ejected@1: a probe failed']);
    expect(crossings).toEqual([
      [1, 'api'],
      [1, 'api'],
    ]);
  });

  it("a worker's own ejection never makes its next one a crossing, though the supervisor read the first one late", async () => {
    const { a } = await startPool();
    // Ejected at 0 for 1 s, its probe failed at 1.05 s (2 s): both read at 1.5 s, after the supervisor was busy.
    later(1_500);
    ejectedUntil(a, '3 failures in a row', 1_000, Date.now() - 500);
    later(1);
    ejectedUntil(a, 'a probe failed', 2_000, Date.now() + 1_550);
    // Without the guard's own end: a 20 ms ejection read 15 ms late, its failed probe read 1 ms after it ended.
    later(60_000);
    event(a, 'upstream.ejected', 'detector', '3 failures in a row', 20);
    later(7);
    event(a, 'upstream.ejected', 'detector', 'a probe failed', 40);
    expect(log()).toEqual(['ejected@0: 3 failures in a row', 'ejected@0: a probe failed', 'ejected@0: 3 failures in a row', 'ejected@0: a probe failed']);
    expect(crossings).toEqual([]);
  });

  it("a longer ejection crossing another worker's shorter one tells its time", async () => {
    const { a, b } = await startPool();
    // b was probing after an ejection of its own; a, fresh, ejects for 30 s as b's probe fails (60 s).
    event(a, 'upstream.ejected', 'detector', '3 failures in a row', 30_000);
    later(3);
    event(b, 'upstream.ejected', 'detector', 'a probe failed', 60_000);
    expect(log()).toEqual(['ejected@0: 3 failures in a row', 'ejected@1: a probe failed']);
    expect(crossings).toEqual([]);
  });

  it('counts every passive ejection (a failed probe tells its longer time)', async () => {
    const { a, b } = await startPool();
    event(a, 'upstream.ejected', 'detector', '3 failures in a row', 30_000);
    later(30_000);
    event(b, 'upstream.ejected', 'detector', 'a probe failed', 60_000);
    later(60_000);
    event(b, 'upstream.restored', 'detector', 'a probe succeeded');
    event(a, 'upstream.restored', 'detector', 'a probe succeeded');
    expect(log()).toEqual(['ejected@0: 3 failures in a row', 'ejected@1: a probe failed', 'restored@1: a probe succeeded']);
  });

  it('an ejection that crossed a reload turning detection off is neither held elsewhere nor kept for a later worker', async () => {
    const { pool, a, b } = await startPool();
    await publish(pool, [a, b], 2, [{ ...API, outlier: false }], () => {
      // Sent by a before it applied the new table; b already has detection off.
      event(a, 'upstream.ejected', 'detector', '3 failures in a row', 30_000);
      event(a, 'upstream.restored', 'detector', 'outlier detection turned off');
    });
    expect(b.sent.some((message) => message.type === 'eject')).toBe(false);
    checksFailThenPass(a, b);
    expect(log()).toEqual([
      'ejected@0: 3 failures in a row',
      'restored@0: outlier detection turned off',
      'ejected@0: health checks fail',
      'restored@1: health checks pass',
    ]);
    await publish(pool, [a, b], 3, [API]);
    a.process.kill();
    await vi.waitFor(() => expect(fakeCluster.forked).toHaveLength(3), { timeout: 3_000 });
    const replacement = fakeCluster.forked[2];
    replacement.emit('message', { type: 'ready' });
    expect(replacement.sent.find((message) => message.type === 'init')?.holds).toEqual([]);
  });

  it('forgets a route that went away with an ejection in flight: its return starts clean', async () => {
    const { pool, a, b } = await startPool();
    await publish(pool, [a, b], 2, [], () => event(a, 'upstream.ejected', 'detector', '3 failures in a row', 30_000));
    await publish(pool, [a, b], 3, [API]);
    event(a, 'upstream.ejected', 'checks', 'health checks fail');
    event(b, 'upstream.ejected', 'checks', 'health checks fail');
    expect(log()).toEqual(['ejected@0: 3 failures in a row', 'ejected@0: health checks fail']);
  });

  it('gives a replacement the ejection in force with its table, and says when the only worker with the canary out exits', async () => {
    const { a, b } = await startPool();
    event(a, 'upstream.ejected', 'checks', 'health checks fail');
    a.process.kill();
    expect(log()).toEqual(['ejected@0: health checks fail', 'restored@0: worker 0, the only one with it out, exited']);
    event(b, 'upstream.ejected', 'detector', '3 failures in a row', 30_000);
    await vi.waitFor(() => expect(fakeCluster.forked).toHaveLength(3), { timeout: 3_000 });
    const replacement = fakeCluster.forked[2];
    replacement.emit('message', { type: 'ready' });
    expect(replacement.sent.find((message) => message.type === 'init')?.holds).toMatchObject([{ route: 'api', upstream: 'canary', ejectionMs: 30_000 }]);
    // A probe that succeeds on b restores the canary for the machine, though the replacement still probes.
    later(30_000);
    event(b, 'upstream.restored', 'detector', 'a probe succeeded');
    expect(log().at(-1)).toBe('restored@1: a probe succeeded');
  });

  it("a probe that succeeds while a failed probe's new ejection is on its way does not end that ejection", async () => {
    const { a, b } = await startPool();
    event(a, 'upstream.ejected', 'detector', '3 failures in a row', 30_000);
    later(30_000);
    // Both probe at the same moment: a's probe fails (60 s, passed on to b), b's succeeded just before the hold came.
    event(a, 'upstream.ejected', 'detector', 'a probe failed', 60_000);
    event(b, 'upstream.restored', 'detector', 'a probe succeeded');
    expect(log()).toEqual(['ejected@0: 3 failures in a row', 'ejected@0: a probe failed']);
    b.process.kill();
    await vi.waitFor(() => expect(fakeCluster.forked).toHaveLength(3), { timeout: 3_000 });
    fakeCluster.forked[2].emit('message', { type: 'ready' });
    expect(fakeCluster.forked[2].sent.find((message) => message.type === 'init')?.holds).toMatchObject([{ ejectionMs: 60_000 }]);
  });

  it('an exit does not say the canary is back while a replacement will hold the ejection', async () => {
    const { a, b } = await startPool();
    b.process.kill(); // it lived under a second: its replacement waits a second, so b's slot gets no share
    event(a, 'upstream.ejected', 'detector', '3 failures in a row', 30_000);
    a.process.kill();
    expect(log()).toEqual(['ejected@0: 3 failures in a row']);
    await vi.waitFor(() => expect(fakeCluster.forked).toHaveLength(4), { timeout: 3_000 });
    for (const replacement of fakeCluster.forked.slice(2)) {
      replacement.emit('message', { type: 'ready' });
      expect(replacement.sent.find((message) => message.type === 'init')?.holds).toHaveLength(1);
    }
    // b's slot came back first (its timer started first): the fourth process serves slot 0.
    later(30_000);
    event(fakeCluster.forked[3], 'upstream.restored', 'detector', 'a probe succeeded');
    expect(log()).toEqual(['ejected@0: 3 failures in a row', 'restored@0: a probe succeeded']);
  });

  it('a share that a starting worker never got does not keep the canary out for good', async () => {
    const { a, b } = await startPool();
    b.process.kill();
    await vi.waitFor(() => expect(fakeCluster.forked).toHaveLength(3), { timeout: 3_000 });
    const loading = fakeCluster.forked[2];
    // A short ejection while b's replacement loads: over (within the margin) by the time it gets its table.
    event(a, 'upstream.ejected', 'detector', '3 failures in a row', 500);
    loading.emit('message', { type: 'ready' });
    expect(loading.sent.find((message) => message.type === 'init')?.holds).toEqual([]);
    later(500);
    event(a, 'upstream.restored', 'detector', 'a probe succeeded');
    checksFailThenPass(a, loading);
    expect(log()).toEqual(['ejected@0: 3 failures in a row', 'restored@0: a probe succeeded', 'ejected@0: health checks fail', 'restored@1: health checks pass']);
  });

  it('writes no restoration when workers exit because the supervisor drains them', async () => {
    const { pool, a, b } = await startPool();
    event(a, 'upstream.ejected', 'checks', 'health checks fail');
    event(b, 'upstream.ejected', 'checks', 'health checks fail');
    const drained = pool.drain(100);
    a.process.kill();
    b.process.kill();
    await drained;
    expect(log()).toEqual(['ejected@0: health checks fail']);
  });
});
