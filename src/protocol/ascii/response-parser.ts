/**
 * Incremental parser for text-protocol replies as a downstream memcached writes them: classic ASCII and
 * meta lines interleaved on one connection. It yields one unit (a line, plus its data block for VALUE and
 * VA) at a time; grouping units into whole replies is the caller's job, since only it knows what it asked.
 */
import { InputBuffer } from '../../util/input-buffer.ts';
import { constants as bufferConstants } from 'node:buffer';

export const TextResponseKind = {
  VALUE: 'VALUE',
  END: 'END',
  STORED: 'STORED',
  NOT_STORED: 'NOT_STORED',
  EXISTS: 'EXISTS',
  NOT_FOUND: 'NOT_FOUND',
  DELETED: 'DELETED',
  TOUCHED: 'TOUCHED',
  OK: 'OK',
  RESET: 'RESET',
  VERSION: 'VERSION',
  NUMBER: 'NUMBER',
  STAT: 'STAT',
  ITEM: 'ITEM',
  ERROR: 'ERROR',
  CLIENT_ERROR: 'CLIENT_ERROR',
  SERVER_ERROR: 'SERVER_ERROR',
  VA: 'VA',
  HD: 'HD',
  NF: 'NF',
  NS: 'NS',
  EX: 'EX',
  EN: 'EN',
  MN: 'MN',
  ME: 'ME',
  OTHER: 'OTHER',
} as const;
export type TextResponseKind = (typeof TextResponseKind)[keyof typeof TextResponseKind];

/** Kinds whose words after the first are split into `tokens`. */
export type TokenKind = 'STAT' | 'ITEM' | 'HD' | 'NF' | 'NS' | 'EX' | 'EN' | 'MN' | 'ME';
/** Kinds that carry nothing beyond their line. */
export type PlainKind = Exclude<TextResponseKind, 'VALUE' | 'VA' | 'NUMBER' | TokenKind>;

interface UnitBase {
  /** The reply line without its line end; a view into the received bytes, not a copy. */
  readonly line: Buffer;
  /** True when the line ended with a bare "\n" instead of "\r\n" (e.g. lru_crawler metadump lines). */
  readonly bareNewline: boolean;
}

/** "VALUE <key> <flags> <bytes>[ <cas>]" and its data block. */
export interface ValueResponse extends UnitBase {
  readonly kind: 'VALUE';
  /** The data block without its trailing "\r\n"; a view, copy it to keep it. */
  readonly data: Buffer;
  readonly key: Buffer;
  /** Whether the key is the bytes of `source` from `start` to `end` (all of it by default; no view made). */
  keyEquals(source: Uint8Array, start?: number, end?: number): boolean;
  readonly flags: number;
  readonly bytes: number;
  /** Present on gets/gats replies. */
  readonly cas: bigint | null;
  /**
   * The whole unit as received, "VALUE ...\r\n<data>\r\n", when it arrived in one piece (a view): a text
   * client can be sent exactly these bytes. Null when the unit straddled reads or its line ended in "\n".
   */
  readonly block: Buffer | null;
  /**
   * Where `block` lies, without making a view: its buffer (null when there is no block) and its range
   * there, for a writer that copies the bytes anyway.
   */
  readonly blockSource: Buffer | null;
  readonly blockStart: number;
  readonly blockEnd: number;
}

/** Meta "VA <size> <flags>*" and its data block. */
export interface VaResponse extends UnitBase {
  readonly kind: 'VA';
  readonly data: Buffer;
  readonly bytes: number;
  /** The flag tokens after the size, e.g. "c12", "kfoo", "O123", "b". */
  readonly tokens: readonly Buffer[];
}

/** An incr/decr result: a line of digits only. */
export interface NumberResponse extends UnitBase {
  readonly kind: 'NUMBER';
  readonly data: null;
  readonly number: bigint;
}

/** STAT/ITEM lines and meta status lines: the words after the first, e.g. STAT ["pid", "5546"]. */
export interface TokenResponse extends UnitBase {
  readonly kind: TokenKind;
  readonly data: null;
  readonly tokens: readonly Buffer[];
}

export interface PlainResponse extends UnitBase {
  readonly kind: PlainKind;
  readonly data: null;
}

export type TextResponse = ValueResponse | VaResponse | NumberResponse | TokenResponse | PlainResponse;

export const TextResponseErrorCode = {
  BAD_DATA_TERMINATOR: 'bad-data-terminator',
  LINE_TOO_LONG: 'line-too-long',
  VALUE_TOO_LARGE: 'value-too-large',
  BAD_VALUE_LINE: 'bad-value-line',
} as const;
export type TextResponseErrorCode = (typeof TextResponseErrorCode)[keyof typeof TextResponseErrorCode];

/** The stream cannot be framed any more; the connection must be closed. */
export class TextResponseError extends Error {
  readonly code: TextResponseErrorCode;

  constructor(code: TextResponseErrorCode, message: string) {
    super(message);
    this.name = 'TextResponseError';
    this.code = code;
  }
}

export interface TextResponseParserOptions {
  /** Longest accepted line, without its line end. Default 64 KiB. */
  maxLineLength?: number;
  /** Largest accepted VALUE/VA data block. Default: as large as a Buffer can be. */
  maxValueLength?: number;
  /**
   * Return every VALUE unit in one object that each VALUE line refills, valid only until the next call
   * of next(); for a caller that copies what it keeps. A multi-get reply is mostly VALUE units: the
   * proxy's multi-gets then allocate no object per value (bench mget: half of all it allocated).
   */
  reuseValueUnits?: boolean;
}

export const DEFAULT_MAX_LINE_LENGTH = 64 * 1024;

const CR = 0x0d;
const LF = 0x0a;
const SP = 0x20;
const ZERO = 0x30;
const NINE = 0x39;

const MAX_U64 = 0xffff_ffff_ffff_ffffn;
const MAX_U32 = 0xffff_ffff;
const LOW_SPLIT = 10n ** 15n;
// Blocks beyond this cannot be made contiguous, so "unlimited" still stops here.
const MAX_BLOCK = bufferConstants.MAX_LENGTH - 2;

const NO_TOKENS: readonly Buffer[] = Object.freeze([]);
const EMPTY = Buffer.alloc(0);

/**
 * One class behind every unit so they all share a hidden class: the caller's `switch (unit.kind)` and
 * field reads stay monomorphic. The exported union types expose only the fields each kind fills in.
 */
class Unit {
  kind: TextResponseKind;
  bareNewline: boolean;
  flags = 0;
  bytes = 0;
  cas: bigint | null = null;
  number: bigint | null = null;
  tokens: readonly Buffer[] = NO_TOKENS;
  // line, key, data and block are views made on demand from these offsets: a multi-get reply has
  // thousands of VALUE units, and a proxy forwarding them whole needs none of the views per unit.
  /** The buffer holding the line, and where the line (without its line end) lies in it. */
  private lineSource: Buffer;
  private lineStart: number;
  private lineEnd: number;
  private lineView: Buffer | null;
  /** Where the key lies in `lineSource` (keyEnd 0: no key). */
  keyStart = 0;
  keyEnd = 0;
  /** The buffer holding the data block (null: no block) and where the block starts in it. */
  source: Buffer | null = null;
  dataStart = 0;

  constructor(kind: TextResponseKind, source: Buffer, start: number, end: number, bareNewline: boolean) {
    this.kind = kind;
    this.lineSource = source;
    this.lineStart = start;
    this.lineEnd = end;
    this.lineView = start === 0 && end === source.length ? source : null;
    this.bareNewline = bareNewline;
  }

  /**
   * Makes this the unit of a new VALUE line: what valueLine does not set next (key, flags, bytes, cas)
   * is as the constructor leaves it. `number` and `tokens` are never set on a VALUE unit.
   */
  reuseAsValue(source: Buffer, start: number, end: number, bareNewline: boolean): void {
    this.lineSource = source;
    this.lineStart = start;
    this.lineEnd = end;
    this.lineView = start === 0 && end === source.length ? source : null;
    this.bareNewline = bareNewline;
    this.source = null;
    this.dataStart = 0;
  }

  get line(): Buffer {
    return (this.lineView ??= this.lineSource.subarray(this.lineStart, this.lineEnd));
  }

  get key(): Buffer | null {
    return this.keyEnd === 0 ? null : this.lineSource.subarray(this.keyStart, this.keyEnd);
  }

  keyEquals(source: Uint8Array, start = 0, end = source.length): boolean {
    const n = end - start;
    if (this.keyEnd - this.keyStart !== n) return false;
    const line = this.lineSource;
    const at = this.keyStart - start;
    for (let i = start; i < end; i++) if (line[at + i] !== source[i]) return false;
    return true;
  }

  get data(): Buffer | null {
    return this.source === null ? null : this.source.subarray(this.dataStart, this.dataStart + this.bytes);
  }

  get blockSource(): Buffer | null {
    // the line and its data one after the other in one buffer: the unit exactly as received
    const source = this.source;
    if (source !== this.lineSource || this.bareNewline || this.lineEnd + 2 !== this.dataStart) return null;
    return source;
  }

  get blockStart(): number {
    return this.lineStart;
  }

  get blockEnd(): number {
    return this.dataStart + this.bytes + 2;
  }

  get block(): Buffer | null {
    return this.blockSource?.subarray(this.blockStart, this.blockEnd) ?? null;
  }
}

function word(text: string, kind: TextResponseKind): readonly [Buffer, TextResponseKind] {
  return [Buffer.from(text, 'latin1'), kind];
}

// First words of three letters or more, bucketed by length so a line is compared with few candidates.
const WORDS_BY_LENGTH: ((readonly [Buffer, TextResponseKind])[] | undefined)[] = [];
for (const entry of [
  word('END', 'END'),
  word('STAT', 'STAT'),
  word('ITEM', 'ITEM'),
  word('VALUE', 'VALUE'),
  word('ERROR', 'ERROR'),
  word('RESET', 'RESET'),
  word('STORED', 'STORED'),
  word('EXISTS', 'EXISTS'),
  // memcached 1.6.18 answers a disabled "shutdown" with "ERROR: shutdown not enabled".
  word('ERROR:', 'ERROR'),
  word('DELETED', 'DELETED'),
  word('TOUCHED', 'TOUCHED'),
  word('VERSION', 'VERSION'),
  word('NOT_FOUND', 'NOT_FOUND'),
  word('NOT_STORED', 'NOT_STORED'),
  word('CLIENT_ERROR', 'CLIENT_ERROR'),
  word('SERVER_ERROR', 'SERVER_ERROR'),
]) {
  const len = entry[0].length;
  (WORDS_BY_LENGTH[len] ??= []).push(entry);
}

// Two-letter words compared as one 16-bit code.
function code2(text: string): number {
  return (text.charCodeAt(0) << 8) | text.charCodeAt(1);
}
const TWO_LETTER = new Map<number, TextResponseKind>([
  [code2('VA'), 'VA'],
  [code2('HD'), 'HD'],
  [code2('EN'), 'EN'],
  [code2('NF'), 'NF'],
  [code2('NS'), 'NS'],
  [code2('EX'), 'EX'],
  [code2('MN'), 'MN'],
  [code2('ME'), 'ME'],
  [code2('OK'), 'OK'],
]);

function sameWord(line: Buffer, word: Buffer, at = 0): boolean {
  for (let i = 0; i < word.length; i++) if (line[at + i] !== word[i]) return false;
  return true;
}

const V = 0x56;
const VALUE_WORD = Buffer.from('VALUE', 'latin1');

/** Splits the space-separated words of `line` from `from` on; runs of spaces count as one. */
function splitTokens(line: Buffer, from: number): readonly Buffer[] {
  const end = line.length;
  let i = from;
  while (i < end && line[i] === SP) i++;
  if (i === end) return NO_TOKENS;
  const out: Buffer[] = [];
  while (i < end) {
    const start = i;
    while (i < end && line[i] !== SP) i++;
    out.push(line.subarray(start, i));
    while (i < end && line[i] === SP) i++;
  }
  return out;
}

/** Parses an unsigned 64-bit decimal occupying exactly [start, end); null if not one. */
function parseU64(buf: Buffer, start: number, end: number): bigint | null {
  const len = end - start;
  if (len === 0 || len > 20) return null;
  // Up to 15 digits fit a double exactly; longer numbers are assembled from two exact halves.
  const split = len > 15 ? end - 15 : start;
  let high = 0;
  for (let i = start; i < split; i++) {
    const d = buf[i] - ZERO;
    if (d < 0 || d > 9) return null;
    high = high * 10 + d;
  }
  let low = 0;
  for (let i = split; i < end; i++) {
    const d = buf[i] - ZERO;
    if (d < 0 || d > 9) return null;
    low = low * 10 + d;
  }
  if (split === start) return BigInt(low);
  const value = BigInt(high) * LOW_SPLIT + BigInt(low);
  return value > MAX_U64 ? null : value;
}

/**
 * The text of a reply after its first word, e.g. the message of CLIENT_ERROR/SERVER_ERROR or the version
 * of VERSION ("" when there is none). Decodes latin1 so arbitrary bytes survive.
 */
export function replyText(reply: TextResponse): string {
  const line = reply.line;
  const sp = line.indexOf(SP);
  return sp === -1 ? '' : line.toString('latin1', sp + 1, line.length);
}

export class TextResponseParser {
  private readonly input = new InputBuffer();
  private readonly maxLineLength: number;
  private readonly maxValueLength: number;
  /** How far the current line has already been searched for "\n", so a slow line is scanned once. */
  private scanned = 0;
  /** A VALUE/VA whose line is consumed and whose data block has not fully arrived. */
  private pending: Unit | null = null;
  private failure: TextResponseError | null = null;
  /** End offset of the last number read by `digits` (a field, to return two results without allocating). */
  private cursor = 0;
  /** The VALUE unit every VALUE line refills, with reuseValueUnits; null: a new unit per line. */
  private readonly valueUnit: Unit | null;

  constructor(options: TextResponseParserOptions = {}) {
    this.maxLineLength = options.maxLineLength ?? DEFAULT_MAX_LINE_LENGTH;
    this.maxValueLength = Math.min(options.maxValueLength ?? MAX_BLOCK, MAX_BLOCK);
    this.valueUnit = options.reuseValueUnits === true ? new Unit('VALUE', EMPTY, 0, 0, false) : null;
  }

  push(chunk: Buffer): void {
    if (this.failure === null) this.input.push(chunk);
  }

  /** Bytes received and not yet returned in a unit (a pending VALUE line is no longer counted). */
  get buffered(): number {
    return this.input.length;
  }

  /** True while a unit has been started but not completed: a close now would truncate a reply. */
  get partial(): boolean {
    return this.pending !== null || this.input.length > 0;
  }

  /** The error that killed the parser, if any. */
  get error(): TextResponseError | null {
    return this.failure;
  }

  /** The next unit, null when more bytes are needed, or the error that makes the stream unusable. */
  next(): TextResponse | null | TextResponseError {
    if (this.failure !== null) return this.failure;
    if (this.pending !== null) return this.readData(this.pending);
    const input = this.input;
    const nl = input.indexOf(LF, this.scanned);
    if (nl === -1) {
      const held = input.length;
      // One byte of slack: the held bytes may end with the "\r" of a line exactly at the limit.
      if (held > this.maxLineLength + 1) {
        return this.fail('line-too-long', `reply line longer than ${this.maxLineLength} bytes`);
      }
      this.scanned = held;
      return null;
    }
    this.scanned = 0;
    input.ensure(nl + 1);
    const buf = input.buffer;
    const base = input.offset;
    let end = nl;
    let bare = true;
    if (nl > 0 && buf[base + nl - 1] === CR) {
      end = nl - 1;
      bare = false;
    }
    if (end > this.maxLineLength) {
      return this.fail('line-too-long', `reply line longer than ${this.maxLineLength} bytes`);
    }
    if (end > 6 && buf[base] === V && buf[base + 5] === SP && sameWord(buf, VALUE_WORD, base)) {
      // the bulk of a multi-get reply: parsed where it lies, no view of the line
      input.consume(nl + 1);
      return this.valueLine(buf, base, base + end, bare, base + 5);
    }
    const line = buf.subarray(base, base + end);
    input.consume(nl + 1);
    return this.classify(line, bare);
  }

  private fail(code: TextResponseErrorCode, message: string): TextResponseError {
    this.failure = new TextResponseError(code, message);
    this.input.clear();
    this.pending = null;
    return this.failure;
  }

  private classify(line: Buffer, bare: boolean): TextResponse | null | TextResponseError {
    const len = line.length;
    let w = 0;
    while (w < len && line[w] !== SP) w++;
    let kind: TextResponseKind = 'OTHER';
    if (w === 2) {
      kind = TWO_LETTER.get((line[0] << 8) | line[1]) ?? 'OTHER';
    } else if (w < WORDS_BY_LENGTH.length) {
      const candidates = WORDS_BY_LENGTH[w];
      if (candidates !== undefined) {
        for (const [text, k] of candidates) {
          if (sameWord(line, text)) {
            kind = k;
            break;
          }
        }
      }
    }
    if (kind === 'OTHER' && w === len) {
      const first = line[0];
      if (len > 0 && first >= ZERO && first <= NINE) {
        const number = parseU64(line, 0, len);
        if (number !== null) {
          const unit = new Unit('NUMBER', line, 0, len, bare);
          unit.number = number;
          return unit as TextResponse;
        }
      }
    }
    switch (kind) {
      case 'VALUE':
        return this.valueLine(line, 0, len, bare, w);
      case 'VA':
        return this.vaLine(line, bare);
      case 'STAT':
      case 'ITEM':
      case 'HD':
      case 'NF':
      case 'NS':
      case 'EX':
      case 'EN':
      case 'MN':
      case 'ME': {
        const unit = new Unit(kind, line, 0, len, bare);
        unit.tokens = splitTokens(line, w);
        return unit as TextResponse;
      }
      default:
        return new Unit(kind, line, 0, len, bare) as TextResponse;
    }
  }

  /**
   * Reads a run of decimal digits at `i` as a number, leaving its end in `cursor`. Returns -1 when there
   * is no digit or the run is not followed by a space or the end of the line; values past 2^53 return
   * Infinity (they can only be rejected).
   */
  private digits(line: Buffer, i: number, end: number): number {
    const start = i;
    let n = 0;
    while (i < end) {
      const d = line[i] - ZERO;
      if (d < 0 || d > 9) break;
      n = n * 10 + d;
      i++;
    }
    this.cursor = i;
    if (i === start || (i < end && line[i] !== SP)) return -1;
    return n > Number.MAX_SAFE_INTEGER ? Infinity : n;
  }

  private badLine(line: Buffer, start: number, end: number): TextResponseError {
    return this.fail(
      'bad-value-line',
      `malformed value line: ${line.toString('latin1', start, Math.min(end, start + 300))}`,
    );
  }

  /** "VALUE <key> <flags> <bytes> [<cas>]" at `start`..`end` of `line`; `w` is the space after VALUE. */
  private valueLine(
    line: Buffer,
    start: number,
    end: number,
    bare: boolean,
    w: number,
  ): TextResponse | null | TextResponseError {
    const len = end;
    let i = w;
    while (i < len && line[i] === SP) i++;
    const keyStart = i;
    while (i < len && line[i] !== SP) i++;
    const keyEnd = i;
    if (keyEnd === keyStart) return this.badLine(line, start, end);
    while (i < len && line[i] === SP) i++;
    const flags = this.digits(line, i, len);
    if (flags < 0 || flags > MAX_U32) return this.badLine(line, start, end);
    i = this.cursor;
    while (i < len && line[i] === SP) i++;
    const bytes = this.digits(line, i, len);
    if (bytes < 0) return this.badLine(line, start, end);
    i = this.cursor;
    while (i < len && line[i] === SP) i++;
    let cas: bigint | null = null;
    if (i < len) {
      const casStart = i;
      while (i < len && line[i] !== SP) i++;
      cas = parseU64(line, casStart, i);
      while (i < len && line[i] === SP) i++;
      if (cas === null || i < len) return this.badLine(line, start, end);
    }
    if (bytes > this.maxValueLength) {
      return this.fail('value-too-large', `VALUE of ${bytes} bytes exceeds ${this.maxValueLength}`);
    }
    let unit = this.valueUnit;
    if (unit === null) unit = new Unit('VALUE', line, start, end, bare);
    else unit.reuseAsValue(line, start, end, bare);
    unit.keyStart = keyStart;
    unit.keyEnd = keyEnd;
    unit.flags = flags;
    unit.bytes = bytes;
    unit.cas = cas;
    return this.readData(unit);
  }

  private vaLine(line: Buffer, bare: boolean): TextResponse | null | TextResponseError {
    let i = 2;
    while (i < line.length && line[i] === SP) i++;
    const bytes = this.digits(line, i, line.length);
    if (bytes < 0) return this.badLine(line, 0, line.length);
    if (bytes > this.maxValueLength) {
      return this.fail('value-too-large', `VA of ${bytes} bytes exceeds ${this.maxValueLength}`);
    }
    const unit = new Unit('VA', line, 0, line.length, bare);
    unit.bytes = bytes;
    unit.tokens = splitTokens(line, this.cursor);
    return this.readData(unit);
  }

  /** Completes `unit` with its data block when all of it and its "\r\n" are held. */
  private readData(unit: Unit): TextResponse | null | TextResponseError {
    const input = this.input;
    const need = unit.bytes + 2;
    if (!input.ensure(need)) {
      this.pending = unit;
      return null;
    }
    const buf = input.buffer;
    const at = input.offset + unit.bytes;
    if (buf[at] !== CR || buf[at + 1] !== LF) {
      return this.fail(
        'bad-data-terminator',
        `${unit.kind} data block of ${unit.bytes} bytes not followed by \\r\\n`,
      );
    }
    unit.source = buf;
    unit.dataStart = input.offset;
    input.consume(need);
    this.pending = null;
    return unit as TextResponse;
  }
}
