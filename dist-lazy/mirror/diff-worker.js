import { parentPort } from 'node:worker_threads';
import { compareExchange, compileDiffSpec } from '../diff/compare.js';
const MAX_SPECS = 256;
const specs = new Map();
function compiledSpec(request) {
    let spec = specs.get(request.spec.key);
    if (spec === undefined) {
        if (specs.size >= MAX_SPECS)
            specs.clear();
        spec = compileDiffSpec(request.spec);
        specs.set(request.spec.key, spec);
    }
    return spec;
}
function revive(response) {
    if (response === null || response.body === null || Buffer.isBuffer(response.body))
        return response;
    const bytes = response.body;
    return { ...response, body: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength) };
}
function answer(request) {
    try {
        const job = { primary: revive(request.job.primary), shadow: revive(request.job.shadow), secondary: revive(request.job.secondary) };
        return { id: request.id, result: compareExchange(job, compiledSpec(request)) };
    }
    catch (error) {
        return { id: request.id, error: error instanceof Error ? error.message : String(error) };
    }
}
parentPort.on('message', (request) => {
    parentPort.postMessage(answer(request));
});
//# sourceMappingURL=diff-worker.js.map