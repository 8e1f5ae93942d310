/**
 * The load generator's hot path: closed-loop connections that keep `depth` ASCII requests in flight each,
 * optional idle connections that send one get now and then, a request encoder writing straight into one
 * Buffer per write, and a streaming reply scanner. Runs in the load generator process (or one of its
 * worker threads); knows nothing about CPU or servers.
 *
 * One connection, depth 3:
 *
 *            write (one per read event)          ring FIFO of in-flight requests
 *   refill() ─────────────────────────────▶      [ kind | sentAt | keys asked ] [ .. ] [ .. ]
 *                                                  ^head (oldest)
 *   onread(chunk) ─▶ scanner.next() per reply ─▶ pop head, check the values, record now - sentAt
 */
import net from 'node:net';
import { createHistogram, performance, type RecordableHistogram } from 'node:perf_hooks';

// ---------------------------------------------------------------------------------------------------
// Reply scanner

/** What the scanner found. */
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

const CR = 13;
const LF = 10;
const SP = 32;
const COLON = 58;

/**
 * Longest line kept across reads. A VALUE line is at most ~300 bytes (250-byte key, flags, length, cas);
 * anything longer is not a reply this benchmark can get, so the stream is declared lost.
 */
const MAX_LINE = 1024;

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
const KEY_PREFIX = Buffer.from('key:');

/**
 * A streaming scanner of memcached text replies for one connection. `next()` consumes bytes and returns
 * the offset just after each complete reply; state carries over between reads, so a reply may span any
 * number of reads without being copied: once a VALUE header is parsed, its data block is skipped by count
 * (only its `\r\n` terminator is checked), and only a header line cut by a read boundary is copied (into a
 * small fixed buffer). A 500 KB value therefore costs O(bytes) in the kernel and O(reads) here.
 */
export class ReplyScanner {
  /** Kind of the reply just completed. */
  kind: ReplyKind = ReplyKind.Values;
  /** VALUE blocks in the reply just completed. */
  values = 0;
  /**
   * Key index (the digits of `key:<digits>`, -1 for any other key) and data length of the first
   * `keys.length` VALUE blocks of the reply (more are counted in `values` only).
   */
  readonly keys: Int32Array;
  readonly lengths: Int32Array;
  /** For OtherLine and Malformed: the line or the reason, for error messages (error path only). */
  text = '';
  /** A header line cut by a read boundary; allocated the first time one is. */
  private line: Buffer | undefined;
  private lineLength = 0;
  /** Bytes of the current data block, its `\r\n` included, not yet seen. */
  private bodyLeft = 0;
  /** The previous call completed a reply: the next byte starts a new one. */
  private fresh = true;

  constructor(capacity: number) {
    this.keys = new Int32Array(Math.max(1, capacity));
    this.lengths = new Int32Array(Math.max(1, capacity));
  }

  /**
   * Scans buf[pos, end): returns the offset just after the first reply completed there (its results in
   * this object's fields), or -1 when every byte was consumed without completing one.
   */
  next(buf: Buffer, pos: number, end: number): number {
    if (this.fresh) {
      this.values = 0;
      this.fresh = false;
    }
    while (pos < end) {
      if (this.bodyLeft > 0) {
        // Skip data by count; check the terminator's two bytes if they are in this read.
        const avail = end - pos;
        const left = this.bodyLeft;
        if (
          (left >= 2 && left - 2 < avail && buf[pos + left - 2] !== CR) ||
          (left - 1 < avail && buf[pos + left - 1] !== LF)
        ) {
          return this.malformed('data block not terminated by \\r\\n', end);
        }
        if (left > avail) {
          this.bodyLeft = left - avail;
          return -1;
        }
        pos += left;
        this.bodyLeft = 0;
        continue;
      }
      let b: Buffer;
      let s: number;
      let lf: number;
      if (this.lineLength === 0) {
        lf = findLf(buf, pos, end);
        if (lf < 0) return this.keepPartialLine(buf, pos, end);
        b = buf;
        s = pos;
        pos = lf + 1;
      } else {
        const at = findLf(buf, pos, end);
        const stop = at < 0 ? end : at + 1;
        if (this.lineLength + stop - pos > MAX_LINE) return this.malformed('reply line too long', end);
        const line = this.line!;
        buf.copy(line, this.lineLength, pos, stop);
        this.lineLength += stop - pos;
        pos = stop;
        if (at < 0) return -1;
        b = line;
        s = 0;
        lf = this.lineLength - 1;
        this.lineLength = 0;
      }
      if (lf - s > 6 && b[s] === VALUE_SP[0] && b[s + 5] === SP && b[s + 1] === VALUE_SP[1]) {
        // VALUE <key> <flags> <bytes> [<cas>]\r\n<data>\r\n
        let i = s + 6;
        let key = -1;
        if (
          b[i] === KEY_PREFIX[0] &&
          b[i + 1] === KEY_PREFIX[1] &&
          b[i + 2] === KEY_PREFIX[2] &&
          b[i + 3] === COLON
        ) {
          let n = 0;
          let j = i + 4;
          for (; j < lf && j < i + 13; j++) {
            const d = b[j] - 48;
            if (d < 0 || d > 9) break;
            n = n * 10 + d;
          }
          if (j > i + 4 && b[j] === SP) key = n;
          i = j;
        }
        while (i < lf && b[i] !== SP) i++;
        i++;
        while (i < lf && b[i] !== SP) i++;
        i++;
        let bytes = 0;
        const digitsFrom = i;
        for (; i < lf; i++) {
          const d = b[i] - 48;
          if (d < 0 || d > 9) break;
          bytes = bytes * 10 + d;
        }
        if (i === digitsFrom || bytes > 0x3fffffff) {
          return this.malformed(
            `bad VALUE line ${JSON.stringify(b.toString('latin1', s, lf).trimEnd())}`,
            pos,
          );
        }
        if (this.values < this.keys.length) {
          this.keys[this.values] = key;
          this.lengths[this.values] = bytes;
        }
        this.values++;
        this.bodyLeft = bytes + 2;
        continue;
      }
      if (isLine(b, s, lf, END)) return this.done(ReplyKind.Values, pos);
      if (this.values > 0) {
        return this.malformed(
          `${JSON.stringify(b.toString('latin1', s, Math.min(lf, s + 80)).trimEnd())} after VALUE blocks`,
          pos,
        );
      }
      if (isLine(b, s, lf, STORED)) return this.done(ReplyKind.Stored, pos);
      this.text = b.toString('latin1', s, Math.min(lf, s + 80)).trimEnd();
      return this.done(ReplyKind.OtherLine, pos);
    }
    return -1;
  }

  /** A readable account of the reply just completed, for error messages. */
  describe(): string {
    switch (this.kind) {
      case ReplyKind.Values:
        return `${this.values} VALUE block(s) and END`;
      case ReplyKind.Stored:
        return 'STORED';
      case ReplyKind.OtherLine:
        return JSON.stringify(this.text);
      default:
        return `malformed: ${this.text}`;
    }
  }

  private keepPartialLine(buf: Buffer, pos: number, end: number): number {
    if (end - pos > MAX_LINE) return this.malformed('reply line too long', end);
    this.line ??= Buffer.allocUnsafe(MAX_LINE);
    buf.copy(this.line, 0, pos, end);
    this.lineLength = end - pos;
    return -1;
  }

  private done(kind: ReplyKind, pos: number): number {
    this.kind = kind;
    this.fresh = true;
    return pos;
  }

  private malformed(why: string, pos: number): number {
    this.text = why;
    this.bodyLeft = 0;
    this.lineLength = 0;
    return this.done(ReplyKind.Malformed, pos);
  }
}

// ---------------------------------------------------------------------------------------------------
// Request encoder

export interface MixConfig {
  readonly getRatio: number;
  /** Keys per get: uniform in keysPerGet..keysPerGetMax, distinct within a request. */
  readonly keysPerGet: number;
  readonly keysPerGetMax: number;
  /** Value size per key: valueSize..valueSizeMax, fixed per key index. */
  readonly valueSize: number;
  readonly valueSizeMax: number;
  readonly keyCount: number;
}

const GET_SP = Buffer.from('get ');
const SET_SP = Buffer.from('set ');
const FLAGS_EXPTIME = Buffer.from(' 0 0 ');

/**
 * Values up to this size are copied into the request buffer (one write per refill); larger ones are
 * written from one shared, never-modified buffer, so a 500 KB set costs no copy in JavaScript.
 */
const INLINE_VALUE_MAX = 4096;

export const RequestKind = { Get: 0, Set: 1 } as const;

/** A 32-bit integer hash (murmur3's finalizer): value sizes per key, the same in every process. */
function mix32(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

function decimalDigits(n: number): number {
  return Math.max(1, String(n).length);
}

/** Encodes gets and sets for keys `key:<fixed-width index>` into caller-provided buffers. */
export class Encoder {
  readonly keyDigits: number;
  readonly keyLength: number;
  readonly minKeys: number;
  readonly maxKeys: number;
  /** Value size of every key, by index. */
  readonly sizes: Uint32Array;
  /** Whether sets carry their value in the request buffer (else: from `value`, see INLINE_VALUE_MAX). */
  readonly inlineValues: boolean;
  /** maxValueSize bytes of 'x': the value of every set. */
  readonly value: Buffer;
  /** Upper bound of one request in the request buffer (a set's value included only when inline). */
  readonly maxLength: number;
  private readonly setHeaderMax: number;

  constructor(mix: MixConfig) {
    if (mix.keysPerGet < 1 || mix.keysPerGetMax < mix.keysPerGet || mix.keysPerGetMax > 65535)
      throw new Error(`bad keys per get ${mix.keysPerGet}-${mix.keysPerGetMax}`);
    if (mix.valueSize < 0 || mix.valueSizeMax < mix.valueSize)
      throw new Error(`bad value size ${mix.valueSize}-${mix.valueSizeMax}`);
    this.keyDigits = decimalDigits(mix.keyCount - 1);
    this.keyLength = KEY_PREFIX.length + this.keyDigits;
    this.minKeys = mix.keysPerGet;
    this.maxKeys = mix.keysPerGetMax;
    const span = mix.valueSizeMax - mix.valueSize + 1;
    this.sizes = new Uint32Array(mix.keyCount);
    for (let k = 0; k < mix.keyCount; k++)
      this.sizes[k] = span === 1 ? mix.valueSize : mix.valueSize + (mix32(k + 1) % span);
    this.inlineValues = mix.valueSizeMax <= INLINE_VALUE_MAX;
    this.value = Buffer.alloc(mix.valueSizeMax, 'x');
    this.setHeaderMax =
      SET_SP.length + this.keyLength + FLAGS_EXPTIME.length + decimalDigits(mix.valueSizeMax) + 2;
    const getMax = GET_SP.length + this.maxKeys * (this.keyLength + 1) - 1 + 2;
    const setMax = this.setHeaderMax + (this.inlineValues ? mix.valueSizeMax : 0) + 2;
    this.maxLength = Math.max(getMax, setMax);
  }

  /** The key's text, for logs and tests. */
  key(index: number): string {
    return `key:${String(index).padStart(this.keyDigits, '0')}`;
  }

  /** Bytes of the whole set request for `key`, value included. */
  setLength(key: number): number {
    return this.setHeaderMax + this.sizes[key] + 2;
  }

  private putKey(out: Buffer, p: number, index: number): number {
    out[p] = KEY_PREFIX[0];
    out[p + 1] = KEY_PREFIX[1];
    out[p + 2] = KEY_PREFIX[2];
    out[p + 3] = KEY_PREFIX[3];
    let n = index;
    for (let j = p + 3 + this.keyDigits; j > p + 3; j--) {
      out[j] = 48 + (n % 10);
      n = Math.floor(n / 10);
    }
    return p + this.keyLength;
  }

  /** Writes `get k1 [k2 ...]\r\n` for keys[from, from + count) at `p`; returns the end offset. */
  putGet(out: Buffer, p: number, keys: Int32Array, from: number, count: number): number {
    GET_SP.copy(out, p);
    p += GET_SP.length;
    for (let k = 0; k < count; k++) {
      if (k > 0) out[p++] = SP;
      p = this.putKey(out, p, keys[from + k]);
    }
    out[p] = CR;
    out[p + 1] = LF;
    return p + 2;
  }

  /** Writes `set key 0 0 <size>\r\n` at `p`; returns the end offset. */
  putSetHeader(out: Buffer, p: number, key: number): number {
    SET_SP.copy(out, p);
    p = this.putKey(out, p + SET_SP.length, key);
    FLAGS_EXPTIME.copy(out, p);
    p += FLAGS_EXPTIME.length;
    const size = this.sizes[key];
    let digits = 1;
    for (let t = size; t >= 10; t = Math.floor(t / 10)) digits++;
    let n = size;
    for (let j = p + digits - 1; j >= p; j--) {
      out[j] = 48 + (n % 10);
      n = Math.floor(n / 10);
    }
    p += digits;
    out[p] = CR;
    out[p + 1] = LF;
    return p + 2;
  }

  /** Writes `set key 0 0 <size>\r\n<value>\r\n` at `p` (value included); returns the end offset. */
  putSet(out: Buffer, p: number, key: number): number {
    p = this.putSetHeader(out, p, key);
    const size = this.sizes[key];
    this.value.copy(out, p, 0, size);
    p += size;
    out[p] = CR;
    out[p + 1] = LF;
    return p + 2;
  }
}

// ---------------------------------------------------------------------------------------------------
// Connections

/** A server the load generator connects to; `keys` (key indices) limits what it is asked for. */
export interface EngineEndpoint {
  readonly host: string;
  readonly port: number;
  /** The keys this endpoint owns (several endpoints: direct); undefined = every key. */
  readonly keys?: readonly number[];
}

export interface EngineConfig extends MixConfig {
  /**
   * Closed-loop connection i (counted from firstConnection) goes to endpoints[i % endpoints.length], idle
   * connection j (counted from firstIdleConnection) to endpoints[j % endpoints.length].
   */
  readonly endpoints: readonly EngineEndpoint[];
  /** Index of this engine's first connection among all the load generator's (worker threads split them). */
  readonly firstConnection: number;
  readonly connections: number;
  readonly depth: number;
  readonly firstIdleConnection: number;
  readonly idleConnections: number;
  /** Each idle connection sends one get every idleIntervalMs..idleIntervalMaxMs (uniform). */
  readonly idleIntervalMs: number;
  readonly idleIntervalMaxMs: number;
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
  /** Keys asked by the gets and sets completed in the window (ops for single-key workloads). */
  readonly keys: number;
  /** Keys of completed gets that came back with a value / without one. */
  readonly hits: number;
  readonly misses: number;
  readonly errors: number;
  readonly firstError: string | undefined;
  /** Gets sent by the idle connections and completed in the window (also in ops and gets). */
  readonly idleGets: number;
  /** Idle connections' turns skipped because their previous get was still unanswered. */
  readonly idleLate: number;
  /** Time to open every connection, ms. */
  readonly connectMs: number;
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

/**
 * Read buffer shared by all connections of this thread: each read is scanned before the next one. Large
 * enough that a 500 KB value arrives in a few reads; small replies never fill it.
 */
const READ_BUFFER_BYTES = 256 * 1024;

/** Connections opened at once: the next batch waits for this one, so no listen backlog overflows. */
const CONNECT_BATCH = 100;

/** Granularity of the idle connections' schedule. */
const WHEEL_SLOT_MS = 10;

class Engine {
  readonly cfg: EngineConfig;
  readonly encoder: Encoder;
  readonly histogram = createHistogram();
  readonly readBuffer = Buffer.allocUnsafe(READ_BUFFER_BYTES);
  readonly getThreshold: number;
  readonly conns: Conn[] = [];
  /** Marks keys already drawn for the request being built (stamp === gen), for distinct multi-get keys. */
  readonly stamp: Uint32Array;
  gen = 0;
  issuing = true;
  measuring = false;
  ops = 0;
  gets = 0;
  sets = 0;
  keys = 0;
  hits = 0;
  misses = 0;
  errors = 0;
  idleGets = 0;
  idleLate = 0;
  firstError: string | undefined;

  constructor(cfg: EngineConfig) {
    this.cfg = cfg;
    this.encoder = new Encoder(cfg);
    this.getThreshold = Math.round(cfg.getRatio * 0x100000000);
    this.stamp = new Uint32Array(cfg.keyCount);
    const fewest = Math.min(...cfg.endpoints.map((p) => p.keys?.length ?? cfg.keyCount));
    if (cfg.keysPerGetMax > fewest) {
      throw new Error(
        `gets of up to ${cfg.keysPerGetMax} distinct keys, but an endpoint owns only ${fewest}`,
      );
    }
  }

  fail(message: string): void {
    this.errors++;
    this.firstError ??= message;
  }

  /** A new generation for `stamp` (cleared on wrap-around). */
  nextGen(): number {
    if (this.gen === 0xffffffff) {
      this.stamp.fill(0);
      this.gen = 0;
    }
    return ++this.gen;
  }
}

class Conn {
  readonly engine: Engine;
  readonly socket: net.Socket;
  readonly index: number;
  readonly depth: number;
  /** Closed-loop (refilled on every reply) or idle (sends one get when the wheel says so). */
  readonly closedLoop: boolean;
  /** Key indices this connection draws from (its endpoint's), or null for 0..keyCount-1. */
  readonly keys: readonly number[] | null;
  readonly scanner: ReplyScanner;
  /** Ring FIFO of in-flight requests: kind, send time (performance.now(), ms), keys asked. */
  readonly kinds: Uint8Array;
  readonly sentAt: Float64Array;
  readonly counts: Uint16Array;
  /** Keys of the get in slot s: asked[s * maxKeys, s * maxKeys + counts[s]). */
  readonly asked: Int32Array;
  head = 0;
  inFlight = 0;
  rng: number;
  dead = false;

  constructor(engine: Engine, index: number, endpoint: EngineEndpoint, closedLoop: boolean, seed: number) {
    const maxKeys = engine.encoder.maxKeys;
    this.engine = engine;
    this.index = index;
    this.closedLoop = closedLoop;
    this.depth = closedLoop ? engine.cfg.depth : 1;
    this.keys = endpoint.keys ?? null;
    this.scanner = new ReplyScanner(maxKeys);
    this.kinds = new Uint8Array(this.depth);
    this.sentAt = new Float64Array(this.depth);
    this.counts = new Uint16Array(this.depth);
    this.asked = new Int32Array(this.depth * maxKeys);
    this.rng = Math.imul(seed, 0x9e3779b1) >>> 0 || 1;
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

  private drawKey(): number {
    this.rng = xorshift32(this.rng);
    const keys = this.keys;
    return keys === null ? this.rng % this.engine.cfg.keyCount : keys[this.rng % keys.length];
  }

  /** Draws the keys of a get into slot `slot` (distinct when several); returns how many. */
  private drawGetKeys(slot: number): number {
    const e = this.engine;
    const enc = e.encoder;
    const base = slot * enc.maxKeys;
    let n = enc.minKeys;
    if (enc.maxKeys > n) {
      this.rng = xorshift32(this.rng);
      n += this.rng % (enc.maxKeys - n + 1);
    }
    if (n === 1) {
      this.asked[base] = this.drawKey();
      return 1;
    }
    const gen = e.nextGen();
    const stamp = e.stamp;
    for (let i = 0; i < n;) {
      const k = this.drawKey();
      if (stamp[k] === gen) continue;
      stamp[k] = gen;
      this.asked[base + i++] = k;
    }
    return n;
  }

  onRead(buf: Buffer, n: number): void {
    const now = performance.now();
    const sc = this.scanner;
    let pos = 0;
    while (pos < n) {
      if (this.inFlight === 0) {
        this.engine.fail(
          `unsolicited bytes from server: ${JSON.stringify(buf.toString('latin1', pos, Math.min(n, pos + 60)))}`,
        );
        this.abort();
        return;
      }
      const next = sc.next(buf, pos, n);
      if (next < 0) break;
      if (!this.complete(now)) return;
      pos = next;
    }
    this.refill();
  }

  /** Pops the oldest request, checks the scanner's reply against it and counts it; false if the stream is lost. */
  private complete(now: number): boolean {
    const e = this.engine;
    const sc = this.scanner;
    const slot = this.head;
    const kind = this.kinds[slot];
    const sentAt = this.sentAt[slot];
    this.head = slot + 1 === this.depth ? 0 : slot + 1;
    this.inFlight--;
    if (kind === RequestKind.Get && sc.kind === ReplyKind.Values) {
      const asked = this.counts[slot];
      const got = sc.values;
      const problem = got > asked ? `${got} values for a get of ${asked} keys` : this.checkValues(slot, got);
      if (problem !== undefined) {
        e.fail(problem);
      } else if (e.measuring) {
        e.gets++;
        e.keys += asked;
        e.hits += got;
        e.misses += asked - got;
        if (!this.closedLoop) e.idleGets++;
      }
    } else if (kind === RequestKind.Set && sc.kind === ReplyKind.Stored) {
      if (e.measuring) {
        e.sets++;
        e.keys++;
      }
    } else {
      e.fail(`unexpected reply to ${kind === RequestKind.Get ? 'get' : 'set'}: ${sc.describe()}`);
      if (sc.kind === ReplyKind.Malformed) {
        this.abort();
        return false;
      }
    }
    if (e.measuring) {
      e.ops++;
      const ns = Math.round((now - sentAt) * 1e6);
      e.histogram.record(ns > 0 ? ns : 1);
    }
    return true;
  }

  /**
   * The `got` values of a get reply must be for keys asked in slot `slot`, in the request's order, each of
   * its key's length; a key without a value is a miss (counted, not an error). Undefined when all is well.
   */
  private checkValues(slot: number, got: number): string | undefined {
    const sc = this.scanner;
    const enc = this.engine.encoder;
    let j = slot * enc.maxKeys;
    const stop = j + this.counts[slot];
    for (let i = 0; i < got; i++) {
      const k = sc.keys[i];
      while (j < stop && this.asked[j] !== k) j++;
      if (j === stop) {
        const what = k < 0 ? 'a key not of this benchmark' : enc.key(k);
        return `value ${i + 1} of ${got} is for ${what}: not asked, or not in the request's key order`;
      }
      if (sc.lengths[i] !== enc.sizes[k]) return `${enc.key(k)}: ${sc.lengths[i]} bytes, set ${enc.sizes[k]}`;
      j++;
    }
    return undefined;
  }

  /** Closed loop: tops the pipeline up to `depth` in-flight requests. */
  refill(): void {
    const want = this.depth - this.inFlight;
    if (!this.closedLoop || want <= 0 || !this.engine.issuing || this.dead || this.socket.writableNeedDrain)
      return;
    this.issue(want, false);
  }

  /** Idle connection's turn: one get, unless the previous one is still unanswered. */
  fireIdle(): void {
    const e = this.engine;
    if (!e.issuing || this.dead) return;
    if (this.inFlight > 0 || this.socket.writableNeedDrain) {
      if (e.measuring) e.idleLate++;
      return;
    }
    this.issue(1, true);
  }

  /** A uniform integer in [0, n). */
  randomBelow(n: number): number {
    this.rng = xorshift32(this.rng);
    return this.rng % n;
  }

  /** Milliseconds until this idle connection's next get. */
  idleDelay(): number {
    const cfg = this.engine.cfg;
    this.rng = xorshift32(this.rng);
    return cfg.idleIntervalMs + (this.rng % (cfg.idleIntervalMaxMs - cfg.idleIntervalMs + 1));
  }

  /**
   * Encodes `want` requests into one buffer and writes it. Large set values are not copied: the buffer is
   * written up to the set's header, then the shared value, then the rest, all corked into one writev.
   */
  private issue(want: number, getsOnly: boolean): void {
    const e = this.engine;
    const enc = e.encoder;
    const out = Buffer.allocUnsafe(want * enc.maxLength);
    const spill = !enc.inlineValues;
    if (spill) this.socket.cork();
    let p = 0;
    let from = 0;
    let tail = this.head + this.inFlight;
    if (tail >= this.depth) tail -= this.depth;
    for (let i = 0; i < want; i++) {
      this.rng = xorshift32(this.rng);
      if (getsOnly || this.rng < e.getThreshold) {
        const n = this.drawGetKeys(tail);
        this.counts[tail] = n;
        p = enc.putGet(out, p, this.asked, tail * enc.maxKeys, n);
        this.kinds[tail] = RequestKind.Get;
      } else {
        const key = this.drawKey();
        if (spill) {
          p = enc.putSetHeader(out, p, key);
          this.socket.write(out.subarray(from, p));
          this.socket.write(enc.value.subarray(0, enc.sizes[key]));
          from = p;
          out[p] = CR;
          out[p + 1] = LF;
          p += 2;
        } else {
          p = enc.putSet(out, p, key);
        }
        this.counts[tail] = 0;
        this.kinds[tail] = RequestKind.Set;
      }
      tail = tail + 1 === this.depth ? 0 : tail + 1;
    }
    const now = performance.now();
    for (let i = 0, t = this.head + this.inFlight; i < want; i++, t++)
      this.sentAt[t >= this.depth ? t - this.depth : t] = now;
    this.inFlight += want;
    this.socket.write(out.subarray(from, p));
    if (spill) this.socket.uncork();
  }

  abort(): void {
    this.dead = true;
    this.socket.destroy();
  }
}

/**
 * When each idle connection sends its next get: a timing wheel of WHEEL_SLOT_MS slots, one interval timer
 * for all of them (not 2,000 timers), and each connection in exactly one slot.
 */
class IdleWheel {
  private readonly slots: Conn[][];
  private readonly t0 = performance.now();
  /** Last slot processed, counted from t0. */
  private cursor = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(conns: readonly Conn[], maxIntervalMs: number) {
    // Room for the longest delay plus the slot being processed, so a slot never receives while it is read.
    const size = Math.ceil(maxIntervalMs / WHEEL_SLOT_MS) + 2;
    this.slots = Array.from({ length: size }, () => []);
    // First gets spread evenly over [0, max interval), so the window sees the steady rate, not a wave.
    for (const c of conns) this.schedule(c, c.randomBelow(maxIntervalMs));
    this.timer = setInterval(() => {
      this.tick();
    }, WHEEL_SLOT_MS);
  }

  private schedule(c: Conn, delayMs: number): void {
    const at = this.cursor + 1 + Math.floor(delayMs / WHEEL_SLOT_MS);
    this.slots[at % this.slots.length].push(c);
  }

  private tick(): void {
    const due = Math.floor((performance.now() - this.t0) / WHEEL_SLOT_MS);
    while (this.cursor < due) {
      this.cursor++;
      const slot = this.slots[this.cursor % this.slots.length];
      for (const c of slot) {
        c.fireIdle();
        this.schedule(c, c.idleDelay());
      }
      slot.length = 0;
    }
  }

  stop(): void {
    clearInterval(this.timer);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, Math.max(0, ms)));
}

function connected(c: Conn): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    c.socket.once('connect', () => {
      resolve();
    });
    c.socket.once('error', reject);
  });
}

/** Opens every connection, CONNECT_BATCH at a time, within cfg.connectTimeoutMs overall. */
async function connectAll(e: Engine): Promise<void> {
  const cfg = e.cfg;
  const n = cfg.endpoints.length;
  const specs: { endpoint: EngineEndpoint; closedLoop: boolean; index: number }[] = [];
  for (let i = 0; i < cfg.connections; i++) {
    const index = cfg.firstConnection + i;
    specs.push({ endpoint: cfg.endpoints[index % n], closedLoop: true, index });
  }
  for (let j = 0; j < cfg.idleConnections; j++) {
    const index = cfg.firstIdleConnection + j;
    specs.push({ endpoint: cfg.endpoints[index % n], closedLoop: false, index: cfg.connections + index });
  }
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const to = cfg.endpoints.map((p) => `${p.host}:${p.port}`).join(', ');
      reject(
        new Error(
          `connect to ${to} timed out after ${cfg.connectTimeoutMs} ms (${e.conns.length} of ${specs.length} opened)`,
        ),
      );
    }, cfg.connectTimeoutMs);
  });
  try {
    for (let from = 0; from < specs.length; from += CONNECT_BATCH) {
      const batch = specs
        .slice(from, from + CONNECT_BATCH)
        .map((s) => new Conn(e, s.index, s.endpoint, s.closedLoop, cfg.seed * 1_000_003 + s.index + 1));
      e.conns.push(...batch);
      await Promise.race([Promise.all(batch.map(connected)), timeout]);
    }
  } catch (err) {
    for (const c of e.conns) c.abort();
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

/** Opens the connections, runs warm-up and the measured window, drains, and closes. */
export async function runEngine(cfg: EngineConfig): Promise<EngineResult> {
  const e = new Engine(cfg);
  const connectStart = performance.now();
  await connectAll(e);
  const connectMs = performance.now() - connectStart;

  // Warm-up: traffic flows but nothing is counted.
  for (const c of e.conns) c.refill();
  const idle = e.conns.filter((c) => !c.closedLoop);
  const wheel = idle.length > 0 ? new IdleWheel(idle, cfg.idleIntervalMaxMs) : undefined;
  await sleep(cfg.measureStartAt - absoluteNow());
  e.histogram.reset();
  e.measuring = true;
  const windowStart = performance.now();
  await sleep(cfg.measureEndAt - absoluteNow());
  e.measuring = false;
  e.issuing = false;
  wheel?.stop();
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
    keys: e.keys,
    hits: e.hits,
    misses: e.misses,
    errors: e.errors,
    firstError: e.firstError,
    idleGets: e.idleGets,
    idleLate: e.idleLate,
    connectMs,
    windowMs,
    unanswered,
  };
}

// ---------------------------------------------------------------------------------------------------
// Preload

/** A preload batch holds at most this many bytes of requests (large values: a few per batch). */
const PRELOAD_BATCH_BYTES = 4 * 1024 * 1024;

/**
 * Sets every key of `endpoint` once (all keyCount keys, or its `keys`) over one pipelined connection, in
 * batches of at most `batch` keys and PRELOAD_BATCH_BYTES. Bounded by `timeoutMs` overall and by
 * `stallMs` per batch (a target that accepts connections but does not answer fails in seconds, not
 * minutes).
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
  const keyAt = (i: number): number => (keys === undefined ? i : keys[i]);
  const where = `${endpoint.host}:${endpoint.port}`;
  const socket = net.connect({ host: endpoint.host, port: endpoint.port, noDelay: true });
  const scanner = new ReplyScanner(1);
  let waiting = 0;
  let wake: (() => void) | undefined;
  let failure: Error | undefined;
  socket.on('data', (chunk: Buffer) => {
    let pos = 0;
    while (pos < chunk.length) {
      const next = scanner.next(chunk, pos, chunk.length);
      if (next < 0) break;
      if (scanner.kind !== ReplyKind.Stored)
        failure ??= new Error(`preload of ${where}: unexpected reply ${scanner.describe()}`);
      waiting--;
      pos = next;
    }
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
    for (let from = 0; from < count;) {
      let to = from;
      let bytes = 0;
      while (
        to < count &&
        to - from < batch &&
        (to === from || bytes + enc.setLength(keyAt(to)) <= PRELOAD_BATCH_BYTES)
      )
        bytes += enc.setLength(keyAt(to++));
      const out = Buffer.allocUnsafe(bytes);
      let p = 0;
      for (let k = from; k < to; k++) p = enc.putSet(out, p, keyAt(k));
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
      from = to;
    }
  } finally {
    socket.destroy();
  }
}
