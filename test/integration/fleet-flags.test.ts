/**
 * Flag overrides shared through the fleet's Redis (one versioned document, `~flags`): a flag killed via replica A
 * is DISABLED through replica B (`workers: 2`, its supervisor holds the Redis link) within a second, measured by
 * requests through B; a pin via B reaches A; two overrides of different flags sent to A and B at once are both
 * kept (the loser of the compare-and-set re-reads and writes on top); Redis down refuses a pin with 503 while a
 * kill is applied here as pending and reaches B once Redis returns (empty: on top of the overrides A holds);
 * DELETE via one replica restores the file's definition everywhere. The poll is slow (10 s): within the test's
 * bounds a change can only arrive by pub/sub.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fleetFlagsConfig, flagsHeaderThrough } from '../helpers/fleet-flags.js';
import { send, waitFor } from '../helpers/http.js';
import { createTempDir, killIfRunning, type SplitgateProcess, type TempDir } from '../helpers/process.js';
import { startSingleAndTwoWorkers } from '../helpers/fleet-pair.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';
import { adminCall } from '../helpers/rollout.js';
import { startUpstream, type TestUpstream } from '../helpers/upstreams.js';

const FLAGS = {
  beta: { state: 'ENABLED', variants: { on: true, off: false }, defaultVariant: 'on' },
  theme: { state: 'ENABLED', variants: { light: 'light', dark: 'dark' }, defaultVariant: 'light' },
};

let redis: TestRedis;
let stable: TestUpstream;
let dir: TempDir;
let a: SplitgateProcess | undefined;
let b: SplitgateProcess | undefined;

function config(member: string, workers: number): Record<string, unknown> {
  return fleetFlagsConfig({ member, workers, fleet: 'flags-fleet', redisUrl: redis.url, stableUrl: stable.url, flags: FLAGS, ofrep: true });
}

beforeAll(async () => {
  redis = await startRedis();
  stable = await startUpstream('stable');
  dir = createTempDir();
  [a, b] = await startSingleAndTwoWorkers(dir, config);
  await waitFor('two members', async () => (await send(a!.adminUrl, '/fleet')).json().members.length === 2);
});

afterAll(async () => {
  await Promise.all([killIfRunning(a), killIfRunning(b)]);
  await redis?.stop();
  await stable?.close();
  dir?.remove();
});

/** The flags header of one request through `instance` (each on a new connection, so any of B's workers). */
function headerThrough(instance: SplitgateProcess): Promise<string> {
  return flagsHeaderThrough(instance.url);
}

/** Polls requests through `instance` until `header` is what 6 requests in a row get; the time that took, in ms. */
async function timeUntilHeader(instance: SplitgateProcess, header: string, timeoutMs = 3000): Promise<number> {
  const started = performance.now();
  await waitFor(`flags header "${header}" through ${instance.adminUrl}`, async () => {
    const seen = await Promise.all(Array.from({ length: 6 }, () => headerThrough(instance)));
    return seen.every((value) => value === header);
  }, timeoutMs);
  return performance.now() - started;
}

describe('fleet: flag overrides shared through Redis', () => {
  it('a flag killed via A is DISABLED through B (both workers) within 1 s, OFREP included', async () => {
    expect(await headerThrough(b!)).toBe('beta=?1, theme="light"');
    const killed = await adminCall(a!.adminUrl, 'PUT', '/flags/beta', { state: 'DISABLED' });
    expect(killed.status).toBe(200);
    expect(killed.body.fleet).toMatchObject({ version: 1, members: 2 });
    const elapsed = await timeUntilHeader(b!, 'theme="light"');
    expect(elapsed).toBeLessThan(1000);
    const ofrep = await send(b!.url, '/ofrep/v1/evaluate/flags/beta', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect([ofrep.status, ofrep.json().errorCode]).toEqual([404, 'FLAG_NOT_FOUND']);
    const events = (await adminCall(b!.adminUrl, 'GET', '/events?limit=10')).body.events as Array<{ action: string; actor: string; after: any }>;
    expect(events.find((event) => event.action === 'fleet.applied')).toMatchObject({ actor: 'fleet:a', after: { flags: { beta: { state: 'DISABLED' } }, fleetVersion: 1 } });
  });

  it('a pin via B reaches A; GET /flags on A shows it', async () => {
    expect((await adminCall(b!.adminUrl, 'PUT', '/flags/theme', { defaultVariant: 'dark' })).status).toBe(200);
    expect(await timeUntilHeader(a!, 'theme="dark"')).toBeLessThan(1000);
    const view = (await adminCall(a!.adminUrl, 'GET', '/flags')).body.flags as Array<{ key: string; override: unknown }>;
    expect(view.map((flag) => [flag.key, flag.override])).toEqual([['beta', { state: 'DISABLED' }], ['theme', { defaultVariant: 'dark' }]]);
  });

  it('two changes to different flags at once through A and B: both are kept', async () => {
    const [first, second] = await Promise.all([
      adminCall(a!.adminUrl, 'DELETE', '/flags/beta'),
      adminCall(b!.adminUrl, 'PUT', '/flags/theme', { defaultVariant: 'light' }),
    ]);
    expect([first.status, second.status]).toEqual([200, 200]);
    for (const instance of [a!, b!]) expect(await timeUntilHeader(instance, 'beta=?1, theme="light"')).toBeLessThan(1000);
    const fleet = (await adminCall(a!.adminUrl, 'GET', '/fleet')).body;
    expect(fleet.versions['~flags']).toBe(4);
    await waitFor('both members applied version 4', async () => {
      const view = (await adminCall(a!.adminUrl, 'GET', '/fleet')).body as { members: Array<{ applied: Record<string, number> }> };
      return view.members.every((member) => member.applied['~flags'] === 4);
    });
  });

  it('with Redis down, a pin is refused (503) and a kill is applied here at once, pending, kept in the state file', async () => {
    await redis.stop();
    await waitFor('A sees Redis gone', async () => (await adminCall(a!.adminUrl, 'GET', '/status')).body.fleet.connected === false);
    const refused = await adminCall(a!.adminUrl, 'PUT', '/flags/theme', { defaultVariant: 'dark' });
    expect([refused.status, refused.body.error.code]).toEqual([503, 'SG_FLEET_UNAVAILABLE']);
    expect(await headerThrough(a!)).toBe('beta=?1, theme="light"');
    const killed = await adminCall(a!.adminUrl, 'PUT', '/flags/beta', { state: 'DISABLED' });
    expect(killed.status).toBe(200);
    expect(killed.body.fleet).toMatchObject({ version: 4, pending: true });
    expect(await headerThrough(a!)).toBe('theme="light"');
    expect((await adminCall(a!.adminUrl, 'GET', '/status')).body.fleet.pendingKills).toEqual(['~flags/beta']);
    const fleetView = (await adminCall(a!.adminUrl, 'GET', '/fleet')).body;
    expect([fleetView.converged, fleetView.members.find((member: { self: boolean }) => member.self).pendingKills]).toEqual([false, ['~flags/beta']]);
    const saved = JSON.parse(readFileSync(join(dir.path, 'a-state.json'), 'utf8'));
    expect([saved.flags, saved.fleet.pendingFlagKills]).toEqual([{ theme: { defaultVariant: 'light' } }, ['beta']]);
    // Other changes are still refused, the pending kill included in what stays in force.
    expect((await adminCall(a!.adminUrl, 'DELETE', '/flags/beta')).status).toBe(503);
    expect(await headerThrough(b!)).toBe('beta=?1, theme="light"');
    await redis.start();
  });

  it('when Redis returns (empty), the pending kill is written on top of the overrides held here and reaches B', async () => {
    await waitFor('A reconnected', async () => (await adminCall(a!.adminUrl, 'GET', '/status')).body.fleet.connected === true, 8000);
    expect(await timeUntilHeader(b!, 'theme="light"', 5000)).toBeLessThan(5000);
    await waitFor('the pending kill pushed', async () => (await adminCall(a!.adminUrl, 'GET', '/status')).body.fleet.pendingKills.length === 0, 3000);
    const view = (await adminCall(b!.adminUrl, 'GET', '/flags')).body.flags as Array<{ key: string; override: unknown }>;
    expect(view.map((flag) => [flag.key, flag.override])).toEqual([['beta', { state: 'DISABLED' }], ['theme', { defaultVariant: 'light' }]]);
    const events = (await adminCall(a!.adminUrl, 'GET', '/events?limit=20')).body.events as Array<{ action: string; after: any }>;
    expect(events.find((event) => event.action === 'fleet.kill_pushed')).toMatchObject({ after: { document: '~flags', flags: ['beta'] } });
    await waitFor('the fleet converged', async () => (await adminCall(b!.adminUrl, 'GET', '/fleet')).body.converged === true, 5000);
  });

  it('after Redis returned, a change spreads again', async () => {
    expect((await adminCall(a!.adminUrl, 'DELETE', '/flags/beta')).status).toBe(200);
    expect(await timeUntilHeader(b!, 'beta=?1, theme="light"', 3000)).toBeLessThan(3000);
  });
});
