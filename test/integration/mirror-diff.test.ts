/**
 * Diffing through a real proxy: every request of route `api` is mirrored to a shadow that answers each path in a
 * known way, and what splitgate concludes (outcome, fields, exact paths) is read back from /diffs/summary and
 * /diffs. The client always gets the stable answer, whatever the shadow says.
 */
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { send } from '../helpers/http.js';
import {
  outcomeDelta,
  mirrorOutcomeMetrics,
  settled,
  storedDiffs,
  summaryOf,
  waitForSummary,
  type Outcome,
  type StoredDiff,
} from '../helpers/mirror.js';
import { parsePrometheus, samplesOf } from '../helpers/prometheus.js';
import { startSplitgate, type StartedSplitgate } from '../helpers/splitgate.js';
import { startUpstream, type TestUpstream } from '../helpers/upstreams.js';

interface Answer {
  readonly status?: number;
  readonly headers?: OutgoingHttpHeaders;
  /** Sent as is: a string keeps its exact bytes (key order included); anything else is JSON-encoded. */
  readonly body: unknown;
}

const JSON_TYPE = { 'content-type': 'application/json' };
const user = { user: { name: 'ann', age: 30 } };
const items = { items: [{ id: 1, price: 10 }, { id: 2, price: 20 }, { id: 3, price: 30 }] };

/** What stable and shadow answer on each path. */
const ANSWERS: Record<string, { stable: Answer; shadow: Answer }> = {
  '/same': { stable: { body: user }, shadow: { body: user } },
  '/changed-field': { stable: { body: user }, shadow: { body: { user: { name: 'ann', age: 31 } } } },
  '/reordered': {
    stable: { body: '{"a":1,"b":{"c":2,"d":[1,2]},"e":null}' },
    shadow: { body: '{"e":null,"b":{"d":[1,2],"c":2},"a":1}' },
  },
  '/array': {
    stable: { body: items },
    shadow: { body: { items: [{ id: 1, price: 10 }, { id: 2, price: 20 }, { id: 3, price: 31 }] } },
  },
  '/status': { stable: { body: user }, shadow: { status: 503, body: user } },
  '/header': {
    stable: { headers: { 'cache-control': 'max-age=60' }, body: user },
    shadow: { headers: { 'cache-control': 'no-store' }, body: user },
  },
  '/ignored': {
    stable: { headers: { 'x-build': 'a1' }, body: { meta: { build: 'a1', env: 'prod' }, total: 3 } },
    shadow: { headers: { 'x-build': 'b2' }, body: { meta: { build: 'b2', env: 'prod' }, total: 3 } },
  },
  '/ignored-and-real': {
    stable: { headers: { 'x-build': 'a1' }, body: { meta: { build: 'a1' }, total: 3 } },
    shadow: { headers: { 'x-build': 'b2' }, body: { meta: { build: 'b2' }, total: 4 } },
  },
  '/volatile-headers': {
    stable: {
      headers: { date: 'Mon, 01 Jan 2024 00:00:00 GMT', 'x-request-id': 'stable-1', server: 'nginx', etag: '"s"', 'cache-control': 'max-age=5' },
      body: user,
    },
    shadow: {
      headers: { date: 'Tue, 02 Jan 2024 00:00:00 GMT', 'x-request-id': 'shadow-9', server: 'envoy', etag: '"t"', 'cache-control': 'max-age=5' },
      body: user,
    },
  },
  '/text': {
    stable: { headers: { 'content-type': 'text/plain' }, body: 'hello stable' },
    shadow: { headers: { 'content-type': 'text/plain' }, body: 'hello shadow!' },
  },
};

function answerWith(side: 'stable' | 'shadow') {
  return (req: IncomingMessage, res: ServerResponse): void => {
    req.resume();
    req.on('end', () => {
      const answer = ANSWERS[req.url ?? '']?.[side] ?? { status: 404, body: { error: 'no such case' } };
      const text = typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body);
      res.writeHead(answer.status ?? 200, { ...JSON_TYPE, ...answer.headers });
      res.end(text);
    });
  };
}

let stable: TestUpstream;
let shadow: TestUpstream;
let proxy: StartedSplitgate;

beforeAll(async () => {
  stable = await startUpstream('stable', answerWith('stable'));
  shadow = await startUpstream('shadow', answerWith('shadow'));
  proxy = await startSplitgate({
    log: { level: 'warn' },
    upstreams: { stable: stable.url, shadow: shadow.url },
    routes: [
      {
        name: 'api',
        stable: 'stable',
        mirror: {
          to: 'shadow',
          percent: 100,
          diff: { ignore: ['body.meta.build', 'headers.X-Build'] },
        },
      },
    ],
  });
});

afterAll(async () => {
  await proxy?.stop();
  await stable?.close();
  await shadow?.close();
});

/**
 * Sends one request through the proxy, checks the client got stable's answer, waits for its copy to settle and
 * returns the outcome it ended with, and the newest stored diff when that outcome is `diff`.
 */
async function mirrorOnce(path: string): Promise<{ outcome: Outcome; diff: StoredDiff | null }> {
  const before = await summaryOf(proxy.adminUrl, 'api');
  const response = await send(proxy.url, path);
  const expected = ANSWERS[path].stable;
  expect(response.status).toBe(expected.status ?? 200);
  expect(response.text).toBe(typeof expected.body === 'string' ? expected.body : JSON.stringify(expected.body));
  const after = await waitForSummary(proxy.adminUrl, 'api', `the copy of ${path} to settle`, (s) => settled(s) > settled(before));
  const delta = outcomeDelta(before, after);
  const outcomes = Object.keys(delta) as Outcome[];
  expect(delta).toEqual({ [outcomes[0]]: 1 });
  if (outcomes[0] !== 'diff') return { outcome: outcomes[0], diff: null };
  const [newest] = await storedDiffs(proxy.adminUrl, 'api', 1);
  expect(newest.request.url).toBe(path);
  return { outcome: 'diff', diff: newest };
}

describe('mirror diff: what counts as the same response', () => {
  it('identical responses match', async () => {
    expect(await mirrorOnce('/same')).toEqual({ outcome: 'match', diff: null });
    expect(shadow.seen.map((r) => r.url)).toContain('/same');
  });

  it('reordered object keys match (the bytes differ, the documents do not)', async () => {
    expect(ANSWERS['/reordered'].stable.body).not.toBe(ANSWERS['/reordered'].shadow.body);
    expect(await mirrorOnce('/reordered')).toEqual({ outcome: 'match', diff: null });
  });

  it('headers that differ on every response (date, x-request-id, server, etag) are not compared', async () => {
    expect(await mirrorOnce('/volatile-headers')).toEqual({ outcome: 'match', diff: null });
  });

  it('a difference in an ignored body path or header is not reported', async () => {
    expect(await mirrorOnce('/ignored')).toEqual({ outcome: 'match', diff: null });
  });
});

describe('mirror diff: where the difference is', () => {
  it('a changed JSON field is reported at its path', async () => {
    const { outcome, diff } = await mirrorOnce('/changed-field');
    expect(outcome).toBe('diff');
    expect(diff!.differences).toEqual([{ field: 'body.$.user.age', path: 'body.$.user.age', primary: '30', shadow: '31' }]);
    expect(diff!.status).toEqual({ primary: 200, shadow: 200 });
    expect(diff!.primaryVersion).toBe('stable');
  });

  it('a changed array element: the field collapses the index, the path keeps it', async () => {
    const { diff } = await mirrorOnce('/array');
    expect(diff!.differences).toEqual([{ field: 'body.$.items[].price', path: 'body.$.items[2].price', primary: '30', shadow: '31' }]);
  });

  it('a status change is reported as `status`', async () => {
    const { diff } = await mirrorOnce('/status');
    expect(diff!.differences).toEqual([{ field: 'status', path: 'status', primary: '200', shadow: '503' }]);
    expect(diff!.status).toEqual({ primary: 200, shadow: 503 });
  });

  it('a header change is reported as `headers.<name>`', async () => {
    const { diff } = await mirrorOnce('/header');
    expect(diff!.differences).toEqual([
      { field: 'headers.cache-control', path: 'headers.cache-control', primary: 'max-age=60', shadow: 'no-store' },
    ]);
  });

  it('ignored fields stay hidden next to a real difference', async () => {
    const { diff } = await mirrorOnce('/ignored-and-real');
    expect(diff!.differences.map((d) => d.field)).toEqual(['body.$.total']);
  });

  it('a non-JSON body is compared by length and hash', async () => {
    const { diff } = await mirrorOnce('/text');
    expect(diff!.differences.map((d) => d.field)).toEqual(['body']);
    expect(JSON.parse(diff!.differences[0].primary)).toMatchObject({ length: 'hello stable'.length });
    expect(JSON.parse(diff!.differences[0].shadow)).toMatchObject({ length: 'hello shadow!'.length });
  });
});

describe('mirror diff: summary and metrics agree', () => {
  it('the summary counts every comparison and names the differing fields', async () => {
    const summary = await summaryOf(proxy.adminUrl, 'api');
    expect(summary.outcomes.match).toBe(4);
    expect(summary.outcomes.diff).toBe(6);
    expect(summary.compared).toBe(10);
    expect(summary.matched).toBe(4);
    expect(summary.matchRate).toBeCloseTo(0.4, 10);
    expect(summary.inFlight).toBe(0);
    expect(Object.fromEntries(summary.topFields.map((f) => [f.field, f.count]))).toEqual({
      'body.$.user.age': 1,
      'body.$.items[].price': 1,
      status: 1,
      'headers.cache-control': 1,
      'body.$.total': 1,
      body: 1,
    });
  });

  it('splitgate_mirror_requests_total and splitgate_mirror_diffs_total match the summary', async () => {
    const summary = await summaryOf(proxy.adminUrl, 'api');
    expect(await mirrorOutcomeMetrics(proxy.adminUrl, 'api')).toEqual(summary.outcomes);
    const samples = parsePrometheus((await send(proxy.adminUrl, '/metrics')).text);
    const diffsByField = Object.fromEntries(
      samplesOf(samples, 'splitgate_mirror_diffs_total')
        .filter((s) => s.labels.route === 'api')
        .map((s) => [s.labels.field, s.value]),
    );
    expect(diffsByField).toEqual(Object.fromEntries(summary.topFields.map((f) => [f.field, f.count])));
    const durationCount = samplesOf(samples, 'splitgate_mirror_duration_seconds_count').find((s) => s.labels.route === 'api');
    expect(durationCount?.value).toBe(summary.compared);
  });
});
