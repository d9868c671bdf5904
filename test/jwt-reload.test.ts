/**
 * JWT verifiers across config reloads: a reload that leaves a route's `jwt` settings alone keeps its verifier (and
 * so its cache of verified tokens); a changed key-set file is a changed config and brings a verifier with the new
 * keys; a route that stops reading claims drops its verifier.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { Registry } from 'prom-client';
import { stringify } from 'yaml';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfigFile } from '../src/config/load.js';
import { Controller } from '../src/control/controller.js';
import { EventLog } from '../src/control/event-log.js';
import { createLogger } from '../src/log.js';
import { createMetrics, SeriesBook } from '../src/metrics/metrics.js';
import { MirrorBook } from '../src/mirror/mirror-records.js';
import { UpstreamPools } from '../src/proxy/upstream-pools.js';
import { TableStore } from '../src/state/table-store.js';
import { AUDIENCE, createSigningKey, ISSUER, signToken } from './helpers/jwks.js';

const opened: UpstreamPools[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((pools) => pools.close()));
});

function rawConfig(jwksFile: string, rules: unknown[]) {
  return {
    upstreams: { s: 'http://127.0.0.1:1', c: 'http://127.0.0.1:2' },
    jwt: { jwks: { file: jwksFile }, issuer: ISSUER, audience: AUDIENCE },
    routes: [{ name: 'api', stable: 's', canary: 'c', rules }],
  };
}

/** A controller over `configFile`, with its table store attached, as the running instance sets it up. */
async function startController(configFile: string) {
  const config = await loadConfigFile(configFile);
  const metrics = createMetrics(new Registry(), { processMetrics: false });
  const pools = new UpstreamPools();
  opened.push(pools);
  pools.update(config);
  const logger = createLogger({ level: 'silent', destination: new Writable({ write: (_c, _e, cb) => cb() }) });
  const controller = new Controller({
    config,
    configPath: configFile,
    pools,
    metrics,
    series: new SeriesBook(metrics),
    mirror: { book: new MirrorBook(metrics), logger, random: Math.random },
    events: new EventLog(),
    stateFile: null,
    logger,
  });
  const store = new TableStore(await controller.initialTable());
  controller.attach(store);
  return { controller, store, pools };
}

const CLAIMS_RULE = { match: { claims: { sub: 'alice' } }, version: 'canary' };

describe('JWT verifiers across reloads', () => {
  it('kept while the settings stay, replaced when the key file changes, dropped when no rule reads claims', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sg-jwt-reload-'));
    const [oldKey, newKey] = await Promise.all([createSigningKey('old'), createSigningKey('new')]);
    const jwksFile = join(dir, 'jwks.json');
    const configFile = join(dir, 'splitgate.yaml');
    await writeFile(jwksFile, JSON.stringify({ keys: [oldKey.publicJwk] }));
    await writeFile(configFile, stringify(rawConfig(jwksFile, [CLAIMS_RULE])));

    const { controller, store, pools } = await startController(configFile);

    const first = store.current.bindings[0].claims!;
    const oldToken = await signToken(oldKey, { sub: 'alice' });
    expect(await first.verify(oldToken)).toMatchObject({ sub: 'alice' });

    // Same settings, another change (a weight): the verifier and its cache stay.
    await controller.setWeight('api', 10, 'test');
    expect(store.current.bindings[0].claims).toBe(first);
    expect(store.current.bindings[0].claims!.cached(oldToken)).toMatchObject({ sub: 'alice' });

    // The key file now holds only the new key: a reload brings a verifier that knows it, and not the old one.
    await writeFile(jwksFile, JSON.stringify({ keys: [newKey.publicJwk] }));
    expect(await controller.reload('test')).toMatchObject({ ok: true });
    const second = store.current.bindings[0].claims!;
    expect(second).not.toBe(first);
    expect(await second.verify(await signToken(newKey, { sub: 'alice' }))).toMatchObject({ sub: 'alice' });
    expect(await second.verify(oldToken)).toBeNull();

    // No claims rule left: no verifier, and the book lets go of the old one.
    await writeFile(configFile, stringify(rawConfig(jwksFile, [{ match: { headers: { 'x-beta': 'true' } }, version: 'canary' }])));
    expect(await controller.reload('test')).toMatchObject({ ok: true });
    expect(store.current.bindings[0].claims).toBeNull();
    expect(store.current.table.routes[0].readsClaims).toBe(false);
    expect(pools.verifiers.size).toBe(0);
  });

  it('a key file that is not a key set fails the reload with its path, and the table in force stays', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sg-jwt-reload-'));
    const key = await createSigningKey('k');
    const jwksFile = join(dir, 'jwks.json');
    const configFile = join(dir, 'splitgate.yaml');
    await writeFile(jwksFile, JSON.stringify({ keys: [key.publicJwk] }));
    await writeFile(configFile, stringify(rawConfig(jwksFile, [CLAIMS_RULE])));
    const { controller, store, pools } = await startController(configFile);
    const before = store.current;

    await writeFile(jwksFile, '{"keys": []}');
    const outcome = await controller.reload('test');
    expect(outcome.ok).toBe(false);
    expect(outcome.errors?.join('\n')).toContain(`jwt.jwks.file: ${jwksFile} must be a JSON Web Key Set`);
    expect(store.current).toBe(before);
  });
});
