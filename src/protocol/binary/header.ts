/**
 * The 24-byte binary protocol header: field offsets, decoding into a caller-owned object (no allocation
 * unless the cas is non-zero), and encoding. All integers are big-endian.
 */
import { Magic } from './opcodes.ts';

export const HEADER_LENGTH = 24;

/** Byte offsets of the header fields, for code that patches or copies them in place (e.g. moxi's vbucket). */
export const HeaderOffset = {
  magic: 0,
  opcode: 1,
  keyLength: 2,
  extrasLength: 4,
  dataType: 5,
  /** requests: vbucket id; responses: status — the same two bytes */
  vbucket: 6,
  status: 6,
  bodyLength: 8,
  opaque: 12,
  /** 8 bytes; pass-through code copies them rather than decoding */
  cas: 16,
} as const;

export interface BinaryHeader {
  magic: number;
  opcode: number;
  keyLength: number;
  extrasLength: number;
  dataType: number;
  /** Bytes 6–7 read as a request's vbucket id. Decoding sets this and `status` to the same value. */
  vbucket: number;
  /** Bytes 6–7 read as a response's status. */
  status: number;
  /** extras + key + value */
  bodyLength: number;
  opaque: number;
  cas: bigint;
}

export function createHeader(): BinaryHeader {
  return {
    magic: 0,
    opcode: 0,
    keyLength: 0,
    extrasLength: 0,
    dataType: 0,
    vbucket: 0,
    status: 0,
    bodyLength: 0,
    opaque: 0,
    cas: 0n,
  };
}

/**
 * Decodes the header at `buf[offset..offset+24)` into `into` and returns it. The caller guarantees the
 * 24 bytes are there. The magic byte is not checked here; the parser does that.
 */
export function decodeHeader(buf: Buffer, offset: number, into: BinaryHeader, withCas = true): BinaryHeader {
  into.magic = buf[offset]!;
  into.opcode = buf[offset + 1]!;
  into.keyLength = buf.readUInt16BE(offset + 2);
  into.extrasLength = buf[offset + 4]!;
  into.dataType = buf[offset + 5]!;
  const shared = buf.readUInt16BE(offset + 6);
  into.vbucket = shared;
  into.status = shared;
  into.bodyLength = buf.readUInt32BE(offset + 8);
  into.opaque = buf.readUInt32BE(offset + 12);
  into.cas = withCas ? readCas(buf, offset) : 0n;
  return into;
}

/** The cas of the header at `offset`; most packets carry 0, which costs no BigInt allocation. */
export function readCas(buf: Buffer, headerOffset: number): bigint {
  const at = headerOffset + HeaderOffset.cas;
  if (buf.readUInt32BE(at) === 0 && buf.readUInt32BE(at + 4) === 0) return 0n;
  return buf.readBigUInt64BE(at);
}

/**
 * Writes a header field by field and returns the offset just past it. `vbucketOrStatus` fills bytes 6–7.
 * Out-of-range values throw (Buffer's own range checks) rather than wrapping silently.
 */
export function writeHeader(
  buf: Buffer,
  offset: number,
  magic: number,
  opcode: number,
  keyLength: number,
  extrasLength: number,
  dataType: number,
  vbucketOrStatus: number,
  bodyLength: number,
  opaque: number,
  cas: bigint,
): number {
  buf.writeUInt8(magic, offset);
  buf.writeUInt8(opcode, offset + 1);
  buf.writeUInt16BE(keyLength, offset + 2);
  buf.writeUInt8(extrasLength, offset + 4);
  buf.writeUInt8(dataType, offset + 5);
  buf.writeUInt16BE(vbucketOrStatus, offset + 6);
  buf.writeUInt32BE(bodyLength, offset + 8);
  buf.writeUInt32BE(opaque, offset + 12);
  if (cas === 0n) {
    buf.writeUInt32BE(0, offset + 16);
    buf.writeUInt32BE(0, offset + 20);
  } else {
    buf.writeBigUInt64BE(cas, offset + 16);
  }
  return offset + HEADER_LENGTH;
}

/**
 * Encodes `h` at `offset` and returns the offset just past it. Bytes 6–7 take `h.status` when `h.magic`
 * is the response magic and `h.vbucket` otherwise.
 */
export function encodeHeader(buf: Buffer, offset: number, h: Readonly<BinaryHeader>): number {
  return writeHeader(
    buf,
    offset,
    h.magic,
    h.opcode,
    h.keyLength,
    h.extrasLength,
    h.dataType,
    h.magic === Magic.Response ? h.status : h.vbucket,
    h.bodyLength,
    h.opaque,
    h.cas,
  );
}
