/**
 * Small HTTP helpers shared by the REST and control servers: JSON and text replies, listening and
 * closing with bounded waits.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(text),
    'Cache-Control': 'no-cache',
  });
  res.end(text);
}

export function sendText(
  res: ServerResponse,
  status: number,
  text: string,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, {
    'Content-Type': 'text/plain',
    'Content-Length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

/** The request's path (no query), percent-decoded per segment; null when it cannot be decoded. */
export function requestPath(req: IncomingMessage): { segments: string[]; query: URLSearchParams } | null {
  const url = new URL(req.url ?? '/', 'http://localhost');
  try {
    const segments = url.pathname
      .split('/')
      .filter((s) => s !== '')
      .map((s) => decodeURIComponent(s));
    return { segments, query: url.searchParams };
  } catch {
    return null;
  }
}

/** Listens on host:port; rejects with the bind error (e.g. EADDRINUSE). */
export function listen(server: Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => {
      reject(err);
    };
    server.once('error', onError);
    server.listen({ port, host }, () => {
      server.off('error', onError);
      const address = server.address();
      resolve(typeof address === 'object' && address !== null ? address.port : port);
    });
  });
}

/** Stops accepting, drops every connection (streams included) and waits (bounded) for the close. */
export function closeServer(server: Server, timeoutMs = 2000): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) {
      server.closeAllConnections();
      resolve();
      return;
    }
    const timer = setTimeout(resolve, timeoutMs);
    timer.unref();
    server.close(() => {
      clearTimeout(timer);
      resolve();
    });
    server.closeAllConnections();
  });
}
