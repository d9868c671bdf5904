/**
 * undici's Pool and connector, loaded by themselves. `import ... from 'undici'` runs its index, which loads fetch,
 * WebSocket, EventSource, mocks, caches and every interceptor: about 10 MB of RSS (14 MB on Node 24) and 100 ms of
 * start-up in every worker, which dispatches through a Pool and uses none of the rest. These are the same module
 * instances the index exports (test/undici-core.test.ts checks it, so an undici release that moves them fails
 * there, not in production).
 */
import { createRequire } from 'node:module';
import type * as Undici from 'undici';

const require = createRequire(import.meta.url);

export const Pool = require('undici/lib/dispatcher/pool.js') as typeof Undici.Pool;
export const buildConnector = require('undici/lib/core/connect.js') as typeof Undici.buildConnector;
/**
 * `dispatcher.request()` is installed on Dispatcher.prototype by undici's index, which a worker never loads: callers
 * here call this function with the dispatcher as `this` instead.
 */
export const request = require('undici/lib/api/api-request.js') as typeof Undici.Dispatcher.prototype.request;
