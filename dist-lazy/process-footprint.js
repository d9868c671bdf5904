import { readFileSync } from 'node:fs';
import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';
const FLAG = '--semi-space-growth-factor';
const V8_DEFAULT_GROWTH_FACTOR = 2;
const COMPILER_FLAGS = ['--turbofan', '--no-turbofan', '--opt', '--no-opt', '--maglev', '--no-maglev', '--jitless', '--lite-mode', '--max-opt', '--always-turbofan'];
let held = false;
let optimizing = true;
function operatorOptions() {
    return [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)].map((option) => option.replaceAll('_', '-'));
}
function chosenByOperator(flags) {
    return operatorOptions().some((option) => flags.some((flag) => option === flag || option.startsWith(`${flag}=`)));
}
export function holdYoungGeneration() {
    if (held || chosenByOperator([FLAG]))
        return;
    setFlagsFromString(`${FLAG}=1`);
    held = true;
}
export function releaseYoungGeneration() {
    if (!held)
        return;
    setFlagsFromString(`${FLAG}=${V8_DEFAULT_GROWTH_FACTOR}`);
    held = false;
}
const MAGLEV_ON = Boolean(process.config.variables.v8_enable_maglev) && Number(process.versions.node.split('.')[0]) >= 22;
export function holdOptimizingCompilers() {
    if (!optimizing)
        return;
    if (chosenByOperator(COMPILER_FLAGS))
        return;
    setFlagsFromString('--no-turbofan');
    if (MAGLEV_ON)
        setFlagsFromString('--no-maglev');
    optimizing = false;
}
export function releaseOptimizingCompilers() {
    if (optimizing)
        return;
    setFlagsFromString('--turbofan');
    if (MAGLEV_ON)
        setFlagsFromString('--maglev');
    optimizing = true;
}
export function residentBytesOf(pid) {
    try {
        const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'latin1'));
        return match === null ? null : Number(match[1]) * 1024;
    }
    catch {
        return null;
    }
}
export function processMemory() {
    const usage = process.memoryUsage();
    const young = getHeapSpaceStatistics().find((space) => space.space_name === 'new_space');
    return { rssBytes: usage.rss, heapBytes: usage.heapTotal, youngGenerationBytes: young?.space_size ?? 0, youngGenerationHeld: held, optimizingCompilers: optimizing };
}
//# sourceMappingURL=process-footprint.js.map