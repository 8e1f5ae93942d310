/**
 * One client connection of the embedded server: picks the protocol from the first byte (0x80 = binary,
 * as memcached's negotiation does, unless -B fixes it), feeds bytes to the matching parser, runs the
 * handlers, and writes every reply produced from one read in one batch.
 *
 * Backpressure: when the socket will not take more, reading stops until 'drain' and parsing pauses with
 * the unparsed bytes left in the parser, so a client that never reads its replies costs a bounded amount.
 */
import type { Socket } from 'node:net';
import { TextRequestParser, isParseError } from '../protocol/ascii/request-parser.ts';
import { Magic, Status } from '../protocol/binary/opcodes.ts';
import { BinaryParseError, BinaryParser } from '../protocol/binary/parser.ts';
import { OutputQueue } from '../util/output-queue.ts';
import { binaryError, handleBinary, type BinaryReplyTarget } from './binary-handler.ts';
import { After, SessionContext, type SharedServerState } from './context.ts';
import { handleText } from './text-handler.ts';
import type { Item } from './store.ts';

/** Flush mid-batch once this much output is queued, to bound memory for long pipelines. */
const OUTPUT_HIGH_WATER = 1024 * 1024;

/** The most bytes buffered for one text line we keep waiting on (memcached grows multigets unbounded). */
const MAX_TEXT_LINE = 8 * 1024 * 1024;

const Mode = { Negotiating: 0, Text: 1, Binary: 2 } as const;
type Mode = (typeof Mode)[keyof typeof Mode];

export class ServerSession implements BinaryReplyTarget {
  readonly out = new OutputQueue();
  noreply = false;
  lastCommandTime: number;
  readonly id: number;
  readonly socket: Socket;
  private readonly ctx: SessionContext;
  private mode: Mode = Mode.Negotiating;
  private text: TextRequestParser | null = null;
  private binary: BinaryParser | null = null;
  private paused = false;
  private closing = false;
  /** Commands left before memcached would send what is queued (its reqs_per_event budget). */
  private budget = 0;
  /** Items that queued, uncommitted replies refer to. */
  private held: Item[] = [];
  private readonly onClosed: (session: ServerSession) => void;

  constructor(
    shared: SharedServerState,
    socket: Socket,
    id: number,
    onClosed: (session: ServerSession) => void,
  ) {
    const ctx = new SessionContext(shared);
    this.ctx = ctx;
    this.socket = socket;
    this.id = id;
    this.onClosed = onClosed;
    this.lastCommandTime = ctx.clock.current();
    socket.setNoDelay(true);
    socket.on('drain', () => {
      this.onDrain();
    });
    socket.on('error', (err) => {
      ctx.log.debug({ conn: id, err: err.message }, 'client connection error');
      socket.destroy();
    });
    socket.on('close', () => {
      this.closing = true;
      this.onClosed(this);
    });
  }

  get protocolName(): string {
    return this.mode === Mode.Binary ? 'binary' : this.mode === Mode.Text ? 'ascii' : 'negotiating';
  }

  swallow(n: number): void {
    this.binary?.swallow(n);
  }

  commit(): void {
    this.out.commit();
    if (this.held.length > 0) this.release();
  }

  hold(item: Item): void {
    item.refs++;
    this.held.push(item);
  }

  private release(): void {
    for (const item of this.held) item.refs--;
    this.held = [];
  }

  /** Bytes from the client (the owner of the socket routes its reads here). */
  receive(chunk: Buffer): void {
    if (this.closing) return;
    this.ctx.counters.bytesRead += chunk.length;
    if (this.mode === Mode.Negotiating) this.negotiate(chunk[0]);
    if (this.text !== null) this.text.push(chunk);
    else this.binary!.push(chunk);
    this.process();
  }

  private negotiate(firstByte: number): void {
    const fixed = this.ctx.settings.bindingProtocol;
    const binary = fixed === 'binary' || (fixed === 'auto-negotiate' && firstByte === Magic.Request);
    const maxData = this.ctx.settings.itemSizeMax;
    if (binary) {
      this.mode = Mode.Binary;
      this.binary = new BinaryParser({ magic: Magic.Request, maxBodyLength: maxData });
    } else {
      this.mode = Mode.Text;
      this.text = new TextRequestParser({ maxDataLength: maxData + 2, maxLineLength: MAX_TEXT_LINE });
    }
    this.ctx.log.debug({ conn: this.id, protocol: this.protocolName }, 'client protocol');
  }

  /**
   * Parses and answers everything buffered, unless the socket asks us to wait.
   *
   * Replies leave when memcached would send them: at once for retrievals, mn, NOOP and binary errors;
   * every reqs_per_event commands; and when the input runs out, unless a value is still arriving (then
   * memcached sends nothing until it is complete). Replies not yet released are lost if the connection
   * is closed for bad input, as in memcached.
   */
  private process(): void {
    if (this.paused || this.closing) return;
    this.budget = this.ctx.settings.reqsPerEvent;
    const after = this.text !== null ? this.processText(this.text) : this.processBinary(this.binary!);
    if (after === After.Close) {
      this.commit();
      this.close();
      return;
    }
    if (after === After.Abort) {
      this.close();
      return;
    }
    const inData = this.text !== null ? this.text.inData : this.binary!.inValue;
    if (!inData) this.commit();
    this.flush();
  }

  /** After each command: memcached sends what is queued once it has run reqs_per_event commands. */
  private counted(): boolean {
    if (--this.budget < 0) {
      this.ctx.counters.connYields++;
      this.budget = this.ctx.settings.reqsPerEvent - 1;
      this.commit();
    }
    return this.out.length < OUTPUT_HIGH_WATER || this.flush();
  }

  private processText(parser: TextRequestParser): After {
    for (;;) {
      const req = parser.next();
      if (req === null) return After.Continue;
      if (isParseError(req)) return After.Abort;
      this.lastCommandTime = this.ctx.clock.current();
      const after = handleText(this.ctx, this, req);
      if (after !== After.Continue) return after;
      if (!this.counted()) return After.Continue;
    }
  }

  private processBinary(parser: BinaryParser): After {
    for (;;) {
      const packet = parser.next();
      if (packet === null) return After.Continue;
      if (packet instanceof BinaryParseError) {
        if (packet.code === 'bad-magic') return After.Abort;
        binaryError(this, packet, Status.UNKNOWN_COMMAND);
        return After.Close;
      }
      this.lastCommandTime = this.ctx.clock.current();
      const after = handleBinary(this.ctx, this, packet, parser.lastFrameOwned);
      if (after !== After.Continue) return after;
      if (!this.counted()) return After.Continue;
    }
  }

  /** Writes what is released for sending; returns false (and pauses reading) when the socket is full. */
  private flush(): boolean {
    const bytes = this.out.committedLength;
    if (bytes === 0) return !this.paused;
    this.ctx.counters.bytesWritten += bytes;
    const ok = this.out.flush(this.socket);
    if (!ok && !this.paused) {
      this.paused = true;
      this.socket.pause();
    }
    return ok;
  }

  private onDrain(): void {
    if (!this.paused) return;
    this.paused = false;
    this.socket.resume();
    this.process();
  }

  /** Sends what is released for sending, then closes; the rest is dropped. */
  close(): void {
    if (this.closing) return;
    this.closing = true;
    this.release();
    const bytes = this.out.committedLength;
    this.ctx.counters.bytesWritten += bytes;
    if (bytes > 0) this.out.flush(this.socket);
    this.socket.end();
    // a peer that never reads must not keep a closed session's output alive forever
    this.socket.setTimeout(10_000, () => this.socket.destroy());
  }

  /** Closes at once, dropping queued output (server shutdown). */
  destroy(): void {
    this.closing = true;
    this.release();
    this.socket.destroy();
  }
}
