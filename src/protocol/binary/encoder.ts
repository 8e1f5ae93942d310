/**
 * Builds binary request and response packets, each in one allocation, and encodes/decodes the extras of
 * the common commands. Keys and values are Buffers or latin1 strings (one byte per char, never UTF-8).
 */
import { HEADER_LENGTH, writeHeader } from './header.ts';
import { DataType, defaultErrorText, Magic, Status } from './opcodes.ts';

/** Bytes, or a string written as latin1 so its length in bytes is its length in chars. */
export type Bytes = Buffer | string;

export interface RequestFields {
  readonly opcode: number;
  readonly key?: Bytes;
  readonly extras?: Uint8Array;
  readonly value?: Bytes;
  readonly opaque?: number;
  readonly cas?: bigint;
  readonly vbucket?: number;
  readonly dataType?: number;
}

export interface ResponseFields {
  readonly opcode: number;
  readonly status?: number;
  readonly key?: Bytes;
  readonly extras?: Uint8Array;
  readonly value?: Bytes;
  readonly opaque?: number;
  readonly cas?: bigint;
  readonly dataType?: number;
}

export function encodeRequest(r: RequestFields): Buffer {
  return encodePacket(
    Magic.Request,
    r.opcode,
    r.vbucket ?? 0,
    r.key,
    r.extras,
    r.value,
    r.opaque ?? 0,
    r.cas ?? 0n,
    r.dataType ?? DataType.RAW_BYTES,
  );
}

export function encodeResponse(r: ResponseFields): Buffer {
  return encodePacket(
    Magic.Response,
    r.opcode,
    r.status ?? Status.SUCCESS,
    r.key,
    r.extras,
    r.value,
    r.opaque ?? 0,
    r.cas ?? 0n,
    r.dataType ?? DataType.RAW_BYTES,
  );
}

/**
 * An error response as memcached's write_bin_error builds it: no extras, no key, cas 0, and the body
 * `text`, defaulting to memcached's text for `status` (empty when it has none).
 */
export function encodeErrorResponse(opcode: number, status: number, opaque = 0, text?: Bytes): Buffer {
  return encodePacket(
    Magic.Response,
    opcode,
    status,
    undefined,
    undefined,
    text ?? defaultErrorText(status) ?? '',
    opaque,
    0n,
    DataType.RAW_BYTES,
  );
}

function encodePacket(
  magic: number,
  opcode: number,
  vbucketOrStatus: number,
  key: Bytes | undefined,
  extras: Uint8Array | undefined,
  value: Bytes | undefined,
  opaque: number,
  cas: bigint,
  dataType: number,
): Buffer {
  // A latin1 string has exactly one byte per UTF-16 unit, so .length is its byte length for both kinds.
  const keyLength = key === undefined ? 0 : key.length;
  const extrasLength = extras === undefined ? 0 : extras.length;
  const valueLength = value === undefined ? 0 : value.length;
  if (keyLength > 0xffff) throw new RangeError(`binary key too long: ${keyLength} bytes (max 65535)`);
  if (extrasLength > 0xff) throw new RangeError(`binary extras too long: ${extrasLength} bytes (max 255)`);
  const bodyLength = extrasLength + keyLength + valueLength;
  const out = Buffer.allocUnsafe(HEADER_LENGTH + bodyLength);
  let at = writeHeader(
    out,
    0,
    magic,
    opcode,
    keyLength,
    extrasLength,
    dataType,
    vbucketOrStatus,
    bodyLength,
    opaque,
    cas,
  );
  if (extras !== undefined) {
    out.set(extras, at);
    at += extrasLength;
  }
  if (key !== undefined) at += writeBytes(out, at, key);
  if (value !== undefined) writeBytes(out, at, value);
  return out;
}

function writeBytes(out: Buffer, at: number, bytes: Bytes): number {
  if (typeof bytes === 'string') return out.write(bytes, at, 'latin1');
  out.set(bytes, at);
  return bytes.length;
}

// ---- extras -------------------------------------------------------------------------------------------
// Expiration times are cast like C's uint32_t (`>>> 0`), as moxi's a2b does with a negative ASCII exptime.

/** INCREMENT/DECREMENT with this expiration fail with KEY_ENOENT instead of creating the item. */
export const ARITH_NO_CREATE = 0xffffffff;

export const SET_EXTRAS_LENGTH = 8;
export const ARITH_EXTRAS_LENGTH = 20;
export const EXPIRATION_EXTRAS_LENGTH = 4;
export const FLAGS_EXTRAS_LENGTH = 4;

export interface SetExtras {
  flags: number;
  exptime: number;
}

export interface ArithExtras {
  delta: bigint;
  initial: bigint;
  exptime: number;
}

/** SET/ADD/REPLACE (and quiet variants) request extras: flags, expiration. */
export function encodeSetExtras(flags: number, exptime: number): Buffer {
  const b = Buffer.allocUnsafe(SET_EXTRAS_LENGTH);
  b.writeUInt32BE(flags, 0);
  b.writeUInt32BE(exptime >>> 0, 4);
  return b;
}

/** Callers check `extras.length === 8` first (memcached answers EINVAL otherwise). */
export function decodeSetExtras(extras: Buffer): SetExtras {
  return { flags: extras.readUInt32BE(0), exptime: extras.readUInt32BE(4) };
}

/** INCREMENT/DECREMENT request extras: delta, initial value, expiration (ARITH_NO_CREATE: do not create). */
export function encodeArithExtras(delta: bigint, initial: bigint, exptime: number): Buffer {
  const b = Buffer.allocUnsafe(ARITH_EXTRAS_LENGTH);
  b.writeBigUInt64BE(delta, 0);
  b.writeBigUInt64BE(initial, 8);
  b.writeUInt32BE(exptime >>> 0, 16);
  return b;
}

/** Callers check `extras.length === 20` first. */
export function decodeArithExtras(extras: Buffer): ArithExtras {
  return {
    delta: extras.readBigUInt64BE(0),
    initial: extras.readBigUInt64BE(8),
    exptime: extras.readUInt32BE(16),
  };
}

/** TOUCH/GAT/GATK/FLUSH/GETL request extras: one expiration (or lock timeout). */
export function encodeExpirationExtras(exptime: number): Buffer {
  const b = Buffer.allocUnsafe(EXPIRATION_EXTRAS_LENGTH);
  b.writeUInt32BE(exptime >>> 0, 0);
  return b;
}

export function decodeExpirationExtras(extras: Buffer): number {
  return extras.readUInt32BE(0);
}

/** GET-family (and, from memcached 1.6, TOUCH) response extras: the item's flags. */
export function encodeFlagsExtras(flags: number): Buffer {
  const b = Buffer.allocUnsafe(FLAGS_EXTRAS_LENGTH);
  b.writeUInt32BE(flags, 0);
  return b;
}

export function decodeFlagsExtras(extras: Buffer): number {
  return extras.readUInt32BE(0);
}

/** INCREMENT/DECREMENT success response body: the new value as 8 big-endian bytes. */
export function encodeArithValue(value: bigint): Buffer {
  const b = Buffer.allocUnsafe(8);
  b.writeBigUInt64BE(value, 0);
  return b;
}

export function decodeArithValue(value: Buffer): bigint {
  return value.readBigUInt64BE(0);
}
