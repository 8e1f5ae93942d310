/**
 * Meta-command flag parsing (mg ms md ma), mirroring memcached 1.6.18's _meta_flag_preparse: one flag
 * per token, identified by its first byte, each at most once; numeric flags carry their value in the
 * rest of the token. Errors are memcached's exact CLIENT_ERROR texts; like memcached, some bad values
 * are recorded and parsing goes on, so a later error's text wins, while duplicate or unknown flags stop
 * parsing at once.
 */
import type { TextRequest } from '../ascii/request-parser.ts';
import { parseInt32, parseUint32, parseUint64 } from '../ascii/numbers.ts';
import { MemcachedError } from '../wire-errors.ts';
import { base64DecodeKey } from './base64.ts';

export const META_ERRORS = {
  badFormat: MemcachedError.badFormat,
  duplicateFlag: 'CLIENT_ERROR duplicate flag',
  invalidFlag: 'CLIENT_ERROR invalid flag',
  badToken: 'CLIENT_ERROR bad token in command line format',
  decodingKey: 'CLIENT_ERROR error decoding key',
  mTokenLength: 'CLIENT_ERROR incorrect length for M token',
  badInitial: 'CLIENT_ERROR invalid numeric initial value',
  badDelta: 'CLIENT_ERROR invalid numeric delta value',
  opaqueTooLong: 'CLIENT_ERROR opaque token too long',
  invalidMode: 'CLIENT_ERROR invalid mode for ms M token',
} as const;

/** Longest opaque token (the O flag, O included) memcached echoes back. */
export const MAX_OPAQUE_LENGTH = 32;

export class MetaFlags {
  noUpdate = false;
  /** Some flag needs the item before its LRU bump (l, h, N, T, R). */
  locked = false;
  vivify = false;
  lastAccess = false;
  value = false;
  setStale = false;
  noReply = false;
  hasCas = false;
  newTtl = false;
  keyBinary = false;
  /** The M flag's mode character code, 0 when absent. */
  mode = 0;
  /** Raw int32 seconds from T, N and R, before memcached's realtime() conversion. */
  exptime = 0;
  vivifyExptime = 0;
  recacheTime = 0;
  clientFlags = 0;
  compareCas = 0n;
  delta = 1n;
  initial = 0n;
  /** The key after base64 decoding (when `b` is given), else the key token. */
  key: Buffer = Buffer.alloc(0);

  reset(): void {
    this.noUpdate = this.locked = this.vivify = this.lastAccess = this.value = false;
    this.setStale = this.noReply = this.hasCas = this.newTtl = this.keyBinary = false;
    this.mode = this.exptime = this.vivifyExptime = this.recacheTime = this.clientFlags = 0;
    this.compareCas = 0n;
    this.delta = 1n;
    this.initial = 0n;
  }
}

const seen = new Uint8Array(128);

/**
 * Parses the flag tokens of `req` from token `first` on into `out`. Returns null on success or the
 * CLIENT_ERROR text memcached would send.
 */
export function parseMetaFlags(req: TextRequest, first: number, out: MetaFlags): string | null {
  out.reset();
  out.key = req.token(1);
  seen.fill(0);
  const buf = req.line;
  let error: string | null = null;
  let hasError = false;
  for (let i = first; i < req.tokenCount; i++) {
    const s = req.tokenStart[i];
    const e = req.tokenEnd[i];
    const flag = buf[s];
    if (flag >= 127 || seen[flag] !== 0) return META_ERRORS.duplicateFlag;
    seen[flag] = 1;
    switch (flag) {
      case 0x62 /* b */: {
        const decoded = base64DecodeKey(buf, req.tokenStart[1], req.tokenEnd[1]);
        if (decoded === null) {
          error = META_ERRORS.decodingKey;
          hasError = true;
          out.key = Buffer.alloc(0);
        } else {
          out.key = decoded;
        }
        out.keyBinary = true;
        break;
      }
      case 0x4e /* N */: {
        out.locked = true;
        out.vivify = true;
        const v = parseInt32(buf, s + 1, e);
        if (v === undefined) {
          error = META_ERRORS.badToken;
          hasError = true;
        } else out.vivifyExptime = v;
        break;
      }
      case 0x54 /* T */: {
        out.locked = true;
        const v = parseInt32(buf, s + 1, e);
        if (v === undefined) {
          error = META_ERRORS.badToken;
          hasError = true;
        } else {
          out.exptime = v;
          out.newTtl = true;
        }
        break;
      }
      case 0x52 /* R */: {
        out.locked = true;
        const v = parseInt32(buf, s + 1, e);
        if (v === undefined) {
          error = META_ERRORS.badToken;
          hasError = true;
        } else out.recacheTime = v;
        break;
      }
      case 0x6c /* l */:
        out.lastAccess = true;
        out.locked = true;
        break;
      case 0x4f /* O */:
      case 0x50 /* P */:
      case 0x4c /* L */:
      case 0x6b /* k */:
      case 0x73 /* s */:
      case 0x74 /* t */:
      case 0x63 /* c */:
      case 0x66 /* f */:
        break;
      case 0x76 /* v */:
        out.value = true;
        break;
      case 0x68 /* h */:
        out.locked = true;
        break;
      case 0x75 /* u */:
        out.noUpdate = true;
        break;
      case 0x71 /* q */:
        out.noReply = true;
        break;
      case 0x46 /* F */: {
        const v = parseUint32(buf, s + 1, e);
        if (v === undefined) hasError = true;
        else out.clientFlags = v;
        break;
      }
      case 0x43 /* C */: {
        const v = parseUint64(buf, s + 1, e);
        if (v === undefined) {
          error = META_ERRORS.badToken;
          hasError = true;
        } else {
          out.compareCas = v;
          out.hasCas = true;
        }
        break;
      }
      case 0x4d /* M */:
        if (e - s !== 2) {
          error = META_ERRORS.mTokenLength;
          hasError = true;
        } else out.mode = buf[s + 1]!;
        break;
      case 0x4a /* J */: {
        const v = parseUint64(buf, s + 1, e);
        if (v === undefined) {
          error = META_ERRORS.badInitial;
          hasError = true;
        } else out.initial = v;
        break;
      }
      case 0x44 /* D */: {
        const v = parseUint64(buf, s + 1, e);
        if (v === undefined) {
          error = META_ERRORS.badDelta;
          hasError = true;
        } else out.delta = v;
        break;
      }
      case 0x49 /* I */:
        out.setStale = true;
        break;
      default:
        return META_ERRORS.invalidFlag;
    }
  }
  return hasError ? (error ?? META_ERRORS.badFormat) : null;
}

/** ms's M modes (character codes; 0: no M flag): set, add (E), append (A), prepend (P), replace (R), set (S). */
const MS_MODES = new Set([0, 0x45, 0x41, 0x50, 0x52, 0x53]);

/**
 * The error memcached reports for an ms line before it looks at the value (its flags, its M mode, an
 * opaque too long), or null. It comes first even when the value is too large or ends badly, which a
 * proxy refusing such an ms itself must answer the same way. Fills `out` as parseMetaFlags does.
 */
export function metaSetLineError(req: TextRequest, out: MetaFlags): string | null {
  const err = parseMetaFlags(req, 3, out);
  if (err !== null) return err;
  if (!MS_MODES.has(out.mode)) return META_ERRORS.invalidMode;
  for (let i = 2; i < req.tokenCount; i++) {
    if (req.line[req.tokenStart[i]] === 0x4f /* O */ && req.tokenLength(i) > MAX_OPAQUE_LENGTH) {
      return META_ERRORS.opaqueTooLong;
    }
  }
  return null;
}
