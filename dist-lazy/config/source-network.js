import { isIP } from 'node:net';
export function parseSourceNetwork(value) {
    const slash = value.indexOf('/');
    const address = slash === -1 ? value : value.slice(0, slash);
    const family = isIP(address);
    const bits = family === 6 ? 128 : 32;
    const prefixText = slash === -1 ? String(bits) : value.slice(slash + 1);
    const prefix = /^\d{1,3}$/.test(prefixText) ? Number(prefixText) : NaN;
    if (family === 0 || !(prefix >= 0 && prefix <= bits))
        return null;
    return { address, prefix, family: family === 6 ? 'ipv6' : 'ipv4' };
}
//# sourceMappingURL=source-network.js.map