/**
 * memcached 1.6's rules for a well-formed binary request (dispatch_bin_command): per opcode, which
 * extras, key and body lengths it accepts. A request that breaks them gets EINVAL and its connection
 * is closed, by memcached and by moxi.ts alike.
 */
import { Opcode } from './opcodes.ts';

/** memcached's key limit, which the binary protocol's 16-bit key length could exceed. */
export const BINARY_KEY_MAX = 250;

export interface RequestShape {
  readonly opcode: number;
  readonly extrasLength: number;
  readonly keyLength: number;
  readonly bodyLength: number;
}

/**
 * True when memcached would accept the request's lengths (opcodes it does not know are accepted here:
 * they are answered as unknown, not as malformed).
 */
export function wellFormed(r: RequestShape): boolean {
  const { extrasLength: ext, keyLength: key, bodyLength: body } = r;
  if (key > BINARY_KEY_MAX) return false;
  switch (r.opcode) {
    case Opcode.VERSION:
    case Opcode.NOOP:
    case Opcode.QUIT:
    case Opcode.QUITQ:
    case Opcode.SASL_LIST_MECHS:
      return ext === 0 && key === 0 && body === 0;
    case Opcode.FLUSH:
    case Opcode.FLUSHQ:
      return key === 0 && body === ext && (ext === 0 || ext === 4);
    case Opcode.SET:
    case Opcode.SETQ:
    case Opcode.ADD:
    case Opcode.ADDQ:
    case Opcode.REPLACE:
    case Opcode.REPLACEQ:
      return ext === 8 && key !== 0 && body >= key + 8;
    case Opcode.GET:
    case Opcode.GETQ:
    case Opcode.GETK:
    case Opcode.GETKQ:
      return ext === 0 && body === key && key > 0;
    case Opcode.DELETE:
    case Opcode.DELETEQ:
      return key > 0 && ext === 0 && body === key;
    case Opcode.INCREMENT:
    case Opcode.INCREMENTQ:
    case Opcode.DECREMENT:
    case Opcode.DECREMENTQ:
      return key > 0 && ext === 20 && body === key + ext;
    case Opcode.APPEND:
    case Opcode.APPENDQ:
    case Opcode.PREPEND:
    case Opcode.PREPENDQ:
      return key > 0 && ext === 0;
    case Opcode.STAT:
      return ext === 0;
    case Opcode.SASL_AUTH:
    case Opcode.SASL_STEP:
      return ext === 0 && key !== 0;
    case Opcode.TOUCH:
    case Opcode.GAT:
    case Opcode.GATQ:
    case Opcode.GATK:
    case Opcode.GATKQ:
      return ext === 4 && key !== 0;
    default:
      return true;
  }
}

/**
 * How many bytes of the request's body memcached takes as part of it. It reads every request's extras
 * and key before anything else; touch, the gat family and stat then read nothing more, whatever the
 * body length says, so the bytes past their key are the start of the next request
 * (try_read_command_binary, process_bin_get_or_touch, process_bin_stat). A proxy that forwarded them with
 * the request would have memcached read them as a request on a connection other clients share.
 */
export function bodyLengthRead(r: RequestShape): number {
  const { extrasLength: ext, keyLength: key, bodyLength: body } = r;
  switch (r.opcode) {
    case Opcode.TOUCH:
    case Opcode.GAT:
    case Opcode.GATQ:
    case Opcode.GATK:
    case Opcode.GATKQ:
      return ext === 4 && key !== 0 ? ext + key : body;
    case Opcode.STAT:
      return ext === 0 ? key : body;
    default:
      return body;
  }
}
