/**
 * A client network as the config writes it (`overrides.sourceNetworks`). Apart from the schema so that the routing
 * table, which a worker compiles from an already validated config, can parse one without loading zod.
 */
import { isIP } from 'node:net';

export interface SourceNetwork {
  readonly address: string;
  readonly prefix: number;
  readonly family: 'ipv4' | 'ipv6';
}

/** `10.0.0.0/8`, `2001:db8::/32`, or a bare address (one host: /32 or /128); null when it is none of these. */
export function parseSourceNetwork(value: string): SourceNetwork | null {
  const slash = value.indexOf('/');
  const address = slash === -1 ? value : value.slice(0, slash);
  const family = isIP(address);
  const bits = family === 6 ? 128 : 32;
  const prefixText = slash === -1 ? String(bits) : value.slice(slash + 1);
  const prefix = /^\d{1,3}$/.test(prefixText) ? Number(prefixText) : NaN;
  if (family === 0 || !(prefix >= 0 && prefix <= bits)) return null;
  return { address, prefix, family: family === 6 ? 'ipv6' : 'ipv4' };
}
