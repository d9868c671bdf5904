/**
 * The lease's deadline arithmetic, on a scripted client and an injected monotonic clock: authority runs from when
 * the acquire/renew was *sent*, ends at sentAt + leaseMs - margin unless a renewal succeeded, and an answer that
 * arrives after that deadline is never acted on.
 */
import { describe, expect, it } from 'vitest';
import { LeaderLease, type FleetRedisClient } from '../src/fleet/leader-lease.js';

const silent = { debug() {}, info() {}, warn() {}, error() {} } as never;

interface Call {
  readonly script: string;
  readonly sentAt: number;
  answer(value: unknown): void;
  fail(error: Error): void;
}

function scripted(clock: { t: number }) {
  const calls: Call[] = [];
  const client: FleetRedisClient = {
    sendCommand: (args) =>
      new Promise((resolve, reject) => {
        const script = args[1].includes("'NX'") ? 'acquire' : args[1].includes('PEXPIRE') ? 'renew' : 'release';
        calls.push({ script, sentAt: clock.t, answer: resolve, fail: reject });
      }),
  };
  return { client, calls };
}

async function nextCall(calls: Call[], count: number): Promise<Call> {
  for (let i = 0; i < 300 && calls.length < count; i++) await new Promise((resolve) => setTimeout(resolve, 5));
  expect(calls.length).toBe(count);
  return calls[count - 1];
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 0));

describe('leader lease deadlines', () => {
  it('leads from the acquire until sentAt + leaseMs - margin; a failed renewal does not extend it', async () => {
    const clock = { t: 1_000 };
    const { client, calls } = scripted(clock);
    const changes: Array<[boolean, number | null]> = [];
    const lease = new LeaderLease({ client, fleet: 'f', memberId: 'm', leaseMs: 1_000, renewEveryMs: 50, marginMs: 200, logger: silent, clock: () => clock.t, onChange: (l, e) => changes.push([l, e]) });
    lease.start();
    const acquire = await nextCall(calls, 1);
    expect(acquire.script).toBe('acquire');
    clock.t = 1_300; // the answer takes 300 ms: authority still counts from the send, at 1000
    acquire.answer([1, 7]);
    await settle();
    expect(lease.leading()).toBe(true);
    expect(lease.epoch()).toBe(7);
    expect(lease.status().validForMs).toBe(500); // 1000 + 1000 - 200 - 1300

    const renew = await nextCall(calls, 2);
    expect(renew.script).toBe('renew');
    renew.fail(new Error('connection lost'));
    await settle();
    clock.t = 1_799;
    expect(lease.leading()).toBe(true);
    clock.t = 1_800;
    expect(lease.leading()).toBe(false);
    expect(lease.epoch()).toBeNull();
    expect(changes).toEqual([
      [true, 7],
      [false, 7],
    ]);
    await lease.stop();
  });

  it('a successful renewal extends authority from the moment it was sent', async () => {
    const clock = { t: 0 };
    const { client, calls } = scripted(clock);
    const lease = new LeaderLease({ client, fleet: 'f', memberId: 'm', leaseMs: 1_000, renewEveryMs: 50, marginMs: 200, logger: silent, clock: () => clock.t });
    lease.start();
    (await nextCall(calls, 1)).answer([1, 3]);
    await settle();
    clock.t = 400;
    const renew = await nextCall(calls, 2);
    expect(renew.sentAt).toBe(400);
    clock.t = 700;
    renew.answer(3);
    await settle();
    clock.t = 1_199; // 400 + 1000 - 200 - 1
    expect(lease.leading()).toBe(true);
    clock.t = 1_200;
    expect(lease.leading()).toBe(false);
    await lease.stop();
  });

  it('an acquire answered after its own deadline is not acted on; a renewal that finds another holder ends leadership', async () => {
    const clock = { t: 0 };
    const { client, calls } = scripted(clock);
    const changes: Array<[boolean, number | null]> = [];
    const lease = new LeaderLease({ client, fleet: 'f', memberId: 'm', leaseMs: 1_000, renewEveryMs: 50, marginMs: 200, logger: silent, clock: () => clock.t, onChange: (l, e) => changes.push([l, e]) });
    lease.start();
    const late = await nextCall(calls, 1);
    clock.t = 900; // past 0 + 1000 - 200
    late.answer([1, 4]);
    await settle();
    expect(lease.leading()).toBe(false);
    expect(changes).toEqual([]);
    // It tries again at once (the key is ours: a new term, a new epoch).
    const again = await nextCall(calls, 2);
    expect(again.script).toBe('acquire');
    again.answer([1, 5]);
    await settle();
    expect(lease.epoch()).toBe(5);
    const renew = await nextCall(calls, 3);
    renew.answer(0); // the key holds another member's id
    await settle();
    expect(lease.leading()).toBe(false);
    expect(changes).toEqual([
      [true, 5],
      [false, 5],
    ]);
    await lease.stop();
  });
});
