/**
 * Turns a parsed text request into what the proxy does with it: answer locally (errors exactly as
 * memcached words them, version, verbosity, mn, quit) or forward it (get family, storage, arithmetic,
 * delete, touch, flush_all and stats broadcasts, meta commands). The checks are memcached's
 * process_command_ascii checks, so malformed input gets memcached's reply and never reaches a server.
 */
import { Command } from '../protocol/ascii/commands.ts';
import { parseInt32, parseUint32, parseUint64 } from '../protocol/ascii/numbers.ts';
import {
  DataStatus,
  KEY_MAX_LENGTH,
  META_MAX_TOKENS,
  type TextRequest,
} from '../protocol/ascii/request-parser.ts';
import { base64DecodeKey } from '../protocol/meta/base64.ts';
import { MemcachedError } from '../protocol/wire-errors.ts';
import { MetaFlags, metaSetLineError } from '../protocol/meta/flags.ts';

export const TextErrors = {
  ...MemcachedError,
  mgFlagsTooLong: 'CLIENT_ERROR options flags are too long',
  flagsTooLong: 'CLIENT_ERROR options flags too long',
} as const;

export type StoreVerb = 'set' | 'add' | 'replace' | 'append' | 'prepend' | 'cas';

export type ProxyCommand =
  /** Answer `reply` (a line without "\r\n"; null = say nothing); `close` after it. */
  | { kind: 'local'; reply: string | null; close?: boolean }
  | { kind: 'get'; withCas: boolean; touch: boolean; exptime: number; firstKey: number }
  | { kind: 'store'; verb: StoreVerb; noreply: boolean }
  | { kind: 'arith'; incr: boolean; delta: bigint; noreply: boolean }
  | { kind: 'delete'; noreply: boolean }
  | { kind: 'touch'; exptime: number; noreply: boolean }
  | { kind: 'flush'; delay: number; noreply: boolean }
  | { kind: 'stats'; sub: 'all' | 'reset' | 'proxy'; arg: string }
  /** A meta command for the key's server; `quiet`: it has a q flag. */
  | { kind: 'meta'; key: Buffer; quiet: boolean }
  | { kind: 'version' }
  | { kind: 'quit' };

const NOREPLY = Buffer.from('noreply');
const ZERO = Buffer.from('0');
const RESET = Buffer.from('reset');
const PROXY = Buffer.from('proxy');

const local = (reply: string | null): ProxyCommand => ({ kind: 'local', reply });
const ERROR = local(TextErrors.error);
// get and gets are most of the traffic: one shared command each rather than an object per request (not
// frozen: the same shape as the gat commands made below, so readers of a command see one shape)
const GET: ProxyCommand = { kind: 'get', withCas: false, touch: false, exptime: 0, firstKey: 1 };
const GETS: ProxyCommand = { kind: 'get', withCas: true, touch: false, exptime: 0, firstKey: 1 };

const VERBS: Partial<Record<Command, StoreVerb>> = {
  [Command.Set]: 'set',
  [Command.Add]: 'add',
  [Command.Replace]: 'replace',
  [Command.Append]: 'append',
  [Command.Prepend]: 'prepend',
  [Command.Cas]: 'cas',
};

/** memcached's set_noreply_maybe: the last of the first 23 tokens is "noreply". */
export function hasNoreply(req: TextRequest): boolean {
  return req.tokenEquals(req.ntokens - 2, NOREPLY);
}

function num32(req: TextRequest, i: number): number | undefined {
  return parseInt32(req.line, req.tokenStart[i], req.tokenEnd[i]);
}

export function classify(req: TextRequest): ProxyCommand {
  if (req.tokenCount === 0 || req.tokenLength(0) < 2) return ERROR;
  const nt = req.ntokens;
  switch (req.command) {
    case Command.Get:
    case Command.Bget:
    case Command.Gets:
    case Command.Gat:
    case Command.Gats:
      return nt < 3 ? ERROR : retrieval(req);
    case Command.Set:
    case Command.Add:
    case Command.Replace:
    case Command.Append:
    case Command.Prepend:
    case Command.Cas: {
      const isCas = req.command === Command.Cas;
      if (isCas ? nt !== 7 && nt !== 8 : nt !== 6 && nt !== 7) return ERROR;
      const noreply = hasNoreply(req);
      const fail = (text: string): ProxyCommand => local(noreply ? null : text);
      if (req.tokenLength(1) > KEY_MAX_LENGTH || !req.storageValid) return fail(TextErrors.badFormat);
      if (req.dataStatus === DataStatus.Swallowed) return fail(TextErrors.tooLarge);
      if (req.dataStatus === DataStatus.BadChunk) return fail(TextErrors.badDataChunk);
      return { kind: 'store', verb: VERBS[req.command]!, noreply };
    }
    case Command.Incr:
    case Command.Decr: {
      if (nt !== 4 && nt !== 5) return ERROR;
      const noreply = hasNoreply(req);
      if (req.tokenLength(1) > KEY_MAX_LENGTH) return local(noreply ? null : TextErrors.badFormat);
      const delta = parseUint64(req.line, req.tokenStart[2], req.tokenEnd[2]);
      if (delta === undefined) return local(noreply ? null : TextErrors.invalidDelta);
      return { kind: 'arith', incr: req.command === Command.Incr, delta, noreply };
    }
    case Command.Delete: {
      if (nt < 3 || nt > 5) return ERROR;
      let noreply = false;
      if (nt > 3) {
        const holdIsZero = req.tokenEquals(2, ZERO);
        noreply = hasNoreply(req);
        const valid = (nt === 4 && (holdIsZero || noreply)) || (nt === 5 && holdIsZero && noreply);
        if (!valid) return local(noreply ? null : TextErrors.deleteUsage);
      }
      if (req.tokenLength(1) > KEY_MAX_LENGTH) return local(noreply ? null : TextErrors.badFormat);
      return { kind: 'delete', noreply };
    }
    case Command.Touch: {
      if (nt !== 4 && nt !== 5) return ERROR;
      const noreply = hasNoreply(req);
      if (req.tokenLength(1) > KEY_MAX_LENGTH) return local(noreply ? null : TextErrors.badFormat);
      const exptime = num32(req, 2);
      if (exptime === undefined) return local(noreply ? null : TextErrors.invalidExptime);
      return { kind: 'touch', exptime, noreply };
    }
    case Command.FlushAll: {
      if (nt < 2 || nt > 4) return ERROR;
      const noreply = hasNoreply(req);
      let delay = 0;
      if (nt !== (noreply ? 3 : 2)) {
        const d = num32(req, 1);
        if (d === undefined) return local(noreply ? null : TextErrors.invalidExptime);
        delay = d;
      }
      return { kind: 'flush', delay, noreply };
    }
    case Command.Stats:
      if (nt === 2) return { kind: 'stats', sub: 'all', arg: '' };
      if (req.tokenEquals(1, RESET)) return { kind: 'stats', sub: 'reset', arg: '' };
      if (req.tokenEquals(1, PROXY))
        return { kind: 'stats', sub: 'proxy', arg: nt > 3 ? req.tokenString(2) : '' };
      return ERROR;
    case Command.Version:
      return { kind: 'version' };
    case Command.Quit:
      return { kind: 'quit' };
    case Command.Verbosity: {
      if (nt !== 3 && nt !== 4) return ERROR;
      const noreply = hasNoreply(req);
      if (parseUint32(req.line, req.tokenStart[1], req.tokenEnd[1]) === undefined) {
        return local(noreply ? null : TextErrors.badFormat);
      }
      return local(noreply ? null : 'OK');
    }
    case Command.MetaNoop:
      return local('MN');
    case Command.MetaGet:
    case Command.MetaSet:
    case Command.MetaDelete:
    case Command.MetaArithmetic:
    case Command.MetaDebug:
      return meta(req);
    default:
      // memcached's own admin commands (shutdown, slabs, lru...) are not moxi's to forward
      return ERROR;
  }
}

function retrieval(req: TextRequest): ProxyCommand {
  const touch = req.command === Command.Gat || req.command === Command.Gats;
  const withCas = req.command === Command.Gets || req.command === Command.Gats;
  let exptime = 0;
  let firstKey = 1;
  if (touch) {
    const e = num32(req, 1);
    if (e === undefined) return local(TextErrors.invalidExptime);
    exptime = e;
    firstKey = 2;
  }
  for (let i = firstKey; i < req.tokenCount; i++) {
    if (req.tokenLength(i) > KEY_MAX_LENGTH) return local(TextErrors.badFormat);
  }
  if (firstKey >= req.tokenCount) return local('END');
  if (!touch) return withCas ? GETS : GET;
  return { kind: 'get', withCas, touch, exptime, firstKey };
}

/** Scratch space for the flags of an ms refused here. */
const scratchFlags = new MetaFlags();

/**
 * Meta commands are checked only as far as memcached checks them before looking at flags (so the
 * proxy knows the key, and for ms that a data block was read); flag errors come from the server,
 * except for an ms refused here over its value, whose flags memcached would have looked at first.
 */
function meta(req: TextRequest): ProxyCommand {
  const nt = req.ntokens;
  const isMe = req.command === Command.MetaDebug;
  if (nt < 3) return local(isMe ? TextErrors.badFormat : TextErrors.error);
  if (req.tokenLength(1) > KEY_MAX_LENGTH) return local(TextErrors.badFormat);
  if (req.command === Command.MetaSet) {
    if (nt === 3) return local(TextErrors.badFormat);
    if (nt > META_MAX_TOKENS) return local(TextErrors.flagsTooLong);
    if (!req.storageValid) return local(TextErrors.badFormat);
    if (req.dataStatus === DataStatus.Swallowed || req.dataStatus === DataStatus.BadChunk) {
      // not forwarded; memcached would have looked at the line's flags first
      return local(
        metaSetLineError(req, scratchFlags) ??
          (req.dataStatus === DataStatus.Swallowed ? TextErrors.tooLarge : TextErrors.badDataChunk),
      );
    }
  } else if (!isMe && nt > META_MAX_TOKENS) {
    return local(req.command === Command.MetaGet ? TextErrors.mgFlagsTooLong : TextErrors.flagsTooLong);
  }
  let key = req.token(1);
  let quiet = false;
  const firstFlag = req.command === Command.MetaSet ? 3 : 2;
  for (let i = firstFlag; i < req.tokenCount; i++) {
    const f = req.line[req.tokenStart[i]];
    // memcached knows a flag by its first byte alone: "b0" is b
    if (f === 0x62 /* b */) {
      key = base64DecodeKey(req.line, req.tokenStart[1], req.tokenEnd[1]) ?? key;
    } else if (f === 0x71 /* q */ && !isMe) {
      quiet = true;
    }
  }
  return { kind: 'meta', key, quiet };
}
