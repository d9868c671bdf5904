import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
let core;
export function undiciCore() {
    core ??= {
        Pool: require('undici/lib/dispatcher/pool.js'),
        buildConnector: require('undici/lib/core/connect.js'),
        request: require('undici/lib/api/api-request.js'),
    };
    return core;
}
//# sourceMappingURL=undici-core.js.map