/**
 * `fleet:` config (defaults, secrets from env/file, path-accurate errors) and the state document script against a
 * real Redis: compare-and-set on the version, the fencing epoch checked in the same script, the announcement
 * published with every stored write.
 */
import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient } from 'redis';
import { validateConfig } from '../src/config/load.js';
import { FencedError } from '../src/fleet/errors.js';
import { fleetKeys, readDocument, writeDocument, type ChangeAnnouncement } from '../src/fleet/redis-state.js';
import { createTempDir, type TempDir } from './helpers/process.js';
import { startRedis, type TestRedis } from './helpers/redis.js';

const BASE = { upstreams: { app: 'http://127.0.0.1:1' }, routes: [{ name: 'app', stable: 'app' }] };

describe('fleet config', () => {
  let dir: TempDir;
  beforeAll(() => (dir = createTempDir()));
  afterAll(() => dir.remove());

  it('is optional; with it, durations default as documented', () => {
    expect(validateConfig(BASE).fleet).toBeUndefined();
    const fleet = validateConfig({ ...BASE, fleet: { name: 'gw', redis: { url: 'redis://redis:6379' } } }).fleet!;
    expect(fleet).toMatchObject({ name: 'gw', heartbeat: 2000, memberTtl: 10_000, poll: 5000, maxStaleness: 60_000 });
    expect(fleet.redis).toMatchObject({ connectTimeout: 2000, commandTimeout: 2000 });
  });

  it('takes the password from the environment or a file', () => {
    const fromEnv = validateConfig({ ...BASE, fleet: { name: 'gw', redis: { url: 'redis://r:6379', password: '${REDIS_PASSWORD}' } } }, { REDIS_PASSWORD: 's3cret' });
    expect(fromEnv.fleet!.redis.password).toBe('s3cret');
    const file = `${dir.path}/redis-password`;
    writeFileSync(file, 'from-file\n');
    expect(validateConfig({ ...BASE, fleet: { name: 'gw', redis: { url: 'redis://r:6379', passwordFile: file } } }).fleet!.redis.password).toBe('from-file');
  });

  it.each([
    [{ name: 'gw', redis: { url: 'http://r:6379' } }, 'fleet.redis.url: must start with redis:// or rediss://'],
    [{ name: 'gw' }, 'fleet.redis: is required'],
    [{ name: 'has space', redis: { url: 'redis://r' } }, 'fleet.name: must be letters, digits'],
    [{ name: 'gw', redis: { url: 'redis://r', port: 1 } }, 'fleet.redis: unknown field "port"'],
    [{ name: 'gw', redis: { url: 'redis://r' }, heartbeat: '5s', memberTtl: '6s' }, 'fleet.memberTtl: must be at least twice the heartbeat'],
    [{ name: 'gw', redis: { url: 'redis://r' }, poll: 'often' }, 'fleet.poll: must be a duration'],
    [{ name: 'gw', redis: { url: 'redis://r', tls: { insecureSkipVerify: true } } }, 'fleet.redis.tls: applies to rediss:// URLs only'],
    [{ name: 'gw', redis: { url: 'redis://r', password: 'a', passwordFile: '/nonexistent' } }, 'fleet.redis.passwordFile: set password or passwordFile, not both'],
    [{ name: 'gw', redis: { url: 'redis://r', passwordFile: '/nonexistent/file' } }, 'fleet.redis.passwordFile: cannot read /nonexistent/file: ENOENT'],
    [{ name: 'gw', redis: { url: 'rediss://r', tls: { ca: '/nonexistent/ca.pem' } } }, 'fleet.redis.tls.ca: cannot read /nonexistent/ca.pem'],
  ])('refuses %j with its path', (fleet, message) => {
    expect(() => validateConfig({ ...BASE, fleet }, {})).toThrow(message);
  });
});

describe('fleet state documents in Redis', () => {
  let redis: TestRedis;
  let client: ReturnType<typeof createClient>;
  let subscriber: ReturnType<typeof createClient>;
  const announcements: ChangeAnnouncement[] = [];
  const keys = fleetKeys('unit');

  beforeAll(async () => {
    redis = await startRedis();
    client = createClient({ url: redis.url });
    subscriber = client.duplicate();
    await Promise.all([client.connect(), subscriber.connect()]);
    await subscriber.subscribe(keys.changes, (message) => announcements.push(JSON.parse(message) as ChangeAnnouncement));
  });

  afterAll(async () => {
    client?.destroy();
    subscriber?.destroy();
    await redis?.stop();
  });

  it('keys share one hash tag per fleet', () => {
    expect(keys.state('shop')).toBe('sg:{unit}:state:shop');
    expect(keys.member('a')).toBe('sg:{unit}:members:a');
    expect(keys.changes).toBe('sg:{unit}:changes');
  });

  it('stores a write only on the expected version, and announces it', async () => {
    const c = client as never;
    expect(await writeDocument(c, keys, { route: 'shop', expected: 0, version: 1, state: { killed: true }, member: 'a' })).toEqual({ kind: 'ok', version: 1 });
    // Same expected version again: refused, naming what the store holds.
    expect(await writeDocument(c, keys, { route: 'shop', expected: 0, version: 1, state: { weight: 5 }, member: 'b' })).toEqual({ kind: 'conflict', current: 1 });
    const stored = await readDocument(c, keys, 'shop');
    expect(stored).toMatchObject({ version: 1, state: { killed: true }, member: 'a' });
    // A version that would not move forward is refused too (re-seeding never goes backwards).
    expect(await writeDocument(c, keys, { route: 'shop', expected: 1, version: 1, state: {}, member: 'a' })).toEqual({ kind: 'conflict', current: 1 });
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(announcements).toEqual([{ route: 'shop', version: 1, member: 'a' }]);
  });

  it('checks the fencing epoch in the same script as the write', async () => {
    const c = client as never;
    await client.set(keys.epoch, '3');
    expect(await writeDocument(c, keys, { route: 'roll', expected: 0, version: 1, state: { weight: 10 }, member: 'old-leader', fenceEpoch: 2 })).toEqual({ kind: 'fenced', current: 3 });
    expect((await readDocument(c, keys, 'roll')).version).toBe(0);
    expect(await writeDocument(c, keys, { route: 'roll', expected: 0, version: 1, state: { weight: 10 }, member: 'leader', fenceEpoch: 3 })).toEqual({ kind: 'ok', version: 1 });
    await client.del(keys.epoch);
    expect(await writeDocument(c, keys, { route: 'roll', expected: 1, version: 2, state: { weight: 20 }, member: 'leader', fenceEpoch: 3 })).toEqual({ kind: 'fenced', current: null });
    expect(new FencedError(2, 3)).toMatchObject({ code: 'SG_FENCED', status: 409 });
  });

  it('refuses a write read after its deadline (its caller already answered 503)', async () => {
    const c = client as never;
    expect(await writeDocument(c, keys, { route: 'late', expected: 0, version: 1, state: { weight: 1 }, member: 'a', deadline: Date.now() - 1000 })).toEqual({ kind: 'expired' });
    expect((await readDocument(c, keys, 'late')).version).toBe(0);
    expect(await writeDocument(c, keys, { route: 'late', expected: 0, version: 1, state: { weight: 1 }, member: 'a', deadline: Date.now() + 5000 })).toEqual({ kind: 'ok', version: 1 });
  });
});
