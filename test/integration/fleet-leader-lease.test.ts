/**
 * The rollout leader's lease on a real redis-server: one leader at a time, a dead leader replaced within the
 * lease with a higher epoch (and the old one stopped acting before that), and a leader paused past its lease
 * (SIGSTOP, then SIGCONT) whose late write is refused by the fencing epoch.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { LeaderLease } from '../../src/fleet/leader-lease.js';
import { redisForFile, type TestRedisClient } from '../helpers/redis.js';
import { assertBuilt } from '../helpers/process.js';
import { FENCED_WRITE } from '../helpers/fenced-write.mjs';

const silent = { debug() {}, info() {}, warn() {}, error() {} } as never;

const redis = redisForFile();
const client = (): Promise<TestRedisClient> => redis.client();

async function until(what: string, accept: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!accept()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe('leader lease', () => {
  it('two leases on one Redis: exactly one leads at any moment, and the epoch counts the acquisitions', async () => {
    const fleet = 'two-leases';
    const changes: string[] = [];
    const a = new LeaderLease({ client: await client(), fleet, memberId: 'a', leaseMs: 1_500, logger: silent, onChange: (l, e) => changes.push(`a:${l}:${e}`) });
    const b = new LeaderLease({ client: await client(), fleet, memberId: 'b', leaseMs: 1_500, logger: silent, onChange: (l, e) => changes.push(`b:${l}:${e}`) });
    a.start();
    b.start();
    await until('a leader', () => a.leading() || b.leading());
    // Two lease lifetimes, sampled every 5 ms: never two leaders, never none (the holder renews in time).
    const end = Date.now() + 3_000;
    let samples = 0;
    while (Date.now() < end) {
      const leaders = Number(a.leading()) + Number(b.leading());
      expect(leaders).toBe(1);
      samples++;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    expect(samples).toBeGreaterThan(50);
    // One acquisition, so one epoch, kept through the renewals.
    expect(changes).toHaveLength(1);
    expect(changes[0]).toMatch(/^[ab]:true:1$/);
    await a.stop();
    await b.stop();
  });

  it("the leader's Redis connection dies: the other takes over within the lease with a higher epoch, after the old one stopped acting", async () => {
    const fleet = 'takeover';
    const leaseMs = 1_000;
    const aClient = await client();
    let bLedAt = 0;
    let aLeadingWhenBLed: boolean | null = null;
    const a = new LeaderLease({ client: aClient, fleet, memberId: 'a', leaseMs, logger: silent });
    a.start();
    await until('a leading', () => a.leading());
    const firstEpoch = a.epoch()!;
    const b = new LeaderLease({
      client: await client(),
      fleet,
      memberId: 'b',
      leaseMs,
      logger: silent,
      onChange: (leading) => {
        if (!leading || bLedAt !== 0) return;
        bLedAt = performance.now();
        aLeadingWhenBLed = a.leading();
      },
    });
    b.start();
    // b contends for a while without winning: a renews.
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(b.leading()).toBe(false);
    expect(a.leading()).toBe(true);

    const killedAt = performance.now();
    aClient.destroy();
    await until('b leading', () => b.leading(), 3_000);
    const takeoverMs = bLedAt - killedAt;
    console.log(`leader lease takeover: ${Math.round(takeoverMs)} ms after the leader's connection died (lease ${leaseMs} ms)`);
    // The key outlives a's last renewal by leaseMs, and b tries again 5 ms after it expires: about leaseMs + 5 ms
    // and a Redis round trip at worst. The other ~995 ms are for timers that fire late on a loaded 2-core CI
    // machine; a takeover that waited out a second lease, or never came, still fails it.
    expect(takeoverMs).toBeLessThan(leaseMs + 1_000);
    expect(b.epoch()).toBeGreaterThan(firstEpoch);
    // a stopped acting on its own clock before its key could expire, so the two never overlapped.
    expect(aLeadingWhenBLed).toBe(false);
    expect(a.leading()).toBe(false);
    await a.stop();
    await b.stop();
  });

  it('a stopped lease releases the key, so the other takes over at its next attempt instead of after the expiry', async () => {
    const fleet = 'release';
    const a = new LeaderLease({ client: await client(), fleet, memberId: 'a', leaseMs: 3_000, renewEveryMs: 200, logger: silent });
    a.start();
    await until('a leading', () => a.leading());
    const b = new LeaderLease({ client: await client(), fleet, memberId: 'b', leaseMs: 3_000, renewEveryMs: 200, logger: silent });
    b.start();
    await new Promise((resolve) => setTimeout(resolve, 300));
    const stoppedAt = performance.now();
    await a.stop();
    expect(a.leading()).toBe(false);
    await until('b leading', () => b.leading(), 2_000);
    expect(performance.now() - stoppedAt).toBeLessThan(1_500);
    await b.stop();
  });

  it('a leader SIGSTOPped past its lease, then SIGCONTed: it stops acting on waking, and its late write is refused by the epoch', async () => {
    assertBuilt();
    const fleet = 'paused';
    const leaseMs = 1_000;
    const holder = fileURLToPath(new URL('../helpers/lease-holder.mjs', import.meta.url));
    const child: ChildProcess = spawn(process.execPath, [holder, redis.server.url, fleet, 'paused-child', String(leaseMs)], { stdio: ['pipe', 'pipe', 'pipe'] });
    const lines: any[] = [];
    let buffered = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      let newline: number;
      while ((newline = buffered.indexOf('\n')) >= 0) {
        lines.push(JSON.parse(buffered.slice(0, newline)));
        buffered = buffered.slice(newline + 1);
      }
    });
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise((resolve) => child.once('exit', resolve));
    try {
      await until('the child leading and writing', () => lines.some((l) => l.event === 'gated' && l.result === 'ok'), 10_000).catch((error) => {
        throw new Error(`${error.message}; child stderr: ${stderr}`);
      });
      const childEpoch = lines.find((l) => l.event === 'change' && l.leading).epoch as number;

      const redisClient = await client();
      const b = new LeaderLease({ client: redisClient, fleet, memberId: 'b', leaseMs, logger: silent });
      b.start();
      child.kill('SIGSTOP');
      await until('b leading', () => b.leading(), 3_000);
      const bEpoch = b.epoch()!;
      expect(bEpoch).toBeGreaterThan(childEpoch);
      const bWrite = await redisClient.sendCommand(['EVAL', FENCED_WRITE, '2', `sg:{${fleet}}:epoch`, `sg:{${fleet}}:test`, String(bEpoch), 'b#1']);
      expect(bWrite).toBe('ok');
      // Well past the child's lease by its own clock too.
      await new Promise((resolve) => setTimeout(resolve, 300));

      const resumedAt = lines.length;
      child.kill('SIGCONT');
      child.stdin!.write('late-write\n');
      await until('the late write answered', () => lines.slice(resumedAt).some((l) => l.event === 'late-write'), 5_000);
      const after = lines.slice(resumedAt);
      const late = after.find((l) => l.event === 'late-write');
      expect(late).toEqual({ event: 'late-write', result: 'fenced', epoch: childEpoch });
      // On waking it gave up leadership and made no gated write with its old epoch.
      expect(after.find((l) => l.event === 'change')).toEqual({ event: 'change', leading: false, epoch: childEpoch });
      expect(after.filter((l) => l.event === 'gated' && l.epoch === childEpoch)).toEqual([]);
      expect(await redisClient.get(`sg:{${fleet}}:test`)).toBe('b#1');
      expect(b.leading()).toBe(true);
      await b.stop();
    } finally {
      child.kill('SIGCONT');
      child.kill('SIGKILL');
      await exited;
    }
  });
});
