import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Socket } from 'node:net';

/** One request as the receiver saw it: headers and the raw body bytes (what a signature covers). */
export interface ReceivedRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
  /** Index of this request, from 0. */
  readonly index: number;
}

/** What the receiver answers; `hold: true` never answers (for timeouts and crash tests). */
export interface ReceiverAnswer {
  readonly status: number;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string;
  readonly hold?: boolean;
}

export interface LoopbackReceiver {
  /** `http://127.0.0.1:<port>/webhook`. */
  readonly url: string;
  readonly requests: ReceivedRequest[];
  /** Replaces the answering function. */
  answer(fn: (request: ReceivedRequest) => ReceiverAnswer | Promise<ReceiverAnswer>): void;
  close(): Promise<void>;
}

/**
 * A real HTTP server on 127.0.0.1 that records every request and answers as told. Used by the demo
 * (to show one verified delivery without an external service) and by the delivery tests, so the
 * dispatcher is always exercised over a real socket.
 */
export async function startLoopbackReceiver(
  answer: (request: ReceivedRequest) => ReceiverAnswer | Promise<ReceiverAnswer> = () => ({ status: 204 }),
): Promise<LoopbackReceiver> {
  let respond = answer;
  const requests: ReceivedRequest[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const received: ReceivedRequest = {
        method: req.method ?? '',
        path: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks),
        index: requests.length,
      };
      requests.push(received);
      Promise.resolve(respond(received)).then(
        (reply) => {
          if (reply.hold === true) return;
          res.writeHead(reply.status, reply.headers ?? {});
          res.end(reply.body ?? '');
        },
        () => {
          res.writeHead(500);
          res.end();
        },
      );
    });
  });
  const sockets = new Set<Socket>();
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/webhook`,
    requests,
    answer(fn) {
      respond = fn;
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
