/**
 * Verified JWT claims through a running splitgate: a `claims` rule sends a user whose verified token carries the
 * claim to the canary; the same claim in a forged or unsigned token goes to stable like no token at all; the
 * upstream receives the request unchanged either way (the token included), only the version differs. A JWKS
 * server that is down costs the claims, never the request.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closedPort, send } from '../helpers/http.js';
import { AUDIENCE, createSigningKey, ISSUER, signToken, startJwksServer, unsignedToken, type JwksServer, type SigningKey } from '../helpers/jwks.js';
import { startSplitgate, type StartedSplitgate } from '../helpers/splitgate.js';
import { startUpstreams, type TestUpstream } from '../helpers/upstreams.js';

let stable: TestUpstream;
let canary: TestUpstream;
let jwks: JwksServer;
let proxy: StartedSplitgate;
let issuerKey: SigningKey;
let attackerKey: SigningKey;

const both = { stable: 'stable', canary: 'canary', weight: 0 };
const employeesToCanary = [{ match: { claims: { email: '~@example\\.com$' } }, version: 'canary' }];

beforeAll(async () => {
  [issuerKey, attackerKey] = await Promise.all([createSigningKey('issuer-1'), createSigningKey('issuer-1')]);
  [stable, canary] = await startUpstreams('stable', 'canary');
  jwks = await startJwksServer([issuerKey]);
  const dir = await mkdtemp(join(tmpdir(), 'sg-jwt-'));
  const jwksFile = join(dir, 'jwks.json');
  await writeFile(jwksFile, JSON.stringify({ keys: [issuerKey.publicJwk] }));
  const down = await closedPort();
  proxy = await startSplitgate({
    upstreams: { stable: stable.url, canary: canary.url },
    jwt: { jwks: { url: jwks.url }, issuer: ISSUER, audience: AUDIENCE },
    routes: [
      { name: 'claims', match: { pathPrefix: '/claims' }, ...both, rules: employeesToCanary },
      {
        name: 'cookie',
        match: { pathPrefix: '/cookie' },
        ...both,
        jwt: { from: 'cookie:id_token', jwks: { file: jwksFile }, issuer: ISSUER, audience: AUDIENCE },
        rules: employeesToCanary,
      },
      {
        name: 'idp-down',
        match: { pathPrefix: '/down' },
        ...both,
        jwt: { jwks: { url: `http://127.0.0.1:${down}/jwks` }, issuer: ISSUER, audience: AUDIENCE },
        rules: employeesToCanary,
      },
      { name: 'plain', match: { pathPrefix: '/plain' }, ...both, rules: [{ match: { headers: { 'x-beta': 'true' } }, version: 'canary' }] },
    ],
  });
});

afterAll(async () => {
  await proxy?.stop();
  await Promise.all([stable?.close(), canary?.close(), jwks?.close()]);
});

/** Which upstream answered, and the headers it received. */
async function routedAs(path: string, headers: Record<string, string>): Promise<{ version: string; received: Record<string, string> }> {
  const reply = await send(proxy.url, path, { headers });
  expect(reply.status).toBe(200);
  const body = reply.json<{ version: string; headers: Record<string, string> }>();
  return { version: body.version, received: body.headers };
}

async function metric(name: string, labels: string): Promise<number> {
  const text = (await send(proxy.adminUrl, '/metrics')).text;
  const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}}`));
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
}

describe('claims rules through the proxy', () => {
  it('a verified employee goes to the canary; the same claim forged, unsigned or absent goes to stable', async () => {
    const valid = await signToken(issuerKey, { sub: 'alice', email: 'alice@example.com' });
    const forged = await signToken(attackerKey, { sub: 'mallory', email: 'mallory@example.com' });
    const unsigned = unsignedToken({ sub: 'mallory', email: 'mallory@example.com' });
    const outsider = await signToken(issuerKey, { sub: 'bob', email: 'bob@elsewhere.test' });

    const verified = await routedAs('/claims/x', { authorization: `Bearer ${valid}` });
    expect(verified.version).toBe('canary');
    expect(verified.received['x-splitgate-version']).toBe('canary');
    // The token reaches the application exactly as the client sent it.
    expect(verified.received.authorization).toBe(`Bearer ${valid}`);

    for (const token of [forged, unsigned, `${valid.slice(0, -4)}AAAA`, outsider]) {
      const refused = await routedAs('/claims/x', { authorization: `Bearer ${token}` });
      expect(refused.version).toBe('stable');
      expect(refused.received['x-splitgate-version']).toBe('stable');
      expect(refused.received.authorization).toBe(`Bearer ${token}`);
      // Same header names as the verified request: nothing added or taken away besides the routing.
      expect(Object.keys(refused.received).sort()).toEqual(Object.keys(verified.received).sort());
    }
    expect((await routedAs('/claims/x', { authorization: 'Bearer not-a-jwt' })).version).toBe('stable');
    expect((await routedAs('/claims/x', { authorization: 'Basic YWxpY2U6eA==' })).version).toBe('stable');
    // A claim sent as a header is just a header.
    expect((await routedAs('/claims/x', { email: 'alice@example.com' })).version).toBe('stable');
  });

  it('a repeated token is answered from the cache: one verification, no more key fetches', async () => {
    const token = await signToken(issuerKey, { sub: 'carol', email: 'carol@example.com' });
    const validBefore = await metric('splitgate_jwt_verifications_total', 'result="valid"');
    const fetchesBefore = jwks.fetches();
    for (let i = 0; i < 5; i++) expect((await routedAs('/claims/again', { authorization: `Bearer ${token}` })).version).toBe('canary');
    expect(await metric('splitgate_jwt_verifications_total', 'result="valid"')).toBe(validBefore + 1);
    expect(jwks.fetches()).toBe(fetchesBefore);
  });

  it('the access log gives the claims rule as the reason', async () => {
    const token = await signToken(issuerKey, { sub: 'dave', email: 'dave@example.com' });
    const reply = await send(proxy.url, '/claims/log', { headers: { authorization: `Bearer ${token}`, 'x-request-id': 'jwt-claims-log-1' } });
    expect(reply.status).toBe(200);
    expect(await proxy.accessLogLine('jwt-claims-log-1')).toMatchObject({ version: 'canary', reason: 'rule', rule: 0, route: 'claims' });
  });

  it('a route with its own jwt reads the token from a cookie, with keys from a file', async () => {
    const token = await signToken(issuerKey, { sub: 'erin', email: 'erin@example.com' });
    expect((await routedAs('/cookie/x', { cookie: `theme=dark; id_token=${token}` })).version).toBe('canary');
    // The global source (Authorization) is not this route's.
    expect((await routedAs('/cookie/x', { authorization: `Bearer ${token}` })).version).toBe('stable');
    const forged = await signToken(attackerKey, { sub: 'mallory', email: 'mallory@example.com' });
    expect((await routedAs('/cookie/x', { cookie: `id_token=${forged}` })).version).toBe('stable');
  });

  it('a JWKS that cannot be reached: no claims, the request is still proxied, a warning is logged and counted', async () => {
    const token = await signToken(issuerKey, { sub: 'frank', email: 'frank@example.com' });
    const unavailableBefore = await metric('splitgate_jwt_verifications_total', 'result="jwks_unavailable"');
    expect((await routedAs('/down/x', { authorization: `Bearer ${token}` })).version).toBe('stable');
    expect((await routedAs('/down/y', { authorization: `Bearer ${token}` })).version).toBe('stable');
    expect(await metric('splitgate_jwt_verifications_total', 'result="jwks_unavailable"')).toBe(unavailableBefore + 2);
    const warnings = proxy.logLines.filter((line) => typeof line.msg === 'string' && line.msg.startsWith('JWKS unavailable'));
    expect(warnings).toHaveLength(1);
  });

  it('a route that reads no claims never verifies a token', async () => {
    const token = await signToken(issuerKey, { sub: 'gina', email: 'gina@example.com' });
    const verificationsBefore = await metric('splitgate_jwt_verifications_total', 'result="valid"');
    const reply = await routedAs('/plain/x', { authorization: `Bearer ${token}` });
    expect(reply.version).toBe('stable');
    expect(reply.received.authorization).toBe(`Bearer ${token}`);
    expect(await metric('splitgate_jwt_verifications_total', 'result="valid"')).toBe(verificationsBefore);
  });
});
