/**
 * The admin listener: Prometheus metrics, health and readiness, and a read-only status view. Bound to loopback by
 * default (the config refuses a non-loopback address without a token).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Metrics } from '../metrics/metrics.js';
import type { MirrorBook } from '../mirror/mirror-records.js';
import type { TableStore } from '../state/table-store.js';

export interface AdminContext {
  readonly metrics: Metrics;
  readonly store: TableStore;
  readonly mirrors: MirrorBook;
  /** False before the proxy listens and once it starts draining. */
  readonly ready: () => boolean;
  readonly startedAt: number;
}

export function createAdminHandler(context: AdminContext): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    handleAdmin(context, req, res).catch((error: unknown) => {
      sendJson(res, 500, { error: { code: 'SG_ADMIN_INTERNAL', message: (error as Error).message } });
    });
  };
}

async function handleAdmin(context: AdminContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://admin');
  const path = url.pathname;
  const method = req.method ?? 'GET';
  if (method !== 'GET' && method !== 'HEAD') {
    sendJson(res, 405, { error: { code: 'SG_METHOD_NOT_ALLOWED', message: `${method} is not allowed on ${path}` } });
    return;
  }
  switch (path) {
    case '/metrics': {
      const text = await context.metrics.registry.metrics();
      res.writeHead(200, { 'content-type': context.metrics.registry.contentType, 'cache-control': 'no-store' });
      res.end(text);
      return;
    }
    case '/healthz':
      sendJson(res, 200, { status: 'ok' });
      return;
    case '/readyz': {
      const ready = context.ready();
      sendJson(res, ready ? 200 : 503, { status: ready ? 'ready' : 'not ready' });
      return;
    }
    case '/status':
      sendJson(res, 200, statusOf(context));
      return;
    case '/diffs': {
      const route = url.searchParams.get('route');
      const limit = Math.max(1, Math.min(Number(url.searchParams.get('limit') ?? 50) || 50, 1000));
      if (route === null) {
        sendJson(res, 400, { error: { code: 'SG_INVALID', message: 'query parameter route is required, e.g. /diffs?route=api' } });
        return;
      }
      const records = context.mirrors.get(route);
      if (!records && !context.store.current.table.routes.some((r) => r.name === route)) {
        sendJson(res, 404, { error: { code: 'SG_UNKNOWN_ROUTE', message: `no route named ${route}` } });
        return;
      }
      sendJson(res, 200, { route, diffs: records?.recent(limit) ?? [] });
      return;
    }
    case '/diffs/summary':
      sendJson(res, 200, { routes: context.mirrors.all().map((records) => records.summary()) });
      return;
    default:
      sendJson(res, 404, { error: { code: 'SG_NOT_FOUND', message: `no admin endpoint at ${path}` } });
  }
}

function statusOf(context: AdminContext): unknown {
  const active = context.store.current;
  return {
    generation: active.generation,
    uptimeSeconds: Math.round((Date.now() - context.startedAt) / 1000),
    routes: active.table.routes.map((route) => ({
      name: route.name,
      match: { host: route.host ?? (route.hostSuffix ? `*${route.hostSuffix}` : null), pathPrefix: route.pathPrefix },
      upstreams: route.upstreams,
      weight: route.weight,
      weightSource: route.weightSource,
      killed: route.killed,
      rules: route.rules.length,
    })),
  };
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
  res.end(text);
}
