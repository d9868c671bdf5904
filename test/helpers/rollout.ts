/**
 * Helpers for rollout integration tests: admin calls, bounded polling of a route's rollout status (never a blind
 * sleep), the rollout's audit events, and upstream handlers with a fixed delay or a switchable failure.
 */
import type { RequestListener } from 'node:http';
import { echoHandler } from './upstreams.js';

export interface AdminReply {
  readonly status: number;
  readonly body: any;
}

export async function adminCall(adminUrl: string, method: string, path: string, body?: unknown): Promise<AdminReply> {
  const response = await fetch(adminUrl + path, {
    method,
    headers: { 'x-actor': 'rollout-test', ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await response.text();
  return { status: response.status, body: text === '' ? null : JSON.parse(text) };
}

/** The rollout status of `route` as GET /rollouts reports it (null when the route has no rollout). */
export async function rolloutOf(adminUrl: string, route: string): Promise<any> {
  const reply = await adminCall(adminUrl, 'GET', '/rollouts');
  return reply.body.rollouts[route] ?? null;
}

/** The route's entry in GET /status (weight in force, kill switch, rollout, recent traffic). */
export async function routeStatus(adminUrl: string, route: string): Promise<any> {
  const reply = await adminCall(adminUrl, 'GET', '/status');
  return reply.body.routes.find((r: { name: string }) => r.name === route);
}

/**
 * Polls /rollouts every 25 ms until `accept(status)` holds; fails after `timeoutMs` with the last status seen, so
 * a stuck rollout says where it was stuck.
 */
export async function waitForRollout(adminUrl: string, route: string, what: string, accept: (status: any) => boolean, timeoutMs = 15_000): Promise<any> {
  const deadline = Date.now() + timeoutMs;
  let last: any = null;
  for (;;) {
    last = await rolloutOf(adminUrl, route).catch(() => last);
    if (last !== null && accept(last)) return last;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last rollout status: ${JSON.stringify(last)}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

export interface AuditEvent {
  readonly id: number;
  readonly time: string;
  readonly actor: string;
  readonly action: string;
  readonly route?: string;
  readonly message?: string;
  readonly before?: any;
  readonly after?: any;
}

/** The route's events from GET /events, oldest first. */
export async function eventsOf(adminUrl: string, route: string): Promise<AuditEvent[]> {
  const reply = await adminCall(adminUrl, 'GET', `/events?route=${encodeURIComponent(route)}&limit=1000`);
  return (reply.body.events as AuditEvent[]).reverse();
}

/** The echo upstream's answer after `delayMs`. */
export function delayedEcho(version: string, delayMs: number): RequestListener {
  const echo = echoHandler(version);
  return (req, res) => {
    setTimeout(() => echo(req, res), delayMs);
  };
}

/** Answers 500 to every `every`-th request while `failing()` is true, the echo answer otherwise. */
export function failingEcho(version: string, every: number, failing: () => boolean, delayMs = 0): RequestListener {
  const echo = delayMs > 0 ? delayedEcho(version, delayMs) : echoHandler(version);
  let count = 0;
  return (req, res) => {
    if (failing() && ++count % every === 0) {
      req.resume();
      req.on('end', () => {
        res.writeHead(500, { 'content-type': 'text/plain', 'x-upstream-version': version });
        res.end('injected failure');
      });
      return;
    }
    echo(req, res);
  };
}
