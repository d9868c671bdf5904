/**
 * Verified JWT claims feed everything that reads claims, through a running splitgate: a flag whose targeting reads
 * `claim:plan` sends the targeted variant upstream only for a verified token (a forged one with the same claim gets
 * the default), and a release plan's claim audience puts a verified employee in the canary ring while a forged token
 * with the same email stays on stable.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { send } from '../helpers/http.js';
import { AUDIENCE, createSigningKey, ISSUER, signToken, startJwksServer, type JwksServer, type SigningKey } from '../helpers/jwks.js';
import { startSplitgate, type StartedSplitgate } from '../helpers/splitgate.js';
import { startUpstreams, type TestUpstream } from '../helpers/upstreams.js';

const DEFINITIONS = {
  flags: {
    'pro-tools': {
      state: 'ENABLED',
      variants: { on: true, off: false },
      defaultVariant: 'off',
      targeting: { if: [{ '==': [{ var: 'plan' }, 'pro'] }, 'on'] },
    },
  },
};

let stable: TestUpstream;
let canary: TestUpstream;
let jwks: JwksServer;
let proxy: StartedSplitgate;
let issuerKey: SigningKey;
let attackerKey: SigningKey;

beforeAll(async () => {
  [issuerKey, attackerKey] = await Promise.all([createSigningKey('issuer-1'), createSigningKey('issuer-1')]);
  [stable, canary] = await startUpstreams('stable', 'canary');
  jwks = await startJwksServer([issuerKey]);
  proxy = await startSplitgate({
    log: { level: 'silent' },
    upstreams: { stable: stable.url, canary: canary.url },
    jwt: { jwks: { url: jwks.url }, issuer: ISSUER, audience: AUDIENCE },
    flags: { definitions: DEFINITIONS },
    routes: [
      { name: 'app', match: { pathPrefix: '/page' }, stable: 'stable', sticky: { key: ['header:x-user-id'] }, flags: { context: { plan: 'claim:plan' } } },
      {
        // Reads claims only through its plan's audience: that alone must make it verify tokens.
        name: 'ring',
        match: { pathPrefix: '/ring' },
        stable: 'stable',
        canary: 'canary',
        weight: 0,
        sticky: { key: ['header:x-user-id'] },
        flags: false,
        rollout: {
          interval: '10m',
          stages: [
            { name: 'employees', audience: { claim: { email: '~@example\\.com$' } }, bake: '1h' },
            { name: 'everyone', weight: 100 },
          ],
        },
      },
    ],
  });
});

afterAll(async () => {
  await proxy?.stop();
  await Promise.all([stable?.close(), canary?.close(), jwks?.close()]);
});

async function through(token: string | null, user: string, path = '/page'): Promise<{ version: string; flags: string | undefined }> {
  const headers: Record<string, string> = { 'x-user-id': user };
  if (token !== null) headers.authorization = `Bearer ${token}`;
  const reply = await send(proxy.url, path, { headers });
  expect(reply.status).toBe(200);
  const body = reply.json<{ version: string; headers: Record<string, string> }>();
  return { version: body.version, flags: body.headers['x-splitgate-flags'] };
}

async function waitForStage(stage: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const reply = await send(proxy.adminUrl, '/routes/ring/rollout/plan');
    const plan = reply.status === 200 ? reply.json<{ plan: { stages: Array<{ name: string; state: string }> } | null }>().plan : null;
    if (plan?.stages.find((s) => s.name === stage)?.state === 'current') return;
    if (Date.now() > deadline) throw new Error(`rollout never reached stage ${stage}: ${reply.text}`);
    await new Promise((done) => setTimeout(done, 50));
  }
}

describe('verified claims in flags and release-plan audiences', () => {
  it('a verified plan claim turns the flag on; the same claim forged, or no token, leaves it at its default', async () => {
    const pro = await signToken(issuerKey, { sub: 'u1', plan: 'pro', email: 'u1@customer.test' });
    const forged = await signToken(attackerKey, { sub: 'u2', plan: 'pro', email: 'u2@customer.test' });
    expect((await through(pro, 'u1')).flags).toBe('pro-tools=?1');
    expect((await through(forged, 'u2')).flags).toBe('pro-tools=?0');
    expect((await through(null, 'u3')).flags).toBe('pro-tools=?0');
  });

  it('the employees ring: a verified employee gets the canary, a forged employee token and a customer stay on stable', async () => {
    await waitForStage('employees');
    const employee = await signToken(issuerKey, { sub: 'e1', email: 'e1@example.com' });
    const forged = await signToken(attackerKey, { sub: 'e2', email: 'e2@example.com' });
    const customer = await signToken(issuerKey, { sub: 'c1', email: 'c1@customer.test' });
    expect((await through(employee, 'e1', '/ring')).version).toBe('canary');
    expect((await through(forged, 'e2', '/ring')).version).toBe('stable');
    expect((await through(customer, 'c1', '/ring')).version).toBe('stable');
  });
});
