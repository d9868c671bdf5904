/**
 * A tiny upstream that says who it is: answers every request with JSON naming its version and echoing what it
 * received, so `curl` through the proxy shows where a request went and what splitgate added. Knobs for trying
 * things out: `?status=503` answers with that status, `?delay=200` waits that many milliseconds first.
 */
import { createServer, type Server } from 'node:http';

export interface EchoUpstream {
  readonly version: string;
  readonly server: Server;
  readonly url: string;
  close(): Promise<void>;
}

export async function startEchoUpstream(version: string, port = 0, host = '127.0.0.1'): Promise<EchoUpstream> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://upstream');
      const status = Number(url.searchParams.get('status') ?? 200);
      const delay = Math.min(Number(url.searchParams.get('delay') ?? 0), 30_000);
      const body = `${JSON.stringify(
        {
          version,
          method: req.method,
          url: req.url,
          headers: req.headers,
          bodyBytes: Buffer.concat(chunks).length,
        },
        null,
        2,
      )}\n`;
      const send = (): void => {
        res.writeHead(Number.isInteger(status) && status >= 200 && status <= 599 ? status : 200, {
          'content-type': 'application/json',
          'x-upstream-version': version,
        });
        res.end(body);
      };
      if (delay > 0) setTimeout(send, delay);
      else send();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const address = server.address() as { port: number };
  return {
    version,
    server,
    url: `http://${host}:${address.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
