/**
 * A raw TCP upstream for tests that need exact bytes on the wire: each request head is handed to `answer` with its
 * connection, which writes whatever the case under test needs (or closes, or resets). Bodies announced with
 * Content-Length are skipped; nothing more is read from a connection once it has been ended.
 */
import { createServer, type AddressInfo, type Socket } from 'node:net';

export interface RawRequest {
  /** The request line and header lines, without the blank line. */
  readonly head: string;
  readonly target: string;
  readonly socket: Socket;
  /** Requests this connection carried before this one. */
  readonly before: number;
}

export interface RawUpstream {
  readonly url: string;
  close(): Promise<void>;
}

export async function startRawUpstream(answer: (request: RawRequest) => void): Promise<RawUpstream> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    let pending = '';
    let before = 0;
    socket.on('data', (chunk: Buffer) => {
      pending += chunk.toString('latin1');
      for (let end = pending.indexOf('\r\n\r\n'); end !== -1 && !socket.writableEnded; end = pending.indexOf('\r\n\r\n')) {
        const head = pending.slice(0, end);
        const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
        pending = pending.slice(end + 4 + length);
        answer({ head, target: head.split(' ')[1] ?? '', socket, before: before++ });
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
