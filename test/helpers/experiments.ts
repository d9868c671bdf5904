/**
 * A/B experiment setup shared by the integration tests: a shop app for both versions, its experiment config, and
 * reading reports back from the admin API.
 *
 * The shop: `POST /orders` answers 201 (500 for `/orders?fail`), `/thanks` reports a purchase in the conversion header
 * (`?value=` its value, 1 by default), anything else 200. With `failOnHeader`, a request carrying `x-fail: 1`
 * answers 500 from that version only (a broken treatment for the guardrails). Every answer names its version in
 * `x-upstream-version`, and echoes the flags splitgate sent (`x-splitgate-flags`) in `x-seen-flags`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { send, type Received } from './http.js';
import { startUpstream, type TestUpstream } from './upstreams.js';
import { spawnedConfig } from './workers.js';

export interface ShopOptions {
  readonly failOnHeader?: boolean;
}

export function shopHandler(version: string, options: ShopOptions = {}) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    req.resume();
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://x');
      const headers: Record<string, string> = { 'content-type': 'text/plain', 'x-upstream-version': version };
      const flags = req.headers['x-splitgate-flags'];
      if (typeof flags === 'string') headers['x-seen-flags'] = flags;
      if (url.pathname.endsWith('/thanks')) headers['x-splitgate-conversion'] = `purchase;value=${url.searchParams.get('value') ?? '1'}`;
      let status = req.method === 'POST' && url.pathname === '/orders' ? (url.searchParams.has('fail') ? 500 : 201) : 200;
      if (options.failOnHeader && req.headers['x-fail'] === '1') status = 500;
      res.writeHead(status, headers);
      res.end(version);
    });
  };
}

export interface Shop {
  readonly stable: TestUpstream;
  readonly canary: TestUpstream;
  readonly upstreams: { readonly stable: string; readonly canary: string };
  close(): Promise<void>;
}

/** Both versions of the shop on 127.0.0.1; `canary` options apply to the canary only. */
export async function startShop(canary: ShopOptions = {}): Promise<Shop> {
  const stableUpstream = await startUpstream('stable', shopHandler('stable'));
  const canaryUpstream = await startUpstream('canary', shopHandler('canary', canary));
  return {
    stable: stableUpstream,
    canary: canaryUpstream,
    upstreams: { stable: stableUpstream.url, canary: canaryUpstream.url },
    close: async () => {
      await stableUpstream.close();
      await canaryUpstream.close();
    },
  };
}

/** The route every experiment test uses: 50 % canary, users keyed by `x-user-id`. */
export function shopRoute(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { name: 'shop', stable: 'stable', canary: 'canary', weight: 50, sticky: { key: ['header:x-user-id'] }, ...extra };
}

/**
 * The p99 guardrail for tests not about guardrails: the p99 of a few dozen requests on a loaded test machine is noise
 * (CI saw 8.1 ms against 4.4 ms between two identical versions), so only a 100× slower B breaches it.
 */
export const QUIET_GUARDRAILS = { maxP99Ratio: 100 };

/** Experiment `checkout` on route `shop`: exposed on `/shop`, conversions `order` (POST /orders 2xx) and `purchase` (reported). */
export function checkoutExperiment(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    key: 'checkout',
    route: 'shop',
    guardrails: QUIET_GUARDRAILS,
    exposure: { match: { pathPrefix: '/shop' } },
    conversions: [
      { name: 'order', match: { method: 'POST', path: '/orders', status: '2xx' } },
      { name: 'purchase', header: true },
    ],
    ...extra,
  };
}

/**
 * A fleet member's config for the shop: route `shop`, `experiment` on it, `workers`, no state file, the fleet `fleet`
 * on `redisUrl` with fast membership timings.
 */
export function shopFleetMember(fleet: string, member: string, workers: number, redisUrl: string, shop: Shop, experiment: Record<string, unknown>): Record<string, unknown> {
  return spawnedConfig(workers, {
    upstreams: shop.upstreams,
    routes: [shopRoute()],
    experiments: [experiment],
    fleet: { name: fleet, memberId: member, redis: { url: redisUrl, connectTimeout: '1s', commandTimeout: '1s' }, heartbeat: '300ms', memberTtl: '3s' },
  });
}

export const armOf = (reply: Received): 0 | 1 => (reply.headers['x-upstream-version'] === 'canary' ? 1 : 0);

/** One experiment's report (`GET /experiments/{key}`), failing on any other status. */
export async function experimentReport(adminUrl: string, key: string, token?: string): Promise<any> {
  const reply = await send(adminUrl, `/experiments/${encodeURIComponent(key)}`, token === undefined ? {} : { headers: { authorization: `Bearer ${token}` } });
  if (reply.status !== 200) throw new Error(`GET /experiments/${key}: ${reply.status} ${reply.text}`);
  return reply.json();
}

/** Per conversion `name`: [users, converters] of arm A and of arm B. */
export function armCounts(report: any, conversion: string): number[][] {
  const c = report.conversions.find((x: any) => x.name === conversion);
  return c.arms.map((a: any) => [a.users, a.converters]);
}
