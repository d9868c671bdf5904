/**
 * Ports for servers that cannot listen on 0 and report theirs (redis-server, Prometheus), and for upstreams that
 * must refuse connections. A port found with listen(0) and closed again could be taken by any later listen(0) or
 * outgoing connection on the machine before it is used; these are taken below Linux's ephemeral range
 * (net.ipv4.ip_local_port_range, 32768-60999 by default), where neither lands, in a slice of their own per vitest
 * pool (files that run at once never share one), and one process never hands the same port out twice.
 */
import { createServer } from 'node:net';

const FIRST = 20_000;
const SLICE = 1_500;
const SLICES = 8;
const handedOut = new Set<number>();

function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', () => resolve(false));
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
  });
}

/** A port of this pool's slice not handed out before by this process. */
function unusedPort(): number {
  const slice = Number(process.env.VITEST_POOL_ID ?? 0) % SLICES;
  for (;;) {
    const port = FIRST + slice * SLICE + Math.floor(Math.random() * SLICE);
    if (handedOut.has(port)) continue;
    handedOut.add(port);
    return port;
  }
}

/** A port nothing listens on now and nothing else in the test run will be given. */
export async function reservedPort(): Promise<number> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = unusedPort();
    if (await bindable(port)) return port;
  }
  throw new Error('no free port in this pool\'s slice');
}
