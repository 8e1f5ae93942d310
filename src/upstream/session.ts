/**
 * One client connection to a proxy port. Requests are parsed as they arrive and forwarded at once (many
 * in flight), while replies are written strictly in request order: each request takes a slot in a FIFO,
 * and slots are written from the head as they complete.
 *
 *   client ──> parse ──> classify ──> local reply ─────────────┐
 *                               └──> pool.admit ──> downstream  │ (any order)
 *                                                      │        v
 *   client <── one write per tick <── [slot][slot][slot]...  (in order)
 *
 * Backpressure: past the client's window of unanswered requests (START_WINDOW up to MAX_PENDING, as its
 * socket takes replies), or while the socket will not take more, reading stops; the unparsed bytes wait
 * in the parser.
 */
import type { Socket } from 'node:net';
import { Command } from '../protocol/ascii/commands.ts';
import { TextRequestParser, isParseError, type TextRequest } from '../protocol/ascii/request-parser.ts';
import { encodeErrorResponse, encodeResponse } from '../protocol/binary/encoder.ts';
import { Magic, Opcode, Status } from '../protocol/binary/opcodes.ts';
import { BinaryParseError, BinaryParser, type BinaryPacket } from '../protocol/binary/parser.ts';
import { wellFormed } from '../protocol/binary/shape.ts';
import { BinaryKeyedRequest, FORWARDED_OPCODES, binarySuccess } from '../proxy/b2b.ts';
import { ProxyError } from '../protocol/wire-errors.ts';
import { BroadcastRequest, type BinaryAnswer, type BroadcastKind } from '../proxy/broadcast.ts';
import { classify } from '../proxy/classify.ts';
import { countBinaryCommand, countTextCommand } from '../proxy/command-stats.ts';
import { a2aKeyed, a2bArith, a2bDelete, a2bStore, a2bTouch, metaCodec } from '../proxy/codecs.ts';
import { KeyedRequest, type KeyedCodec } from '../proxy/keyed.ts';
import { MultiGetRequest } from '../proxy/multiget.ts';
import { KeyList } from '../util/key-list.ts';
import type { ProxyPool } from '../proxy/pool.ts';
import type { Reply, ReplyAccount, ReplySlot } from '../proxy/request.ts';
import { requestBytes } from '../util/byte-budget.ts';
import { FlushBatch } from '../util/flush-batch.ts';
import { OutputQueue } from '../util/output-queue.ts';
import { RingQueue } from '../util/ring-queue.ts';
import { SERVER_VERSION } from '../version.ts';
import type { UnreadHolder, UnreadReplies } from './unread-replies.ts';

/**
 * Requests in flight per client before we stop reading from it, however well it reads. It bounds what
 * one client can make the proxy hold: a window is counted in requests, and a reply's size is known only
 * once it arrives, so a client whose window grew on small replies can ask for this many large values
 * at once and stop reading (512 KB values: peak RSS +129 MB; +519 MB at 1024). Deep pipelines go
 * faster with 256 than with 1024 (clients pipelining 300-1,000 gets each: 1.2-1.4x the gets/s; one
 * client alone: -4%): every request in flight keeps its objects alive, and thousands of them outlive
 * the young generation (src/cli/heap.ts) and are copied at each scavenge.
 */
const MAX_PENDING = 256;
/**
 * A client's window of requests in flight starts here, doubles each time its replies go out without
 * filling its socket, and falls back here each time they fill it. Replies its socket cannot take wait
 * in the proxy's memory, so a client that asks for large values and does not read them holds about
 * this many (64 x 512 KB: 32 MB), not MAX_PENDING (128 MB); clients that keep reading soon reach
 * MAX_PENDING.
 */
const START_WINDOW = 64;
/**
 * Multi-get values one client may make the proxy hold: those arrived for its multi-gets in flight
 * (a multi-get's reply is written whole, in key order) plus the replies its socket has not taken yet.
 * A multi-get whose values would pass it is answered as memcached answers a get it cannot build
 * (`SERVER_ERROR out of memory writing get response`) and its values are let go. Without it, one client
 * asking for many large values and not reading them could hold gigabytes. One-key gets are bounded by
 * the window instead (MAX_PENDING values).
 */
export const CLIENT_REPLY_LIMIT = 256 * 1024 * 1024;
/** Past this many held reply bytes a client's requests are not read until its replies drain. */
const REPLY_BYTES_PAUSE = CLIENT_REPLY_LIMIT / 4;
/** Largest data block accepted from a client; larger ones are refused as too large and skipped. */
export const PROXY_MAX_ITEM = 32 * 1024 * 1024;
/** Longest multi-get line buffered. */
const MAX_LINE = 8 * 1024 * 1024;

const WAIT_QUEUE_TIMEOUT = ProxyError.waitQueueTimeout + '\r\n';
/** moxi's text for binary clients it refuses (no full stop, unlike memcached's). */
const AUTH_FAILURE = 'Auth failure';

/** Meta commands that change a key's value: the front cache stops serving the key. */
const META_MUTATIONS: ReadonlySet<Command> = new Set([
  Command.MetaSet,
  Command.MetaDelete,
  Command.MetaArithmetic,
]);

/** `STAT name value` lines (ending with END) as binary STAT packets, ending with an empty one. */
function statLinesToPackets(text: string, opcode: number, opaque: number): Buffer[] {
  const packets: Buffer[] = [];
  for (const line of text.split('\r\n')) {
    if (!line.startsWith('STAT ')) continue;
    const rest = line.slice(5);
    const space = rest.indexOf(' ');
    const key = space < 0 ? rest : rest.slice(0, space);
    const value = space < 0 ? '' : rest.slice(space + 1);
    packets.push(encodeResponse({ opcode, opaque, key, value }));
  }
  packets.push(encodeResponse({ opcode, opaque }));
  return packets;
}

/** What a session asks of the proxy as a whole. */
export interface SessionHost {
  /**
   * `stats proxy [arg]`, from the point of view of `pool` (null: the NULL bucket); a promise when the
   * answer is gathered from other processes (-t N), which still takes its place in the reply order.
   */
  statsProxy(pool: ProxyPool | null, arg: string): string | Promise<string>;
  /** The bucket SASL PLAIN credentials select, or null when they match none. */
  login(user: string, password: string): ProxyPool | null;
  /** The process's cap on reply bytes held for clients (unread replies, multi-get values). */
  readonly unreadReplies: UnreadReplies<ProxySession>;
}

class Slot implements ReplySlot {
  reply: Reply | null = null;
  /** What makes the reply once every earlier reply is written (a local listing of counters). */
  start: (() => void) | null = null;
  private readonly session: ProxySession;

  constructor(session: ProxySession) {
    this.session = session;
  }

  complete(reply: Reply): void {
    if (this.reply !== null) return;
    this.reply = reply;
    this.session.slotDone();
  }
}

function isPieces(reply: Exclude<Reply, string>): reply is ReadonlyArray<Buffer | string> {
  return Array.isArray(reply);
}

/** Sessions with replies to write, flushed once per tick. */
const dirty = new FlushBatch<ProxySession>((run) => {
  process.nextTick(run);
});
function scheduleFlush(session: ProxySession): void {
  dirty.add(session);
}

export class ProxySession implements ReplyAccount, UnreadHolder {
  readonly id: number;
  readonly socket: Socket;
  /** The client's bucket; null is moxi's NULL bucket (default_bucket_name names a bucket that is absent). */
  private pool: ProxyPool | null;
  private readonly host: SessionHost;
  /** Chosen by the first byte: 0x80 starts a binary-protocol client, anything else a text one. */
  private parser: TextRequestParser | null = null;
  private binaryParser: BinaryParser | null = null;
  private readonly out = new OutputQueue();
  private readonly slots = new RingQueue<Slot>();
  /** @internal Waiting in the tick's flush batch. */
  flushQueued = false;
  private paused = false;
  /** Requests allowed in flight now (START_WINDOW..MAX_PENDING). */
  private window = START_WINDOW;
  /** Multi-get values arrived for this client's requests and not yet in its output (holdReplyBytes). */
  private replyBytesHeld = 0;
  /** Its socket's backlog is counted in the host's unreadReplies (since a write that backed it up). */
  private unreadCounted = false;
  /**
   * A request of this client waits in its pool's wait queue (downstream_max requests are in flight): no
   * later request is read until it runs or times out. moxi serves a connection one request at a time,
   * so its wait queue holds at most one request per client; so does moxi.ts's, and the rest of a deep
   * pipeline stays in the client's socket rather than in objects the collector copies (admit).
   */
  private awaitingAdmission = false;
  /** A `stats proxy` waits for the replies before it: no later request is read (hostReply). */
  private inputHeld = false;
  private closed = false;
  /** quit, or input we cannot parse: close once every pending reply is written. */
  private closeWhenDone = false;
  private readonly onClose: (s: ProxySession) => void;

  constructor(
    pool: ProxyPool | null,
    socket: Socket,
    id: number,
    host: SessionHost,
    onClose: (s: ProxySession) => void,
  ) {
    this.pool = pool;
    this.socket = socket;
    this.id = id;
    this.host = host;
    this.onClose = onClose;
    socket.setNoDelay(true);
    socket.on('drain', () => {
      if (this.unreadCounted) this.countUnread(false);
      this.resume();
    });
    socket.on('error', () => {
      socket.destroy();
    });
    socket.on('close', () => {
      if (this.unreadCounted) this.countUnread(false);
      this.closed = true;
      requestBytes.forget(this.relieved);
      this.onClose(this);
    });
  }

  /** Bytes from the client (the owner of the socket routes its reads here). */
  receive(chunk: Buffer): void {
    if (this.pool !== null) this.pool.counters.totBytesRead += chunk.length;
    if (this.parser === null && this.binaryParser === null) {
      if (chunk[0] === Magic.Request) {
        this.binaryParser = new BinaryParser({ magic: Magic.Request, maxBodyLength: PROXY_MAX_ITEM });
      } else {
        this.parser = new TextRequestParser({ maxDataLength: PROXY_MAX_ITEM, maxLineLength: MAX_LINE });
      }
    }
    if (this.parser !== null) this.parser.push(chunk);
    else this.binaryParser!.push(chunk);
    this.process();
  }

  /** Parses and dispatches what is buffered, until backpressure or the end of the input. */
  private process(): void {
    while (!this.paused && !this.inputHeld && !this.closed && !this.closeWhenDone) {
      if (this.slots.length >= this.window || this.heldBack) {
        this.pause();
        return;
      }
      if (requestBytes.exhausted) {
        this.pause();
        requestBytes.whenRelieved(this.relieved);
        return;
      }
      if (this.binaryParser !== null) {
        const packet = this.binaryParser.next();
        if (packet === null) return;
        if (packet instanceof BinaryParseError) {
          // memcached answers impossible lengths and closes; a bad magic just closes
          if (packet.code === 'bad-lengths') {
            this.localReply([encodeErrorResponse(packet.opcode, Status.UNKNOWN_COMMAND, packet.opaque)]);
          }
          this.closeAfterReplies();
          return;
        }
        this.dispatchBinary(packet);
        continue;
      }
      const req = this.parser!.next();
      if (req === null) return;
      if (isParseError(req)) {
        this.closeAfterReplies();
        return;
      }
      this.dispatch(req);
    }
  }

  private closeAfterReplies(): void {
    this.closeWhenDone = true;
    this.slotDone();
  }

  /** A binary request: answered locally, broadcast, or forwarded to its key's server (b2b). */
  private dispatchBinary(p: BinaryPacket): void {
    const { opcode, opaque } = p;
    if (!wellFormed(p)) {
      this.localReply([encodeErrorResponse(opcode, Status.EINVAL, opaque)]);
      this.closeAfterReplies();
      return;
    }
    if (this.pool !== null) countBinaryCommand(this.pool.commandStats, p);
    if (p.valueTruncated) {
      this.localReply([encodeErrorResponse(opcode, Status.E2BIG, opaque)]);
      return;
    }
    switch (opcode) {
      case Opcode.VERSION:
        this.localReply([binarySuccess(opcode, opaque, SERVER_VERSION)]);
        return;
      case Opcode.NOOP:
        this.localReply([binarySuccess(opcode, opaque)]);
        return;
      case Opcode.QUIT:
        this.localReply([binarySuccess(opcode, opaque)]);
        this.closeAfterReplies();
        return;
      case Opcode.QUITQ:
        this.closeAfterReplies();
        return;
      case Opcode.SASL_LIST_MECHS:
        this.localReply([binarySuccess(opcode, opaque, 'PLAIN')]);
        return;
      case Opcode.SASL_AUTH:
        this.saslAuth(p);
        return;
      case Opcode.SASL_STEP:
        this.localReply([encodeErrorResponse(opcode, Status.AUTH_ERROR, opaque, AUTH_FAILURE)]);
        return;
      case Opcode.STAT:
        if (p.key.toString('latin1').startsWith('proxy')) {
          // moxi answers `proxy buckets` itself: the per-bucket part of stats proxy, as STAT packets
          const arg = p.key.toString('latin1').slice(5).trim();
          const pool = this.pool;
          this.hostReply(
            () => this.host.statsProxy(pool, arg),
            (text) => statLinesToPackets(text, opcode, opaque),
          );
          return;
        }
        break;
    }
    const pool = this.pool;
    if (pool === null) {
      this.localReply([encodeErrorResponse(opcode, Status.AUTH_ERROR, opaque, AUTH_FAILURE)]);
      return;
    }
    pool.counters.totRequests++;
    switch (opcode) {
      case Opcode.FLUSH:
      case Opcode.FLUSHQ: {
        const delay = p.extrasLength === 4 ? p.extras.readUInt32BE(0) : 0;
        this.broadcast(pool, { kind: 'flush', delay }, false, {
          opcode,
          opaque,
          quiet: opcode === Opcode.FLUSHQ,
        });
        return;
      }
      case Opcode.STAT: {
        // a group (items, slabs, settings...) goes to every server and is merged, as moxi's b2b does
        const what: BroadcastKind =
          p.key.length === 0
            ? { kind: 'stats' }
            : p.key.toString('latin1') === 'reset'
              ? { kind: 'stats-reset' }
              : { kind: 'stats', group: Buffer.from(p.key) };
        this.broadcast(pool, what, false, { opcode, opaque, quiet: false });
        return;
      }
    }
    if (!FORWARDED_OPCODES.has(opcode)) {
      // moxi answers a keyless command it does not broadcast with EINTERNAL; a keyed one memcached
      // would not know is refused here rather than risked on a connection other clients share
      const status = p.keyLength === 0 ? Status.EINTERNAL : Status.UNKNOWN_COMMAND;
      this.localReply([
        encodeErrorResponse(opcode, status, opaque, p.keyLength === 0 ? 'Internal error' : undefined),
      ]);
      return;
    }
    const slot = this.newSlot();
    const bytes = p.valueLength;
    const request = new BinaryKeyedRequest(pool, slot, p, this.id, bytes);
    this.admit(
      pool,
      request,
      slot,
      [encodeErrorResponse(opcode, Status.EBUSY, opaque, 'System is busy')],
      bytes,
    );
  }

  /**
   * SASL PLAIN bucket selection (moxi-spec §6.9): "[authzid]\0user\0password" naming a bucket and its
   * password moves the connection there; anything else is refused and the connection stays put.
   */
  private saslAuth(p: BinaryPacket): void {
    const parts: Array<string | undefined> = p.value.toString('latin1').split('\0');
    const [user, password] = parts.length >= 3 ? [parts[1], parts[2]] : [parts[0], parts[1]];
    const pool =
      p.key.toString('latin1') === 'PLAIN' &&
      p.value.length < 128 &&
      user !== undefined &&
      password !== undefined
        ? this.host.login(user, password)
        : null;
    if (pool === null) {
      this.localReply([encodeErrorResponse(p.opcode, Status.AUTH_ERROR, p.opaque, AUTH_FAILURE)]);
      return;
    }
    this.pool = pool;
    this.localReply([binarySuccess(p.opcode, p.opaque, 'Authenticated')]);
  }

  private dispatch(req: TextRequest): void {
    const cmd = classify(req);
    if (this.pool !== null) countTextCommand(this.pool.commandStats, req, cmd);
    switch (cmd.kind) {
      case 'local':
        if (cmd.reply !== null) this.localReply(cmd.reply + '\r\n');
        if (cmd.close === true) this.closeWhenDone = true;
        return;
      case 'version':
        this.localReply(`VERSION ${SERVER_VERSION}\r\n`);
        return;
      case 'quit':
        this.closeWhenDone = true;
        this.slotDone();
        return;
      case 'stats':
        if (cmd.sub === 'proxy') {
          const pool = this.pool;
          this.hostReply(
            () => this.host.statsProxy(pool, cmd.arg),
            (text) => text,
          );
          return;
        }
        break;
      default:
        break;
    }
    const pool = this.pool;
    if (pool === null) {
      // moxi's NULL bucket: gets still end normally, everything else is refused
      this.localReply(cmd.kind === 'get' ? 'END\r\n' : ProxyError.nullBucket + '\r\n');
      return;
    }
    pool.counters.totRequests++;
    switch (cmd.kind) {
      case 'get': {
        const n = req.tokenCount - cmd.firstKey;
        const starts = new Array<number>(n);
        const ends = new Array<number>(n);
        for (let i = 0; i < n; i++) {
          starts[i] = req.tokenStart[cmd.firstKey + i];
          ends[i] = req.tokenEnd[cmd.firstKey + i];
        }
        const keys = new KeyList(req.line, starts, ends);
        const slot = this.newSlot();
        const request = new MultiGetRequest(pool, slot, keys, cmd, this.id, this);
        this.admit(pool, request, slot);
        return;
      }
      case 'stats':
        this.broadcast(pool, cmd.sub === 'all' ? { kind: 'stats' } : { kind: 'stats-reset' }, false);
        return;
      case 'flush':
        this.broadcast(pool, { kind: 'flush', delay: cmd.delay }, cmd.noreply);
        return;
      case 'meta':
        if (pool.user !== '') {
          // a text connection cannot log in to a SASL bucket, so its meta commands have nowhere to go
          this.localReply('SERVER_ERROR meta commands are not available on a SASL bucket\r\n');
          return;
        }
        this.keyed(
          pool,
          cmd.key,
          metaCodec(req, cmd.quiet),
          false,
          req.heldDataLength,
          pool.frontCache !== null && META_MUTATIONS.has(req.command),
        );
        return;
      default:
        this.keyed(
          pool,
          req.token(1),
          this.codecFor(pool, req, cmd),
          cmd.noreply,
          req.heldDataLength,
          pool.frontCache !== null && cmd.kind !== 'touch',
        );
    }
  }

  private codecFor(
    pool: ProxyPool,
    req: TextRequest,
    cmd: Extract<ReturnType<typeof classify>, { kind: 'store' | 'arith' | 'delete' | 'touch' }>,
  ): KeyedCodec {
    if (pool.protocol === 'ascii') return a2aKeyed(req, cmd.noreply);
    switch (cmd.kind) {
      case 'store':
        return a2bStore(req, cmd.verb, cmd.noreply, pool.a2bErrors);
      case 'arith':
        return a2bArith(req, cmd.incr, cmd.delta, cmd.noreply, pool.a2bErrors);
      case 'delete':
        return a2bDelete(req, cmd.noreply);
      case 'touch':
        return a2bTouch(req, cmd.exptime, cmd.noreply, pool.a2bErrors);
    }
  }

  private keyed(
    pool: ProxyPool,
    key: Buffer,
    codec: KeyedCodec,
    noreply: boolean,
    bytes: number,
    forgets: boolean,
  ): void {
    const slot = noreply ? null : this.newSlot();
    const request = new KeyedRequest(pool, slot, key, codec, this.id, bytes, forgets);
    this.admit(pool, request, slot, WAIT_QUEUE_TIMEOUT, bytes);
  }

  private broadcast(pool: ProxyPool, what: BroadcastKind, noreply: boolean, binary?: BinaryAnswer): void {
    const slot = noreply ? null : this.newSlot();
    const request = new BroadcastRequest(pool, slot, what, this.id, binary);
    const busy =
      binary === undefined
        ? undefined
        : [encodeErrorResponse(binary.opcode, Status.EBUSY, binary.opaque, 'System is busy')];
    this.admit(pool, request, slot, busy);
  }

  /**
   * Starts `request` once the pool admits it; one that waits too long gets `timeoutReply`. Admitted at
   * once (the usual case), it costs no waiting-room objects. `bytes` (a value the request carries) are
   * held in the proxy's request budget from now until the request gives them back when it ends.
   */
  private admit(
    pool: ProxyPool,
    request: { start(): void },
    slot: ReplySlot | null,
    timeoutReply: Reply = WAIT_QUEUE_TIMEOUT,
    bytes = 0,
  ): void {
    if (bytes > 0) requestBytes.take(bytes);
    if (pool.admitNow()) {
      request.start();
      return;
    }
    this.awaitingAdmission = true;
    pool.admit({
      start: () => {
        request.start();
        this.admitted();
      },
      timedOut: () => {
        // never started, so the request will not give its bytes back itself
        if (bytes > 0) requestBytes.give(bytes);
        slot?.complete(timeoutReply);
        this.admitted();
      },
    });
  }

  /** The request that waited for admission runs (or timed out): read on. */
  private admitted(): void {
    this.awaitingAdmission = false;
    this.resume();
  }

  private newSlot(): Slot {
    const slot = new Slot(this);
    this.slots.push(slot);
    return slot;
  }

  private localReply(reply: Reply): void {
    this.newSlot().complete(reply);
  }

  /**
   * A reply of the host's (`stats proxy`), made once every earlier request of this client has been
   * answered, and before any later one is read: moxi serves a client one request at a time, so its
   * listing counts the requests before it and none after (and `stats proxy reset` zeroes exactly
   * those). Its slot is taken now, so later replies wait behind it.
   */
  private hostReply(ask: () => string | Promise<string>, render: (text: string) => Reply): void {
    const slot = this.newSlot();
    const finish = (reply: Reply): void => {
      slot.complete(reply);
      this.releaseInput();
    };
    const make = (): void => {
      const answer = ask();
      if (typeof answer === 'string') {
        finish(render(answer));
        return;
      }
      this.holdInput();
      answer.then(
        (text) => {
          finish(render(text));
        },
        () => {
          finish(render('END\r\n'));
        },
      );
    };
    if (this.slots.length > 1) {
      this.holdInput();
      slot.start = make;
      return;
    }
    // nothing before it unanswered, nothing after it read: a listing made now holds nothing up
    make();
  }

  /** Reads no further request until releaseInput() (see hostReply). */
  private holdInput(): void {
    this.inputHeld = true;
    this.socket.pause();
  }

  private releaseInput(): void {
    if (!this.inputHeld) return;
    this.inputHeld = false;
    if (this.closed) return;
    if (!this.paused) this.socket.resume();
    this.process();
  }

  /** @internal A slot completed: write every completed slot from the head. */
  slotDone(): void {
    let wrote = false;
    for (let head = this.slots.peek(); head !== undefined; head = this.slots.peek()) {
      const reply = head.reply;
      if (reply === null) {
        if (head.start === null) break;
        // its turn: made now, it sees what the requests before it did (it may complete at once,
        // writing itself through a nested slotDone)
        const start = head.start;
        head.start = null;
        start();
        continue;
      }
      this.slots.shift();
      if (typeof reply === 'string') this.out.latin1(reply);
      else if (isPieces(reply)) {
        for (const piece of reply) {
          if (typeof piece === 'string') this.out.latin1(piece);
          else this.out.bytes(piece);
        }
      } else reply.writeTo(this.out);
      wrote = true;
    }
    if (wrote || (this.closeWhenDone && this.slots.length === 0)) scheduleFlush(this);
    if (this.paused && this.slots.length < this.window / 2 && !this.heldBack) this.resume();
  }

  /** @internal Writes what is ready; closes after the last reply when asked to. */
  flush(): void {
    if (this.closed) return;
    this.out.commit();
    if (!this.out.isEmpty) {
      if (this.pool !== null) this.pool.counters.totBytesWritten += this.out.committedLength;
      this.out.flush(this.socket);
      const backedUp = this.socket.writableNeedDrain;
      this.window = backedUp ? START_WINDOW : Math.min(MAX_PENDING, this.window * 2);
      if (backedUp || this.unreadCounted) this.countUnread(backedUp);
    }
    if (this.closeWhenDone && this.slots.length === 0) {
      this.closed = true;
      this.socket.end();
    }
  }

  holdReplyBytes(n: number): boolean {
    if (this.replyBytesHeld + this.socket.writableLength + n > CLIENT_REPLY_LIMIT) return false;
    if (!this.host.unreadReplies.hold(n)) return false;
    this.replyBytesHeld += n;
    return true;
  }

  releaseReplyBytes(n: number): void {
    this.replyBytesHeld -= n;
    this.host.unreadReplies.release(n);
  }

  /** Bytes written to the client's socket and not taken by it yet. */
  get unread(): number {
    return this.socket.writableLength;
  }

  /** Counts the socket's backlog in the process's cap while it is backed up (which may disconnect someone). */
  private countUnread(backedUp: boolean): void {
    this.unreadCounted = backedUp;
    this.host.unreadReplies.count(this, backedUp ? this.socket.writableLength : 0);
  }

  /**
   * Disconnects the client to keep the process under its cap on held replies (this client had the most
   * unread): its unread replies go with its socket, and nothing more is read or written.
   */
  shed(): void {
    this.unreadCounted = false;
    // (a client closing after its last reply still holds what it has not read: it goes too)
    if (this.socket.destroyed) return;
    this.closed = true;
    if (this.pool !== null) this.pool.counters.totUnreadDisconnects++;
    this.socket.destroy();
  }

  /**
   * Whether this client's requests stay unread whatever its window: its socket will not take more, a
   * request of its waits for admission, or too many of its reply bytes are held.
   */
  private get heldBack(): boolean {
    return this.socket.writableNeedDrain || this.awaitingAdmission || this.holdsManyReplyBytes;
  }

  /** Enough reply bytes wait for this client that reading more of its requests would only add to them. */
  private get holdsManyReplyBytes(): boolean {
    // with nothing held, the socket's own backlog is writableNeedDrain's to judge
    return this.replyBytesHeld !== 0 && this.replyBytesHeld + this.socket.writableLength > REPLY_BYTES_PAUSE;
  }

  /** The request budget has room again. */
  private readonly relieved = (): void => {
    this.resume();
  };

  private pause(): void {
    if (this.paused) return;
    this.paused = true;
    this.socket.pause();
  }

  private resume(): void {
    if (!this.paused || this.closed) return;
    this.paused = false;
    if (this.inputHeld) return;
    this.socket.resume();
    this.process();
  }
}
