/**
 * Incremental parser for text-protocol requests (classic and meta commands), framed exactly as memcached
 * 1.6 frames them: a line up to "\n" (a "\r" before it is dropped), split on spaces, and for storage
 * commands and `ms` a data block of the declared length plus two terminator bytes.
 *
 * The parser decides only what memcached decides before it reads a data block (token counts, key length,
 * number syntax), because that decides whether the next bytes are data or the next command. Everything
 * else (answers, side effects) belongs to whoever consumes the requests.
 */
import { InputBuffer, PARTS_MIN } from '../../util/input-buffer.ts';
import { Command, isStorageCommand, lookupCommand } from './commands.ts';
import { parseInt32, parseUint32, parseUint64 } from './numbers.ts';

export const KEY_MAX_LENGTH = 250;

/** memcached tokenizes at most this many tokens at once (MAX_TOKENS, incl. its terminal token). */
export const MAX_TOKENS = 24;

/** memcached closes a connection holding this many bytes without a newline, unless it is a get line. */
export const NO_NEWLINE_LIMIT = 2048;

/**
 * memcached reads non-get lines into a fixed 16 KiB buffer (READ_BUFFER_SIZE), so a longer line can never
 * be complete there and the connection is closed.
 */
export const READ_BUFFER_SIZE = 16384;

/** The most bytes we buffer for one multi-get line; memcached grows without bound, we do not. */
export const DEFAULT_MAX_LINE_LENGTH = 8 * 1024 * 1024;

/** An `ms` line may carry at most this many tokens (memcached's MFLAG_MAX_OPT_LENGTH). */
export const META_MAX_TOKENS = 20;

const INT_MAX = 0x7fffffff;

export const DataStatus = {
  /** The request has no data block. */
  None: 0,
  /** The data block arrived and ended with "\r\n". */
  Ok: 1,
  /** The data block arrived but its last two bytes were not "\r\n" (memcached: bad data chunk). */
  BadChunk: 2,
  /** The block is larger than the parser buffers; its bytes are being discarded as they arrive. */
  Swallowed: 3,
} as const;
export type DataStatus = (typeof DataStatus)[keyof typeof DataStatus];

/**
 * One parsed request. The parser reuses a single instance: it is valid until the next call to next().
 * Token i spans line[tokenStart[i], tokenEnd[i]).
 */
export class TextRequest {
  command: Command = Command.Unknown;
  /** The buffer holding the line (and usually more); offsets below index into it. */
  line: Buffer = Buffer.alloc(0);
  lineStart = 0;
  /** End of the line's content: the terminator ("\r\n" or "\n") and anything after a NUL excluded. */
  lineEnd = 0;
  /** End of the line including its terminator, for forwarding the request verbatim. */
  rawEnd = 0;
  tokenStart = new Int32Array(32);
  tokenEnd = new Int32Array(32);
  /** Every space-separated token of the line, not capped at memcached's 24. */
  tokenCount = 0;
  /** Storage line fields, valid when `storageValid`. */
  storageValid = false;
  flags = 0;
  exptime = 0;
  /** Declared data length (without the two terminator bytes). */
  dataLength = 0;
  casUnique = 0n;
  dataStatus: DataStatus = DataStatus.None;
  /**
   * A large data block (PARTS_MIN or more) that arrived over several reads, without its
   * terminator, as views of those reads in order; null otherwise. A consumer that can pass the pieces
   * on (the proxy) avoids joining them; `data` joins them on first use.
   */
  dataParts: readonly Buffer[] | null = null;
  private dataView: Buffer | null = null;
  private dataJoined = false;

  /** The data block without its terminator, zero-copy; null unless dataStatus is Ok or BadChunk. */
  get data(): Buffer | null {
    const parts = this.dataParts;
    if (this.dataView === null && parts !== null) {
      this.dataView = Buffer.concat(parts, this.dataLength);
      this.dataJoined = true;
    }
    return this.dataView;
  }

  /**
   * `data` lies in a buffer the parser allocated for this block alone (it straddled socket chunks), so a
   * consumer may keep it without copying; otherwise it is a view into a shared socket chunk.
   */
  get dataOwned(): boolean {
    return this.dataJoined;
  }

  /** Bytes of data block held: dataLength when there is one (whole or in pieces), else 0. */
  get heldDataLength(): number {
    return this.dataView !== null || this.dataParts !== null ? this.dataLength : 0;
  }

  /** @internal The parser's: the block (or none), or its pieces. */
  setData(view: Buffer | null, owned: boolean, parts: readonly Buffer[] | null = null): void {
    this.dataView = view;
    this.dataJoined = owned;
    this.dataParts = parts;
  }

  /**
   * memcached's ntokens: real tokens capped at 23, plus its terminal token. Command shape checks
   * (WANT_TOKENS...) compare against this.
   */
  get ntokens(): number {
    return Math.min(this.tokenCount, MAX_TOKENS - 1) + 1;
  }

  tokenLength(i: number): number {
    return this.tokenEnd[i] - this.tokenStart[i];
  }

  tokenEquals(i: number, word: Buffer): boolean {
    const s = this.tokenStart[i];
    const len = this.tokenEnd[i] - s;
    if (len !== word.length) return false;
    for (let j = 0; j < len; j++) if (this.line[s + j] !== word[j]) return false;
    return true;
  }

  token(i: number): Buffer {
    return this.line.subarray(this.tokenStart[i], this.tokenEnd[i]);
  }

  tokenString(i: number): string {
    return this.line.toString('latin1', this.tokenStart[i], this.tokenEnd[i]);
  }

  lineString(): string {
    return this.line.toString('latin1', this.lineStart, this.lineEnd);
  }

  /** The bytes of the request line as received, terminator included. */
  rawLine(): Buffer {
    return this.line.subarray(this.lineStart, this.rawEnd);
  }

  private grow(): void {
    const starts = new Int32Array(this.tokenStart.length * 2);
    starts.set(this.tokenStart);
    const ends = new Int32Array(this.tokenEnd.length * 2);
    ends.set(this.tokenEnd);
    this.tokenStart = starts;
    this.tokenEnd = ends;
  }

  /** @internal Split line[start, end) on spaces, stopping at a NUL as memcached's strlen() does. */
  tokenize(buf: Buffer, start: number, end: number): void {
    let count = 0;
    let tokenBegin = -1;
    let i = start;
    for (; i < end; i++) {
      const b = buf[i];
      if (b === 0x20) {
        if (tokenBegin !== -1) {
          if (count === this.tokenStart.length) this.grow();
          this.tokenStart[count] = tokenBegin;
          this.tokenEnd[count] = i;
          count++;
          tokenBegin = -1;
        }
      } else if (b === 0) {
        break;
      } else if (tokenBegin === -1) {
        tokenBegin = i;
      }
    }
    if (tokenBegin !== -1) {
      if (count === this.tokenStart.length) this.grow();
      this.tokenStart[count] = tokenBegin;
      this.tokenEnd[count] = i;
      count++;
    }
    this.line = buf;
    this.lineStart = start;
    this.lineEnd = i;
    this.tokenCount = count;
  }
}

export const TextParseErrorCode = {
  /** No newline within memcached's limit: memcached closes the connection without a reply. */
  LineTooLong: 'line-too-long',
} as const;

export interface TextParseError {
  readonly error: (typeof TextParseErrorCode)[keyof typeof TextParseErrorCode];
}

const LINE_TOO_LONG: TextParseError = { error: TextParseErrorCode.LineTooLong };

/** The `k`th byte from the end of the pieces (1: the last), or -1. */
function byteFromEnd(parts: readonly Buffer[], k: number): number {
  for (let i = parts.length - 1; i >= 0; i--) {
    const part = parts[i];
    if (k <= part.length) return part[part.length - k];
    k -= part.length;
  }
  return -1;
}

/** Drops the last `n` bytes of the pieces (the terminator), and any piece left empty. */
function dropLast(parts: Buffer[], n: number): void {
  while (n > 0) {
    const last = parts[parts.length - 1];
    if (last.length <= n) {
      parts.pop();
      n -= last.length;
    } else {
      parts[parts.length - 1] = last.subarray(0, last.length - n);
      n = 0;
    }
  }
}

export interface TextRequestParserOptions {
  /** Data blocks longer than this (terminator included) are discarded instead of buffered. */
  maxDataLength: number;
  /** Longest get line buffered before the connection is given up. */
  maxLineLength?: number;
}

const GET_SPACE = Buffer.from('get ');
const GETS_SPACE = Buffer.from('gets ');

export class TextRequestParser {
  private readonly input = new InputBuffer();
  private readonly request = new TextRequest();
  private readonly maxDataLength: number;
  private readonly maxLineLength: number;
  /** Bytes of the current line already searched for a newline. */
  private scanned = 0;
  /** Bytes of data still to discard. */
  private swallowing = 0;
  /** A request whose line is parsed and whose data block has not fully arrived. */
  private awaitingData = false;
  private failed: TextParseError | null = null;

  constructor(options: TextRequestParserOptions) {
    this.maxDataLength = options.maxDataLength;
    this.maxLineLength = options.maxLineLength ?? DEFAULT_MAX_LINE_LENGTH;
  }

  push(chunk: Buffer): void {
    if (this.failed !== null) return;
    this.input.push(chunk);
  }

  /** Bytes received and not yet turned into requests. */
  get buffered(): number {
    return this.input.length;
  }

  /** True while the parser is inside a data block (its bytes are data, not commands). */
  get inData(): boolean {
    return this.awaitingData || this.swallowing > 0;
  }

  /**
   * Starts discarding `n` bytes, as memcached's conn_swallow does after it refuses a data block it did not
   * expect the parser to refuse (e.g. an item that is too large once its key and flags are counted).
   */
  swallow(n: number): void {
    this.swallowing += n;
  }

  /** The next request, null when more bytes are needed, or an error after which the parser is dead. */
  next(): TextRequest | TextParseError | null {
    if (this.failed !== null) return this.failed;
    if (this.swallowing > 0) {
      this.swallowing -= this.input.discard(this.swallowing);
      if (this.swallowing > 0) return null;
    }
    if (this.awaitingData) return this.readData();
    return this.readLine();
  }

  private readLine(): TextRequest | TextParseError | null {
    const input = this.input;
    const nl = input.indexOf(0x0a, this.scanned);
    if (nl === -1) {
      this.scanned = input.length;
      if (input.length > NO_NEWLINE_LIMIT && !this.mayBeLongGet()) return this.fail(LINE_TOO_LONG);
      if (input.length > this.maxLineLength) return this.fail(LINE_TOO_LONG);
      return null;
    }
    this.scanned = 0;
    if (nl >= READ_BUFFER_SIZE && !this.mayBeLongGet()) return this.fail(LINE_TOO_LONG);
    input.ensure(nl + 1);
    const buf = input.buffer;
    const start = input.offset;
    let end = start + nl;
    if (nl > 1 && buf[end - 1] === 0x0d) end--;
    const req = this.request;
    req.tokenize(buf, start, end);
    req.rawEnd = start + nl + 1;
    input.consume(nl + 1);
    req.command =
      req.tokenCount === 0 ? Command.Unknown : lookupCommand(buf, req.tokenStart[0], req.tokenEnd[0]);
    req.dataStatus = DataStatus.None;
    req.setData(null, false);
    req.storageValid = false;

    const blockLength = this.dataBlockLength(req);
    if (blockLength < 0) return req;
    if (blockLength > this.maxDataLength) {
      req.dataStatus = DataStatus.Swallowed;
      this.swallowing = blockLength;
      this.swallowing -= input.discard(this.swallowing);
      return req;
    }
    this.awaitingData = true;
    return this.readData();
  }

  private readData(): TextRequest | null {
    const req = this.request;
    const input = this.input;
    const blockLength = req.dataLength + 2;
    if (input.length < blockLength) return null;
    this.awaitingData = false;
    if (req.dataLength >= PARTS_MIN && input.contiguousLength < blockLength) {
      // a large value in several reads: its pieces are kept as they came, not copied into one
      const parts = input.takeParts(blockLength);
      const terminated = byteFromEnd(parts, 2) === 0x0d && byteFromEnd(parts, 1) === 0x0a;
      dropLast(parts, 2);
      req.setData(null, false, parts);
      req.dataStatus = terminated ? DataStatus.Ok : DataStatus.BadChunk;
      return req;
    }
    input.ensure(blockLength);
    const owned = input.ownsNext(blockLength);
    const block = input.take(blockLength);
    req.setData(block.subarray(0, req.dataLength), owned);
    req.dataStatus =
      block[blockLength - 2] === 0x0d && block[blockLength - 1] === 0x0a
        ? DataStatus.Ok
        : DataStatus.BadChunk;
    return req;
  }

  /**
   * The length of the data block (terminator included) that follows this line, or -1 when none does.
   * Mirrors the checks memcached makes before it switches to reading data (process_update_command,
   * process_mset_command); a line that fails them is answered and the next bytes are a new command.
   */
  private dataBlockLength(req: TextRequest): number {
    const cmd = req.command;
    if (isStorageCommand(cmd)) {
      const nt = req.ntokens;
      const isCas = cmd === Command.Cas;
      if (isCas ? nt !== 7 && nt !== 8 : nt !== 6 && nt !== 7) return -1;
      if (req.tokenLength(1) > KEY_MAX_LENGTH) return -1;
      const buf = req.line;
      const s = req.tokenStart;
      const e = req.tokenEnd;
      const flags = parseUint32(buf, s[2], e[2]);
      const exptime = flags === undefined ? undefined : parseInt32(buf, s[3], e[3]);
      const vlen = exptime === undefined ? undefined : parseInt32(buf, s[4], e[4]);
      if (flags === undefined || exptime === undefined || vlen === undefined) return -1;
      if (isCas) {
        const cas = parseUint64(buf, s[5], e[5]);
        if (cas === undefined) return -1;
        req.casUnique = cas;
      } else {
        req.casUnique = 0n;
      }
      if (vlen < 0 || vlen > INT_MAX - 2) return -1;
      req.flags = flags;
      req.exptime = exptime;
      req.dataLength = vlen;
      req.storageValid = true;
      return vlen + 2;
    }
    if (cmd === Command.MetaSet) {
      const nt = req.ntokens;
      if (nt < 4 || nt > META_MAX_TOKENS) return -1;
      if (req.tokenLength(1) > KEY_MAX_LENGTH) return -1;
      const vlen = parseInt32(req.line, req.tokenStart[2], req.tokenEnd[2]);
      if (vlen === undefined || vlen < 0 || vlen > INT_MAX - 2) return -1;
      req.dataLength = vlen;
      req.storageValid = true;
      return vlen + 2;
    }
    return -1;
  }

  /** memcached keeps reading a line without a newline only if it is a get/gets (after <= 100 spaces). */
  private mayBeLongGet(): boolean {
    const input = this.input;
    const probe = Math.min(input.length, 101 + GETS_SPACE.length);
    input.ensure(probe);
    let i = 0;
    while (i < probe && input.byteAt(i) === 0x20) i++;
    if (i > 100) return false;
    return startsWith(input, i, probe, GET_SPACE) || startsWith(input, i, probe, GETS_SPACE);
  }

  private fail(error: TextParseError): TextParseError {
    this.failed = error;
    this.input.clear();
    return error;
  }
}

function startsWith(input: InputBuffer, at: number, limit: number, word: Buffer): boolean {
  if (at + word.length > limit) return false;
  for (let j = 0; j < word.length; j++) if (input.byteAt(at + j) !== word[j]) return false;
  return true;
}

export function isParseError(r: TextRequest | TextParseError | null): r is TextParseError {
  return r !== null && 'error' in r;
}
