/**
 * Parsed binary packets as plain objects, for deepEqual against expected literals: the parser returns
 * class instances whose `extras` and `key` are lazy getters (see src/protocol/binary/parser.ts).
 */
import { BinaryParseError, type BinaryPacket } from '../../src/protocol/binary/parser.ts';

export function plainPacket(p: BinaryPacket): BinaryPacket {
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
export function plainResult<T extends BinaryPacket | BinaryParseError | null>(r: T): T {
  return (r === null || r instanceof BinaryParseError ? r : plainPacket(r)) as T;
}
