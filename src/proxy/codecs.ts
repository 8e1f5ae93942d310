/**
 * How each keyed text command travels downstream and how its reply comes back:
 *   a2b  ASCII client, binary server: moxi's A2BSpec table (opcode, quiet opcode, extras) and its reply
 *        mapping (moxi-spec §6.3), with `touch` answered TOUCHED;
 *   a2a  ASCII client, ASCII server: the client's own bytes, minus noreply, and the server's reply line;
 *   meta commands always go to a text connection as written (with q, an mn marks where the reply ends).
 * Codecs capture what they need from the request at once: the parser reuses its request object.
 */
import { HEADER_LENGTH, writeHeader } from '../protocol/binary/header.ts';
import { Magic, Opcode, Status } from '../protocol/binary/opcodes.ts';
import type { TextRequest } from '../protocol/ascii/request-parser.ts';
import type { TextResponse } from '../protocol/ascii/response-parser.ts';
import { ProxyError, type A2bErrorTexts } from '../protocol/wire-errors.ts';
import { MORE_UNITS, type KeyedCodec } from './keyed.ts';
import type { Reply } from './request.ts';
import type { OutputQueue } from '../util/output-queue.ts';
import type { StoreVerb } from './classify.ts';
import { REALTIME_MAXDELTA } from '../server/clock.ts';
import { positiveExptime } from '../server/exptime.ts';

const CRLF = '\r\n';
const CRLF_BUFFER = Buffer.from(CRLF);

/**
 * An ASCII exptime for a binary server. memcached's text protocol expires negative exptimes at once;
 * the binary protocol reads the field as unsigned, so -1 would mean the year 2106. One second past the
 * 30-day boundary is an absolute time in 1970: expired, as the client meant.
 */
export function binaryExptime(exptime: number): number {
  return positiveExptime(exptime);
}

/**
 * Whether a gat with `exptime` leaves the item expired once touched: a negative exptime, or an
 * absolute one not in the future (by `nowSeconds`, this host's clock; memcached's may differ at the
 * edge of a second). memcached still returns the item to that touch.
 */
export function touchExpiresItem(exptime: number, nowSeconds: number): boolean {
  return exptime < 0 || (exptime > REALTIME_MAXDELTA && exptime <= nowSeconds);
}

/** Header, extras and key of a binary request in one buffer; the value (if any) travels separately. */
export function binaryHead(
  opcode: number,
  opaque: number,
  vbucket: number,
  key: Buffer,
  extras: Buffer | null,
  valueLength: number,
  cas: bigint,
): Buffer {
  const head = Buffer.allocUnsafe(HEADER_LENGTH + (extras === null ? 0 : extras.length) + key.length);
  writeHeadAt(head, 0, opcode, opaque, vbucket, key, 0, key.length, extras, valueLength, cas);
  return head;
}

/**
 * binaryHead (with cas 0) written straight into a connection's output; the key is bytes `keyStart` to
 * `keyEnd` of `keySource` (a get's key where its command line lies: no view of it is made).
 */
export function writeBinaryHead(
  out: OutputQueue,
  opcode: number,
  opaque: number,
  vbucket: number,
  keySource: Uint8Array,
  keyStart: number,
  keyEnd: number,
  extras: Buffer | null,
  valueLength: number,
): void {
  const at = out.reserve(HEADER_LENGTH + (extras === null ? 0 : extras.length) + keyEnd - keyStart);
  const buf = out.scratchBuffer;
  writeHeadAt(buf, at, opcode, opaque, vbucket, keySource, keyStart, keyEnd, extras, valueLength, 0n);
}

function writeHeadAt(
  buf: Buffer,
  at: number,
  opcode: number,
  opaque: number,
  vbucket: number,
  keySource: Uint8Array,
  keyStart: number,
  keyEnd: number,
  extras: Buffer | null,
  valueLength: number,
  cas: bigint,
): void {
  const extrasLength = extras === null ? 0 : extras.length;
  const keyLength = keyEnd - keyStart;
  const bodyLength = extrasLength + keyLength + valueLength;
  writeHeader(buf, at, Magic.Request, opcode, keyLength, extrasLength, 0, vbucket, bodyLength, opaque, cas);
  if (extras !== null) extras.copy(buf, at + HEADER_LENGTH);
  // keys are short: a loop beats Buffer#copy's native call
  const keyAt = at + HEADER_LENGTH + extrasLength - keyStart;
  for (let i = keyStart; i < keyEnd; i++) buf[keyAt + i] = keySource[i];
}

const STORE_OPCODES: Record<StoreVerb, readonly [loud: number, quiet: number]> = {
  set: [Opcode.SET, Opcode.SETQ],
  add: [Opcode.ADD, Opcode.ADDQ],
  replace: [Opcode.REPLACE, Opcode.REPLACEQ],
  append: [Opcode.APPEND, Opcode.APPENDQ],
  prepend: [Opcode.PREPEND, Opcode.PREPENDQ],
  cas: [Opcode.SET, Opcode.SETQ],
};

function line(text: string): string {
  return text + CRLF;
}

/** A CAS no item can have: a DELETE carrying it changes nothing and tells whether the key exists. */
const IMPOSSIBLE_CAS = 0xffffffffffffffffn;

/**
 * `cas k ... 0`: memcached never stores it (EXISTS if the key is there, NOT_FOUND if not), but a binary
 * SET with cas 0 is a plain set. A DELETE with a CAS that cannot match gives the same two answers.
 */
function a2bCasZero(req: TextRequest, errors: A2bErrorTexts): KeyedCodec {
  const key = req.token(1);
  return {
    protocol: 'binary',
    quiet: false,
    encode: (opaque, vbucket) => binaryHead(Opcode.DELETE, opaque, vbucket, key, null, 0, IMPOSSIBLE_CAS),
    fromPacket: (p) => {
      if (p.status === Status.KEY_ENOENT) return line('NOT_FOUND');
      if (p.status === Status.KEY_EEXISTS || p.status === Status.SUCCESS) return line('EXISTS');
      return line(errors.status(p.status));
    },
  };
}

/** a2b storage: SET/ADD/REPLACE (+ cas) carry flags and exptime; APPEND/PREPEND carry neither. */
export function a2bStore(
  req: TextRequest,
  verb: StoreVerb,
  noreply: boolean,
  errors: A2bErrorTexts,
): KeyedCodec {
  if (verb === 'cas' && req.casUnique === 0n) return a2bCasZero(req, errors);
  const key = req.token(1);
  // a large value in the pieces it arrived in is written on as they are
  const parts = req.dataParts;
  const value = parts === null ? req.data! : null;
  const valueLength = req.dataLength;
  const withExtras = verb !== 'append' && verb !== 'prepend';
  let extras: Buffer | null = null;
  if (withExtras) {
    extras = Buffer.allocUnsafe(8);
    extras.writeUInt32BE(req.flags, 0);
    extras.writeUInt32BE(binaryExptime(req.exptime) >>> 0, 4);
  }
  const cas = verb === 'cas' ? req.casUnique : 0n;
  const opcode = STORE_OPCODES[verb][noreply ? 1 : 0];
  return {
    protocol: 'binary',
    quiet: noreply,
    encode: (opaque, vbucket) => {
      const head = binaryHead(opcode, opaque, vbucket, key, extras, valueLength, cas);
      return parts === null ? [head, value!] : [head, ...parts];
    },
    fromPacket: (p) => {
      switch (p.status) {
        case Status.SUCCESS:
          return line('STORED');
        case Status.KEY_EEXISTS:
          return line(verb === 'add' ? 'NOT_STORED' : 'EXISTS');
        case Status.KEY_ENOENT:
          return line(verb === 'replace' ? 'NOT_STORED' : 'NOT_FOUND');
        default:
          return line(errors.status(p.status));
      }
    },
  };
}

/** a2b incr/decr: delta, initial 0 and expiration 0xffffffff ("do not create"). */
export function a2bArith(
  req: TextRequest,
  incr: boolean,
  delta: bigint,
  noreply: boolean,
  errors: A2bErrorTexts,
): KeyedCodec {
  const key = req.token(1);
  const extras = Buffer.alloc(20);
  extras.writeBigUInt64BE(delta, 0);
  extras.writeUInt32BE(0xffffffff, 16);
  const opcode = incr
    ? noreply
      ? Opcode.INCREMENTQ
      : Opcode.INCREMENT
    : noreply
      ? Opcode.DECREMENTQ
      : Opcode.DECREMENT;
  return {
    protocol: 'binary',
    quiet: noreply,
    encode: (opaque, vbucket) => binaryHead(opcode, opaque, vbucket, key, extras, 0, 0n),
    fromPacket: (p) => {
      switch (p.status) {
        case Status.SUCCESS:
          return p.value.length === 8
            ? line(p.value.readBigUInt64BE(0).toString())
            : line(ProxyError.arithError);
        case Status.KEY_EEXISTS:
          return line('EXISTS');
        case Status.KEY_ENOENT:
          return line('NOT_FOUND');
        case Status.NOT_STORED:
          return line('NOT_STORED');
        default:
          return line(errors.arith(p.status));
      }
    },
  };
}

export function a2bDelete(req: TextRequest, noreply: boolean): KeyedCodec {
  const key = req.token(1);
  const opcode = noreply ? Opcode.DELETEQ : Opcode.DELETE;
  return {
    protocol: 'binary',
    quiet: noreply,
    encode: (opaque, vbucket) => binaryHead(opcode, opaque, vbucket, key, null, 0, 0n),
    fromPacket: (p) => {
      if (p.status === Status.SUCCESS) return line('DELETED');
      if (p.status === Status.KEY_EEXISTS) return line('EXISTS');
      return line('NOT_FOUND');
    },
  };
}

/** a2b touch. memcached has no quiet TOUCH, so a noreply touch is sent loud and its reply dropped. */
export function a2bTouch(
  req: TextRequest,
  exptime: number,
  noreply: boolean,
  errors: A2bErrorTexts,
): KeyedCodec {
  const key = req.token(1);
  const extras = Buffer.allocUnsafe(4);
  extras.writeUInt32BE(binaryExptime(exptime) >>> 0, 0);
  return {
    protocol: 'binary',
    quiet: false,
    encode: (opaque, vbucket) => binaryHead(Opcode.TOUCH, opaque, vbucket, key, extras, 0, 0n),
    fromPacket: (p) => {
      if (noreply) return '';
      if (p.status === Status.SUCCESS) return line('TOUCHED');
      if (p.status === Status.KEY_ENOENT) return line('NOT_FOUND');
      return line(errors.status(p.status));
    },
  };
}

/** The request as the client sent it, minus a trailing noreply token (the proxy drops the reply). */
function textWithoutNoreply(req: TextRequest, noreply: boolean): Buffer[] {
  const raw = req.rawLine();
  const out: Buffer[] = [];
  if (noreply) {
    const last = req.ntokens - 2;
    out.push(req.line.subarray(req.lineStart, req.tokenStart[last]), CRLF_BUFFER);
  } else {
    out.push(raw);
  }
  pushData(out, req);
  return out;
}

/** The request's data block and its terminator, in the pieces it arrived in when it is large. */
function pushData(out: Buffer[], req: TextRequest): void {
  if (req.dataParts !== null) out.push(...req.dataParts, CRLF_BUFFER);
  else if (req.data !== null) out.push(req.data, CRLF_BUFFER);
}

/** The server's reply unit as the client should see it. */
export function passThrough(unit: TextResponse): Reply {
  if (unit.data === null) return [unit.line, CRLF];
  return [unit.line, CRLF, unit.data, CRLF];
}

/** a2a: storage, arithmetic, delete and touch forwarded as written; the reply line passed through. */
export function a2aKeyed(req: TextRequest, noreply: boolean): KeyedCodec {
  const bytes = textWithoutNoreply(req, noreply);
  return {
    protocol: 'ascii',
    quiet: false,
    encode: () => bytes,
    fromUnit: (unit) => (noreply ? '' : passThrough(unit)),
  };
}

const META_NOOP = Buffer.from('mn\r\n');

/**
 * A meta command for a text connection, sent as the client wrote it. With a q flag the server itself
 * leaves out what q drops (which memcached decides case by case: an ma's HD or VA, but not when N just
 * made the item), so an mn follows it down and its MN ends the reply: what came before it, if anything,
 * is the client's.
 */
export function metaCodec(req: TextRequest, quiet: boolean): KeyedCodec {
  const bytes: Buffer[] = [req.rawLine()];
  pushData(bytes, req);
  if (!quiet) {
    return { protocol: 'ascii', quiet: false, encode: () => bytes, fromUnit: passThrough };
  }
  bytes.push(META_NOOP);
  let reply: Reply = '';
  return {
    protocol: 'ascii',
    quiet: false,
    encode: () => bytes,
    fromUnit: (unit) => {
      if (unit.kind !== 'MN') {
        reply = passThrough(unit);
        return MORE_UNITS;
      }
      return reply;
    },
  };
}
