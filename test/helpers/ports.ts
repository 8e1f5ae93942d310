/**
 * Free loopback TCP ports for test servers.
 *
 * Ports come from [PORT_MIN, PORT_MAX], entirely below Linux's ephemeral range (32768+), so an
 * outgoing connection elsewhere on the machine can never be handed "our" port between the probe and
 * the server's bind. Other memcached processes (and other people's tests) run on this machine, so a
 * port is never assumed: it is probed by binding it, and the caller still retries with a new port
 * when the spawned server fails to bind (`withPortRetry`).
 */
import { createServer } from 'node:net';

export const LOOPBACK = '127.0.0.1';
export const PORT_MIN = 20000;
export const PORT_MAX = 32767;
const PROBE_ATTEMPTS = 64;

/** Ports handed out by this process; never handed out twice (tests run servers side by side). */
const handedOut = new Set<number>();

/** Resolves true when `port` can be bound on the loopback address right now. */
export function canBind(port: number, host = LOOPBACK): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', () => {
      resolve(false);
    });
    srv.listen({ port, host, exclusive: true }, () => {
      srv.close(() => {
        resolve(true);
      });
    });
  });
}

/**
 * A loopback TCP port below 32768 that could be bound a moment ago. Random (not sequential) so that
 * parallel test processes rarely collide; bounded number of probes.
 */
export async function freePort(host = LOOPBACK): Promise<number> {
  for (let i = 0; i < PROBE_ATTEMPTS; i++) {
    const port = PORT_MIN + Math.floor(Math.random() * (PORT_MAX - PORT_MIN + 1));
    if (handedOut.has(port)) continue;
    if (await canBind(port, host)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error(`freePort: no bindable port found on ${host} in ${PROBE_ATTEMPTS} attempts`);
}

/** Thrown by a start function when the server could not bind its port (someone else took it). */
export class PortInUseError extends Error {
  readonly port: number;
  constructor(port: number, detail: string) {
    super(`port ${port} already in use: ${detail}`);
    this.name = 'PortInUseError';
    this.port = port;
  }
}

/** True when a server's stderr says its bind failed because the address was taken. */
export function looksLikeAddressInUse(text: string): boolean {
  return /EADDRINUSE|address already in use|failed to listen/i.test(text);
}

/**
 * Runs `start(port)` on a fresh free port, retrying on a new port (at most `attempts` times) when it
 * throws PortInUseError. Any other error propagates at once.
 */
export async function withPortRetry<T>(start: (port: number) => Promise<T>, attempts = 5): Promise<T> {
  let last: unknown;
  for (let i = 0; i < attempts; i++) {
    const port = await freePort();
    try {
      return await start(port);
    } catch (err) {
      if (!(err instanceof PortInUseError)) throw err;
      last = err;
    }
  }
  throw new Error(`gave up after ${attempts} ports were taken`, { cause: last });
}
