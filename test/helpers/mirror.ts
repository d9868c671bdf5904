/**
 * Reading what mirroring learned, for integration tests. Copies are sent and compared off the response path, so a
 * test never sleeps blindly: it polls `/diffs/summary` until the counts it expects are there (bounded wait).
 */
import { createHash } from 'node:crypto';
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { MIRROR_OUTCOMES, type MirrorOutcome } from '../../src/mirror/mirror-records.js';
import { send, waitFor } from './http.js';
import { parsePrometheus, sampleValue } from './prometheus.js';

export type Outcome = MirrorOutcome;
export const OUTCOMES = MIRROR_OUTCOMES;

export interface RouteSummary {
  route: string;
  compared: number;
  matched: number;
  matchRate: number | null;
  outcomes: Record<Outcome, number>;
  topFields: Array<{ field: string; count: number; likelyNoise: boolean }>;
  noiseFields: Array<{ field: string; count: number }>;
  noiseSamples: number;
  inFlight: number;
}

export interface StoredDiff {
  id: number;
  time: string;
  route: string;
  request: { method: string; url: string; headers: Record<string, string> };
  primaryVersion: string;
  status: { primary: number; shadow: number };
  differences: Array<{ field: string; path: string; primary: string; shadow: string }>;
  suppressed: string[];
}

/** The summary of one route; fails when the route has no mirror records. */
export async function summaryOf(adminUrl: string, route: string): Promise<RouteSummary> {
  const response = await send(adminUrl, '/diffs/summary');
  if (response.status !== 200) throw new Error(`/diffs/summary answered ${response.status}: ${response.text}`);
  const found = response.json<{ routes: RouteSummary[] }>().routes.find((r) => r.route === route);
  if (!found) throw new Error(`/diffs/summary has no route ${route}: ${response.text}`);
  return found;
}

/** Polls the summary of `route` until `check` accepts it (up to `timeoutMs`), and returns that summary. */
export async function waitForSummary(
  adminUrl: string,
  route: string,
  what: string,
  check: (summary: RouteSummary) => boolean,
  timeoutMs = 5_000,
): Promise<RouteSummary> {
  let last: RouteSummary | undefined;
  try {
    await waitFor(`${what} on route ${route}`, async () => {
      last = await summaryOf(adminUrl, route);
      return check(last);
    }, timeoutMs);
  } catch (error) {
    throw new Error(`${(error as Error).message}; last summary: ${JSON.stringify(last)}`);
  }
  return last!;
}

/** Copies of `route` that reached an end (every outcome but the in-flight ones). */
export function settled(summary: RouteSummary): number {
  return OUTCOMES.reduce((sum, outcome) => sum + summary.outcomes[outcome], 0);
}

/** Outcome counts of `after` minus those of `before`, only the non-zero ones. */
export function outcomeDelta(before: RouteSummary, after: RouteSummary): Partial<Record<Outcome, number>> {
  const delta: Partial<Record<Outcome, number>> = {};
  for (const outcome of OUTCOMES) {
    const d = after.outcomes[outcome] - before.outcomes[outcome];
    if (d !== 0) delta[outcome] = d;
  }
  return delta;
}

export async function storedDiffs(adminUrl: string, route: string, limit?: number): Promise<StoredDiff[]> {
  const query = `/diffs?route=${encodeURIComponent(route)}${limit === undefined ? '' : `&limit=${limit}`}`;
  const response = await send(adminUrl, query);
  if (response.status !== 200) throw new Error(`${query} answered ${response.status}: ${response.text}`);
  return response.json<{ route: string; diffs: StoredDiff[] }>().diffs;
}

/** `splitgate_mirror_requests_total{route, outcome}` for every outcome (0 where no sample exists yet). */
export async function mirrorOutcomeMetrics(adminUrl: string, route: string): Promise<Record<Outcome, number>> {
  const samples = parsePrometheus((await send(adminUrl, '/metrics')).text);
  const out = {} as Record<Outcome, number>;
  for (const outcome of OUTCOMES) out[outcome] = sampleValue(samples, 'splitgate_mirror_requests_total', { route, outcome }) ?? 0;
  return out;
}

export function sha256(bytes: Buffer | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** What an upstream received, as seen by `recordingHandler`. */
export interface ReceivedRequest {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: Buffer;
}

/**
 * A handler that reads the whole request body, records it in `into`, then answers through `respond` (default:
 * JSON with the url, byte count and SHA-256 of the body, the same on every upstream so that copies match).
 */
export function recordingHandler(
  into: ReceivedRequest[],
  respond?: (req: IncomingMessage, res: ServerResponse, body: Buffer) => void,
): RequestListener {
  return (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      into.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      if (respond) {
        respond(req, res, body);
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ url: req.url, bytes: body.length, sha256: sha256(body) }));
    });
  };
}
