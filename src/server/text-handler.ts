/**
 * The embedded server's answers to classic text-protocol commands, branch for branch as memcached
 * 1.6.18's process_command_ascii: the same token-count checks, the same error strings, the same noreply
 * rules (a trailing "noreply" silences even errors), the same side effects. Meta commands go to
 * meta-handler.ts.
 */
import { Command } from '../protocol/ascii/commands.ts';
import { parseInt32, parseUint32, parseUint64 } from '../protocol/ascii/numbers.ts';
import { DataStatus, KEY_MAX_LENGTH, type TextRequest } from '../protocol/ascii/request-parser.ts';
import { MemcachedError } from '../protocol/wire-errors.ts';
import { SERVER_VERSION } from '../version.ts';
import { levelForVerbosity } from '../util/log.ts';
import { After, type ReplyTarget, type ServerContext } from './context.ts';
import { handleMeta } from './meta-handler.ts';
import { generalStats, renderTextStats, settingsStats } from './stats.ts';
import { DeltaResult, StoreMode, StoreResult } from './store.ts';
import { positiveExptime } from './exptime.ts';

const NOREPLY = Buffer.from('noreply');
const ZERO = Buffer.from('0');
const HTTP = Buffer.from('HTTP/');

const MAX_VERBOSITY_LEVEL = 2;

/** memcached's out_string: one line, dropped when the command said noreply. */
export function reply(target: ReplyTarget, line: string): void {
  if (target.noreply) return;
  target.out.latin1(line + '\r\n');
}

/** memcached's out_errstring: protocol errors are sent even under noreply. */
export function replyError(target: ReplyTarget, line: string): void {
  target.noreply = false;
  target.out.latin1(line + '\r\n');
}

/** memcached's set_noreply_maybe: the last token (of the first 23) is "noreply". */
function noreplyMaybe(target: ReplyTarget, req: TextRequest): boolean {
  if (req.tokenEquals(req.ntokens - 2, NOREPLY)) target.noreply = true;
  return target.noreply;
}

function keyOf(req: TextRequest, i: number): string {
  return req.line.toString('latin1', req.tokenStart[i], req.tokenEnd[i]);
}

export function handleText(ctx: ServerContext, target: ReplyTarget, req: TextRequest): After {
  target.noreply = false;
  if (req.tokenCount === 0 || req.tokenLength(0) < 2) {
    reply(target, MemcachedError.error);
    return After.Continue;
  }
  const nt = req.ntokens;
  if (ctx.bucket === null && req.command !== Command.Quit && req.command !== Command.Version) {
    // a cluster node without a "default" bucket: text clients cannot log in
    reply(target, 'CLIENT_ERROR unauthenticated');
    return After.Continue;
  }
  switch (req.command) {
    case Command.Get:
    case Command.Bget:
      return nt < 3 ? error(target) : get(ctx, target, req, false, false);
    case Command.Gets:
      return nt < 3 ? error(target) : get(ctx, target, req, true, false);
    case Command.Gat:
      return nt < 3 ? error(target) : get(ctx, target, req, false, true);
    case Command.Gats:
      return nt < 3 ? error(target) : get(ctx, target, req, true, true);
    case Command.Set:
    case Command.Add:
    case Command.Replace:
    case Command.Append:
    case Command.Prepend:
      return nt !== 6 && nt !== 7 ? error(target) : update(ctx, target, req);
    case Command.Cas:
      return nt !== 7 && nt !== 8 ? error(target) : update(ctx, target, req);
    case Command.Incr:
    case Command.Decr:
      return nt !== 4 && nt !== 5
        ? error(target)
        : arithmetic(ctx, target, req, req.command === Command.Incr);
    case Command.Delete:
      return nt < 3 || nt > 5 ? error(target) : del(ctx, target, req);
    case Command.Touch:
      return nt !== 4 && nt !== 5 ? error(target) : touch(ctx, target, req);
    case Command.FlushAll:
      return nt < 2 || nt > 4 ? error(target) : flushAll(ctx, target, req);
    case Command.Stats:
      return stats(ctx, target, req);
    case Command.Version:
      reply(target, `VERSION ${SERVER_VERSION}`);
      return After.Continue;
    case Command.Quit:
      return After.Close;
    case Command.Verbosity:
      return nt !== 3 && nt !== 4 ? error(target) : verbosity(ctx, target, req);
    case Command.Shutdown:
      reply(target, 'ERROR: shutdown not enabled');
      return After.Continue;
    case Command.CacheMemlimit:
      return nt !== 3 && nt !== 4 ? error(target) : memlimit(ctx, target, req);
    case Command.MetaGet:
    case Command.MetaSet:
    case Command.MetaDelete:
    case Command.MetaArithmetic:
    case Command.MetaNoop:
    case Command.MetaDebug:
      return handleMeta(ctx, target, req);
    case Command.Lru:
      // memcached checks the token count before saying it does not know the subcommand
      return error(target);
    case Command.Unknown:
      return unknown(target, req);
    default:
      // slabs, lru_crawler, watch, m?: memcached internals this server does not have
      return error(target);
  }
}

function error(target: ReplyTarget): After {
  reply(target, MemcachedError.error);
  return After.Continue;
}

/**
 * memcached closes the connection on an unknown command whose last token starts with "HTTP/" (someone
 * pointed a browser at it), unless the command word began with a letter of a known command family.
 */
function unknown(target: ReplyTarget, req: TextRequest): After {
  const first = req.line[req.tokenStart[0]];
  const family =
    'gsacidt'.includes(String.fromCharCode(first)) || (first === 0x6d && req.tokenLength(0) === 2);
  if (!family) {
    const last = req.ntokens - 2;
    if (
      req.tokenLength(last) >= HTTP.length &&
      req.line.compare(HTTP, 0, 5, req.tokenStart[last], req.tokenStart[last] + 5) === 0
    ) {
      return After.Abort;
    }
  }
  reply(target, MemcachedError.error);
  return After.Continue;
}

function get(
  ctx: ServerContext,
  target: ReplyTarget,
  req: TextRequest,
  withCas: boolean,
  andTouch: boolean,
): After {
  const { store, counters } = ctx;
  let first = 1;
  let exptime = 0;
  if (andTouch) {
    const raw = parseInt32(req.line, req.tokenStart[1], req.tokenEnd[1]);
    if (raw === undefined) {
      reply(target, MemcachedError.invalidExptime);
      return After.Continue;
    }
    exptime = store.clock.realtime(positiveExptime(raw));
    first = 2;
  }
  const out = target.out;
  for (let i = first; i < req.tokenCount; i++) {
    if (req.tokenLength(i) > KEY_MAX_LENGTH) {
      // memcached culls every reply not yet sent (this command's VALUEs and earlier pipelined replies)
      // and answers only the error
      out.truncate(0);
      reply(target, MemcachedError.badFormat);
      return After.Continue;
    }
    const key = keyOf(req, i);
    const item = andTouch ? store.touch(key, exptime) : store.get(key);
    if (andTouch) {
      counters.cmdTouch++;
      if (item) counters.touchHits++;
      else counters.touchMisses++;
    } else {
      counters.cmdGet++;
      if (item) counters.getHits++;
      else counters.getMisses++;
    }
    if (item === undefined) continue;
    out.latin1('VALUE ' + item.key);
    out.latin1(
      withCas
        ? ` ${item.flags} ${item.value.length} ${item.cas}\r\n`
        : ` ${item.flags} ${item.value.length}\r\n`,
    );
    out.bytes(item.value);
    out.latin1('\r\n');
  }
  out.latin1('END\r\n');
  // memcached sends retrieval replies at once
  target.commit();
  return After.Continue;
}

const MODE_OF: Partial<Record<Command, StoreMode>> = {
  [Command.Set]: StoreMode.Set,
  [Command.Add]: StoreMode.Add,
  [Command.Replace]: StoreMode.Replace,
  [Command.Append]: StoreMode.Append,
  [Command.Prepend]: StoreMode.Prepend,
  [Command.Cas]: StoreMode.Cas,
};

/** set/add/replace/append/prepend/cas: process_update_command, then complete_nread_ascii. */
function update(ctx: ServerContext, target: ReplyTarget, req: TextRequest): After {
  const { store, counters } = ctx;
  noreplyMaybe(target, req);
  if (req.tokenLength(1) > KEY_MAX_LENGTH || !req.storageValid) {
    reply(target, MemcachedError.badFormat);
    return After.Continue;
  }
  const mode = MODE_OF[req.command]!;
  const key = keyOf(req, 1);
  const nkey = req.tokenLength(1);
  if (req.dataStatus === DataStatus.Swallowed || !store.itemSizeOk(nkey, req.flags, req.dataLength)) {
    reply(target, MemcachedError.tooLarge);
    counters.storeTooLarge++;
    // a failed SET must not leave the old value readable
    if (mode === StoreMode.Set) {
      const old = store.peek(key);
      if (old !== undefined) store.remove(old);
    }
    return After.Continue;
  }
  counters.cmdSet++;
  if (req.dataStatus === DataStatus.BadChunk) {
    reply(target, MemcachedError.badDataChunk);
    return After.Continue;
  }
  const exptime = store.clock.realtime(positiveExptime(req.exptime));
  const outcome = store.store(
    mode,
    key,
    req.flags,
    exptime,
    req.data!,
    req.casUnique,
    false,
    false,
    req.dataOwned,
  );
  switch (outcome.result) {
    case StoreResult.Stored:
      if (mode === StoreMode.Cas) counters.casHits++;
      reply(target, 'STORED');
      break;
    case StoreResult.Exists:
      if (mode === StoreMode.Cas) counters.casBadval++;
      reply(target, 'EXISTS');
      break;
    case StoreResult.NotFound:
      if (mode === StoreMode.Cas) counters.casMisses++;
      reply(target, 'NOT_FOUND');
      break;
    case StoreResult.NotStored:
      reply(target, 'NOT_STORED');
      break;
    case StoreResult.OutOfMemory:
      counters.storeNoMemory++;
      reply(target, MemcachedError.outOfMemoryStoring);
      break;
  }
  return After.Continue;
}

function arithmetic(ctx: ServerContext, target: ReplyTarget, req: TextRequest, incr: boolean): After {
  const { store, counters } = ctx;
  noreplyMaybe(target, req);
  if (req.tokenLength(1) > KEY_MAX_LENGTH) {
    reply(target, MemcachedError.badFormat);
    return After.Continue;
  }
  const delta = parseUint64(req.line, req.tokenStart[2], req.tokenEnd[2]);
  if (delta === undefined) {
    reply(target, MemcachedError.invalidDelta);
    return After.Continue;
  }
  const outcome = store.delta(keyOf(req, 1), incr, delta, 0n);
  switch (outcome.result) {
    case DeltaResult.Ok:
      if (incr) counters.incrHits++;
      else counters.decrHits++;
      reply(target, outcome.value.toString());
      break;
    case DeltaResult.NonNumeric:
      reply(target, MemcachedError.nonNumeric);
      break;
    case DeltaResult.OutOfMemory:
      reply(target, MemcachedError.outOfMemory);
      break;
    case DeltaResult.NotFound:
    case DeltaResult.CasMismatch:
      if (incr) counters.incrMisses++;
      else counters.decrMisses++;
      reply(target, 'NOT_FOUND');
      break;
  }
  return After.Continue;
}

function del(ctx: ServerContext, target: ReplyTarget, req: TextRequest): After {
  const nt = req.ntokens;
  if (nt > 3) {
    const holdIsZero = req.tokenEquals(2, ZERO);
    const setsNoreply = noreplyMaybe(target, req);
    const valid = (nt === 4 && (holdIsZero || setsNoreply)) || (nt === 5 && holdIsZero && setsNoreply);
    if (!valid) {
      reply(target, MemcachedError.deleteUsage);
      return After.Continue;
    }
  }
  if (req.tokenLength(1) > KEY_MAX_LENGTH) {
    reply(target, MemcachedError.badFormat);
    return After.Continue;
  }
  const item = ctx.store.delete(keyOf(req, 1));
  if (item !== undefined) {
    ctx.counters.deleteHits++;
    reply(target, 'DELETED');
  } else {
    ctx.counters.deleteMisses++;
    reply(target, 'NOT_FOUND');
  }
  return After.Continue;
}

function touch(ctx: ServerContext, target: ReplyTarget, req: TextRequest): After {
  const { store, counters } = ctx;
  noreplyMaybe(target, req);
  if (req.tokenLength(1) > KEY_MAX_LENGTH) {
    reply(target, MemcachedError.badFormat);
    return After.Continue;
  }
  const raw = parseInt32(req.line, req.tokenStart[2], req.tokenEnd[2]);
  if (raw === undefined) {
    reply(target, MemcachedError.invalidExptime);
    return After.Continue;
  }
  const item = store.touch(keyOf(req, 1), store.clock.realtime(positiveExptime(raw)));
  counters.cmdTouch++;
  if (item !== undefined) {
    counters.touchHits++;
    reply(target, 'TOUCHED');
  } else {
    counters.touchMisses++;
    reply(target, 'NOT_FOUND');
  }
  return After.Continue;
}

function flushAll(ctx: ServerContext, target: ReplyTarget, req: TextRequest): After {
  noreplyMaybe(target, req);
  ctx.counters.cmdFlush++;
  let delay = 0;
  if (req.ntokens !== (target.noreply ? 3 : 2)) {
    const raw = parseInt32(req.line, req.tokenStart[1], req.tokenEnd[1]);
    if (raw === undefined) {
      reply(target, MemcachedError.invalidExptime);
      return After.Continue;
    }
    delay = raw;
  }
  ctx.store.flushAll(delay);
  reply(target, 'OK');
  return After.Continue;
}

function verbosity(ctx: ServerContext, target: ReplyTarget, req: TextRequest): After {
  noreplyMaybe(target, req);
  const level = parseUint32(req.line, req.tokenStart[1], req.tokenEnd[1]);
  if (level === undefined) {
    reply(target, MemcachedError.badFormat);
    return After.Continue;
  }
  ctx.settings.verbosity = Math.min(level, MAX_VERBOSITY_LEVEL);
  ctx.log.level = levelForVerbosity(ctx.settings.verbosity);
  reply(target, 'OK');
  return After.Continue;
}

function memlimit(ctx: ServerContext, target: ReplyTarget, req: TextRequest): After {
  noreplyMaybe(target, req);
  const megabytes = parseUint32(req.line, req.tokenStart[1], req.tokenEnd[1]);
  if (megabytes === undefined) reply(target, MemcachedError.error);
  else if (megabytes < 8) reply(target, 'MEMLIMIT_TOO_SMALL cannot set maxbytes to less than 8m');
  else if (megabytes > 1000000000) reply(target, 'MEMLIMIT_ADJUST_FAILED input value is megabytes not bytes');
  else {
    ctx.store.setMaxBytes(megabytes * 1024 * 1024);
    ctx.settings.maxBytes = ctx.store.maxBytes;
    reply(target, 'OK');
  }
  return After.Continue;
}

const RESET = Buffer.from('reset');
const SETTINGS = Buffer.from('settings');
const DETAIL = Buffer.from('detail');
const CACHEDUMP = Buffer.from('cachedump');
const CONNS = Buffer.from('conns');
const ITEMS = Buffer.from('items');
const SLABS = Buffer.from('slabs');
const SIZES = Buffer.from('sizes');

function stats(ctx: ServerContext, target: ReplyTarget, req: TextRequest): After {
  const { store, counters, settings } = ctx;
  if (req.ntokens === 2) {
    target.out.latin1(renderTextStats(generalStats(counters, store, settings, ctx.accepting())));
    return After.Continue;
  }
  if (req.tokenEquals(1, RESET)) {
    counters.reset();
    reply(target, 'RESET');
  } else if (req.tokenEquals(1, DETAIL)) {
    const arg = req.ntokens < 4 ? '' : req.tokenString(2);
    if (arg === 'on' || arg === 'off') {
      settings.detailEnabled = arg === 'on';
      reply(target, 'OK');
    } else if (arg === 'dump') {
      target.out.latin1('END\r\n');
    } else {
      reply(target, 'CLIENT_ERROR usage: stats detail on|off|dump');
    }
  } else if (req.tokenEquals(1, SETTINGS)) {
    target.out.latin1(renderTextStats(settingsStats(settings, store.maxBytes, store.oldestLiveTime)));
  } else if (req.tokenEquals(1, CACHEDUMP)) {
    if (req.ntokens < 5) reply(target, 'CLIENT_ERROR bad command line');
    else {
      const id = parseUint32(req.line, req.tokenStart[2], req.tokenEnd[2]);
      const limit = parseUint32(req.line, req.tokenStart[3], req.tokenEnd[3]);
      if (id === undefined || limit === undefined) reply(target, MemcachedError.badFormat);
      else if (id >= 64) reply(target, 'CLIENT_ERROR Illegal slab id');
      else target.out.latin1('END\r\n');
    }
  } else if (req.tokenEquals(1, CONNS)) {
    target.out.latin1(renderTextStats(ctx.connectionStats()));
  } else if (req.tokenEquals(1, ITEMS)) {
    target.out.latin1(renderTextStats(itemsStats(ctx)));
  } else if (req.tokenEquals(1, SLABS)) {
    target.out.latin1(
      renderTextStats([
        ['active_slabs', store.size > 0 ? 1 : 0],
        ['total_malloced', store.usedBytes],
      ]),
    );
  } else if (req.tokenEquals(1, SIZES)) {
    target.out.latin1(renderTextStats([['sizes_status', 'disabled']]));
  } else {
    reply(target, MemcachedError.error);
  }
  return After.Continue;
}

/** `stats items`: the whole cache reported as slab class 1, memcached's shape for one class. */
export function itemsStats(ctx: ServerContext): Array<readonly [string, string | number]> {
  const { store } = ctx;
  if (store.size === 0) return [];
  const now = store.clock.current();
  let oldest = 0;
  for (const item of store.entries()) oldest = Math.max(oldest, now - item.time);
  const s = store.stats;
  return [
    ['items:1:number', store.size],
    ['items:1:age', oldest],
    ['items:1:evicted', s.evictions],
    ['items:1:evicted_nonzero', 0],
    ['items:1:expired_unfetched', s.expiredUnfetched],
    ['items:1:evicted_unfetched', s.evictedUnfetched],
    ['items:1:reclaimed', s.reclaimed],
    ['items:1:outofmemory', s.outOfMemory],
  ];
}
