/**
 * The embedded server's answers to binary-protocol requests, as memcached 1.6.18's dispatch_bin_command:
 * per-opcode shape checks (a bad shape or a key over 250 bytes is EINVAL and the connection closes),
 * quiet opcodes that suppress only successful replies (GETQ/GETKQ hits are still sent), error bodies
 * with memcached's texts, and unknown opcodes answered UNKNOWN_COMMAND with memcached's own swallow.
 */
import { HEADER_LENGTH, writeHeader } from '../protocol/binary/header.ts';
import {
  DataType,
  Magic,
  MUTATING_OPCODES,
  Opcode,
  Status,
  defaultErrorText,
} from '../protocol/binary/opcodes.ts';
import type { BinaryPacket } from '../protocol/binary/parser.ts';
import { wellFormed } from '../protocol/binary/shape.ts';
import { SERVER_VERSION } from '../version.ts';
import { After, type ReplyTarget, type ServerContext } from './context.ts';
import { generalStats, settingsStats, type StatLine } from './stats.ts';
import { DeltaResult, type Item, StoreMode, StoreResult } from './store.ts';
import { VBucketState } from './bucket.ts';
import { itemsStats } from './text-handler.ts';

/** Where a handler reports that memcached would skip bytes after this packet (conn_swallow). */
export interface BinaryReplyTarget extends ReplyTarget {
  swallow(n: number): void;
}

const NO_CREATE = 0xffffffff;

/** The loud opcode each quiet one stands for. */
const LOUD: Partial<Record<number, number>> = {
  [Opcode.SETQ]: Opcode.SET,
  [Opcode.ADDQ]: Opcode.ADD,
  [Opcode.REPLACEQ]: Opcode.REPLACE,
  [Opcode.DELETEQ]: Opcode.DELETE,
  [Opcode.INCREMENTQ]: Opcode.INCREMENT,
  [Opcode.DECREMENTQ]: Opcode.DECREMENT,
  [Opcode.QUITQ]: Opcode.QUIT,
  [Opcode.FLUSHQ]: Opcode.FLUSH,
  [Opcode.APPENDQ]: Opcode.APPEND,
  [Opcode.PREPENDQ]: Opcode.PREPEND,
  [Opcode.GETQ]: Opcode.GET,
  [Opcode.GETKQ]: Opcode.GETK,
  [Opcode.GATQ]: Opcode.GAT,
  [Opcode.GATKQ]: Opcode.GATK,
};

/** The request fields a response echoes. */
type Echo = Pick<BinaryPacket, 'opcode' | 'opaque'>;

/** Writes a response header into the queue and returns the offset after it in the scratch buffer. */
function header(
  target: ReplyTarget,
  p: Echo,
  status: number,
  extrasLength: number,
  keyLength: number,
  bodyLength: number,
  cas: number,
  extraBytes: number,
): number {
  const at = target.out.reserve(HEADER_LENGTH + extraBytes);
  return writeHeader(
    target.out.scratchBuffer,
    at,
    Magic.Response,
    p.opcode,
    keyLength,
    extrasLength,
    DataType.RAW_BYTES,
    status,
    bodyLength,
    p.opaque,
    cas === 0 ? 0n : BigInt(cas),
  );
}

/**
 * memcached's write_bin_error: status plus a text body; always sent, quiet or not, and sent at once
 * unless memcached goes on to swallow the rest of the request (`swallowing`).
 */
export function binaryError(
  target: ReplyTarget,
  p: Echo,
  status: number,
  text?: string,
  swallowing = false,
): void {
  const body = text ?? defaultErrorText(status) ?? '';
  header(target, p, status, 0, 0, body.length, 0, 0);
  target.out.latin1(body);
  if (!swallowing) target.commit();
}

/** memcached's write_bin_response: suppressed for quiet commands, except GET/GETK hits. */
function success(
  target: ReplyTarget,
  p: BinaryPacket,
  cas: number,
  body?: Buffer | string,
  alwaysSend = false,
): void {
  if (target.noreply && !alwaysSend) return;
  const length = body === undefined ? 0 : body.length;
  header(target, p, Status.SUCCESS, 0, 0, length, cas, 0);
  if (body === undefined) return;
  if (typeof body === 'string') target.out.latin1(body);
  else target.out.bytes(body);
}

/** EINVAL and close: memcached's handle_binary_protocol_error. */
function protocolError(target: ReplyTarget, p: BinaryPacket): After {
  binaryError(target, p, Status.EINVAL);
  return After.Close;
}

/**
 * Answers one request. `frameOwned` says the packet's buffers belong to this request alone (the parser
 * joined them), so a stored value may keep them instead of copying.
 */
export function handleBinary(
  ctx: ServerContext,
  target: BinaryReplyTarget,
  p: BinaryPacket,
  frameOwned = false,
): After {
  const extlen = p.extrasLength;
  const keylen = p.keyLength;
  const bodylen = p.bodyLength;
  if (!wellFormed(p)) return protocolError(target, p);
  const loud = LOUD[p.opcode];
  target.noreply = loud !== undefined;
  const cmd = loud ?? p.opcode;
  if (ctx.sasl) {
    const answered = clusterNode(ctx, target, p, cmd);
    if (answered !== null) return answered;
  }
  switch (cmd) {
    case Opcode.VERSION:
      success(target, p, 0, SERVER_VERSION);
      return After.Continue;
    case Opcode.FLUSH:
      ctx.store.flushAll(extlen === 4 ? p.extras.readUInt32BE(0) : 0);
      ctx.counters.cmdFlush++;
      success(target, p, 0);
      return After.Continue;
    case Opcode.NOOP:
      success(target, p, 0);
      // NOOP forces memcached to send everything queued
      target.commit();
      return After.Continue;
    case Opcode.SET:
    case Opcode.ADD:
    case Opcode.REPLACE:
      update(ctx, target, p, cmd, frameOwned);
      return After.Continue;
    case Opcode.GET:
    case Opcode.GETK:
      getOrTouch(ctx, target, p, cmd);
      return After.Continue;
    case Opcode.DELETE:
      del(ctx, target, p);
      return After.Continue;
    case Opcode.INCREMENT:
    case Opcode.DECREMENT:
      arithmetic(ctx, target, p, cmd === Opcode.INCREMENT);
      return After.Continue;
    case Opcode.APPEND:
    case Opcode.PREPEND:
      update(ctx, target, p, cmd, frameOwned);
      return After.Continue;
    case Opcode.STAT:
      stat(ctx, target, p);
      return After.Continue;
    case Opcode.QUIT:
      success(target, p, 0);
      return After.Close;
    case Opcode.SASL_LIST_MECHS:
      // SASL is not enabled: memcached answers as for an unknown command
      binaryError(target, p, Status.UNKNOWN_COMMAND);
      return After.Continue;
    case Opcode.SASL_AUTH:
    case Opcode.SASL_STEP:
      binaryError(target, p, Status.UNKNOWN_COMMAND, undefined, bodylen - keylen > 0);
      return After.Continue;
    case Opcode.TOUCH:
    case Opcode.GAT:
    case Opcode.GATK:
      getOrTouch(ctx, target, p, cmd);
      return After.Continue;
    default:
      binaryError(target, p, Status.UNKNOWN_COMMAND, undefined, bodylen > 0);
      // memcached read extras and key, then swallows bodylen more bytes: it over-reads by extras + key
      target.swallow(extlen + keylen);
      return After.Continue;
  }
}

/** Opcodes that name a key, and so a vBucket. */
const KEYED = new Set<number>([
  Opcode.GET,
  Opcode.GETK,
  ...MUTATING_OPCODES,
  Opcode.TOUCH,
  Opcode.GAT,
  Opcode.GATK,
]);

const AUTH_FAILURE = 'Auth failure.';

/**
 * What a cluster node (SASL on) answers before the memcached commands: bucket login, vBucket states,
 * NOT_MY_VBUCKET for vBuckets it does not own, and AUTH_ERROR for a connection with no bucket. Returns
 * null to let the request through.
 */
function clusterNode(
  ctx: ServerContext,
  target: BinaryReplyTarget,
  p: BinaryPacket,
  cmd: number,
): After | null {
  switch (cmd) {
    case Opcode.SASL_LIST_MECHS:
      success(target, p, 0, 'PLAIN');
      return After.Continue;
    case Opcode.SASL_AUTH:
      saslAuth(ctx, target, p);
      return After.Continue;
    case Opcode.SASL_STEP:
      binaryError(target, p, Status.AUTH_ERROR, AUTH_FAILURE);
      return After.Continue;
    case Opcode.VERSION:
    case Opcode.NOOP:
    case Opcode.QUIT:
      return null;
  }
  const bucket = ctx.bucket;
  if (bucket === null) {
    // memcached answers an unauthenticated request AUTH_ERROR and closes
    binaryError(target, p, Status.AUTH_ERROR, AUTH_FAILURE);
    return After.Close;
  }
  switch (cmd) {
    case Opcode.SET_VBUCKET: {
      const raw = p.extrasLength === 4 ? p.extras : p.value.length === 4 ? p.value : null;
      const state = raw === null ? -1 : raw.readUInt32BE(0);
      if (state < VBucketState.Active || state > VBucketState.Dead) {
        binaryError(target, p, Status.EINVAL);
      } else {
        bucket.setState(p.vbucket, state as VBucketState);
        success(target, p, 0);
      }
      return After.Continue;
    }
    case Opcode.GET_VBUCKET: {
      const body = Buffer.alloc(4);
      body.writeUInt32BE(bucket.stateOf(p.vbucket), 0);
      success(target, p, 0, body);
      return After.Continue;
    }
    case Opcode.DEL_VBUCKET:
      bucket.setState(p.vbucket, VBucketState.None);
      success(target, p, 0);
      return After.Continue;
  }
  if (KEYED.has(cmd) && !bucket.serves(p.vbucket)) {
    binaryError(target, p, Status.NOT_MY_VBUCKET, 'Not my vbucket');
    return After.Continue;
  }
  return null;
}

/** SASL PLAIN: "[authzid]\0user\0password" names a bucket and its password. */
function saslAuth(ctx: ServerContext, target: ReplyTarget, p: BinaryPacket): void {
  ctx.counters.authCmds++;
  const parts: Array<string | undefined> = p.value.toString('latin1').split('\0');
  const [user, password] = parts.length >= 3 ? [parts[1], parts[2]] : [parts[0], parts[1] ?? ''];
  const bucket = user === undefined ? undefined : ctx.buckets.get(user);
  if (p.key.toString('latin1') !== 'PLAIN' || bucket === undefined || bucket.password !== password) {
    ctx.counters.authErrors++;
    binaryError(target, p, Status.AUTH_ERROR, AUTH_FAILURE);
    return;
  }
  ctx.bucket = bucket;
  success(target, p, 0, 'Authenticated');
}

function keyString(p: BinaryPacket): string {
  return p.key.toString('latin1');
}

function getOrTouch(ctx: ServerContext, target: ReplyTarget, p: BinaryPacket, cmd: number): void {
  const { store, counters } = ctx;
  const touch = cmd === Opcode.TOUCH || cmd === Opcode.GAT || cmd === Opcode.GATK;
  const withKey = cmd === Opcode.GETK || cmd === Opcode.GATK;
  const withValue = cmd !== Opcode.TOUCH;
  const key = keyString(p);
  const item = touch ? store.touch(key, store.clock.realtime(p.extras.readUInt32BE(0))) : store.get(key);
  if (touch) counters.cmdTouch++;
  else counters.cmdGet++;
  if (item === undefined) {
    if (touch) counters.touchMisses++;
    else counters.getMisses++;
    if (target.noreply) return;
    if (withKey) {
      const at = header(target, p, Status.KEY_ENOENT, 0, p.keyLength, p.keyLength, 0, p.keyLength);
      p.key.copy(target.out.scratchBuffer, at);
    } else {
      binaryError(target, p, Status.KEY_ENOENT);
    }
    return;
  }
  if (touch) counters.touchHits++;
  else counters.getHits++;
  const keyLength = withKey ? item.key.length : 0;
  const valueLength = withValue ? item.value.length : 0;
  const at = header(
    target,
    p,
    Status.SUCCESS,
    4,
    keyLength,
    4 + keyLength + valueLength,
    item.cas,
    4 + keyLength,
  );
  const scratch = target.out.scratchBuffer;
  scratch.writeUInt32BE(item.flags, at);
  if (withKey) scratch.write(item.key, at + 4, 'latin1');
  if (withValue) target.out.bytes(item.value);
  target.hold(item);
}

const MODE_OF: Partial<Record<number, StoreMode>> = {
  [Opcode.SET]: StoreMode.Set,
  [Opcode.ADD]: StoreMode.Add,
  [Opcode.REPLACE]: StoreMode.Replace,
  [Opcode.APPEND]: StoreMode.Append,
  [Opcode.PREPEND]: StoreMode.Prepend,
};

function update(ctx: ServerContext, target: ReplyTarget, p: BinaryPacket, cmd: number, owned: boolean): void {
  const { store, counters } = ctx;
  const isConcat = cmd === Opcode.APPEND || cmd === Opcode.PREPEND;
  const flags = isConcat ? 0 : p.extras.readUInt32BE(0);
  const exptime = isConcat ? 0 : store.clock.realtime(p.extras.readUInt32BE(4));
  const key = keyString(p);
  if (p.valueTruncated || !store.itemSizeOk(p.keyLength, flags, p.valueLength)) {
    binaryError(target, p, Status.E2BIG, undefined, p.valueLength > 0);
    counters.storeTooLarge++;
    if (cmd === Opcode.SET) {
      const old = store.peek(key);
      if (old !== undefined) store.remove(old);
    }
    return;
  }
  let mode = MODE_OF[cmd]!;
  // any store with a cas in the header is a compare-and-swap, even ADD (memcached's NREAD_CAS)
  if (p.cas !== 0n && !isConcat) mode = StoreMode.Cas;
  counters.cmdSet++;
  const outcome = store.store(mode, key, flags, exptime, p.value, p.cas, false, false, owned);
  switch (outcome.result) {
    case StoreResult.Stored:
      if (mode === StoreMode.Cas) counters.casHits++;
      success(target, p, outcome.item!.cas);
      return;
    case StoreResult.Exists:
      if (mode === StoreMode.Cas) counters.casBadval++;
      binaryError(target, p, Status.KEY_EEXISTS);
      return;
    case StoreResult.NotFound:
      if (mode === StoreMode.Cas) counters.casMisses++;
      binaryError(target, p, Status.KEY_ENOENT);
      return;
    case StoreResult.OutOfMemory:
      counters.storeNoMemory++;
      binaryError(target, p, Status.ENOMEM, 'Out of memory allocating item');
      return;
    default:
      if (cmd === Opcode.ADD) binaryError(target, p, Status.KEY_EEXISTS);
      else if (cmd === Opcode.REPLACE) binaryError(target, p, Status.KEY_ENOENT);
      else binaryError(target, p, Status.NOT_STORED);
  }
}

function del(ctx: ServerContext, target: ReplyTarget, p: BinaryPacket): void {
  const { store, counters } = ctx;
  const item = store.peek(keyString(p));
  if (item === undefined) {
    binaryError(target, p, Status.KEY_ENOENT);
    counters.deleteMisses++;
    return;
  }
  if (p.cas !== 0n && p.cas !== BigInt(item.cas)) {
    binaryError(target, p, Status.KEY_EEXISTS);
    return;
  }
  counters.deleteHits++;
  store.remove(item);
  success(target, p, 0);
}

function arithmetic(ctx: ServerContext, target: ReplyTarget, p: BinaryPacket, incr: boolean): void {
  const { store, counters } = ctx;
  const delta = p.extras.readBigUInt64BE(0);
  const initial = p.extras.readBigUInt64BE(8);
  const expiration = p.extras.readUInt32BE(16);
  const key = keyString(p);
  const outcome = store.delta(key, incr, delta, p.cas);
  switch (outcome.result) {
    case DeltaResult.Ok:
      if (incr) counters.incrHits++;
      else counters.decrHits++;
      arithValue(target, p, outcome.value, outcome.item!);
      return;
    case DeltaResult.NonNumeric:
      binaryError(target, p, Status.DELTA_BADVAL);
      return;
    case DeltaResult.OutOfMemory:
      binaryError(target, p, Status.ENOMEM, 'Out of memory incrementing value');
      return;
    case DeltaResult.CasMismatch:
      binaryError(target, p, Status.KEY_EEXISTS);
      return;
    case DeltaResult.NotFound:
      break;
  }
  if (expiration === NO_CREATE) {
    if (incr) counters.incrMisses++;
    else counters.decrMisses++;
    binaryError(target, p, Status.KEY_ENOENT);
    return;
  }
  const created = store.store(
    StoreMode.Add,
    key,
    0,
    store.clock.realtime(expiration),
    Buffer.from(initial.toString(), 'latin1'),
    0n,
  );
  if (created.result === StoreResult.Stored) arithValue(target, p, initial, created.item!);
  else if (created.result === StoreResult.OutOfMemory) {
    binaryError(target, p, Status.ENOMEM, 'Out of memory allocating new item');
  } else binaryError(target, p, Status.NOT_STORED);
}

function arithValue(target: ReplyTarget, p: BinaryPacket, value: bigint, item: Item): void {
  if (target.noreply) return;
  const at = header(target, p, Status.SUCCESS, 0, 0, 8, item.cas, 8);
  target.out.scratchBuffer.writeBigUInt64BE(value, at);
}

function stat(ctx: ServerContext, target: ReplyTarget, p: BinaryPacket): void {
  const { store, counters, settings } = ctx;
  const sub = p.key.toString('latin1');
  let lines: readonly StatLine[];
  if (sub.length === 0) lines = generalStats(counters, store, settings, ctx.accepting());
  else if (sub.startsWith('reset')) {
    counters.reset();
    lines = [];
  } else if (sub.startsWith('settings'))
    lines = settingsStats(settings, store.maxBytes, store.oldestLiveTime);
  else if (sub.startsWith('detail')) {
    const arg = sub.slice(6);
    if (arg.startsWith(' dump')) lines = [['detailed', '']];
    else if (arg.startsWith(' on')) {
      settings.detailEnabled = true;
      lines = [];
    } else if (arg.startsWith(' off')) {
      settings.detailEnabled = false;
      lines = [];
    } else {
      binaryError(target, p, Status.KEY_ENOENT);
      return;
    }
  } else if (sub === 'items') lines = itemsStats(ctx);
  else if (sub === 'slabs')
    lines = [
      ['active_slabs', store.size > 0 ? 1 : 0],
      ['total_malloced', store.usedBytes],
    ];
  else if (sub === 'sizes') lines = [['sizes_status', 'disabled']];
  else {
    binaryError(target, p, Status.KEY_ENOENT);
    return;
  }
  for (const [name, value] of lines) {
    const text = String(value);
    header(target, p, Status.SUCCESS, 0, name.length, name.length + text.length, 0, 0);
    target.out.latin1(name + text);
  }
  header(target, p, Status.SUCCESS, 0, 0, 0, 0, 0);
}
