/**
 * A minimal raw TCP client for protocol tests: sends arbitrary bytes (whole, or in given chunks with
 * small pauses) and reads replies until
 *   (a) an expected sentinel reply ends the received bytes,
 *   (b) the peer closes the connection (closed = true), or
 *   (c) a quiet period passes with no new bytes;
 * and never longer than an overall timeout. Every wait is bounded.
 *
 * Sentinels: on a text connection "mn\r\n" is answered "MN\r\n" by memcached 1.6; it is swallowed
 * when a case leaves the connection inside a data block, so then the quiet period ends the read. On a
 * binary connection a NOOP request (opcode 0x0a) with a recognisable opaque is answered by a 24-byte
 * NOOP response; the reply is parsed frame by frame so a value that happens to contain those bytes
 * cannot end the read early.
 */
import { connect, type Socket } from 'node:net';
import { LOOPBACK } from './ports.ts';

export interface ReadOptions {
  /** Ends the read with matched = true when it returns true for the bytes received so far. */
  readonly until?: (received: Buffer) => boolean;
  /** Ends the read after this long without new bytes (ms). Without it only `until`, close or timeout end it. */
  readonly quietMs?: number;
  /** Hard bound for the whole read (default 5000 ms). */
  readonly timeoutMs?: number;
}

export interface ReadResult {
  /** Every byte received during the read (and any still unread from before). */
  readonly data: Buffer;
  /** The peer closed (FIN or reset) before or during the read. */
  readonly closed: boolean;
  /** `until` matched. */
  readonly matched: boolean;
  /** The overall timeout ended the read. */
  readonly timedOut: boolean;
}

export interface SendOptions {
  /** Pause between chunks (ms, default 2) when the payload is given as several chunks. */
  readonly pauseMs?: number;
}

export type Payload = Buffer | string | readonly Buffer[];

const DEFAULT_TIMEOUT_MS = 5000;
const CONNECT_TIMEOUT_MS = 3000;

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function asChunks(p: Payload): readonly Buffer[] {
  if (typeof p === 'string') return [Buffer.from(p, 'latin1')];
  if (Buffer.isBuffer(p)) return [p];
  return p;
}

export class RawClient {
  private readonly sock: Socket;
  private received: Buffer[] = [];
  private receivedBytes = 0;
  private peerClosed = false;
  private lastError: Error | undefined;
  private wake: (() => void) | undefined;

  private constructor(sock: Socket) {
    this.sock = sock;
    sock.setNoDelay(true);
    sock.on('data', (b: Buffer) => {
      this.received.push(b);
      this.receivedBytes += b.length;
      this.wake?.();
    });
    const onClose = (): void => {
      this.peerClosed = true;
      this.wake?.();
    };
    sock.on('end', onClose);
    sock.on('close', onClose);
    sock.on('error', (err) => {
      // ECONNRESET / EPIPE when the server closes on us mid-send: that is a close, not a test crash.
      this.lastError = err;
      onClose();
    });
  }

  static connect(port: number, host = LOOPBACK, timeoutMs = CONNECT_TIMEOUT_MS): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const sock = connect({ host, port });
      const timer = setTimeout(() => {
        sock.destroy();
        reject(new Error(`connect to ${host}:${port} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      sock.once('connect', () => {
        clearTimeout(timer);
        sock.removeAllListeners('error');
        resolve(new RawClient(sock));
      });
      sock.once('error', (err) => {
        clearTimeout(timer);
        sock.destroy();
        reject(err);
      });
    });
  }

  /** The peer has closed (or reset) the connection. */
  get closed(): boolean {
    return this.peerClosed;
  }

  /** The socket error that ended the connection, if any (ECONNRESET, EPIPE). */
  get error(): Error | undefined {
    return this.lastError;
  }

  /** Bytes received and not yet returned by a read. */
  get pending(): number {
    return this.receivedBytes;
  }

  /**
   * Writes the payload; several chunks are written one by one with a pause between them. Does not
   * wait for the kernel to take the bytes (a server that stopped reading must not hang the test).
   */
  async send(payload: Payload, opts: SendOptions = {}): Promise<void> {
    const chunks = asChunks(payload);
    for (let i = 0; i < chunks.length; i++) {
      if (this.peerClosed || this.sock.destroyed) return;
      this.sock.write(chunks[i]);
      if (i < chunks.length - 1) await sleep(opts.pauseMs ?? 2);
    }
  }

  /** Returns and forgets all unread bytes without waiting. */
  take(): Buffer {
    const out = this.received.length === 1 ? this.received[0] : Buffer.concat(this.received);
    this.received = [];
    this.receivedBytes = 0;
    return out;
  }

  private peek(): Buffer {
    if (this.received.length > 1) this.received = [Buffer.concat(this.received)];
    return this.received[0] ?? Buffer.alloc(0);
  }

  /** Reads until `until` matches, the peer closes, a quiet period passes, or the timeout. */
  read(opts: ReadOptions = {}): Promise<ReadResult> {
    if (this.wake) throw new Error('RawClient: only one read at a time');
    const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    return new Promise((resolve) => {
      let quietTimer: NodeJS.Timeout | undefined;
      let seen = -1;
      const finish = (matched: boolean, timedOut: boolean): void => {
        clearTimeout(hardTimer);
        if (quietTimer) clearTimeout(quietTimer);
        this.wake = undefined;
        resolve({ data: this.take(), closed: this.peerClosed, matched, timedOut });
      };
      const check = (): void => {
        if (opts.until?.(this.peek())) {
          finish(true, false);
          return;
        }
        if (this.peerClosed) {
          finish(false, false);
          return;
        }
        if (opts.quietMs !== undefined && this.receivedBytes !== seen) {
          seen = this.receivedBytes;
          if (quietTimer) clearTimeout(quietTimer);
          quietTimer = setTimeout(() => {
            finish(false, false);
          }, opts.quietMs);
        }
      };
      const hardTimer = setTimeout(() => {
        finish(false, true);
      }, timeoutMs);
      this.wake = check;
      check();
    });
  }

  /** send() then read(). */
  async request(payload: Payload, read: ReadOptions = {}, send: SendOptions = {}): Promise<ReadResult> {
    await this.send(payload, send);
    return this.read(read);
  }

  /** Waits (bounded) for the peer to close; true if it did. */
  async waitClosed(timeoutMs = 2000): Promise<boolean> {
    if (this.peerClosed) return true;
    const r = await this.read({ until: () => false, timeoutMs });
    if (r.data.length > 0) this.received.unshift(r.data);
    this.receivedBytes += r.data.length;
    return r.closed;
  }

  /** Closes our side; resolves once the socket is fully closed (bounded). */
  async close(timeoutMs = 1000): Promise<void> {
    if (this.sock.destroyed) return;
    const closedP = new Promise<void>((r) =>
      this.sock.once('close', () => {
        r();
      }),
    );
    this.sock.end();
    await Promise.race([closedP, sleep(timeoutMs)]);
    this.sock.destroy();
  }

  destroy(): void {
    this.sock.destroy();
  }
}

// ---------------------------------------------------------------------------------------------
// ASCII sentinel

export const ASCII_SENTINEL = Buffer.from('mn\r\n');
export const ASCII_SENTINEL_REPLY = Buffer.from('MN\r\n');

/** How many "MN\r\n" replies a payload already asks for (over-counting only costs a quiet period). */
function countMnCommands(payload: Buffer): number {
  let n = 0;
  for (let i = payload.indexOf('mn'); i >= 0 && i < payload.length; i = payload.indexOf('mn', i + 2)) {
    const atLineStart = i === 0 || payload[i - 1] === 0x0a;
    const after = payload[i + 2];
    if (atLineStart && (after === 0x0d || after === 0x0a || after === 0x20)) n++;
  }
  return n;
}

function countOccurrences(hay: Buffer, needle: Buffer): number {
  let n = 0;
  for (let i = hay.indexOf(needle); i >= 0; i = hay.indexOf(needle, i + needle.length)) n++;
  return n;
}

export interface ExchangeOptions {
  /** Send the payload in these pieces (their concatenation must equal the payload). */
  readonly chunks?: readonly Buffer[];
  readonly pauseMs?: number;
  /** Append the sentinel (default true). Without it the read ends on close or the quiet period. */
  readonly sentinel?: boolean;
  /** Quiet period used when the sentinel never arrives (default 300 ms). */
  readonly quietMs?: number;
  readonly timeoutMs?: number;
}

export interface Exchange {
  /** The reply bytes, with the sentinel's reply removed when it arrived. */
  readonly data: Buffer;
  readonly closed: boolean;
  /** The sentinel's reply arrived (so the connection was back at a command boundary). */
  readonly sentinelSeen: boolean;
  readonly timedOut: boolean;
}

/**
 * Sends a text-protocol payload followed by "mn\r\n" and reads until "MN\r\n" closes the reply,
 * the peer closes, or (sentinel swallowed by a data block) the quiet period passes.
 */
export async function asciiExchange(client: RawClient, payload: Buffer | string, opts: ExchangeOptions = {}) {
  const body = typeof payload === 'string' ? Buffer.from(payload, 'latin1') : payload;
  const useSentinel = opts.sentinel ?? true;
  const expected = countMnCommands(body) + 1;
  const chunks = opts.chunks ?? [body];
  await client.send(useSentinel ? [...chunks, ASCII_SENTINEL] : chunks, { pauseMs: opts.pauseMs ?? 2 });
  const r = await client.read({
    until: useSentinel
      ? (b) =>
          b.length >= ASCII_SENTINEL_REPLY.length &&
          b.subarray(b.length - ASCII_SENTINEL_REPLY.length).equals(ASCII_SENTINEL_REPLY) &&
          countOccurrences(b, ASCII_SENTINEL_REPLY) >= expected
      : undefined,
    quietMs: opts.quietMs ?? 300,
    timeoutMs: opts.timeoutMs ?? DEFAULT_TIMEOUT_MS,
  });
  const data = r.matched ? r.data.subarray(0, r.data.length - ASCII_SENTINEL_REPLY.length) : r.data;
  const out: Exchange = { data, closed: r.closed, sentinelSeen: r.matched, timedOut: r.timedOut };
  return out;
}

// ---------------------------------------------------------------------------------------------
// Binary protocol

export const BinMagic = { request: 0x80, response: 0x81 } as const;

export const BinOp = {
  get: 0x00,
  set: 0x01,
  add: 0x02,
  replace: 0x03,
  delete: 0x04,
  increment: 0x05,
  decrement: 0x06,
  quit: 0x07,
  flush: 0x08,
  getq: 0x09,
  noop: 0x0a,
  version: 0x0b,
  getk: 0x0c,
  getkq: 0x0d,
  append: 0x0e,
  prepend: 0x0f,
  stat: 0x10,
  setq: 0x11,
  addq: 0x12,
  replaceq: 0x13,
  deleteq: 0x14,
  incrementq: 0x15,
  decrementq: 0x16,
  quitq: 0x17,
  flushq: 0x18,
  appendq: 0x19,
  prependq: 0x1a,
  verbosity: 0x1b,
  touch: 0x1c,
  gat: 0x1d,
  gatq: 0x1e,
  saslListMechs: 0x20,
  saslAuth: 0x21,
  saslStep: 0x22,
  gatk: 0x23,
  gatkq: 0x24,
} as const;
export type BinOpcode = (typeof BinOp)[keyof typeof BinOp];

export interface BinRequest {
  readonly opcode: number;
  readonly key?: Buffer | string;
  readonly extras?: Buffer;
  readonly value?: Buffer | string;
  readonly cas?: bigint;
  readonly opaque?: number;
  readonly vbucket?: number;
  readonly datatype?: number;
  /** Deliberately wrong header fields for bad-input tests. */
  readonly magic?: number;
  readonly keylen?: number;
  readonly extlen?: number;
  readonly bodylen?: number;
}

function bytes(v: Buffer | string | undefined): Buffer {
  if (v === undefined) return Buffer.alloc(0);
  return typeof v === 'string' ? Buffer.from(v, 'latin1') : v;
}

/** Encodes one binary request; header fields default to the true lengths. */
export function binRequest(r: BinRequest): Buffer {
  const key = bytes(r.key);
  const extras = r.extras ?? Buffer.alloc(0);
  const value = bytes(r.value);
  const h = Buffer.alloc(24);
  h[0] = r.magic ?? BinMagic.request;
  h[1] = r.opcode;
  h.writeUInt16BE(r.keylen ?? key.length, 2);
  h[4] = r.extlen ?? extras.length;
  h[5] = r.datatype ?? 0;
  h.writeUInt16BE(r.vbucket ?? 0, 6);
  h.writeUInt32BE(r.bodylen ?? extras.length + key.length + value.length, 8);
  h.writeUInt32BE((r.opaque ?? 0) >>> 0, 12);
  h.writeBigUInt64BE(r.cas ?? 0n, 16);
  return Buffer.concat([h, extras, key, value]);
}

/** Extras for set/add/replace: flags, exptime. */
export function storeExtras(flags: number, exptime: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt32BE(flags >>> 0, 0);
  b.writeInt32BE(exptime | 0, 4);
  return b;
}

/** Extras for incr/decr: delta, initial, exptime (0xffffffff = do not create). */
export function arithExtras(delta: bigint, initial: bigint, exptime: number): Buffer {
  const b = Buffer.alloc(20);
  b.writeBigUInt64BE(BigInt.asUintN(64, delta), 0);
  b.writeBigUInt64BE(BigInt.asUintN(64, initial), 8);
  b.writeUInt32BE(exptime >>> 0, 16);
  return b;
}

/** A 4-byte exptime extras (touch, gat, flush with delay). */
export function u32Extras(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0, 0);
  return b;
}

export interface BinResponse {
  readonly magic: number;
  readonly opcode: number;
  readonly keylen: number;
  readonly extlen: number;
  readonly datatype: number;
  readonly status: number;
  readonly bodylen: number;
  readonly opaque: number;
  readonly cas: bigint;
  readonly extras: Buffer;
  readonly key: Buffer;
  readonly value: Buffer;
  /** The whole frame. */
  readonly raw: Buffer;
}

/** Splits `buf` into complete binary frames; `rest` holds a trailing incomplete frame, if any. */
export function parseBinFrames(buf: Buffer): { frames: BinResponse[]; rest: Buffer } {
  const frames: BinResponse[] = [];
  let off = 0;
  while (buf.length - off >= 24) {
    const bodylen = buf.readUInt32BE(off + 8);
    if (buf.length - off - 24 < bodylen) break;
    const keylen = buf.readUInt16BE(off + 2);
    const extlen = buf[off + 4];
    const body = buf.subarray(off + 24, off + 24 + bodylen);
    frames.push({
      magic: buf[off],
      opcode: buf[off + 1],
      keylen,
      extlen,
      datatype: buf[off + 5],
      status: buf.readUInt16BE(off + 6),
      bodylen,
      opaque: buf.readUInt32BE(off + 12),
      cas: buf.readBigUInt64BE(off + 16),
      extras: body.subarray(0, Math.min(extlen, bodylen)),
      key: body.subarray(Math.min(extlen, bodylen), Math.min(extlen + keylen, bodylen)),
      value: body.subarray(Math.min(extlen + keylen, bodylen)),
      raw: buf.subarray(off, off + 24 + bodylen),
    });
    off += 24 + bodylen;
  }
  return { frames, rest: buf.subarray(off) };
}

export const BINARY_SENTINEL_OPAQUE = 0x5e471e1a;
export const BINARY_SENTINEL = binRequest({ opcode: BinOp.noop, opaque: BINARY_SENTINEL_OPAQUE });

function isSentinelReply(f: BinResponse): boolean {
  return f.magic === BinMagic.response && f.opcode === BinOp.noop && f.opaque === BINARY_SENTINEL_OPAQUE;
}

/** True when `b` parses into whole frames ending with the sentinel NOOP's response. */
export function endsWithBinarySentinel(b: Buffer): boolean {
  const { frames, rest } = parseBinFrames(b);
  if (rest.length !== 0 || frames.length === 0) return false;
  return isSentinelReply(frames[frames.length - 1]);
}

/**
 * Sends binary request bytes followed by a sentinel NOOP and reads until its response arrives, the
 * peer closes, or the quiet period passes. The sentinel's response is removed from `data`.
 */
export async function binaryExchange(client: RawClient, payload: Buffer, opts: ExchangeOptions = {}) {
  const useSentinel = opts.sentinel ?? true;
  const chunks = opts.chunks ?? [payload];
  await client.send(useSentinel ? [...chunks, BINARY_SENTINEL] : chunks, { pauseMs: opts.pauseMs ?? 2 });
  const r = await client.read({
    until: useSentinel ? endsWithBinarySentinel : undefined,
    quietMs: opts.quietMs ?? 300,
    timeoutMs: opts.timeoutMs ?? DEFAULT_TIMEOUT_MS,
  });
  const data = r.matched ? r.data.subarray(0, r.data.length - 24) : r.data;
  const out: Exchange = { data, closed: r.closed, sentinelSeen: r.matched, timedOut: r.timedOut };
  return out;
}

/** A printable rendering of reply bytes for assertion messages (escapes \r, \n and non-ASCII). */
export function printable(b: Buffer, max = 2000): string {
  let s = '';
  for (let i = 0; i < b.length && s.length < max; i++) {
    const c = b[i];
    if (c === 0x0d) s += '\\r';
    else if (c === 0x0a) s += '\\n\n';
    else if (c >= 0x20 && c < 0x7f && c !== 0x5c) s += String.fromCharCode(c);
    else s += `\\x${c.toString(16).padStart(2, '0')}`;
  }
  if (s.length >= max) s += `... (${b.length} bytes)`;
  return s;
}
