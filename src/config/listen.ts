import { BlockList, isIPv4, isIPv6 } from 'node:net';

/** `host:port`, `[v6]:port` or `:port` (all interfaces) → what `server.listen` takes. */
export interface ListenAddress {
  host: string;
  port: number;
}

export function parseListenAddress(value: string): ListenAddress | undefined {
  const match = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:\s]*)):(\d{1,5})$/.exec(value.trim());
  if (!match) return undefined;
  const port = Number(match[3]);
  if (port > 65535) return undefined;
  const host = match[1] ?? (match[2] || '0.0.0.0');
  return { host, port };
}

/**
 * 127.0.0.0/8 and ::1. BlockList also matches the IPv4-mapped form (`::ffff:127.0.0.1`) against the IPv4 subnet.
 * Built once and never changed after.
 */
const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

/**
 * Loopback addresses: the admin API may run without a token only on these, and a loopback admin listener answers
 * only requests whose Host is one of them (DNS rebinding). Accepted: literal IP addresses in 127.0.0.0/8, `::1`
 * (any spelling) and IPv4-mapped `::ffff:127.x.y.z`, IPv6 optionally in brackets, and the name `localhost` (any case).
 * Everything else is refused, names that merely look like an address (`127.attacker.example`) included; so are
 * `localhost.` (trailing dot) and `*.localhost`: they are resolved by DNS on some systems, and browsers send
 * plain `localhost` for http://localhost/ anyway. Short or zero-padded IPv4 forms (`127.1`) are refused too:
 * browsers send the canonical dotted quad.
 */
export function isLoopback(host: string): boolean {
  const name = host.toLowerCase();
  if (name.startsWith('[') && name.endsWith(']')) return isIPv6(name.slice(1, -1)) && LOOPBACK.check(name.slice(1, -1), 'ipv6');
  if (name === 'localhost') return true;
  if (isIPv4(name)) return LOOPBACK.check(name, 'ipv4');
  if (isIPv6(name)) return LOOPBACK.check(name, 'ipv6');
  return false;
}
