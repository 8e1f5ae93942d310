/**
 * Parsed binary packets as plain objects, for deepEqual against expected literals: the parser returns
 * class instances whose `extras` and `key` are lazy getters (see src/protocol/binary/parser.ts).
 */
import { BinaryParseError, type BinaryPacket } from '../../src/protocol/binary/parser.ts';

/**
 * A packet's contents without its representation: `head` and `valueParts` say how the bytes arrived
 * (one read or several), which the parser is free to choose.
 */
export type PlainPacket = Omit<BinaryPacket, 'head' | 'valueParts'>;

export function plainPacket(p: BinaryPacket): PlainPacket {
  return {
    magic: p.magic,
    opcode: p.opcode,
    keyLength: p.keyLength,
    extrasLength: p.extrasLength,
    dataType: p.dataType,
    vbucket: p.vbucket,
    status: p.status,
    bodyLength: p.bodyLength,
    opaque: p.opaque,
    cas: p.cas,
    frame: p.frame,
    extras: p.extras,
    key: p.key,
    value: p.value,
    valueLength: p.valueLength,
    valueTruncated: p.valueTruncated,
  };
}

/** `plainPacket` for what BinaryParser.next() returns, passing null and errors through. */
export function plainResult(
  r: BinaryPacket | BinaryParseError | null,
): PlainPacket | BinaryParseError | null {
  return r === null || r instanceof BinaryParseError ? r : plainPacket(r);
}
