/**
 * The embedded server's meta commands (mg ms md ma mn me) as memcached 1.6.18 answers them: return flags
 * echoed in request order, q suppressing only the nominal reply (EN for mg, HD for ms/md/ma), base64 keys,
 * win/stale tokens (W X Z) for recache races, and the exact CLIENT_ERROR texts.
 */
import { Command } from '../protocol/ascii/commands.ts';
import {
  DataStatus,
  KEY_MAX_LENGTH,
  META_MAX_TOKENS,
  type TextRequest,
} from '../protocol/ascii/request-parser.ts';
import { base64DecodeKey } from '../protocol/meta/base64.ts';
import {
  MAX_OPAQUE_LENGTH,
  META_ERRORS,
  MetaFlags,
  metaSetLineError,
  parseMetaFlags,
} from '../protocol/meta/flags.ts';
import { After, type ReplyTarget, type ServerContext } from './context.ts';
import { positiveExptime } from './exptime.ts';
import { SlabClasses } from './slab-classes.ts';
import { DeltaResult, type Item, StoreMode, StoreResult } from './store.ts';
import { MemcachedError } from '../protocol/wire-errors.ts';
import { reply, replyError } from './text-handler.ts';

const flags = new MetaFlags();
const slabs = new SlabClasses();

const FLAGS_TOO_LONG = 'CLIENT_ERROR options flags too long';
const MG_FLAGS_TOO_LONG = 'CLIENT_ERROR options flags are too long';
const INVALID_OR_DUPLICATE = 'CLIENT_ERROR invalid or duplicate flag';

export function handleMeta(ctx: ServerContext, target: ReplyTarget, req: TextRequest): After {
  if (req.command === Command.MetaNoop) {
    // mn exists to flush: memcached sends everything queued with it
    target.out.latin1('MN\r\n');
    target.commit();
    return After.Continue;
  }
  if (req.command === Command.MetaDebug) {
    metaDebug(ctx, target, req);
    return After.Continue;
  }
  if (req.ntokens < 3) {
    reply(target, MemcachedError.error);
    return After.Continue;
  }
  switch (req.command) {
    case Command.MetaGet:
      metaGet(ctx, target, req);
      break;
    case Command.MetaSet:
      metaSet(ctx, target, req);
      break;
    case Command.MetaDelete:
      metaDelete(ctx, target, req);
      break;
    case Command.MetaArithmetic:
      metaArithmetic(ctx, target, req);
      break;
    default:
      reply(target, MemcachedError.error);
  }
  return After.Continue;
}

/** " k<key>", base64-encoded with a trailing " b" for binary keys (memcached's META_KEY). */
function keyFlag(key: Buffer, binary: boolean): string {
  return binary ? ` k${key.toString('base64')} b` : ` k${key.toString('latin1')}`;
}

function ttlOf(item: Item, now: number): string {
  return item.exptime === 0 ? '-1' : String((item.exptime - now) >>> 0);
}

/** The echoed opaque token, or null if it is too long (memcached then answers an error instead). */
function opaqueOf(req: TextRequest, i: number): string | null {
  if (req.tokenLength(i) > MAX_OPAQUE_LENGTH) return null;
  return ' ' + req.tokenString(i);
}

/**
 * The O and k return flags of `req` in request order (what md and a mg miss echo), or null when an
 * opaque is too long.
 */
function echoOpaqueAndKey(req: TextRequest, keyBytes: Buffer, binary: boolean): string | null {
  let echo = '';
  for (let i = 2; i < req.tokenCount; i++) {
    const f = req.line[req.tokenStart[i]];
    if (f === 0x4f /* O */) {
      const opaque = opaqueOf(req, i);
      if (opaque === null) return null;
      echo += opaque;
    } else if (f === 0x6b /* k */) {
      echo += keyFlag(keyBytes, binary);
    }
  }
  return echo;
}

function metaGet(ctx: ServerContext, target: ReplyTarget, req: TextRequest): void {
  const { store, counters } = ctx;
  if (req.tokenLength(1) > KEY_MAX_LENGTH) {
    replyError(target, MemcachedError.badFormat);
    return;
  }
  if (req.ntokens > META_MAX_TOKENS) {
    replyError(target, MG_FLAGS_TOO_LONG);
    return;
  }
  const err = parseMetaFlags(req, 2, flags);
  if (err !== null) {
    replyError(target, err);
    return;
  }
  target.noreply = flags.noReply;
  const keyBytes = flags.key;
  const key = keyBytes.toString('latin1');
  let item = flags.locked || flags.noUpdate ? store.peek(key) : store.get(key);
  let created = false;
  if (item === undefined && flags.vivify) {
    const outcome = store.store(StoreMode.Add, key, 0, 0, Buffer.alloc(0), 0n);
    if (outcome.item !== null) {
      item = outcome.item;
      created = true;
    }
  }
  const now = store.clock.current();
  const out = target.out;
  let ttlSet = false;
  if (item !== undefined) {
    let line = flags.value ? `VA ${item.value.length}` : 'HD';
    let won = false;
    for (let i = 2; i < req.tokenCount; i++) {
      switch (req.line[req.tokenStart[i]]) {
        case 0x54 /* T */:
          ttlSet = true;
          item.exptime = store.clock.realtime(positiveExptime(flags.exptime));
          break;
        case 0x4e /* N */:
          if (created) {
            item.exptime = store.clock.realtime(positiveExptime(flags.vivifyExptime));
            won = true;
          }
          break;
        case 0x52 /* R */:
          if (
            !item.tokenSent &&
            !created &&
            item.exptime !== 0 &&
            item.exptime < store.clock.realtime(positiveExptime(flags.recacheTime))
          ) {
            won = true;
          }
          break;
        case 0x73 /* s */:
          line += ` s${item.value.length}`;
          break;
        case 0x74 /* t */:
          line += ` t${ttlOf(item, now)}`;
          break;
        case 0x63 /* c */:
          line += ` c${item.cas}`;
          break;
        case 0x66 /* f */:
          line += ` f${item.flags}`;
          break;
        case 0x6c /* l */:
          line += ` l${(now - item.time) >>> 0}`;
          break;
        case 0x68 /* h */:
          line += item.fetched ? ' h1' : ' h0';
          break;
        case 0x4f /* O */: {
          const opaque = opaqueOf(req, i);
          if (opaque === null) {
            replyError(target, META_ERRORS.opaqueTooLong);
            return;
          }
          line += opaque;
          break;
        }
        case 0x6b /* k */:
          line += keyFlag(Buffer.from(item.key, 'latin1'), item.keyBinary);
          break;
      }
    }
    if (item.tokenSent) line += ' Z';
    if (item.stale) {
      line += ' X';
      if (!item.tokenSent) won = true;
    }
    if (won) {
      line += ' W';
      item.tokenSent = true;
    }
    out.latin1(line + '\r\n');
    if (flags.value) {
      out.bytes(item.value);
      out.latin1('\r\n');
    }
    target.hold(item);
    // l and h report the state before this fetch, so a locked fetch bumps afterwards
    if (flags.locked && !flags.noUpdate) store.bump(item);
    if (ttlSet) {
      counters.cmdTouch++;
      counters.touchHits++;
    } else {
      counters.cmdGet++;
      counters.getHits++;
    }
    return;
  }
  counters.cmdGet++;
  counters.getMisses++;
  const echo = echoOpaqueAndKey(req, keyBytes, flags.keyBinary);
  if (echo === null) {
    replyError(target, META_ERRORS.opaqueTooLong);
    return;
  }
  if (!target.noreply) out.latin1('EN' + echo + '\r\n');
}

const MODES: Record<number, StoreMode | undefined> = {
  0: StoreMode.Set,
  0x45 /* E */: StoreMode.Add,
  0x41 /* A */: StoreMode.Append,
  0x50 /* P */: StoreMode.Prepend,
  0x52 /* R */: StoreMode.Replace,
  0x53 /* S */: StoreMode.Set,
};

function metaSet(ctx: ServerContext, target: ReplyTarget, req: TextRequest): void {
  const { store, counters } = ctx;
  if (req.tokenLength(1) > KEY_MAX_LENGTH) {
    replyError(target, MemcachedError.badFormat);
    return;
  }
  if (req.ntokens === 3) {
    replyError(target, MemcachedError.badFormat);
    return;
  }
  if (req.ntokens > META_MAX_TOKENS) {
    replyError(target, FLAGS_TOO_LONG);
    return;
  }
  if (!req.storageValid) {
    replyError(target, MemcachedError.badFormat);
    return;
  }
  // From here on a data block follows the line; the parser has read or is discarding it.
  const err = metaSetLineError(req, flags);
  if (err !== null) {
    replyError(target, err);
    return;
  }
  target.noreply = flags.noReply;
  let suffix = '';
  for (let i = 2; i < req.tokenCount; i++) {
    const f = req.line[req.tokenStart[i]];
    if (f === 0x4f /* O */) suffix += ' ' + req.tokenString(i);
    else if (f === 0x6b /* k */) suffix += '\0k';
    else if (f === 0x63 /* c */) suffix += '\0c';
  }
  let mode = MODES[flags.mode]!;
  if (flags.hasCas && (mode === StoreMode.Set || mode === StoreMode.Replace)) mode = StoreMode.Cas;
  const keyBytes = flags.key;
  const key = keyBytes.toString('latin1');
  if (
    req.dataStatus === DataStatus.Swallowed ||
    !store.itemSizeOk(keyBytes.length, flags.clientFlags, req.dataLength)
  ) {
    counters.storeTooLarge++;
    const old = store.peek(key);
    if (old !== undefined) store.remove(old);
    replyError(target, MemcachedError.tooLarge);
    return;
  }
  counters.cmdSet++;
  if (req.dataStatus === DataStatus.BadChunk) {
    replyError(target, MemcachedError.badDataChunk);
    return;
  }
  const exptime = flags.newTtl ? store.clock.realtime(positiveExptime(flags.exptime)) : 0;
  const outcome = store.store(
    mode,
    key,
    flags.clientFlags,
    exptime,
    req.data!,
    flags.compareCas,
    flags.setStale && mode === StoreMode.Cas,
    flags.keyBinary,
    req.dataOwned,
  );
  let code: string;
  switch (outcome.result) {
    case StoreResult.Stored:
      if (mode === StoreMode.Cas) counters.casHits++;
      code = 'HD';
      break;
    case StoreResult.Exists:
      if (mode === StoreMode.Cas) counters.casBadval++;
      code = 'EX';
      break;
    case StoreResult.NotFound:
      if (mode === StoreMode.Cas) counters.casMisses++;
      code = 'NF';
      break;
    case StoreResult.NotStored:
      code = 'NS';
      break;
    default:
      counters.storeNoMemory++;
      {
        replyError(target, MemcachedError.outOfMemoryStoring);
        return;
      }
  }
  if (code === 'HD' && target.noreply) return;
  target.noreply = false;
  const cas = outcome.item?.cas ?? 0;
  const rendered = suffix.replace(/\0([kc])/g, (_m, f: string) =>
    f === 'k' ? keyFlag(keyBytes, flags.keyBinary) : ` c${cas}`,
  );
  target.out.latin1(code + rendered + '\r\n');
}

function metaDelete(ctx: ServerContext, target: ReplyTarget, req: TextRequest): void {
  const { store, counters } = ctx;
  if (req.tokenLength(1) > KEY_MAX_LENGTH) {
    reply(target, MemcachedError.badFormat);
    return;
  }
  if (req.ntokens > META_MAX_TOKENS) {
    reply(target, FLAGS_TOO_LONG);
    return;
  }
  if (parseMetaFlags(req, 2, flags) !== null) {
    replyError(target, INVALID_OR_DUPLICATE);
    return;
  }
  target.noreply = flags.noReply;
  const keyBytes = flags.key;
  const suffix = echoOpaqueAndKey(req, keyBytes, flags.keyBinary);
  if (suffix === null) {
    replyError(target, META_ERRORS.opaqueTooLong);
    return;
  }
  const item = store.peek(keyBytes.toString('latin1'));
  let code: string;
  if (item === undefined) {
    counters.deleteMisses++;
    code = 'NF';
  } else if (flags.hasCas && BigInt(item.cas) !== flags.compareCas) {
    counters.deleteMisses++;
    code = 'EX';
  } else {
    if (flags.setStale) {
      if (flags.newTtl) item.exptime = store.clock.realtime(positiveExptime(flags.exptime));
      item.stale = true;
      item.tokenSent = false;
      item.cas = store.nextCas();
    } else {
      counters.deleteHits++;
      store.remove(item);
    }
    if (target.noreply) return;
    code = 'HD';
  }
  target.out.latin1(code + suffix + '\r\n');
}

function metaArithmetic(ctx: ServerContext, target: ReplyTarget, req: TextRequest): void {
  const { store, counters } = ctx;
  if (req.tokenLength(1) > KEY_MAX_LENGTH) {
    reply(target, MemcachedError.badFormat);
    return;
  }
  if (req.ntokens > META_MAX_TOKENS) {
    reply(target, FLAGS_TOO_LONG);
    return;
  }
  if (parseMetaFlags(req, 2, flags) !== null) {
    replyError(target, INVALID_OR_DUPLICATE);
    return;
  }
  target.noreply = flags.noReply;
  let incr = true;
  switch (flags.mode) {
    case 0:
    case 0x49 /* I */:
    case 0x2b /* + */:
      break;
    case 0x44 /* D */:
    case 0x2d /* - */:
      incr = false;
      break;
    default: {
      replyError(target, 'CLIENT_ERROR invalid mode for ma M token');
      return;
    }
  }
  const keyBytes = flags.key;
  const key = keyBytes.toString('latin1');
  const outcome = store.delta(key, incr, flags.delta, flags.compareCas);
  let item: Item | null = null;
  let digits = '';
  let code = '';
  let created = false;
  let silent = false;
  // When the number grew longer, memcached applies T and N to the replaced item, not the stored one.
  let ttlTarget: Item | null = null;
  switch (outcome.result) {
    case DeltaResult.Ok:
      if (incr) counters.incrHits++;
      else counters.decrHits++;
      item = outcome.item;
      ttlTarget = outcome.inPlace ? item : null;
      digits = outcome.value.toString();
      silent = target.noreply;
      break;
    case DeltaResult.NonNumeric: {
      replyError(target, MemcachedError.nonNumeric);
      return;
    }
    case DeltaResult.OutOfMemory: {
      replyError(target, MemcachedError.outOfMemory);
      return;
    }
    case DeltaResult.NotFound:
      if (flags.vivify) {
        digits = flags.initial.toString();
        const stored = store.store(StoreMode.Add, key, 0, 0, Buffer.from(digits, 'latin1'), 0n);
        if (stored.item !== null) {
          item = ttlTarget = stored.item;
          created = true;
        } else code = 'NS';
      } else {
        if (incr) counters.incrMisses++;
        else counters.decrMisses++;
        code = 'NF';
      }
      break;
    case DeltaResult.CasMismatch:
      code = 'EX';
      break;
  }
  let line = code;
  const now = store.clock.current();
  if (item !== null) line = flags.value ? `VA ${digits.length}` : 'HD';
  for (let i = 2; i < req.tokenCount; i++) {
    const f = req.line[req.tokenStart[i]];
    if (f === 0x4f /* O */) {
      const opaque = opaqueOf(req, i);
      if (opaque === null) {
        replyError(target, META_ERRORS.opaqueTooLong);
        return;
      }
      line += opaque;
    } else if (f === 0x6b /* k */) {
      line += keyFlag(keyBytes, flags.keyBinary);
    } else if (item !== null) {
      if (f === 0x63 /* c */) line += ` c${item.cas}`;
      else if (f === 0x74 /* t */) line += ` t${ttlOf(item, now)}`;
      else if (f === 0x54 /* T */) {
        if (ttlTarget !== null) ttlTarget.exptime = store.clock.realtime(positiveExptime(flags.exptime));
      } else if (f === 0x4e /* N */ && created && ttlTarget !== null) {
        ttlTarget.exptime = store.clock.realtime(positiveExptime(flags.vivifyExptime));
      }
    }
  }
  if (silent) return;
  target.noreply = false;
  target.out.latin1(item !== null && flags.value ? `${line}\r\n${digits}\r\n` : `${line}\r\n`);
}

function metaDebug(ctx: ServerContext, target: ReplyTarget, req: TextRequest): void {
  const { store, counters } = ctx;
  if (req.ntokens < 3 || req.tokenLength(1) > KEY_MAX_LENGTH) {
    reply(target, MemcachedError.badFormat);
    return;
  }
  let keyBytes = req.token(1);
  if (req.ntokens >= 4 && req.tokenLength(2) === 1 && req.line[req.tokenStart[2]] === 0x62 /* b */) {
    const decoded = base64DecodeKey(req.line, req.tokenStart[1], req.tokenEnd[1]);
    if (decoded === null) {
      reply(target, MemcachedError.badFormat);
      return;
    }
    keyBytes = decoded;
  }
  const item = store.peek(keyBytes.toString('latin1'));
  counters.cmdMeta++;
  if (item === undefined) {
    reply(target, 'EN');
    return;
  }
  const now = store.clock.current();
  const key = item.keyBinary ? Buffer.from(item.key, 'latin1').toString('base64') : item.key;
  const exp = item.exptime === 0 ? -1 : (now - item.exptime) | 0;
  const la = (now - item.time) >>> 0;
  const fetch = item.fetched ? 'yes' : 'no';
  const ntotal = item.ntotal;
  reply(
    target,
    `ME ${key} exp=${exp} la=${la} cas=${item.cas} fetch=${fetch} cls=${slabs.classOf(ntotal)} size=${ntotal}`,
  );
}
