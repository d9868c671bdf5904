import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { validateConfig } from '../src/config/load.js';
import { ExperimentBook, keyDigest, savedUserKey } from '../src/experiments/experiment-book.js';
import { ExperimentFile, parseExperimentFile, snapshotBook, USER_BYTES, type UsersKind } from '../src/experiments/experiment-file.js';
import type { ExperimentEvent } from '../src/experiments/worker-events.js';
import { seededRandom as seeded } from './helpers/seeded-random.js';
import { waitFor } from './helpers/http.js';

const ORDER = { name: 'order', match: { method: 'POST', path: '/orders', status: '2xx' } };
const PURCHASE = { name: 'purchase', header: true };

/** Experiments `checkout` (with `conversions`) and `other` (order, purchase) on route `shop`. */
function configWith(conversions: unknown[], maxUsers = 100_000) {
  const experiment = (key: string, listed = conversions) => ({ key, route: 'shop', exposure: { match: { pathPrefix: '/shop' } }, conversions: listed, conversionWindow: '1h', maxUsers });
  return validateConfig({
    upstreams: { stable: 'http://127.0.0.1:3001', canary: 'http://127.0.0.1:3002' },
    routes: [{ name: 'shop', stable: 'stable', canary: 'canary', weight: 50, sticky: { key: ['header:x-user-id'] } }],
    experiments: [experiment('checkout'), experiment('other', [ORDER, PURCHASE])],
  });
}

const config = configWith([ORDER, PURCHASE]);

const REQUESTS: ReadonlyArray<[method: string, url: string, status: number, header?: string]> = [
  ['GET', '/shop/item', 200],
  ['GET', '/other', 200],
  ['POST', '/orders', 201],
  ['GET', '/thanks', 200, 'purchase;value=3'],
  ['GET', '/thanks', 200, 'purchase;value=5'],
];

function totals(book: ExperimentBook, key = 'checkout') {
  const record = book.record(key)!;
  return record.arms.map((arm) => ({ users: arm.users, conversions: Object.fromEntries([...arm.conversions].sort().map(([name, t]) => [name, { ...t }])) }));
}

/** A book restarted from what `before` saved (as a process reads its file at start). */
async function restarted(before: ExperimentBook, kind: UsersKind, options: { now?: () => number; config?: typeof config } = {}) {
  const bytes = await snapshotBook(before).finish();
  const warnings: string[] = [];
  const after = new ExperimentBook(options.now === undefined ? {} : { now: options.now });
  after.planOf(options.config ?? config);
  after.restoreRunning(parseExperimentFile(bytes, kind, (message) => warnings.push(message)));
  return { after, bytes, warnings };
}

describe('running experiments saved and restored (experiment-file.ts)', () => {
  it('a single process: totals come back, a returning user is neither exposed nor converted again, a new one is; equal to a process that never restarted', async () => {
    const random = seeded(7);
    let now = Date.UTC(2026, 0, 1);
    const truth = new ExperimentBook({ now: () => now });
    let book = new ExperimentBook({ now: () => now });
    for (const b of [truth, book]) b.planOf(config);
    for (let i = 0; i < 4000; i++) {
      now += Math.floor(random() * 1500);
      const user = `u${Math.floor(random() * 400)}`;
      const [method, url, status, header] = REQUESTS[Math.floor(random() * REQUESTS.length)];
      for (const b of [truth, book]) b.begin(config, 'shop', Number(user.slice(1)) % 3 === 0 ? 'canary' : 'stable', user, method, url, undefined)!.responded(status, header === undefined ? [] : ['x-splitgate-conversion', header]);
      if (i === 1500 || i === 3000) {
        const restart = await restarted(book, 'users', { now: () => now });
        expect(restart.warnings).toEqual([]);
        expect(totals(restart.after)).toEqual(totals(book));
        expect(restart.after.record('checkout')!.trackedUsers).toBe(book.record('checkout')!.trackedUsers);
        book = restart.after;
      }
    }
    expect(totals(book)).toEqual(totals(truth));
    expect(totals(book, 'other')).toEqual(totals(truth, 'other'));
    expect(totals(truth)[0].users + totals(truth)[1].users).toBeGreaterThan(300);
  });

  it('a supervisor: the users merged from workers come back with their conversions’ times and values; equal to one process that never restarted', async () => {
    const random = seeded(3);
    let now = Date.UTC(2026, 0, 1);
    const single = new ExperimentBook({ now: () => now });
    let workers = [0, 1].map(() => new ExperimentBook({ now: () => now, reportToSupervisor: true }));
    let supervisor = new ExperimentBook();
    supervisor.planOf(config);
    let batches: ExperimentEvent[][] = [];
    const deliver = () => {
      for (const w of workers) batches.push(w.takeEvents() ?? []);
      for (const batch of batches.reverse()) supervisor.applyEvents(batch);
      batches = [];
    };
    for (let i = 0; i < 3000; i++) {
      now += Math.floor(random() * 3000);
      const user = `u${Math.floor(random() * 300)}`;
      const arm = Number(user.slice(1)) % 3 === 0 ? 'canary' : 'stable';
      const [method, url, status, header] = REQUESTS[Math.floor(random() * REQUESTS.length)];
      const worker = workers[random() < 0.5 ? 0 : 1];
      for (const b of [single, worker]) b.begin(config, 'shop', arm, user, method, url, undefined)!.responded(status, header === undefined ? [] : ['x-splitgate-conversion', header]);
      if (random() < 0.02) for (const w of workers) batches.push(w.takeEvents() ?? []);
      if (i === 1000 || i === 2000) {
        // A drained stop: every worker's events are in, then the supervisor saves; all processes start afresh.
        deliver();
        const restart = await restarted(supervisor, 'merged');
        expect(restart.warnings).toEqual([]);
        expect(totals(restart.after)).toEqual(totals(supervisor));
        supervisor = restart.after;
        workers = [0, 1].map(() => new ExperimentBook({ now: () => now, reportToSupervisor: true }));
      }
    }
    deliver();
    expect(totals(supervisor)).toEqual(totals(single));
  });

  it('an experiment whose conversions changed starts from zero, with a warning; the others are restored', async () => {
    const book = new ExperimentBook();
    book.planOf(config);
    for (const user of ['a', 'b', 'c']) book.begin(config, 'shop', 'stable', user, 'GET', '/shop', undefined)!.responded(200, []);
    // The same conversions in another order would move every user's conversion bits.
    const changed = configWith([PURCHASE, ORDER]);
    const { after, warnings } = await restarted(book, 'users', { config: changed });
    expect(warnings).toEqual(['experiment checkout: its arms or conversions changed since it was saved; it starts from zero']);
    expect(after.record('checkout')!.arms[0].users).toBe(0);
    expect(after.record('checkout')!.trackedUsers).toBe(0);
    expect(after.record('other')!.arms[0].users).toBe(3);
  });

  it('remembers users in their LRU order within maxUsers, USER_BYTES each', async () => {
    const small = configWith([ORDER, PURCHASE], 100);
    const book = new ExperimentBook();
    book.planOf(small);
    const expose = (b: ExperimentBook, user: string) => b.begin(small, 'shop', 'stable', user, 'GET', '/shop', undefined)!.responded(200, []);
    for (let i = 0; i < 100; i++) expose(book, `u${i}`);
    expose(book, 'u0'); // the least recently seen is now u1
    const { after, bytes } = await restarted(book, 'users', { config: small });
    expect(bytes.length).toBeLessThan(1000 + 2 * 100 * USER_BYTES);
    expose(after, 'new'); // u1 is forgotten
    for (let i = 0; i < 100; i++) if (i !== 1) expose(after, `u${i}`);
    const users = () => after.record('checkout')!.arms[0].users;
    expect(users()).toBe(101);
    expose(after, 'u1');
    expect(users()).toBe(102);
  });
});

describe('ExperimentFile on disk', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sg-experiment-file-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  async function saved(): Promise<string> {
    const book = new ExperimentBook();
    book.planOf(config);
    for (const user of ['a', 'b']) book.begin(config, 'shop', 'canary', user, 'GET', '/shop', undefined)!.responded(200, []);
    const file = join(dir, `state-${Math.random().toString(36).slice(2)}.json.experiments`);
    await new ExperimentFile({ file, book, kind: 'users', onWarning: (message) => expect.fail(message) }).stop();
    return file;
  }

  function load(file: string) {
    const warnings: string[] = [];
    const book = new ExperimentBook();
    book.planOf(config);
    new ExperimentFile({ file, book, kind: 'users', onWarning: (message) => warnings.push(message) }).restore();
    return { book, warnings };
  }

  it('reads back what stop() wrote', async () => {
    const { book, warnings } = load(await saved());
    expect(warnings).toEqual([]);
    expect(book.record('checkout')!.arms[1].users).toBe(2);
  });

  it('a missing file is a first start: no warning', () => {
    const { book, warnings } = load(join(dir, 'never-written'));
    expect(warnings).toEqual([]);
    expect(book.record('checkout')!.arms[1].users).toBe(0);
  });

  it('a file that is not one is reported, and everything starts from zero', async () => {
    const file = await saved();
    writeFileSync(file, '{"experiments": []}');
    const { book, warnings } = load(file);
    expect(warnings).toEqual([expect.stringMatching(/^experiments file .* not restored, running experiments start from zero: not an experiments file$/)]);
    expect(book.record('checkout')!.arms[1].users).toBe(0);
  });

  it('a file cut short costs the experiments whose users are missing, each reported', async () => {
    const file = await saved();
    const bytes = readFileSync(file);
    writeFileSync(file, bytes.subarray(0, bytes.length - 5));
    const { book, warnings } = load(file);
    expect(warnings).toEqual(['experiment other: saved entry damaged (the file ends before its users); it starts from zero']);
    expect(book.record('other')!.arms[1].users).toBe(0);
    expect(book.record('checkout')!.arms[1].users).toBe(2);
  });

  it('saves every saveEveryMs while something is counted, and not while nothing is', async () => {
    const book = new ExperimentBook();
    book.planOf(config);
    const file = join(dir, 'periodic.json.experiments');
    const saver = new ExperimentFile({ file, book, kind: 'users', saveEveryMs: 20, onWarning: (message) => expect.fail(message) });
    saver.start();
    try {
      book.begin(config, 'shop', 'canary', 'a', 'GET', '/shop', undefined)!.responded(200, []);
      await waitFor('the first save', () => existsSync(file), 5_000);
      await sleep(100); // a save in flight lands
      unlinkSync(file);
      await sleep(200);
      expect(existsSync(file)).toBe(false);
      book.begin(config, 'shop', 'canary', 'b', 'GET', '/shop', undefined)!.responded(200, []);
      await waitFor('the save after a new user', () => existsSync(file), 5_000);
    } finally {
      await saver.stop();
    }
    expect(load(file).book.record('checkout')!.arms[1].users).toBe(2);
  });
});

describe('user key digests', () => {
  it('are the SHA-256 of the key as latin1 bytes, as files written before keyDigest hold them', () => {
    // A cookie or header value with bytes above 0x7f: UTF-8 would hash other bytes and orphan every saved user.
    for (const key of ['user-00000042', 'caf\u00e9-\u00ff\u0080', 'x'.repeat(300)]) {
      const expected = createHash('sha256').update(key, 'latin1').digest();
      expect(keyDigest(key).equals(expected)).toBe(true);
      expect(savedUserKey(key)).toBe(`\0${expected.toString('latin1', 0, 8)}`);
    }
  });
});
