/**
 * The client-side timeouts of issue 14 item 4 (send, clientBody, queue) as config and as a sweep, without sockets:
 * path-accurate errors at every level, the layering (defaults, global, upstream, route), pools kept warm when only
 * a client-side timeout changes, and the sweep's membership and interval.
 */
import { describe, expect, it } from 'vitest';
import { validateConfig } from '../src/config/load.js';
import { DEFAULT_TIMEOUTS, resolveTimeouts, UpstreamPools } from '../src/proxy/upstream-pools.js';
import { TimeoutSweep, type SweepMember } from '../src/proxy/timeout-sweep.js';
import { configProblems } from './helpers/config-problems.js';

const VALID = {
  upstreams: { app: { url: 'http://127.0.0.1:3001' } },
  routes: [{ name: 'api', stable: 'app' }],
};

function problems(raw: unknown): string[] {
  return configProblems(raw);
}

describe('timeouts.send, clientBody, queue in config', () => {
  it('defaults to NGINX send_timeout and client_body_timeout (60 s) and a 10 s queue timeout', () => {
    expect(DEFAULT_TIMEOUTS).toMatchObject({ send: 60_000, clientBody: 60_000, queue: 10_000 });
    expect(DEFAULT_TIMEOUTS.queue).toBeGreaterThan(DEFAULT_TIMEOUTS.connect);
  });

  it.each([
    ['global', { ...VALID, timeouts: { send: 'soon' } }, 'timeouts.send: must be a duration'],
    ['upstream', { ...VALID, upstreams: { app: { url: 'http://127.0.0.1:3001', timeouts: { clientBody: -1 } } } }, 'upstreams.app.timeouts.clientBody: must be a duration'],
    ['route', { ...VALID, routes: [{ name: 'api', stable: 'app', timeouts: { queue: '1000h' } }] }, 'routes[0].timeouts.queue: must be at most 24 days'],
    ['misspelt', { ...VALID, timeouts: { sendTimeout: '1s' } }, 'timeouts: unknown field "sendTimeout"'],
  ])('rejects a bad value with its path (%s)', (_level, raw, expected) => {
    const lines = problems(raw);
    expect(lines.some((line) => line.startsWith(expected)), lines.join('\n')).toBe(true);
  });

  it('layers global, upstream and route values over the defaults; 0 turns one off', () => {
    const config = validateConfig({
      upstreams: { app: { url: 'http://127.0.0.1:3001', timeouts: { send: '5s', queue: 0 } } },
      timeouts: { send: '30s', clientBody: '20s' },
      routes: [{ name: 'api', stable: 'app', timeouts: { clientBody: '2s' } }],
    });
    const resolved = resolveTimeouts(config.timeouts, config.upstreams.app.timeouts, config.routes[0].timeouts);
    expect(resolved).toEqual({ ...DEFAULT_TIMEOUTS, send: 5_000, clientBody: 2_000, queue: 0 });
  });

  it('keeps an upstream pool (and its warm connections) when only a client-side timeout changes', async () => {
    const pools = new UpstreamPools();
    const before = validateConfig({ ...VALID, timeouts: { send: '30s' } });
    const after = validateConfig({ ...VALID, timeouts: { send: '10s', clientBody: '5s', queue: '2s' } });
    pools.update(before);
    const pool = pools.get('app');
    expect(pools.update(after)).toEqual([]);
    expect(pools.get('app')).toBe(pool);
    // A pool option still rebuilds it.
    pools.update(validateConfig({ ...VALID, timeouts: { headers: '5s' } }));
    expect(pools.get('app')).not.toBe(pool);
    await pools.close();
  });
});

class Member implements SweepMember {
  checks = 0;
  constructor(private readonly rounds: number) {}
  sweep(): boolean {
    return ++this.checks < this.rounds;
  }
}

describe('TimeoutSweep', () => {
  it('checks members each tick until they report nothing left to watch, then stops its interval', () => {
    const sweep = new TimeoutSweep(60_000, () => 0);
    const once = new Member(1);
    const thrice = new Member(3);
    sweep.add(once);
    sweep.add(thrice);
    sweep.add(thrice);
    expect(sweep.size).toBe(2);
    sweep.tick();
    expect(sweep.size).toBe(1);
    sweep.tick();
    sweep.tick();
    expect([once.checks, thrice.checks]).toEqual([1, 3]);
    expect(sweep.size).toBe(0);
    sweep.tick();
    expect(thrice.checks).toBe(3);
  });

  it('lets a member leave during a pass', () => {
    const sweep = new TimeoutSweep(60_000, () => 0);
    const leaving: SweepMember = { sweep: () => (sweep.delete(other), false) };
    const other = new Member(5);
    sweep.add(leaving);
    sweep.add(other);
    sweep.tick();
    expect(other.checks).toBe(0);
    expect(sweep.size).toBe(0);
    sweep.close();
  });
});
