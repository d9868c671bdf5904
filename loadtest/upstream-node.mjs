#!/usr/bin/env node
/**
 * Fallback upstream when /usr/sbin/nginx is absent: node:http answering every request with 200 and a fixed
 * 64-byte text/plain body. Slower than nginx and it competes with the load generator for core 0, so figures
 * taken with it are lower; bench.mjs says which upstream it used.
 *
 *   node loadtest/upstream-node.mjs PORT BODY
 */
import { createServer } from 'node:http';

const port = Number(process.argv[2] ?? 0);
const body = Buffer.from(process.argv[3] ?? 'x'.repeat(64));
const server = createServer({ keepAliveTimeout: 65_000 }, (req, res) => {
  req.resume();
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length });
  res.end(body);
});
server.listen(port, '127.0.0.1', () => process.stdout.write(`listening ${server.address().port}\n`));
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
