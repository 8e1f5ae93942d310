/**
 * A client connection that stops reading, for tests of what a proxy does with replies nobody takes
 * (they wait in the kernel's buffers, then in the proxy), and the helpers to read them in the end.
 */
import net from 'node:net';
import { LOOPBACK } from './ports.ts';

/**
 * Connects to `port` and stops reading. With `greeting` (e.g. "version\r\n", a binary NOOP), first sends it and waits
 * for the reply, so that the server has accepted the connection and reads it from then on.
 */
export async function stalledClient(port: number, greeting?: string | Buffer): Promise<net.Socket> {
  const socket = net.connect({ host: LOOPBACK, port });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve).once('error', reject);
  });
  socket.on('error', () => {});
  if (greeting !== undefined) {
    socket.write(greeting);
    await new Promise<void>((resolve) => {
      socket.once('data', () => {
        resolve();
      });
    });
  }
  socket.pause();
  return socket;
}

/**
 * Lets `socket` read again and collects `length` bytes (failing after `timeoutMs`). It stops listening
 * then, so the socket can be read this way again for the next reply.
 */
export function readAll(socket: net.Socket, length: number, timeoutMs: number): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let have = 0;
    const onData = (b: Buffer): void => {
      chunks.push(b);
      have += b.length;
      if (have >= length) {
        clearTimeout(timer);
        socket.off('data', onData);
        resolve(Buffer.concat(chunks));
      }
    };
    const timer = setTimeout(() => {
      socket.off('data', onData);
      reject(new Error(`stalled client: ${have} of ${length} bytes after ${timeoutMs} ms`));
    }, timeoutMs);
    socket.on('data', onData);
    socket.resume();
  });
}

/** Index of the first byte where `a` and `b` differ (the shorter length when one is a prefix). */
export function firstDifference(a: Buffer, b: Buffer): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return n;
}
