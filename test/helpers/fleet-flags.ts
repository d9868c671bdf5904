/**
 * Shared setup for the fleet flag tests: one replica's config (a `fleet:` on a test Redis, a plain route, the
 * given flag file) and the flags header a request through a replica gets.
 */
import { expect } from 'vitest';
import { send } from './http.js';

export interface FleetFlagsReplica {
  readonly member: string;
  readonly fleet: string;
  readonly redisUrl: string;
  readonly stableUrl: string;
  readonly flags: Record<string, unknown>;
  readonly workers?: number;
  /** Adds `flags.ofrep: {}`. */
  readonly ofrep?: boolean;
}

/** The config of one replica; its state file is `<member>-state.json` next to the config. */
export function fleetFlagsConfig(replica: FleetFlagsReplica): Record<string, unknown> {
  return {
    listen: '127.0.0.1:0',
    admin: { listen: '127.0.0.1:0' },
    workers: replica.workers ?? 1,
    watch: false,
    state: { file: `${replica.member}-state.json` },
    upstreams: { stable: replica.stableUrl },
    flags: { definitions: { flags: replica.flags }, ...(replica.ofrep ? { ofrep: {} } : {}) },
    routes: [{ name: 'api', stable: 'stable' }],
    fleet: { name: replica.fleet, memberId: replica.member, redis: { url: replica.redisUrl, connectTimeout: '1s', commandTimeout: '1s' }, heartbeat: '300ms', memberTtl: '3s', poll: '10s' },
  };
}

/** The flags header (`x-splitgate-flags`, as the echoing upstream saw it) of one request through `url`; '' if none. */
export async function flagsHeaderThrough(url: string): Promise<string> {
  const reply = await send(url, '/');
  expect(reply.status).toBe(200);
  return (reply.json() as { headers: Record<string, string | undefined> }).headers['x-splitgate-flags'] ?? '';
}
