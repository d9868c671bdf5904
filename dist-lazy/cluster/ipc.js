export function isFromWorker(message) {
    return typeof message === 'object' && message !== null && typeof message.type === 'string';
}
export function supportsReusePort(version = process.versions.node) {
    const [major, minor] = version.split('.').map(Number);
    return major > 23 || (major === 23 && minor >= 1) || (major === 22 && minor >= 12);
}
export function isToWorker(message) {
    return typeof message === 'object' && message !== null && typeof message.type === 'string';
}
//# sourceMappingURL=ipc.js.map