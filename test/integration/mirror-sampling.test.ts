/**
 * Which requests are mirrored: none at 0 %, about half at 50 % sampled per request, and with `sampleBy: sticky`
 * all or none of one user's requests, chosen by a hash of the sticky key with a salt of the mirror's own (so the
 * shadowed users are not simply the canary users).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inParallel, send } from '../helpers/http.js';
import { summaryOf, waitForSummary } from '../helpers/mirror.js';
import { startSplitgate, type StartedSplitgate } from '../helpers/splitgate.js';
import { startUpstream, type TestUpstream } from '../helpers/upstreams.js';

let stable: TestUpstream;
let canary: TestUpstream;
let shadow: TestUpstream;
let proxy: StartedSplitgate;

beforeAll(async () => {
  [stable, canary, shadow] = await Promise.all([startUpstream('stable'), startUpstream('canary'), startUpstream('shadow')]);
  proxy = await startSplitgate({
    log: { level: 'warn' },
    upstreams: { stable: stable.url, canary: canary.url, shadow: shadow.url },
    routes: [
      { name: 'off', match: { pathPrefix: '/off' }, stable: 'stable', mirror: { to: 'shadow', percent: 0 } },
      { name: 'all', match: { pathPrefix: '/all' }, stable: 'stable', mirror: { to: 'shadow', percent: 100 } },
      { name: 'half', match: { pathPrefix: '/half' }, stable: 'stable', mirror: { to: 'shadow', percent: 50, sampleBy: 'random' } },
      {
        name: 'users',
        match: { pathPrefix: '/users' },
        stable: 'stable',
        canary: 'canary',
        weight: 50,
        sticky: { key: ['header:x-user-id'], cookie: false },
        mirror: { to: 'shadow', percent: 50, sampleBy: 'sticky' },
      },
    ],
  });
});

afterAll(async () => {
  await proxy?.stop();
  await Promise.all([stable?.close(), canary?.close(), shadow?.close()]);
});

const copiesOf = (prefix: string) => shadow.seen.filter((r) => r.url.startsWith(prefix));

describe('mirror sampling', () => {
  it('percent 0: the shadow sees nothing', async () => {
    for (let i = 0; i < 50; i++) expect((await send(proxy.url, `/off/${i}`)).status).toBe(200);
    expect(stable.seen.filter((r) => r.url.startsWith('/off/'))).toHaveLength(50);
    // A request mirrored at 100 % after them, to the same shadow on the same pool: once its copy is there, any
    // copy of the earlier ones would be too.
    expect((await send(proxy.url, '/all/sentinel')).status).toBe(200);
    await waitForSummary(proxy.adminUrl, 'all', 'the sentinel copy', (s) => s.outcomes.match + s.outcomes.diff === 1);
    expect(copiesOf('/all/')).toHaveLength(1);
    expect(copiesOf('/off/')).toEqual([]);
  });

  it('percent 50, sampleBy random: about half of 400 requests are mirrored', async () => {
    const total = 400;
    await inParallel(total, 8, async (i) => expect((await send(proxy.url, `/half/${i}`)).status).toBe(200));
    // Every tap exists by the time its client has the answer: once none is in flight, every copy has its answer.
    // A copy the shadow answered is a match or a diff, or `compare_dropped` when the diff worker's queue was full
    // (a loaded CI machine): sent all the same. Its comparison is counted a moment after it leaves the in-flight
    // count (the diff worker answers asynchronously), so wait until every copy the shadow saw is counted.
    const compared = (s: Awaited<ReturnType<typeof waitForSummary>>) => s.outcomes.match + s.outcomes.diff + s.outcomes.compare_dropped;
    const summary = await waitForSummary(proxy.adminUrl, 'half', 'every copy settled and compared', (s) => s.inFlight === 0 && compared(s) >= copiesOf('/half/').length);
    const mirrored = compared(summary);
    expect(summary.outcomes.shadow_error + summary.outcomes.shadow_timeout + summary.outcomes.dropped).toBe(0);
    expect(copiesOf('/half/')).toHaveLength(mirrored);
    // Binomial(400, 0.5): mean 200, standard deviation 10; the band is ±6 σ.
    expect(mirrored).toBeGreaterThanOrEqual(140);
    expect(mirrored).toBeLessThanOrEqual(260);
  });

  it('sampleBy sticky: each user has all or none of their requests mirrored', async () => {
    const users = Array.from({ length: 24 }, (_, i) => `user-${i}`);
    const perUser = 4;
    const versionsOf = new Map<string, Set<string>>(users.map((user) => [user, new Set()]));
    for (const user of users) {
      for (let i = 0; i < perUser; i++) {
        const response = await send(proxy.url, `/users/${user}/${i}`, { headers: { 'x-user-id': user } });
        expect(response.status).toBe(200);
        versionsOf.get(user)!.add(response.json().version);
      }
    }
    // As above: a copy the shadow answered is a match, a diff, or compare_dropped on a loaded machine (a CI run saw 2).
    const compared = (s: Awaited<ReturnType<typeof waitForSummary>>) => s.outcomes.match + s.outcomes.diff + s.outcomes.compare_dropped;
    const summary = await waitForSummary(proxy.adminUrl, 'users', 'every copy settled and compared', (s) => s.inFlight === 0 && compared(s) >= copiesOf('/users/').length);
    const copies = copiesOf('/users/');
    expect(copies).toHaveLength(compared(summary));
    const copiesByUser = new Map(users.map((user) => [user, copies.filter((r) => r.headers['x-user-id'] === user).length]));
    for (const [user, count] of copiesByUser) expect([0, perUser], `copies of ${user}'s requests`).toContain(count);
    const mirroredUsers = users.filter((user) => copiesByUser.get(user) === perUser);
    expect(mirroredUsers.length).toBeGreaterThan(0);
    expect(mirroredUsers.length).toBeLessThan(users.length);
    // Each user stayed on one version, and the shadowed users are not the canary users.
    for (const user of users) expect(versionsOf.get(user)!.size, `versions ${user} saw`).toBe(1);
    const canaryUsers = users.filter((user) => versionsOf.get(user)!.has('canary'));
    expect(canaryUsers.length).toBeGreaterThan(0);
    expect(mirroredUsers).not.toEqual(canaryUsers);
  });

  it('the summary of a sampled route counts only sampled requests', async () => {
    const summary = await summaryOf(proxy.adminUrl, 'users');
    expect(summary.compared).toBe(copiesOf('/users/').length);
    expect(summary.outcomes.skipped_method + summary.outcomes.dropped).toBe(0);
  });
});
