/**
 * Replicas running different flag files share one `~flags` document (a rolling deploy): replica A has the new
 * file (flags beta and newui), B the old one (beta only). An override B's file cannot support is kept in the fleet
 * whole: a kill of newui via A survives B applying the document and then changing another flag (before the fix B
 * wrote back its trimmed copy and A turned newui back on, with no event); a DELETE via B clears it from the fleet;
 * a reload that finds an override stale leaves it out here (with the event) but not in the fleet. The shared
 * document is read straight from Redis.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fleetFlagsConfig, flagsHeaderThrough } from '../helpers/fleet-flags.js';
import { send, waitFor } from '../helpers/http.js';
import { createTempDir, killIfRunning, spawnSplitgate, type SplitgateProcess, type TempDir } from '../helpers/process.js';
import { connectTestClient, startRedis, type TestRedis, type TestRedisClient } from '../helpers/redis.js';
import { adminCall } from '../helpers/rollout.js';
import { startUpstream, type TestUpstream } from '../helpers/upstreams.js';

const BETA = { state: 'ENABLED', variants: { on: true, off: false }, defaultVariant: 'on' };
const NEWUI = { state: 'ENABLED', variants: { on: true, off: false }, defaultVariant: 'on' };
const FLEET = 'flags-mixed';

let redis: TestRedis;
let client: TestRedisClient;
let stable: TestUpstream;
let dir: TempDir;
let a: SplitgateProcess | undefined;
let b: SplitgateProcess | undefined;

function config(member: string, flags: Record<string, unknown>): Record<string, unknown> {
  return fleetFlagsConfig({ member, fleet: FLEET, redisUrl: redis.url, stableUrl: stable.url, flags });
}

beforeAll(async () => {
  redis = await startRedis();
  client = await connectTestClient(redis.url);
  stable = await startUpstream('stable');
  dir = createTempDir();
  const started = await Promise.allSettled([
    spawnSplitgate(dir.writeConfig('a.yaml', config('a', { beta: BETA, newui: NEWUI })), 20_000),
    spawnSplitgate(dir.writeConfig('b.yaml', config('b', { beta: BETA })), 20_000),
  ]);
  [a, b] = started.map((outcome) => (outcome.status === 'fulfilled' ? outcome.value : undefined));
  for (const outcome of started) if (outcome.status === 'rejected') throw outcome.reason;
  await waitFor('two members', async () => (await send(a!.adminUrl, '/fleet')).json().members.length === 2);
});

afterAll(async () => {
  await Promise.all([killIfRunning(a), killIfRunning(b)]);
  if (client?.isOpen) client.destroy();
  await redis?.stop();
  await stable?.close();
  dir?.remove();
});

/** The fleet's `~flags` document as stored in Redis: its version and overrides. */
async function fleetDocument(): Promise<{ version: number; flags: Record<string, unknown> }> {
  const hash = await client.hGetAll(`sg:{${FLEET}}:state:~flags`);
  return { version: Number(hash.v ?? 0), flags: (JSON.parse(hash.doc ?? '{}') as { flags?: Record<string, unknown> }).flags ?? {} };
}

async function appliedVersion(instance: SplitgateProcess): Promise<number> {
  return (await adminCall(instance.adminUrl, 'GET', '/fleet')).body.members.find((member: { self: boolean }) => member.self).applied['~flags'] ?? 0;
}

async function waitApplied(instance: SplitgateProcess, version: number): Promise<void> {
  await waitFor(`${instance.adminUrl} applied ~flags@${version}`, async () => (await appliedVersion(instance)) >= version, 3000);
}

function flagsHeader(instance: SplitgateProcess): Promise<string> {
  return flagsHeaderThrough(instance.url);
}

describe('fleet flag overrides with different flag files (rolling deploy)', () => {
  it('a kill of a flag only A knows survives a change made via B', async () => {
    expect(await flagsHeader(a!)).toBe('beta=?1, newui=?1');
    const killed = await adminCall(a!.adminUrl, 'PUT', '/flags/newui', { state: 'DISABLED' });
    expect(killed.status).toBe(200);
    await waitApplied(b!, killed.body.fleet.version);
    // B cannot compile newui's override, but keeps it: the next change via B is built on the whole document.
    const viaB = await adminCall(b!.adminUrl, 'PUT', '/flags/beta', { state: 'DISABLED' });
    expect(viaB.status).toBe(200);
    expect(await fleetDocument()).toEqual({ version: viaB.body.fleet.version, flags: { newui: { state: 'DISABLED' }, beta: { state: 'DISABLED' } } });
    await waitApplied(a!, viaB.body.fleet.version);
    expect(await flagsHeader(a!)).toBe('');
    expect(await flagsHeader(b!)).toBe('');
    const viewOnB = (await adminCall(b!.adminUrl, 'GET', '/flags')).body.flags as Array<{ key: string; override: unknown }>;
    expect(viewOnB.map((flag) => [flag.key, flag.override])).toEqual([['beta', { state: 'DISABLED' }]]);
  });

  it('a DELETE via B of the override its file lacks clears it from the fleet', async () => {
    const cleared = await adminCall(b!.adminUrl, 'DELETE', '/flags/newui');
    expect(cleared.status).toBe(200);
    expect(cleared.body.override).toBeNull();
    expect((await fleetDocument()).flags).toEqual({ beta: { state: 'DISABLED' } });
    await waitApplied(a!, cleared.body.fleet.version);
    expect(await flagsHeader(a!)).toBe('newui=?1');
    // A flag neither the file nor the fleet's overrides know is still 404.
    expect((await adminCall(b!.adminUrl, 'DELETE', '/flags/nothing')).status).toBe(404);
  });

  it('a reload that finds an override stale leaves it out here, with the event, and not out of the fleet', async () => {
    const pinned = await adminCall(a!.adminUrl, 'PUT', '/flags/newui', { state: 'DISABLED' });
    expect(pinned.status).toBe(200);
    await waitApplied(b!, pinned.body.fleet.version);
    // A is rolled back to the old file: newui's kill is out of force on A, but it stays in the fleet.
    dir.writeConfig('a.yaml', config('a', { beta: BETA }));
    expect((await adminCall(a!.adminUrl, 'POST', '/reload')).status).toBe(200);
    const events = (await adminCall(a!.adminUrl, 'GET', '/events?limit=5')).body.events as Array<{ action: string; before?: { flag?: string } }>;
    expect(events.filter((event) => event.action === 'flag.override_dropped').map((event) => event.before?.flag)).toEqual(['newui']);
    expect(await fleetDocument()).toEqual({ version: pinned.body.fleet.version, flags: { beta: { state: 'DISABLED' }, newui: { state: 'DISABLED' } } });
    // A change via A afterwards keeps it too, and A going forward again finds it in force.
    const cleared = await adminCall(a!.adminUrl, 'DELETE', '/flags/beta');
    expect(cleared.status).toBe(200);
    expect((await fleetDocument()).flags).toEqual({ newui: { state: 'DISABLED' } });
    dir.writeConfig('a.yaml', config('a', { beta: BETA, newui: NEWUI }));
    expect((await adminCall(a!.adminUrl, 'POST', '/reload')).status).toBe(200);
    expect(await flagsHeader(a!)).toBe('beta=?1');
  });
});
