/**
 * undici's Pool and connector, loaded by themselves and on first use. `import ... from 'undici'` runs its index,
 * which loads fetch, WebSocket, EventSource, mocks, caches and every interceptor: about 10 MB of RSS (14 MB on
 * Node 24) and 100 ms of start-up in every worker, which dispatches through a Pool and uses none of the rest. Even
 * the Pool alone is ~10 MB of RSS, which a supervisor (no upstream requests unless a health check runs) should not
 * pay: nothing is required before `undiciCore()` is first called. These are the same module instances the index
 * exports (test/workers-lean.test.ts checks it, so an undici release that moves them fails there, not in production).
 */
import { createRequire } from 'node:module';
import type * as Undici from 'undici';

const require = createRequire(import.meta.url);

export interface UndiciCore {
  readonly Pool: typeof Undici.Pool;
  readonly buildConnector: typeof Undici.buildConnector;
  /**
   * `dispatcher.request()` is installed on Dispatcher.prototype by undici's index, which a worker never loads:
   * callers call this function with the dispatcher as `this` instead.
   */
  readonly request: typeof Undici.Dispatcher.prototype.request;
}

let core: UndiciCore | undefined;

export function undiciCore(): UndiciCore {
  core ??= {
    Pool: require('undici/lib/dispatcher/pool.js') as typeof Undici.Pool,
    buildConnector: require('undici/lib/core/connect.js') as typeof Undici.buildConnector,
    request: require('undici/lib/api/api-request.js') as typeof Undici.Dispatcher.prototype.request,
  };
  return core;
}
