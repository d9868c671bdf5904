/**
 * The dashboard in a real browser (headless Chromium): with an admin token configured it asks for the token before
 * showing any data (a wrong one is asked again); after known traffic it shows the same per-version request counts
 * as /metrics and /status; a token changed on the server is asked for again and, declined, leaves the page
 * showing nothing; KILL asks for confirmation, then every following request goes to stable and the kill is
 * audited with its actor; the token is remembered for the session. Tests run in order and share one splitgate.
 */
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { launchChromium } from '../helpers/browser.js';
import { send } from '../helpers/http.js';
import { parsePrometheus, samplesOf } from '../helpers/prometheus.js';
import { startSplitgate, type StartedSplitgate } from '../helpers/splitgate.js';
import { startUpstreams, type TestUpstream } from '../helpers/upstreams.js';

const TOKEN = 't0ken';
const ROTATED = 'r0tated';
const TOKEN_KEY = 'splitgate.adminToken';
/** The token the server accepts now (the rotation test changes it). */
let token = TOKEN;
const SCREENSHOT = '/tmp/dashboard.png';

let stable: TestUpstream;
let canary: TestUpstream;
let proxy: StartedSplitgate;
let browser: Browser | undefined;
let page: Page;
/** Why the browser could not start: every test fails with it (a missing browser must never read as a skip). */
let launchError: Error | undefined;
/** User ids the 50 % split sent to canary before the kill. */
const canaryUsers: string[] = [];
const dialogs: Array<{ type: string; message: string }> = [];
/** Answers for the next window.prompt calls, in order; null (or none left) dismisses. */
const promptAnswers: Array<string | null> = [];
const pageErrors: string[] = [];

const byTestId = (id: string) => page.locator(`[data-testid="${id}"]`);

async function request(user: string): Promise<string> {
  const res = await send(proxy.url, '/api/item', { headers: { 'x-user-id': user } });
  expect(res.status).toBe(200);
  return res.json<{ version: string }>().version;
}

async function metricsRequests(version: string): Promise<number> {
  // /metrics needs no token: Prometheus scrapes without one.
  const samples = parsePrometheus((await send(proxy.adminUrl, '/metrics')).text);
  return samplesOf(samples, 'http_requests_total')
    .filter((s) => s.labels.route === 'api' && s.labels.version === version)
    .reduce((sum, s) => sum + s.value, 0);
}

async function status(): Promise<any> {
  return (await send(proxy.adminUrl, '/status', { headers: { authorization: `Bearer ${token}` } })).json();
}

async function events(): Promise<Array<Record<string, any>>> {
  return (await send(proxy.adminUrl, '/events', { headers: { authorization: `Bearer ${token}` } })).json().events;
}

beforeAll(async () => {
  [stable, canary] = await startUpstreams('stable', 'canary');
  proxy = await startSplitgate({
    admin: { listen: '127.0.0.1:0', token: TOKEN },
    upstreams: { stable: stable.url, canary: canary.url },
    routes: [{ name: 'api', match: { pathPrefix: '/api' }, stable: 'stable', canary: 'canary', weight: 50, sticky: { key: ['header:x-user-id'] } }],
  });
  for (let i = 0; i < 40; i++) {
    const user = `user-${i}`;
    if ((await request(user)) === 'canary') canaryUsers.push(user);
  }
  try {
    browser = await launchChromium();
  } catch (error) {
    launchError = error as Error;
    return;
  }
  page = await browser.newPage({ viewport: { width: 1100, height: 820 } });
  page.setDefaultTimeout(10_000);
  page.on('pageerror', (error) => pageErrors.push(error.message));
  page.on('console', (message) => {
    // The browser logs every refused call; the 401s of the token tests are expected, anything else is not.
    if (message.type() === 'error' && !/status of 401 \(Unauthorized\)/.test(message.text())) pageErrors.push(message.text());
  });
  page.on('dialog', (dialog) => {
    dialogs.push({ type: dialog.type(), message: dialog.message() });
    if (dialog.type() === 'confirm') return dialog.accept();
    const answer = dialog.type() === 'prompt' ? promptAnswers.shift() : null;
    return answer == null ? dialog.dismiss() : dialog.accept(answer);
  });
  // The page asks for the token on its first poll: a wrong one first, then the right one.
  promptAnswers.push('not-the-token', TOKEN);
  await page.goto(proxy.adminUrl);
});

beforeEach(() => {
  if (launchError) throw launchError;
});

afterAll(async () => {
  await browser?.close();
  await proxy?.stop();
  await Promise.all([stable?.close(), canary?.close()]);
});

describe('dashboard', () => {
  it('asks for the admin token before showing any data, and again while it is wrong', async () => {
    await expect.poll(() => byTestId('requests-api-stable').textContent()).not.toBe('—');
    expect(dialogs.map((d) => d.type)).toEqual(['prompt', 'prompt']);
    expect(dialogs[0].message).toBe('Admin token for the dashboard:');
    expect(dialogs[1].message).toMatch(/^Wrong token\. /);
    expect(await page.evaluate(`sessionStorage.getItem('${TOKEN_KEY}')`)).toBe(TOKEN);
    expect(await byTestId('token-button').isHidden()).toBe(true);
    expect(pageErrors).toEqual([]);
  });

  it('shows per-version request counts equal to /metrics and /status', async () => {
    expect(canaryUsers.length).toBeGreaterThan(0);
    expect(canaryUsers.length).toBeLessThan(40);
    await expect.poll(() => byTestId('requests-api-stable').textContent()).not.toBe('—');

    const shown = {
      stable: Number(await byTestId('requests-api-stable').textContent()),
      canary: Number(await byTestId('requests-api-canary').textContent()),
    };
    const routeStatus = (await status()).routes[0];
    expect(shown).toEqual({ stable: 40 - canaryUsers.length, canary: canaryUsers.length });
    expect(shown).toEqual({ stable: await metricsRequests('stable'), canary: await metricsRequests('canary') });
    expect(shown).toEqual({ stable: routeStatus.versions.stable.requests, canary: routeStatus.versions.canary.requests });
    expect(await byTestId('rps-api-stable').textContent()).toBe(routeStatus.versions.stable.rps.toFixed(2));
    expect(await byTestId('rps-api-canary').textContent()).toBe(routeStatus.versions.canary.rps.toFixed(2));
    expect(await byTestId('success-api-stable').textContent()).toBe('100.0 %');
    expect(await byTestId('success-api-canary').textContent()).toBe('100.0 %');
    expect(await byTestId('p99-api-canary').textContent()).toMatch(/^\d+\.\d ms$/);
    expect(await byTestId('weight-api').textContent()).toBe('50 %');
    expect(await byTestId('weight-source-api').textContent()).toBe('from config');
    expect(await byTestId('killed-api').textContent()).toBe('live');
    expect(await byTestId('generation').textContent()).toBe(String((await status()).generation));
    expect(await byTestId('events').textContent()).toContain('start');
    expect(pageErrors).toEqual([]);
  });

  it('a token changed on the server is asked for again; declined, the page shows nothing and says why', async () => {
    const controller = proxy.splitgate.controller;
    const rotated = structuredClone(controller.config);
    rotated.admin.token = ROTATED;
    promptAnswers.push('still-wrong', null);
    const before = dialogs.length;
    expect(controller.applyConfig(rotated, 'test')).toMatchObject({ ok: true });
    token = ROTATED;
    await expect.poll(() => byTestId('updated').textContent()).toBe('an admin token is needed to show data');
    expect(dialogs.slice(before).map((d) => [d.type, d.message])).toEqual([
      ['prompt', 'Wrong token. Admin token for the dashboard:'],
      ['prompt', 'Wrong token. Admin token for the dashboard:'],
    ]);
    expect(await byTestId('route-api').count()).toBe(0);
    expect(await page.locator('#events-body tr').count()).toBe(0);
    expect(await page.evaluate('sessionStorage.length')).toBe(0);
    // Declined: no more polling, so no more prompts.
    await page.waitForTimeout(1_500);
    expect(dialogs.length).toBe(before + 2);

    promptAnswers.push(ROTATED);
    await byTestId('token-button').click();
    await expect.poll(() => byTestId('killed-api').textContent()).toBe('live');
    expect(await byTestId('token-button').isHidden()).toBe(true);
    expect(await page.evaluate(`sessionStorage.getItem('${TOKEN_KEY}')`)).toBe(ROTATED);
    expect(pageErrors).toEqual([]);
  });

  it('KILL with confirmation sends every following request to stable and is audited', async () => {
    const before = dialogs.length;
    await byTestId('kill-api').click();
    await expect.poll(() => byTestId('killed-api').textContent()).toBe('killed');
    // The token given for reading is the one mutations send: only the confirmation is asked.
    expect(dialogs.slice(before).map((d) => d.type)).toEqual(['confirm']);
    expect(dialogs[before].message).toContain('KILL canary of route "api"');

    const seen = { stable: stable.seen.length, canary: canary.seen.length };
    const answered: string[] = [];
    for (let i = 0; i < 20; i++) answered.push(await request(canaryUsers[i % canaryUsers.length]));
    expect(answered).toEqual(Array(20).fill('stable'));
    expect({ stable: stable.seen.length - seen.stable, canary: canary.seen.length - seen.canary }).toEqual({ stable: 20, canary: 0 });

    const kill = (await events()).find((e) => e.action === 'kill');
    expect(kill).toMatchObject({ route: 'api', actor: expect.stringMatching(/^dashboard@/), before: { killed: false }, after: { killed: true } });
    await expect.poll(() => byTestId(`event-${kill!.id}`).textContent()).toContain('killed: false → true');
    expect(await byTestId(`event-${kill!.id}`).textContent()).toContain(kill!.actor);
    expect(pageErrors).toEqual([]);
  });

  it('remembers the token: Resume and Set weight without asking again', async () => {
    const before = dialogs.length;
    await byTestId('resume-api').click();
    await expect.poll(() => byTestId('killed-api').textContent()).toBe('live');
    await byTestId('weight-input-api').fill('25');
    await byTestId('weight-set-api').click();
    await expect.poll(() => byTestId('weight-api').textContent()).toBe('25 %');
    expect(await byTestId('weight-source-api').textContent()).toBe('from operator, config says 50 %');
    expect(dialogs.length).toBe(before);
    expect((await status()).routes[0]).toMatchObject({ killed: false, weight: 25, weightSource: 'operator' });
    expect((await events()).slice(0, 2).map((e) => e.action)).toEqual(['weight.set', 'resume']);
    expect(pageErrors).toEqual([]);
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
  });
});
