/**
 * One pipelined connection to one memcached server, in the binary or the text protocol.
 *
 *   send(op) ──> pending ──flush (one corked write per tick)──> in flight ──response──> op done
 *                   │                                              │
 *                   └── queue timeout (connected, socket full)     └── downstream timeout: fail all
 *
 * Requests of many clients share the connection; replies come back in request order, so the oldest op in
 * flight owns the next response. Binary quiet ops (SETQ, GETKQ...) answer only on error (or hit), so a
 * response for a later opaque completes the quiet ops before it without a reply; a NOOP is appended to
 * any batch that ends with a quiet op so that they always complete. A text connection never carries
 * noreply or meta q requests (the request layer strips them), so every op gets a reply.
 *
 * When the connection fails, every op it holds is failed with the reason, in order; the request layer
 * decides about retries and the client's error text.
 */
import net from 'node:net';
import {
  TextResponseParser,
  TextResponseError,
  type TextResponse,
  type ValueResponse,
} from '../protocol/ascii/response-parser.ts';
import { HEADER_LENGTH } from '../protocol/binary/header.ts';
import { Magic, Opcode } from '../protocol/binary/opcodes.ts';
import { BinaryParseError, BinaryParser, type BinaryPacket } from '../protocol/binary/parser.ts';
import { FlushBatch } from '../util/flush-batch.ts';
import { OutputQueue } from '../util/output-queue.ts';
import { ReadBuffer } from '../util/read-buffer.ts';
import { SlabPool } from '../util/slab-pool.ts';
import { RingQueue } from '../util/ring-queue.ts';
import type { LatencyHistogram } from '../util/latency-histogram.ts';
import type { PoolTimings } from '../util/timing-histogram.ts';

export const FailReason = {
  /** The connection could not be established (refused, unreachable, connect_timeout). */
  Connect: 'connect',
  /** The server is blacklisted after too many errors; nothing was attempted. */
  Blacklisted: 'blacklisted',
  /** The connection closed (or errored) after the op was queued or sent. */
  Closed: 'closed',
  /** No complete reply within downstream_timeout. */
  Timeout: 'timeout',
  /** Waited longer than downstream_conn_queue_timeout to be written. */
  QueueTimeout: 'queue-timeout',
  /** The server sent something that does not fit the protocol; the connection was dropped. */
  Protocol: 'protocol',
} as const;
export type FailReason = (typeof FailReason)[keyof typeof FailReason];

export type DownstreamProtocol = 'binary' | 'ascii';

/** One request on the wire (possibly several packets, e.g. GETKQ... NOOP) and its completion. */
export interface DownstreamOp {
  /**
   * Encodes the request: returns its bytes, or writes them straight into `out` and returns nothing
   * (no intermediate buffers for requests built from many small pieces). Binary packets must all carry
   * `opaque`.
   */
  encode(opaque: number, out: OutputQueue): Buffer | readonly Buffer[] | undefined;
  /** Binary: the op may end without any reply (SETQ etc. succeed silently). */
  readonly quiet: boolean;
  /**
   * Binary: how many consecutive opaques the op uses (one per packet that may answer, e.g. one per
   * GETKQ so a reply names its key); all of them route replies to this op. Default 1.
   */
  readonly opaqueCount?: number;
  /** Binary: one response packet for this op; returns true when the op is complete. */
  onPacket?(packet: BinaryPacket): boolean;
  /** Text: one reply unit for this op; returns true when the op is complete. */
  onUnit?(unit: TextResponse): boolean;
  /**
   * Text gets: the verb ("get", "gets") of a command line this op may share with the ops queued right
   * after it that have the same verb, so that many clients' multi-gets reach the server as one command
   * (memcached 1.6.18, measured: 0.48-0.54 µs of CPU per key for one 270-key get, 0.67-0.93 µs for ten
   * 27-key gets in one write). Ops that share also implement the three members below.
   */
  readonly shareVerb?: string | null;
  /** Writes this op's keys (" k1 k2 ...") into a shared line. */
  encodeShared?(out: OutputQueue): void;
  /**
   * A VALUE of a shared line's reply: true if it answers one of this op's keys still to come; false
   * means the reply has moved past this op's keys (the value belongs to a later op).
   */
  takeValue?(unit: ValueResponse): boolean;
  /** The shared reply moved past this op's keys, or ended: the op is complete with what it got. */
  endShare?(): void;
  /** Binary quiet op completed with no reply (success, or a miss for GETQ/GETKQ). */
  onNoReply?(): void;
  /** The op will get no (further) reply. `answered` is true if part of a reply had arrived. */
  onFail(reason: FailReason, answered: boolean): void;
}

/** Called once an op sent with it is over, after its completion callback, whichever way it ended. */
export type Settle = () => void;

export interface ConnectionSettings {
  host: string;
  port: number;
  protocol: DownstreamProtocol;
  /** ms; 0 = none */
  connectTimeout: number;
  downstreamTimeout: number;
  connQueueTimeout: number;
  /** SASL PLAIN login sent first on binary connections when `user` is not ''. */
  user: string;
  password: string;
  /** ms to wait for the login's answer; 0 = none */
  authTimeout: number;
  /** Where each request's response time (written to answered) is counted; none when absent. */
  latency?: LatencyHistogram;
  /** time_stats: each connect's time (to the TCP connection) and each response time, moxi's way. */
  timings?: PoolTimings;
}

export interface ConnectionEvents {
  /** The connection is established. */
  connected(conn: DownstreamConnection): void;
  /** Establishing it failed. */
  connectFailed(conn: DownstreamConnection, err: Error): void;
  /** It closed; `withError` when ops were lost or the server misbehaved. */
  closed(conn: DownstreamConnection, withError: boolean): void;
}

interface Entry {
  op: DownstreamOp;
  settle: Settle | undefined;
  opaque: number;
  /** performance.now() when queued / written. */
  queuedAt: number;
  sentAt: number;
  answered: boolean;
  /** Text: the op shares its command line (and so its reply) with the entry after it. */
  sharesNext: boolean;
}

const State = { Idle: 0, Connecting: 1, Authenticating: 2, Ready: 3, Closed: 4 } as const;
type State = (typeof State)[keyof typeof State];

const NOOP_REQUEST_LENGTH = HEADER_LENGTH;
/**
 * A shared get line stops growing past this many bytes (a few hundred keys). memcached reads get lines
 * of any length (it switches to a growing buffer past 2 KB) and builds one command's reply whole, so
 * the clients whose keys come last wait for all the others. Bench mget (multi-gets of 10-100 keys, 50
 * clients), alternating pairs against 16 KB: 4 KB gave 5-10% more multi-gets/s, a 7-12% lower p99, 3-5%
 * less proxy CPU and 6% less memcached CPU per multi-get (11 pairs in two runs); 2 KB and 8 KB about
 * half of that, 1 KB nothing; the text downstream's pipelined one-key gets alike (8 pairs, -1.7%, noise).
 */
const SHARED_LINE_BYTES = 4 * 1024;
/** Bytes encoded per write while the socket accepts more: bounds the copy held for one write. */
const FLUSH_BYTES = 256 * 1024;

/**
 * Connections with queued writes, flushed once per turn of the event loop (setImmediate, after every
 * I/O callback of this turn): requests of all the clients that were readable together leave in one
 * write per connection. Measured on the bench's get workload: 1.5x the throughput of flushing on
 * process.nextTick (one write per client request), and a third less CPU per request.
 */
const dirty = new FlushBatch<DownstreamConnection>(setImmediate);
function scheduleFlush(conn: DownstreamConnection): void {
  dirty.add(conn);
}

/** A server connection reads with Node's full 64 KB from the start: its replies come in bulk. */
const READ_BUFFER = 64 * 1024;
const NO_READS = new ReadBuffer(READ_BUFFER);

/**
 * Where the binary replies' large values (at least 64 KB, the parser's valueParts) are read: slabs that
 * the client's reply gives back once it has been written (MultiGetRequest.writeTo), so the next value
 * is read into warm memory with no allocation. 128 x 64 KB: up to 8 MB kept between uses; values in
 * flight beyond that take fresh slabs, which the collector takes back. Slabs are the size of a read
 * buffer, so that a read a value began with can be lent along with it (ReadBuffer.expectValue).
 */
export const replySlabs = new SlabPool(READ_BUFFER, 128);

/**
 * Large values that more than one client reply is written from (identical gets answered by one fetch),
 * and how many of those replies are still to be written besides one.
 */
const moreReaders = new WeakMap<readonly Buffer[], number>();

/**
 * One more client reply will be written from these pieces (a get that joined the one that fetched
 * them): their slabs go back to the pool after the last reply's write, not the first. Sharing them
 * instead of a copy per joined get keeps a hot large value in memory once, however many clients wait
 * for it. A reply that is never written (its client left) only keeps the slabs from the pool; the
 * collector takes them.
 */
export function shareSlabs(pieces: readonly Buffer[]): void {
  moreReaders.set(pieces, (moreReaders.get(pieces) ?? 0) + 1);
}

/**
 * Queues a large value's pieces (a binary reply's valueParts, read into slabs of their own that nothing
 * else refers to) for a client reply written from them, and gives the slabs back once the client's
 * socket has taken them (see releaseSlabsWhenWritten).
 */
export function writeFromSlabs(out: OutputQueue, pieces: readonly Buffer[]): void {
  for (const piece of pieces) out.bytes(piece);
  releaseSlabsWhenWritten(out, pieces);
}

/**
 * Once `out` has written what is queued in it now, one reply is done with these pieces: their slabs go
 * back to the pool, or (shareSlabs) wait for the other replies. Once per reply, however many times the
 * reply carries the value ("get k k"), and after all of them are queued.
 */
export function releaseSlabsWhenWritten(out: OutputQueue, pieces: readonly Buffer[]): void {
  out.afterWritten(() => {
    const more = moreReaders.get(pieces);
    if (more === undefined) replySlabs.giveBack(pieces);
    else if (more > 1) moreReaders.set(pieces, more - 1);
    else moreReaders.delete(pieces);
  });
}

let nextConnectionId = 1;

export class DownstreamConnection {
  readonly id = nextConnectionId++;
  readonly settings: ConnectionSettings;
  private readonly events: ConnectionEvents;
  private state: State = State.Idle;
  private socket: net.Socket | null = null;
  private reads = NO_READS;
  private readonly pending = new RingQueue<Entry>();
  private readonly inflight = new RingQueue<Entry>();
  private nextOpaque = 1;
  private binaryParser: BinaryParser | null = null;
  private textParser: TextResponseParser | null = null;
  private connectTimer: NodeJS.Timeout | null = null;
  private writable = true;
  private readonly out = new OutputQueue();
  /** @internal Waiting in the turn's flush batch. */
  flushQueued = false;
  /** performance.now() when the chunk being parsed was read. */
  private readAt = 0;

  constructor(settings: ConnectionSettings, events: ConnectionEvents) {
    this.settings = settings;
    this.events = events;
  }

  /** Ops queued or in flight. */
  get load(): number {
    return this.pending.length + this.inflight.length;
  }

  get isClosed(): boolean {
    return this.state === State.Closed;
  }

  get isReady(): boolean {
    return this.state === State.Ready;
  }

  /** Queues an op; it is written with the others of this tick. Connects first if needed. */
  send(op: DownstreamOp, settle?: Settle): void {
    if (this.state === State.Closed) {
      op.onFail(FailReason.Closed, false);
      settle?.();
      return;
    }
    const now = performance.now();
    this.pending.push({
      op,
      settle,
      opaque: 0,
      queuedAt: now,
      sentAt: 0,
      answered: false,
      sharesNext: false,
    });
    if (this.state === State.Idle) this.connect();
    else if (this.state === State.Ready) scheduleFlush(this);
  }

  private connect(): void {
    this.state = State.Connecting;
    const { host, port, connectTimeout, protocol } = this.settings;
    // a new socket reads afresh (no value half-read into a slab on an earlier one)
    this.reads = new ReadBuffer(READ_BUFFER, replySlabs);
    const socket = net.connect({
      host,
      port,
      noDelay: true,
      keepAlive: true,
      onread: this.reads.options((chunk) => {
        this.onData(chunk);
      }),
    });
    this.socket = socket;
    if (protocol === 'binary') this.binaryParser = new BinaryParser({ magic: Magic.Response });
    else this.textParser = new TextResponseParser({ reuseValueUnits: true });
    if (connectTimeout > 0) {
      this.connectTimer = setTimeout(() => {
        this.connectFailed(new Error(`connect timeout after ${connectTimeout} ms`));
      }, connectTimeout);
    }
    const connectStartedAt = performance.now();
    socket.once('connect', () => {
      if (this.connectTimer !== null) clearTimeout(this.connectTimer);
      this.connectTimer = null;
      if (this.state !== State.Connecting) return;
      this.settings.timings?.connect.record(performance.now() - connectStartedAt);
      if (this.settings.user !== '' && this.settings.protocol === 'binary') this.authenticate(socket);
      else this.ready();
    });
    socket.on('drain', () => {
      this.writable = true;
      this.flush();
    });
    socket.on('error', (err) => {
      if (this.state === State.Connecting) this.connectFailed(err);
      else this.fail(FailReason.Closed);
    });
    socket.on('close', () => {
      if (this.state === State.Connecting)
        this.connectFailed(new Error('connection closed while connecting'));
      else this.fail(FailReason.Closed);
    });
  }

  private ready(): void {
    this.state = State.Ready;
    this.events.connected(this);
    this.flush();
  }

  /**
   * SASL PLAIN as moxi does it: "\0user\0password" once per connection, before any request, answered
   * within auth_timeout; a refusal counts as a failed connect.
   */
  private authenticate(socket: net.Socket): void {
    this.state = State.Authenticating;
    const { user, password, authTimeout } = this.settings;
    const body = Buffer.from(`\0${user}\0${password}`, 'latin1');
    const mech = Buffer.from('PLAIN', 'latin1');
    const packet = Buffer.alloc(HEADER_LENGTH + mech.length + body.length);
    packet[0] = Magic.Request;
    packet[1] = Opcode.SASL_AUTH;
    packet.writeUInt16BE(mech.length, 2);
    packet.writeUInt32BE(mech.length + body.length, 8);
    mech.copy(packet, HEADER_LENGTH);
    body.copy(packet, HEADER_LENGTH + mech.length);
    socket.write(packet);
    if (authTimeout > 0) {
      this.connectTimer = setTimeout(() => {
        this.connectFailed(new Error(`SASL auth as ${user} timed out after ${authTimeout} ms`));
      }, authTimeout);
    }
  }

  private authAnswered(p: BinaryPacket): void {
    if (this.connectTimer !== null) clearTimeout(this.connectTimer);
    this.connectTimer = null;
    if (p.status === 0) this.ready();
    else
      this.connectFailed(
        new Error(`SASL auth as ${this.settings.user} refused (status 0x${p.status.toString(16)})`),
      );
  }

  private connectFailed(err: Error): void {
    if (this.state !== State.Connecting && this.state !== State.Authenticating) return;
    if (this.connectTimer !== null) clearTimeout(this.connectTimer);
    this.connectTimer = null;
    this.state = State.Closed;
    this.socket?.destroy();
    const lost = this.pending.drain();
    this.events.connectFailed(this, err);
    for (const e of lost) {
      e.op.onFail(FailReason.Connect, false);
      e.settle?.();
    }
  }

  /**
   * Writes the pending ops, encoded into one output buffer and handed to the socket in one write (large
   * values go by reference), until the socket pushes back. One socket.write per op cost a third of the
   * proxy's CPU in the get workload (stream bookkeeping per call, even corked).
   */
  flush(): void {
    if (this.state !== State.Ready || !this.writable || this.pending.length === 0) return;
    const socket = this.socket!;
    const out = this.out;
    const now = performance.now();
    while (this.writable && this.pending.length > 0) {
      let lastQuiet: boolean;
      do {
        const entry = this.pending.shift()!;
        entry.opaque = this.takeOpaque(entry.op.opaqueCount ?? 1);
        entry.sentAt = now;
        this.inflight.push(entry);
        const verb = entry.op.shareVerb;
        if (verb != null && this.pending.peek()?.op.shareVerb === verb) {
          this.encodeSharedLine(entry, verb, now);
        } else {
          const bytes = entry.op.encode(entry.opaque, out);
          if (Buffer.isBuffer(bytes)) out.bytes(bytes);
          else if (bytes !== undefined) for (const b of bytes) out.bytes(b);
        }
        lastQuiet = entry.op.quiet;
      } while (this.pending.length > 0 && out.length < FLUSH_BYTES);
      if (lastQuiet) this.writeNoop(now);
      out.commit();
      this.writable = out.flush(socket);
    }
  }

  /**
   * Writes `first` (already in flight) and the pending ops right after it that have the same verb as
   * one command line, "<verb> <keys of the first> <keys of the next> ...\r\n", up to SHARED_LINE_BYTES.
   */
  private encodeSharedLine(first: Entry, verb: string, now: number): void {
    const out = this.out;
    const start = out.length;
    out.latin1(verb);
    first.op.encodeShared!(out);
    let last = first;
    for (let next = this.pending.peek(); next !== undefined; next = this.pending.peek()) {
      if (next.op.shareVerb !== verb || out.length - start >= SHARED_LINE_BYTES) break;
      this.pending.shift();
      next.opaque = this.takeOpaque(1);
      next.sentAt = now;
      this.inflight.push(next);
      last.sharesNext = true;
      next.op.encodeShared!(out);
      last = next;
    }
    out.latin1('\r\n');
  }

  /** A NOOP after trailing quiet ops, so that they complete (memcached answers a NOOP in order). */
  private writeNoop(now: number): void {
    const opaque = this.takeOpaque(1);
    const at = this.out.reserve(NOOP_REQUEST_LENGTH);
    const buf = this.out.scratchBuffer;
    buf.fill(0, at, at + NOOP_REQUEST_LENGTH);
    buf[at] = Magic.Request;
    buf[at + 1] = Opcode.NOOP;
    buf.writeUInt32BE(opaque, at + 12);
    this.inflight.push({
      op: NOOP_OP,
      settle: undefined,
      opaque,
      queuedAt: now,
      sentAt: now,
      answered: false,
      sharesNext: false,
    });
  }

  /** Reserves `count` consecutive opaques (never wrapping inside a reservation). */
  private takeOpaque(count: number): number {
    if (this.nextOpaque + count > 0xffffffff) this.nextOpaque = 1;
    const opaque = this.nextOpaque;
    this.nextOpaque += count;
    return opaque;
  }

  private onData(chunk: Buffer): void {
    // one clock read per read: the requests this chunk completes are timed to its arrival
    this.readAt = performance.now();
    if (this.binaryParser !== null) {
      // the chunk begins a frame when nothing was held before it; while no frame has been returned,
      // a frame still incomplete began there, and the chunk holds nothing else
      let startsFrame = this.binaryParser.bufferedLength === 0;
      this.binaryParser.push(chunk);
      for (;;) {
        const p = this.binaryParser.next();
        if (p === null) {
          const valueLeft = this.binaryParser.pendingValueBytes;
          if (valueLeft > 0) this.reads.expectValue(valueLeft, startsFrame ? chunk : null);
          return;
        }
        startsFrame = false;
        if (p instanceof BinaryParseError) {
          if (this.state === State.Authenticating) this.connectFailed(p);
          else this.fail(FailReason.Protocol);
          return;
        }
        if (this.state === State.Authenticating) {
          this.authAnswered(p);
          continue;
        }
        if (!this.onPacket(p)) return;
      }
    }
    const parser = this.textParser!;
    parser.push(chunk);
    for (;;) {
      const unit = parser.next();
      if (unit === null) {
        const head = this.inflight.peek();
        if (head !== undefined && parser.partial) head.answered = true;
        return;
      }
      if (unit instanceof TextResponseError) {
        this.fail(FailReason.Protocol);
        return;
      }
      let head = this.inflight.peek();
      if (head === undefined) {
        this.fail(FailReason.Protocol);
        return;
      }
      // a shared line's reply: the ops before the last take the VALUEs of their keys; past them, or
      // at the reply's end (END or an error line), each is complete and the unit goes on to the next
      while (head.sharesNext) {
        head.answered = true;
        if (unit.kind === 'VALUE' && head.op.takeValue!(unit)) break;
        this.inflight.shift();
        this.answered(head);
        head.op.endShare!();
        head.settle?.();
        if (this.state === State.Closed) return;
        head = this.inflight.peek()!;
      }
      head.answered = true;
      if (!head.sharesNext && head.op.onUnit!(unit)) {
        this.inflight.shift();
        this.answered(head);
        head.settle?.();
      }
      if (this.state === State.Closed) return;
    }
  }

  /** Matches one binary response to its op; false if the connection had to be dropped. */
  private onPacket(p: BinaryPacket): boolean {
    for (;;) {
      const head = this.inflight.peek();
      if (head === undefined) {
        this.fail(FailReason.Protocol);
        return false;
      }
      if (p.opaque - head.opaque >= 0 && p.opaque - head.opaque < (head.op.opaqueCount ?? 1)) {
        head.answered = true;
        if (head.op.onPacket!(p)) {
          this.inflight.shift();
          this.answered(head);
          head.settle?.();
        }
        return this.state !== State.Closed;
      }
      if (!head.op.quiet) {
        // a reply for a later request while this one still owes one: the stream is out of step
        this.fail(FailReason.Protocol);
        return false;
      }
      this.inflight.shift();
      this.answered(head);
      head.op.onNoReply?.();
      head.settle?.();
    }
  }

  /** Counts an op's response time (internal NOOPs are not requests). */
  private answered(entry: Entry): void {
    if (entry.op === NOOP_OP) return;
    const ms = this.readAt - entry.sentAt;
    this.settings.latency?.record(ms);
    this.settings.timings?.reserved.record(ms);
  }

  /** Coarse timer hook: downstream_timeout for the oldest op in flight, queue timeout for the oldest pending. */
  checkDeadlines(now: number): void {
    const { downstreamTimeout, connQueueTimeout } = this.settings;
    const head = this.inflight.peek();
    if (downstreamTimeout > 0 && head !== undefined && now - head.sentAt >= downstreamTimeout) {
      this.fail(FailReason.Timeout);
      return;
    }
    if (connQueueTimeout > 0 && this.state === State.Ready) {
      for (let oldest = this.pending.peek(); oldest !== undefined; oldest = this.pending.peek()) {
        if (now - oldest.queuedAt < connQueueTimeout) break;
        this.pending.shift();
        oldest.op.onFail(FailReason.QueueTimeout, false);
        oldest.settle?.();
      }
    }
  }

  /** Drops the connection and fails everything it holds, in order. */
  fail(reason: FailReason): void {
    if (this.state === State.Closed) return;
    const hadOps = this.load > 0;
    this.state = State.Closed;
    if (this.connectTimer !== null) clearTimeout(this.connectTimer);
    this.socket?.destroy();
    const inflight = this.inflight.drain();
    const pending = this.pending.drain();
    this.events.closed(this, reason !== FailReason.Closed || hadOps);
    for (const e of inflight) {
      e.op.onFail(reason, e.answered);
      e.settle?.();
    }
    for (const e of pending) {
      e.op.onFail(reason === FailReason.Timeout ? FailReason.Timeout : FailReason.Closed, false);
      e.settle?.();
    }
  }

  /** Closes without blaming anyone (shutdown, reconfiguration). */
  close(): void {
    this.fail(FailReason.Closed);
  }
}

/** The op behind an internal NOOP: completes on its reply, ignores failures. */
const NOOP_OP: DownstreamOp = {
  encode: () => Buffer.alloc(0),
  quiet: false,
  onPacket: () => true,
  onFail: () => undefined,
};
