/**
 * A scriptable fake memcached for proxy tests: a TCP server on a free loopback port whose every
 * connection is handed to a test-supplied handler, and which records what each connection received.
 * Used where a real memcached cannot show the behaviour: NOT_MY_VBUCKET answers, a server that closes
 * mid-request, the exact bytes a proxy writes downstream.
 *
 * Everything is bounded: `waitFor` polls with a deadline, `close` destroys every connection.
 */
import { after } from 'node:test';
import { createServer, type Server, type Socket } from 'node:net';
import { LOOPBACK, PortInUseError, withPortRetry } from './ports.ts';
import { BinMagic, BinOp, binRequest, parseBinFrames, type BinResponse } from './raw-client.ts';

/** One accepted connection. */
export class MockConn {
  readonly index: number;
  readonly socket: Socket;
  /** Every byte received so far. */
  received: Buffer = Buffer.alloc(0);
  /** Bytes received and not yet consumed by the handler (see `consume`). */
  pending: Buffer = Buffer.alloc(0);
  closed = false;

  constructor(index: number, socket: Socket) {
    this.index = index;
    this.socket = socket;
  }

  write(data: Buffer | string): void {
    if (!this.socket.destroyed) this.socket.write(data);
  }

  /** Drops `n` bytes from the front of `pending`. */
  consume(n: number): void {
    this.pending = this.pending.subarray(n);
  }

  destroy(): void {
    this.socket.destroy();
  }
}

export type MockHandler = (conn: MockConn, server: MockServer) => void;

export class MockServer {
  readonly port: number;
  readonly host = LOOPBACK;
  readonly connections: MockConn[] = [];
  private readonly server: Server;
  private readonly onData: MockHandler;

  private constructor(server: Server, port: number, onData: MockHandler) {
    this.server = server;
    this.port = port;
    this.onData = onData;
  }

  /**
   * Listens on a free loopback port; `onData(conn)` runs after every chunk a connection receives
   * (the chunk is appended to `conn.received` and `conn.pending` first).
   */
  static start(onData: MockHandler): Promise<MockServer> {
    return withPortRetry(
      (port) =>
        new Promise<MockServer>((resolve, reject) => {
          const server = createServer();
          const mock = new MockServer(server, port, onData);
          server.on('connection', (socket) => {
            mock.accept(socket);
          });
          server.once('error', (err: NodeJS.ErrnoException) => {
            server.close();
            reject(err.code === 'EADDRINUSE' ? new PortInUseError(port, err.message) : err);
          });
          server.listen({ port, host: LOOPBACK, exclusive: true }, () => {
            live.add(mock);
            resolve(mock);
          });
        }),
    );
  }

  private accept(socket: Socket): void {
    socket.setNoDelay(true);
    const conn = new MockConn(this.connections.length, socket);
    this.connections.push(conn);
    socket.on('data', (b: Buffer) => {
      conn.received = Buffer.concat([conn.received, b]);
      conn.pending = Buffer.concat([conn.pending, b]);
      this.onData(conn, this);
    });
    socket.on('error', () => {
      conn.closed = true;
    });
    socket.on('close', () => {
      conn.closed = true;
    });
  }

  /** Every byte every connection received, in connection order. */
  allReceived(): Buffer {
    return Buffer.concat(this.connections.map((c) => c.received));
  }

  /** Waits (bounded) until `cond()` holds; returns whether it did. */
  async waitFor(cond: () => boolean, timeoutMs = 3000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!cond()) {
      if (Date.now() > deadline) return false;
      await new Promise((r) => setTimeout(r, 10));
    }
    return true;
  }

  async close(): Promise<void> {
    live.delete(this);
    for (const c of this.connections) c.destroy();
    await new Promise<void>((r) => {
      this.server.close(() => {
        r();
      });
      setTimeout(r, 1000).unref();
    });
  }
}

const live = new Set<MockServer>();
after(async () => {
  await Promise.all([...live].map((m) => m.close()));
});

// ---------------------------------------------------------------------------------------------
// Binary helpers

/** A request frame as a mock sees it (`vbucket` is header bytes 6-7). */
export interface MockBinRequest {
  readonly opcode: number;
  readonly key: Buffer;
  readonly extras: Buffer;
  readonly value: Buffer;
  readonly vbucket: number;
  readonly opaque: number;
  readonly cas: bigint;
}

function asRequest(f: BinResponse): MockBinRequest {
  return {
    opcode: f.opcode,
    key: f.key,
    extras: f.extras,
    value: f.value,
    vbucket: f.status,
    opaque: f.opaque,
    cas: f.cas,
  };
}

/** Takes the complete binary request frames out of `conn.pending`. Throws on a non-request magic. */
export function takeBinRequests(conn: MockConn): MockBinRequest[] {
  const { frames, rest } = parseBinFrames(conn.pending);
  for (const f of frames) {
    if (f.magic !== BinMagic.request)
      throw new Error(`mock: not a binary request (magic 0x${f.magic.toString(16)})`);
  }
  conn.pending = rest;
  return frames.map(asRequest);
}

/** Every binary request frame `conn` received so far (parsed from `received`, not consumed). */
export function binRequestsOf(conn: MockConn): MockBinRequest[] {
  return parseBinFrames(conn.received).frames.map(asRequest);
}

export interface BinReply {
  readonly opcode: number;
  readonly status?: number;
  readonly opaque?: number;
  readonly cas?: bigint;
  readonly extras?: Buffer;
  readonly key?: Buffer | string;
  readonly value?: Buffer | string;
}

/** A binary response frame. */
export function binReply(r: BinReply): Buffer {
  return binRequest({
    magic: BinMagic.response,
    opcode: r.opcode,
    vbucket: r.status ?? 0,
    opaque: r.opaque ?? 0,
    cas: r.cas ?? 0n,
    extras: r.extras,
    key: r.key,
    value: r.value,
  });
}

export const BinStatus = {
  success: 0x0000,
  keyNotFound: 0x0001,
  keyExists: 0x0002,
  notStored: 0x0005,
  notMyVBucket: 0x0007,
} as const;

/** Binary opcodes whose success is silent (quiet variants). */
export const QUIET_OPCODES: ReadonlySet<number> = new Set([
  BinOp.getq,
  BinOp.getkq,
  BinOp.setq,
  BinOp.addq,
  BinOp.replaceq,
  BinOp.deleteq,
  BinOp.incrementq,
  BinOp.decrementq,
  BinOp.quitq,
  BinOp.flushq,
  BinOp.appendq,
  BinOp.prependq,
  BinOp.gatq,
  BinOp.gatkq,
]);

// ---------------------------------------------------------------------------------------------
// Text helpers

/**
 * Takes complete text commands out of `conn.pending`: a line, plus a data block for storage commands
 * (`set/add/replace/append/prepend key flags exp bytes`, `cas ... bytes cas`, `ms key bytes ...`).
 * Returns each command's line (without CRLF) and data (without CRLF).
 */
export function takeTextCommands(conn: MockConn): { line: string; data: Buffer | null }[] {
  const out: { line: string; data: Buffer | null }[] = [];
  for (;;) {
    const nl = conn.pending.indexOf('\n');
    if (nl < 0) return out;
    const line = conn.pending.subarray(0, nl).toString('latin1').replace(/\r$/, '');
    const t = line.split(' ').filter((x) => x !== '');
    let dataLen = -1;
    if (['set', 'add', 'replace', 'append', 'prepend', 'cas'].includes(t[0]) && t.length >= 5)
      dataLen = Number(t[4]);
    else if (t[0] === 'ms' && t.length >= 3) dataLen = Number(t[2]);
    if (dataLen >= 0) {
      if (conn.pending.length < nl + 1 + dataLen + 2) return out;
      out.push({ line, data: conn.pending.subarray(nl + 1, nl + 1 + dataLen) });
      conn.consume(nl + 1 + dataLen + 2);
    } else {
      out.push({ line, data: null });
      conn.consume(nl + 1);
    }
  }
}
