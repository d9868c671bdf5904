// A LeaderLease in its own process, for tests that SIGSTOP the leader: `node lease-holder.mjs <redis-url> <fleet>
// <memberId> <leaseMs>`. Prints JSON lines: {event:'change',leading,epoch} on every leadership change,
// {event:'gated',result,epoch} for each fenced write it makes while leading() (every 20 ms), and answers the stdin
// line `late-write` with {event:'late-write',result,epoch}: a fenced write with the last epoch it held, made
// without asking leading(), as a write already in flight when the process was paused would be.
import { createClient } from 'redis';
import { createInterface } from 'node:readline';
import { LeaderLease } from '../../dist/fleet/leader-lease.js';
import { FENCED_WRITE } from './fenced-write.mjs';

const [url, fleet, memberId, leaseMs] = process.argv.slice(2);
const client = createClient({ url, socket: { reconnectStrategy: false } });
client.on('error', () => {});
await client.connect();
const print = (line) => process.stdout.write(JSON.stringify(line) + '\n');
const silent = { debug() {}, info() {}, warn() {}, error() {} };
let lastEpoch = null;
const lease = new LeaderLease({
  client, fleet, memberId, leaseMs: Number(leaseMs), logger: silent,
  onChange: (leading, epoch) => {
    if (leading) lastEpoch = epoch;
    print({ event: 'change', leading, epoch });
  },
});
const write = (epoch, value) => client.sendCommand(['EVAL', FENCED_WRITE, '2', `sg:{${fleet}}:epoch`, `sg:{${fleet}}:test`, String(epoch), value]);
let writes = 0;
setInterval(async () => {
  const epoch = lease.epoch();
  if (epoch === null) return;
  const result = await write(epoch, `${memberId}#${++writes}`).catch((error) => `error: ${error.message}`);
  print({ event: 'gated', result, epoch });
}, 20);
createInterface({ input: process.stdin }).on('line', async (line) => {
  if (line.trim() !== 'late-write') return;
  const result = await write(lastEpoch, `${memberId}#late`).catch((error) => `error: ${error.message}`);
  print({ event: 'late-write', result, epoch: lastEpoch });
});
lease.start();
print({ event: 'started' });
