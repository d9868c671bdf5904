import { runWorker } from './worker.js';
runWorker().then((code) => {
    process.exitCode = code;
    setTimeout(() => process.exit(code), code === 0 ? 100 : 0).unref();
});
//# sourceMappingURL=worker-main.js.map