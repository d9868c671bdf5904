/**
 * Replicas agree by construction: two splitgate processes started independently from the same config send every
 * key to the same version, and still do after one of them restarts. Nothing is shared between them but the file.
 */
import { Agent } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bucketOf } from '../../src/routing/hash.js';
import { inParallel, send } from '../helpers/http.js';
import { createTempDir, killIfRunning, spawnSplitgate, type SplitgateProcess, type TempDir } from '../helpers/process.js';
import { startUpstreams, type TestUpstream } from '../helpers/upstreams.js';

const KEYS = Array.from({ length: 300 }, (_, i) => `customer-${i}-${(i * 7919) % 1000}`);

let stable: TestUpstream;
let canary: TestUpstream;
let dir: TempDir;
let configFile: string;
let first: SplitgateProcess | undefined;
let second: SplitgateProcess | undefined;
const agent = new Agent({ keepAlive: true, maxSockets: 16 });

beforeAll(async () => {
  [stable, canary] = await startUpstreams('stable', 'canary');
  dir = createTempDir();
  configFile = dir.writeConfig('splitgate.yaml', {
    listen: '127.0.0.1:0',
    admin: { listen: '127.0.0.1:0' },
    upstreams: { stable: stable.url, canary: canary.url },
    routes: [{ name: 'shop', stable: 'stable', canary: 'canary', weight: 37.5, sticky: { key: ['header:x-user-id'] } }],
  });
  [first, second] = await Promise.all([spawnSplitgate(configFile), spawnSplitgate(configFile)]);
});

afterAll(async () => {
  agent.destroy();
  await Promise.all([killIfRunning(first), killIfRunning(second)]);
  await Promise.all([stable?.close(), canary?.close()]);
  dir?.remove();
});

/** The version each key lands on through `instance`. */
function decisions(instance: SplitgateProcess): Promise<string[]> {
  return inParallel(KEYS.length, 16, async (i) => {
    const res = await send(instance.url, '/cart', { headers: { 'x-user-id': KEYS[i] }, agent });
    expect(res.status).toBe(200);
    expect(res.headers['set-cookie']).toBeUndefined();
    return res.json<{ version: string }>().version;
  });
}

describe('sticky routing across processes', () => {
  it('two independently started processes decide identically for 300 keys at weight 37.5', async () => {
    expect(first!.pid).not.toBe(second!.pid);
    expect(first!.url).not.toBe(second!.url);
    const [a, b] = await Promise.all([decisions(first!), decisions(second!)]);
    expect(a).toEqual(b);
    // The agreement is the hash's, not an accident of both sending everyone one way.
    const expected = KEYS.map((key) => (bucketOf('shop', key) < 3750 ? 'canary' : 'stable'));
    expect(a).toEqual(expected);
    const share = a.filter((v) => v === 'canary').length / KEYS.length;
    expect(share).toBeGreaterThan(0.27);
    expect(share).toBeLessThan(0.48);
  });

  it('decides identically again after one process is restarted', async () => {
    const before = await decisions(first!);
    const exit = await second!.stop();
    expect(exit.code).toBe(0);
    second = await spawnSplitgate(configFile);
    const [a, b] = await Promise.all([decisions(first!), decisions(second)]);
    expect(b).toEqual(before);
    expect(a).toEqual(before);
  });
});
