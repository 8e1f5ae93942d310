/**
 * The load generator's hot path: closed-loop connections that keep `depth` ASCII requests in flight each,
 * a request encoder writing straight into one Buffer per write, and a hand-written reply scanner. Runs in
 * the load generator process (or one of its worker threads); knows nothing about CPU or servers.
 *
 * One connection, depth 3:
 *
 *            write (one per read event)          ring FIFO of in-flight requests
 *   refill() ─────────────────────────────▶      [ kind | sentAt ] [ .. ] [ .. ]
 *                                                  ^head (oldest)
 *   onread(chunk) ─▶ scanReply() per reply ─▶ pop head, record now - sentAt, count
 */
import net from 'node:net';
import { createHistogram, performance, type RecordableHistogram } from 'node:perf_hooks';

// ---------------------------------------------------------------------------------------------------
// Reply scanner

/** What `scanReply` found. */
export const ReplyKind = {
  /** Zero or more VALUE blocks then END: `values` says how many. */
  Values: 0,
  Stored: 1,
  /** Any other complete line (ERROR, SERVER_ERROR ..., NOT_STORED, ...). */
  OtherLine: 2,
  /** Bytes that cannot be a reply (bad VALUE line or data block terminator): the stream is lost. */
  Malformed: 3,
} as const;
export type ReplyKind = (typeof ReplyKind)[keyof typeof ReplyKind];

export interface ScanResult {
  kind: ReplyKind;
  values: number;
}

const CR = 13;
const LF = 10;
const SP = 32;

/** Index of the first LF in buf[pos, end), or -1. */
function findLf(buf: Buffer, pos: number, end: number): number {
  for (let i = pos; i < end; i++) if (buf[i] === LF) return i;
  return -1;
}

function isLine(buf: Buffer, pos: number, lf: number, word: Uint8Array): boolean {
  if (lf - pos !== word.length + 1 || buf[lf - 1] !== CR) return false;
  for (let i = 0; i < word.length; i++) if (buf[pos + i] !== word[i]) return false;
  return true;
}

const END = Buffer.from('END');
const STORED = Buffer.from('STORED');
const VALUE_SP = Buffer.from('VALUE ');

/**
 * Scans one complete reply starting at `pos`: returns the index just after it (filling `out`), or -1 if
 * buf[pos, end) holds only part of a reply. Every iteration consumes at least one line of the buffer.
 */
export function scanReply(buf: Buffer, pos: number, end: number, out: ScanResult): number {
  let values = 0;
  while (pos < end) {
    const lf = findLf(buf, pos, end);
    if (lf < 0) return -1;
    if (buf[pos] === VALUE_SP[0] && lf - pos > 6 && buf[pos + 5] === SP && buf[pos + 1] === VALUE_SP[1]) {
      // VALUE <key> <flags> <bytes> [<cas>]\r\n<data>\r\n
      let i = pos + 6;
      while (i < lf && buf[i] !== SP) i++;
      i++;
      while (i < lf && buf[i] !== SP) i++;
      i++;
      let bytes = 0;
      const digitsFrom = i;
      for (; i < lf; i++) {
        const d = buf[i] - 48;
        if (d < 0 || d > 9) break;
        bytes = bytes * 10 + d;
      }
      if (i === digitsFrom || bytes > 0x3fffffff) {
        out.kind = ReplyKind.Malformed;
        return lf + 1;
      }
      const next = lf + 1 + bytes + 2;
      if (next > end) return -1;
      if (buf[next - 2] !== CR || buf[next - 1] !== LF) {
        out.kind = ReplyKind.Malformed;
        return next;
      }
      values++;
      pos = next;
      continue;
    }
    if (isLine(buf, pos, lf, END)) {
      out.kind = ReplyKind.Values;
      out.values = values;
      return lf + 1;
    }
    out.kind =
      values > 0
        ? ReplyKind.Malformed
        : isLine(buf, pos, lf, STORED)
          ? ReplyKind.Stored
          : ReplyKind.OtherLine;
    out.values = values;
    return lf + 1;
  }
  return -1;
}

// ---------------------------------------------------------------------------------------------------
// Request encoder

export interface MixConfig {
  readonly getRatio: number;
  readonly keysPerGet: number;
  readonly valueSize: number;
  readonly keyCount: number;
}

const KEY_PREFIX = Buffer.from('key:');
const GET_SP = Buffer.from('get ');
const SET_SP = Buffer.from('set ');
const CRLF = Buffer.from('\r\n');

export const RequestKind = { Get: 0, Set: 1 } as const;

/** Encodes gets and sets for keys `key:<fixed-width index>` into caller-provided buffers. */
export class Encoder {
  readonly keyDigits: number;
  readonly keyLength: number;
  readonly getLength: number;
  readonly setLength: number;
  readonly maxLength: number;
  private readonly setSuffix: Buffer;
  private readonly value: Buffer;
  private readonly mix: MixConfig;

  constructor(mix: MixConfig) {
    this.mix = mix;
    this.keyDigits = Math.max(1, String(mix.keyCount - 1).length);
    this.keyLength = KEY_PREFIX.length + this.keyDigits;
    this.getLength = GET_SP.length + mix.keysPerGet * (this.keyLength + 1) - 1 + 2;
    this.setSuffix = Buffer.from(` 0 0 ${mix.valueSize}\r\n`);
    this.setLength = SET_SP.length + this.keyLength + this.setSuffix.length + mix.valueSize + 2;
    this.maxLength = Math.max(this.getLength, this.setLength);
    this.value = Buffer.alloc(mix.valueSize, 'x');
  }

  /** The key's text, for logs and tests. */
  key(index: number): string {
    return `key:${String(index).padStart(this.keyDigits, '0')}`;
  }

  private putKey(out: Buffer, p: number, index: number): number {
    out[p] = KEY_PREFIX[0]!;
    out[p + 1] = KEY_PREFIX[1]!;
    out[p + 2] = KEY_PREFIX[2]!;
    out[p + 3] = KEY_PREFIX[3]!;
    let n = index;
    for (let j = p + 3 + this.keyDigits; j > p + 3; j--) {
      out[j] = 48 + (n % 10);
      n = Math.floor(n / 10);
    }
    return p + this.keyLength;
  }

  /** Writes `get k1 [k2 ...]\r\n` at `p` (keys from `nextKey`); returns the end offset. */
  putGet(out: Buffer, p: number, nextKey: () => number): number {
    GET_SP.copy(out, p);
    p += GET_SP.length;
    for (let k = 0; k < this.mix.keysPerGet; k++) {
      if (k > 0) out[p++] = SP;
      p = this.putKey(out, p, nextKey());
    }
    out[p] = CR;
    out[p + 1] = LF;
    return p + 2;
  }

  /** Writes `set key 0 0 <size>\r\n<value>\r\n` at `p`; returns the end offset. */
  putSet(out: Buffer, p: number, key: number): number {
    SET_SP.copy(out, p);
    p = this.putKey(out, p + SET_SP.length, key);
    this.setSuffix.copy(out, p);
    p += this.setSuffix.length;
    this.value.copy(out, p);
    p += this.value.length;
    CRLF.copy(out, p);
    return p + 2;
  }
}

// ---------------------------------------------------------------------------------------------------
// Closed-loop connections

/** A server the load generator connects to; `keys` (key indices) limits what it is asked for. */
export interface EngineEndpoint {
  readonly host: string;
  readonly port: number;
  /** The keys this endpoint owns (several endpoints: direct); undefined = every key. */
  readonly keys?: readonly number[];
}

export interface EngineConfig extends MixConfig {
  /** Connection i (counted from firstConnection) goes to endpoints[i % endpoints.length]. */
  readonly endpoints: readonly EngineEndpoint[];
  /** Index of this engine's first connection among all the load generator's (worker threads split them). */
  readonly firstConnection: number;
  readonly connections: number;
  readonly depth: number;
  /** Seed offset so that engines in different threads draw different keys. */
  readonly seed: number;
  /** Absolute times (performance.timeOrigin + performance.now(), ms) of the measured window. */
  readonly measureStartAt: number;
  readonly measureEndAt: number;
  readonly connectTimeoutMs: number;
  /** After the window: how long to wait for in-flight replies before closing. */
  readonly drainMs: number;
}

export interface EngineResult {
  /** Latency of requests completed inside the window, ns. */
  readonly histogram: RecordableHistogram;
  readonly ops: number;
  readonly gets: number;
  readonly sets: number;
  readonly hits: number;
  readonly misses: number;
  readonly errors: number;
  readonly firstError: string | undefined;
  /** Measured window as actually observed by this engine, ms. */
  readonly windowMs: number;
  /** Requests still unanswered when the connections were closed. */
  readonly unanswered: number;
}

export function absoluteNow(): number {
  return performance.timeOrigin + performance.now();
}

function xorshift32(x: number): number {
  x ^= x << 13;
  x ^= x >>> 17;
  x ^= x << 5;
  return x >>> 0;
}

/** Read buffer shared by all connections of this thread: each read is scanned before the next one. */
const READ_BUFFER_BYTES = 65536;

class Engine {
  readonly cfg: EngineConfig;
  readonly encoder: Encoder;
  readonly histogram = createHistogram();
  readonly readBuffer = Buffer.allocUnsafe(READ_BUFFER_BYTES);
  readonly getThreshold: number;
  readonly conns: Conn[] = [];
  readonly scan: ScanResult = { kind: ReplyKind.Values, values: 0 };
  issuing = true;
  measuring = false;
  ops = 0;
  gets = 0;
  sets = 0;
  hits = 0;
  misses = 0;
  errors = 0;
  firstError: string | undefined;

  constructor(cfg: EngineConfig) {
    this.cfg = cfg;
    this.encoder = new Encoder(cfg);
    this.getThreshold = Math.round(cfg.getRatio * 0x100000000);
  }

  fail(message: string): void {
    this.errors++;
    this.firstError ??= message;
  }
}

class Conn {
  readonly engine: Engine;
  readonly socket: net.Socket;
  readonly depth: number;
  /** Key indices this connection draws from (its endpoint's), or null for 0..keyCount-1. */
  readonly keys: readonly number[] | null;
  /** Ring FIFO of in-flight requests: kind and send time (performance.now(), ms). */
  readonly kinds: Uint8Array;
  readonly sentAt: Float64Array;
  head = 0;
  inFlight = 0;
  rest: Buffer | null = null;
  rng: number;
  dead = false;
  private readonly nextKey = (): number => {
    this.rng = xorshift32(this.rng);
    const keys = this.keys;
    return keys === null ? this.rng % this.engine.cfg.keyCount : keys[this.rng % keys.length];
  };

  constructor(engine: Engine, index: number) {
    const cfg = engine.cfg;
    const endpoint = cfg.endpoints[(cfg.firstConnection + index) % cfg.endpoints.length];
    this.engine = engine;
    this.depth = cfg.depth;
    this.keys = endpoint.keys ?? null;
    this.kinds = new Uint8Array(this.depth);
    this.sentAt = new Float64Array(this.depth);
    this.rng = Math.imul(cfg.seed * 1000 + index + 1, 0x9e3779b1) >>> 0 || 1;
    this.socket = net.connect({
      host: endpoint.host,
      port: endpoint.port,
      noDelay: true,
      onread: {
        buffer: engine.readBuffer,
        callback: (n: number, buf: Uint8Array): boolean => {
          this.onRead(buf as Buffer, n);
          return true;
        },
      },
    });
    this.socket.on('drain', () => {
      this.refill();
    });
    this.socket.on('error', (err) => {
      if (!this.dead) engine.fail(`connection ${index}: ${err.message}`);
      this.dead = true;
    });
    this.socket.on('close', () => {
      if (!this.dead && engine.issuing) engine.fail(`connection ${index}: closed by server`);
      this.dead = true;
    });
  }

  onRead(chunk: Buffer, n: number): void {
    const e = this.engine;
    const now = performance.now();
    let buf = chunk;
    let end = n;
    if (this.rest !== null) {
      buf = Buffer.concat([this.rest, chunk.subarray(0, n)]);
      end = buf.length;
      this.rest = null;
    }
    const scan = e.scan;
    let pos = 0;
    while (pos < end) {
      if (this.inFlight === 0) {
        e.fail(
          `unsolicited bytes from server: ${JSON.stringify(buf.toString('latin1', pos, Math.min(end, pos + 60)))}`,
        );
        this.abort();
        return;
      }
      const next = scanReply(buf, pos, end, scan);
      if (next < 0) break;
      const kind = this.kinds[this.head];
      const sentAt = this.sentAt[this.head];
      this.head = this.head + 1 === this.depth ? 0 : this.head + 1;
      this.inFlight--;
      if (kind === RequestKind.Get && scan.kind === ReplyKind.Values) {
        if (e.measuring) {
          e.gets++;
          if (scan.values > 0) e.hits++;
          else e.misses++;
        }
      } else if (kind === RequestKind.Set && scan.kind === ReplyKind.Stored) {
        if (e.measuring) e.sets++;
      } else {
        const line = buf.toString('latin1', pos, Math.min(next, pos + 80)).trimEnd();
        e.fail(`unexpected reply to ${kind === RequestKind.Get ? 'get' : 'set'}: ${JSON.stringify(line)}`);
        if (scan.kind === ReplyKind.Malformed) {
          this.abort();
          return;
        }
      }
      if (e.measuring) {
        e.ops++;
        const ns = Math.round((now - sentAt) * 1e6);
        e.histogram.record(ns > 0 ? ns : 1);
      }
      pos = next;
    }
    if (pos < end) this.rest = Buffer.from(buf.subarray(pos, end));
    this.refill();
  }

  /** Tops the pipeline up to `depth` in-flight requests with one write. */
  refill(): void {
    const e = this.engine;
    const want = this.depth - this.inFlight;
    if (!e.issuing || this.dead || want <= 0 || this.socket.writableNeedDrain) return;
    const enc = e.encoder;
    const out = Buffer.allocUnsafe(want * enc.maxLength);
    let p = 0;
    let tail = this.head + this.inFlight;
    if (tail >= this.depth) tail -= this.depth;
    for (let i = 0; i < want; i++) {
      this.rng = xorshift32(this.rng);
      if (this.rng < e.getThreshold) {
        p = enc.putGet(out, p, this.nextKey);
        this.kinds[tail] = RequestKind.Get;
      } else {
        p = enc.putSet(out, p, this.nextKey());
        this.kinds[tail] = RequestKind.Set;
      }
      tail = tail + 1 === this.depth ? 0 : tail + 1;
    }
    const now = performance.now();
    for (let i = 0, t = this.head + this.inFlight; i < want; i++, t++)
      this.sentAt[t >= this.depth ? t - this.depth : t] = now;
    this.inFlight += want;
    this.socket.write(out.subarray(0, p));
  }

  abort(): void {
    this.dead = true;
    this.socket.destroy();
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, Math.max(0, ms)));
}

/** Opens the connections, runs warm-up and the measured window, drains, and closes. */
export async function runEngine(cfg: EngineConfig): Promise<EngineResult> {
  const e = new Engine(cfg);
  for (let i = 0; i < cfg.connections; i++) e.conns.push(new Conn(e, i));
  const connected = Promise.all(
    e.conns.map(
      (c) =>
        new Promise<void>((resolve, reject) => {
          c.socket.once('connect', () => {
            resolve();
          });
          c.socket.once('error', reject);
        }),
    ),
  );
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const to = cfg.endpoints.map((p) => `${p.host}:${p.port}`).join(', ');
      reject(new Error(`connect to ${to} timed out after ${cfg.connectTimeoutMs} ms`));
    }, cfg.connectTimeoutMs);
  });
  try {
    await Promise.race([connected, timeout]);
  } catch (err) {
    for (const c of e.conns) c.abort();
    throw err;
  } finally {
    clearTimeout(timer);
  }

  // Warm-up: traffic flows but nothing is counted.
  for (const c of e.conns) c.refill();
  await sleep(cfg.measureStartAt - absoluteNow());
  e.histogram.reset();
  e.measuring = true;
  const windowStart = performance.now();
  await sleep(cfg.measureEndAt - absoluteNow());
  e.measuring = false;
  e.issuing = false;
  const windowMs = performance.now() - windowStart;

  // Let in-flight requests finish (bounded) so the server sees orderly closes.
  const drainDeadline = performance.now() + cfg.drainMs;
  while (performance.now() < drainDeadline && e.conns.some((c) => !c.dead && c.inFlight > 0)) await sleep(5);
  let unanswered = 0;
  for (const c of e.conns) {
    if (!c.dead) unanswered += c.inFlight;
    c.dead = true;
    c.socket.destroySoon();
  }
  return {
    histogram: e.histogram,
    ops: e.ops,
    gets: e.gets,
    sets: e.sets,
    hits: e.hits,
    misses: e.misses,
    errors: e.errors,
    firstError: e.firstError,
    windowMs,
    unanswered,
  };
}

// ---------------------------------------------------------------------------------------------------
// Preload

/**
 * Sets every key of `endpoint` once (all keyCount keys, or its `keys`) over one pipelined connection, in
 * batches of `batch`. Bounded by `timeoutMs` overall and by `stallMs` per batch (a target that accepts
 * connections but does not answer fails in seconds, not minutes).
 */
export async function preload(
  endpoint: EngineEndpoint,
  mix: MixConfig,
  timeoutMs: number,
  stallMs: number,
  batch = 200,
): Promise<void> {
  const enc = new Encoder(mix);
  const keys = endpoint.keys;
  const count = keys === undefined ? mix.keyCount : keys.length;
  const where = `${endpoint.host}:${endpoint.port}`;
  const socket = net.connect({ host: endpoint.host, port: endpoint.port, noDelay: true });
  let rest: Buffer | null = null;
  let waiting = 0;
  let wake: (() => void) | undefined;
  let failure: Error | undefined;
  const scan: ScanResult = { kind: ReplyKind.Values, values: 0 };
  socket.on('data', (chunk: Buffer) => {
    const buf = rest === null ? chunk : Buffer.concat([rest, chunk]);
    rest = null;
    let pos = 0;
    while (pos < buf.length) {
      const next = scanReply(buf, pos, buf.length, scan);
      if (next < 0) break;
      if (scan.kind !== ReplyKind.Stored) {
        failure ??= new Error(
          `preload of ${where}: unexpected reply ${JSON.stringify(buf.toString('latin1', pos, next).trimEnd())}`,
        );
      }
      waiting--;
      pos = next;
    }
    if (pos < buf.length) rest = buf.subarray(pos);
    if (waiting <= 0) wake?.();
  });
  socket.on('error', (err) => {
    failure ??= err;
    wake?.();
  });
  socket.on('close', () => {
    failure ??= new Error(`preload of ${where}: connection closed`);
    wake?.();
  });
  const deadline = performance.now() + timeoutMs;
  try {
    for (let from = 0; from < count; from += batch) {
      const to = Math.min(count, from + batch);
      const out = Buffer.allocUnsafe((to - from) * enc.setLength);
      let p = 0;
      for (let k = from; k < to; k++) p = enc.putSet(out, p, keys === undefined ? k : keys[k]);
      waiting = to - from;
      const done = new Promise<void>((resolve) => {
        wake = resolve;
      });
      socket.write(out.subarray(0, p));
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        done,
        new Promise<void>((resolve) => {
          timer = setTimeout(resolve, Math.max(0, Math.min(stallMs, deadline - performance.now())));
        }),
      ]);
      clearTimeout(timer);
      if (failure) throw failure;
      if (waiting > 0) {
        const why = performance.now() >= deadline ? `after ${timeoutMs} ms` : `(no reply for ${stallMs} ms)`;
        throw new Error(`preload of ${where}: timed out ${why}, ${from} of ${count} keys stored`);
      }
    }
  } finally {
    socket.destroy();
  }
}
