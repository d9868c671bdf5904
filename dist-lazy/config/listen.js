import { BlockList, isIPv4, isIPv6 } from 'node:net';
export function parseListenAddress(value) {
    const match = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:\s]*)):(\d{1,5})$/.exec(value.trim());
    if (!match)
        return undefined;
    const port = Number(match[3]);
    if (port > 65535)
        return undefined;
    const host = match[1] ?? (match[2] || '0.0.0.0');
    return { host, port };
}
const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');
export function isLoopback(host) {
    const name = host.toLowerCase();
    if (name.startsWith('[') && name.endsWith(']'))
        return isIPv6(name.slice(1, -1)) && LOOPBACK.check(name.slice(1, -1), 'ipv6');
    if (name === 'localhost')
        return true;
    if (isIPv4(name))
        return LOOPBACK.check(name, 'ipv4');
    if (isIPv6(name))
        return LOOPBACK.check(name, 'ipv6');
    return false;
}
//# sourceMappingURL=listen.js.map