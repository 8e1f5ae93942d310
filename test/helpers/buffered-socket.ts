/**
 * A client socket that gathers what it receives into one buffer and lets a test wait (bounded) until
 * that buffer holds what it expects, the connection closes, or a deadline passes.
 */
import { connect, type Socket } from 'node:net';
import { LOOPBACK } from './ports.ts';
import { Wakeup } from './wakeup.ts';

export class BufferedSocket {
  readonly sock: Socket;
  /** Bytes received and not yet taken by the test. */
  buf: Buffer = Buffer.alloc(0);
  closed = false;
  private readonly wakeup = new Wakeup();

  private constructor(sock: Socket) {
    this.sock = sock;
    sock.setNoDelay(true);
    sock.on('data', (b: Buffer) => {
      this.buf = this.buf.length === 0 ? b : Buffer.concat([this.buf, b]);
      this.wakeup.notify();
    });
    const onClose = (): void => {
      this.closed = true;
      this.wakeup.notify();
    };
    sock.on('close', onClose);
    sock.on('error', onClose);
  }

  static connect(port: number, timeoutMs = 5000): Promise<BufferedSocket> {
    return new Promise((resolve, reject) => {
      const sock = connect({ host: LOOPBACK, port });
      const timer = setTimeout(() => {
        sock.destroy();
        reject(new Error(`connect to ${port} timed out`));
      }, timeoutMs);
      sock.once('connect', () => {
        clearTimeout(timer);
        sock.removeAllListeners('error');
        resolve(new BufferedSocket(sock));
      });
      sock.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
  }

  /**
   * Resolves with `ready()`'s first result other than undefined, checked on every arrival; throws
   * `failure('closed')` if the connection closes first, `failure('timeout')` after `timeoutMs`.
   */
  async waitFor<T>(
    ready: () => T | undefined,
    timeoutMs: number,
    failure: (why: 'closed' | 'timeout') => Error,
  ): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const result = ready();
      if (result !== undefined) return result;
      if (this.closed) throw failure('closed');
      const left = deadline - Date.now();
      if (left <= 0) throw failure('timeout');
      await this.wakeup.sleep(left);
    }
  }

  close(): void {
    this.sock.destroy();
  }
}
