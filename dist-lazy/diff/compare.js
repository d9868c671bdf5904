import { compileNameRedaction } from './redact.js';
import { compileIgnoreList, diffResponses } from './response-diff.js';
import { storedDifferences } from './stored-value.js';
export function createDiffSpec(options) {
    const { headerPolicy, ignore, maxDecodedBytes, redact } = options;
    const key = JSON.stringify([headerPolicy.include === null ? null : [...headerPolicy.include], [...headerPolicy.exclude], ignore, maxDecodedBytes, redact]);
    return Object.freeze({ key, headerPolicy, ignore: [...ignore], maxDecodedBytes, redact: [...redact] });
}
export function compileDiffSpec(spec) {
    return {
        headerPolicy: spec.headerPolicy,
        ignored: compileIgnoreList(spec.ignore),
        maxDecodedBytes: spec.maxDecodedBytes,
        redacted: compileNameRedaction(spec.redact),
    };
}
export function compareExchange(job, spec) {
    const options = { maxDecodedBytes: spec.maxDecodedBytes };
    const noiseFields = job.secondary === null ? null : diffResponses(job.primary, job.secondary, spec.headerPolicy, spec.ignored, options).map((d) => d.field);
    const differences = diffResponses(job.primary, job.shadow, spec.headerPolicy, spec.ignored, options);
    return { differences: storedDifferences(differences, spec.redacted), noiseFields };
}
//# sourceMappingURL=compare.js.map