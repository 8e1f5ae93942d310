/**
 * Incremental binary frame parser for one connection direction (requests or responses), resumable at any
 * byte boundary. Its checks and their order follow memcached 1.6.18's try_read_command_binary and
 * dispatch_bin_command, including swallowing oversized values without buffering them and ending a request
 * where memcached stops reading it (`bodyLengthRead`), which its header's body length may overstate.
 */
import { InputBuffer, PARTS_MIN } from '../../util/input-buffer.ts';
import { createHeader, decodeHeader, HEADER_LENGTH, readCas, type BinaryHeader } from './header.ts';
import { Magic } from './opcodes.ts';
import { bodyLengthRead } from './shape.ts';

export interface BinaryParserOptions {
  /** The magic byte every frame must start with: 0x80 to read requests, 0x81 to read responses. */
  readonly magic: 0x80 | 0x81;
  /**
   * Largest value (bodyLength - extras - key) returned whole. A larger one is returned early with
   * `valueTruncated` and its bytes are then dropped as they arrive. Default: no limit.
   */
  readonly maxBodyLength?: number;
}

/**
 * One parsed frame. Every `next()` returns a new object that the caller may keep. The Buffers are views
 * (no copy) into the chunks given to `push()`, or into one joined copy when the frame straddled chunks,
 * so they stay valid as long as those chunks are not modified — but a kept view also keeps its whole
 * chunk alive: copy `value` before storing it for long.
 */
export interface BinaryPacket extends Readonly<BinaryHeader> {
  /** The whole frame as received; when `valueTruncated`, only header + extras + key. */
  readonly frame: Buffer;
  /** At least header, extras and key, contiguous (often the whole frame): read fixed fields here. */
  readonly head: Buffer;
  readonly extras: Buffer;
  readonly key: Buffer;
  /** Empty when `valueTruncated`. */
  readonly value: Buffer;
  /**
   * A large value that arrived over several reads, as views of them in order; null otherwise. A reader
   * that can pass the pieces on avoids joining them: `frame` and `value` join on first use.
   */
  readonly valueParts: readonly Buffer[] | null;
  /** bodyLength - extrasLength - keyLength, also when the value was not kept. */
  readonly valueLength: number;
  /** The value exceeded `maxBodyLength`; the parser is discarding its bytes. */
  readonly valueTruncated: boolean;
}

export type BinaryParseErrorCode = 'bad-magic' | 'bad-lengths';

/**
 * A stream that cannot be parsed further. memcached closes on 'bad-magic' without answering, and answers
 * 'bad-lengths' (keyLength + extrasLength > bodyLength) with UNKNOWN_COMMAND echoing the opcode and
 * opaque carried here, then closes.
 */
export class BinaryParseError extends Error {
  override readonly name = 'BinaryParseError';
  readonly code: BinaryParseErrorCode;
  readonly magic: number;
  readonly opcode: number;
  readonly opaque: number;
  readonly keyLength: number;
  readonly extrasLength: number;
  readonly bodyLength: number;

  constructor(code: BinaryParseErrorCode, message: string, h: Readonly<BinaryHeader>) {
    super(message);
    this.code = code;
    this.magic = h.magic;
    this.opcode = h.opcode;
    this.opaque = h.opaque;
    this.keyLength = h.keyLength;
    this.extrasLength = h.extrasLength;
    this.bodyLength = h.bodyLength;
  }
}

const EMPTY = Buffer.alloc(0);

// What next() is waiting for.
const HEADER = 0;
const PREFIX = 1; // header + extras + key: memcached checks lengths only once these are all in
const FRAME = 2;
const DISCARD = 3;
const DEAD = 4;
type State = typeof HEADER | typeof PREFIX | typeof FRAME | typeof DISCARD | typeof DEAD;

export class BinaryParser {
  private readonly input = new InputBuffer();
  private readonly magic: number;
  private readonly maxBodyLength: number;
  private readonly header: BinaryHeader = createHeader();
  private state: State = HEADER;
  /** Bytes still to drop, from a truncated value or `swallow()`. */
  private toDiscard = 0;
  private error: BinaryParseError | null = null;
  /**
   * The frame last returned lies in a buffer the parser allocated for it alone (it straddled chunks), so
   * its value may be kept without copying; otherwise its views share a socket chunk.
   */
  lastFrameOwned = false;

  constructor(options: BinaryParserOptions) {
    this.magic = options.magic;
    this.maxBodyLength = options.maxBodyLength ?? Infinity;
  }

  push(chunk: Buffer): void {
    if (this.state === DEAD) return;
    if (this.toDiscard > 0) {
      // Drop before buffering so a huge swallowed body never accumulates, even if next() is not called.
      // Anything held was already dropped when discarding began, so the chunk is next in line.
      const n = Math.min(this.toDiscard, chunk.length);
      this.toDiscard -= n;
      if (n === chunk.length) return;
      chunk = chunk.subarray(n);
    }
    this.input.push(chunk);
  }

  /** Unconsumed bytes held (excluding any being discarded). */
  get bufferedLength(): number {
    return this.input.length;
  }

  /**
   * True while the parser holds a frame's header, extras and key and waits for (or drops) its value:
   * memcached, reading a value there, sends no replies until the value is complete.
   */
  get inValue(): boolean {
    return this.state === FRAME || this.state === DISCARD;
  }

  /**
   * Bytes still to come of a frame whose header, extras and key are held and whose value is large
   * enough to be returned in pieces (`valueParts`): every one of them is value. 0 otherwise. A reader
   * may read them into memory of their own (ReadBuffer.expectValue).
   */
  get pendingValueBytes(): number {
    if (this.state !== FRAME) return 0;
    const h = this.header;
    if (h.bodyLength - h.extrasLength - h.keyLength < PARTS_MIN) return 0;
    return Math.max(0, HEADER_LENGTH + h.bodyLength - this.input.length);
  }

  /** Bytes of a truncated value or a `swallow()` not yet received and dropped. */
  get discardingLength(): number {
    return this.toDiscard;
  }

  /**
   * Drops the next `n` input bytes, held or yet to come, before the next frame — memcached's
   * conn_swallow. Call it right after `next()` returned a packet, before asking for the next one; mid-frame
   * it throws, since dropping bytes there would desynchronise the stream.
   */
  swallow(n: number): void {
    if (this.state === DEAD || n <= 0) return;
    if (this.state === PREFIX || this.state === FRAME)
      throw new Error('BinaryParser.swallow() called mid-frame');
    this.toDiscard += n - this.input.discard(n);
    if (this.state === HEADER && this.toDiscard > 0) this.state = DISCARD;
  }

  /** The next frame, null when more bytes are needed, or the error that ended the stream (again and again). */
  next(): BinaryPacket | BinaryParseError | null {
    const input = this.input;
    const h = this.header;
    for (;;) {
      switch (this.state) {
        case HEADER: {
          if (input.length < HEADER_LENGTH) return null;
          input.ensure(HEADER_LENGTH);
          // the cas is read from the frame when asked for: most replies' cas is never looked at, and a
          // non-zero one costs a BigInt
          decodeHeader(input.buffer, input.offset, h, false);
          if (h.magic !== this.magic) {
            return this.fail('bad-magic', `invalid magic byte 0x${h.magic.toString(16)}`);
          }
          this.state = PREFIX;
          continue;
        }
        case PREFIX: {
          const prefixLength = HEADER_LENGTH + h.extrasLength + h.keyLength;
          if (input.length < prefixLength) return null;
          if (h.extrasLength + h.keyLength > h.bodyLength) {
            return this.fail(
              'bad-lengths',
              `key length ${h.keyLength} + extras length ${h.extrasLength} exceed body length ${h.bodyLength}`,
            );
          }
          // a request ends where memcached stops reading it; what its body length claims beyond that is
          // the next request
          if (this.magic === Magic.Request) h.bodyLength = bodyLengthRead(h);
          const valueLength = h.bodyLength - h.extrasLength - h.keyLength;
          if (valueLength <= this.maxBodyLength) {
            this.state = FRAME;
            continue;
          }
          input.ensure(prefixLength);
          this.lastFrameOwned = false;
          const prefix = input.take(prefixLength);
          this.toDiscard = valueLength - input.discard(valueLength);
          this.state = this.toDiscard > 0 ? DISCARD : HEADER;
          return new ParsedPacket(this.header, prefix, prefix, null, valueLength, true);
        }
        case FRAME: {
          const frameLength = HEADER_LENGTH + h.bodyLength;
          if (input.length < frameLength) return null;
          const valueLength = h.bodyLength - h.extrasLength - h.keyLength;
          if (valueLength >= PARTS_MIN && input.contiguousLength < frameLength) {
            // a large value in several reads: its pieces are kept as they came, not copied into one
            const prefixLength = frameLength - valueLength;
            input.ensure(prefixLength);
            const head = input.take(prefixLength);
            const parts = input.takeParts(valueLength);
            this.state = HEADER;
            // frame and value, joined when asked for, are then in a buffer of their own
            this.lastFrameOwned = true;
            return new ParsedPacket(this.header, null, head, parts, valueLength, false);
          }
          input.ensure(frameLength);
          const owned = input.ownsNext(frameLength);
          const frame = input.take(frameLength);
          this.state = HEADER;
          this.lastFrameOwned = owned;
          return new ParsedPacket(this.header, frame, frame, null, valueLength, false);
        }
        case DISCARD: {
          // push() drops the bytes as they come, so there is nothing held to drop here.
          if (this.toDiscard > 0) return null;
          this.state = HEADER;
          continue;
        }
        case DEAD:
          return this.error;
      }
    }
  }

  private fail(code: BinaryParseErrorCode, message: string): BinaryParseError {
    const error = new BinaryParseError(code, message, this.header);
    this.error = error;
    this.state = DEAD;
    this.toDiscard = 0;
    this.input.clear();
    return error;
  }
}

/**
 * A parsed packet. `extras`, `key`, `value` and `cas` are made on first use: a proxy forwarding a reply
 * often needs none of them, and each is an allocation on the hot path. A packet with `valueParts` joins
 * its frame only when `frame` or `value` is asked for.
 */
class ParsedPacket implements BinaryPacket {
  readonly magic: number;
  readonly opcode: number;
  readonly keyLength: number;
  readonly extrasLength: number;
  readonly dataType: number;
  readonly vbucket: number;
  readonly status: number;
  readonly bodyLength: number;
  readonly opaque: number;
  readonly head: Buffer;
  readonly valueParts: readonly Buffer[] | null;
  readonly valueLength: number;
  readonly valueTruncated: boolean;
  private frameBytes: Buffer | null;
  private valueView: Buffer | null = null;
  private extrasView: Buffer | null = null;
  private keyView: Buffer | null = null;
  private casValue: bigint | null = null;

  constructor(
    h: Readonly<BinaryHeader>,
    frame: Buffer | null,
    head: Buffer,
    valueParts: readonly Buffer[] | null,
    valueLength: number,
    truncated: boolean,
  ) {
    this.magic = h.magic;
    this.opcode = h.opcode;
    this.keyLength = h.keyLength;
    this.extrasLength = h.extrasLength;
    this.dataType = h.dataType;
    this.vbucket = h.vbucket;
    this.status = h.status;
    this.bodyLength = h.bodyLength;
    this.opaque = h.opaque;
    this.frameBytes = frame;
    this.head = head;
    this.valueParts = valueParts;
    this.valueLength = valueLength;
    this.valueTruncated = truncated;
  }

  get frame(): Buffer {
    if (this.frameBytes === null) {
      const joined = Buffer.allocUnsafeSlow(this.head.length + this.valueLength);
      let at = this.head.copy(joined, 0);
      for (const part of this.valueParts!) at += part.copy(joined, at);
      this.frameBytes = joined;
    }
    return this.frameBytes;
  }

  get value(): Buffer {
    if (this.valueView === null) {
      const frame = this.frame;
      this.valueView = this.valueTruncated ? EMPTY : frame.subarray(frame.length - this.valueLength);
    }
    return this.valueView;
  }

  get cas(): bigint {
    return (this.casValue ??= readCas(this.head, 0));
  }

  get extras(): Buffer {
    return (this.extrasView ??= this.head.subarray(HEADER_LENGTH, HEADER_LENGTH + this.extrasLength));
  }

  get key(): Buffer {
    const start = HEADER_LENGTH + this.extrasLength;
    return (this.keyView ??= this.head.subarray(start, start + this.keyLength));
  }
}
