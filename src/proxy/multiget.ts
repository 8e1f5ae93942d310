/**
 * get / gets / gat / gats with one or many keys: keys are grouped by server and each distinct key is
 * fetched once; the reply lists the values in the client's key order, once per occurrence (as
 * memcached answers a multi-get), then one END. Only a gat whose exptime expires the item answers a
 * repeated key once: memcached finds the item it just touched expired. A server that fails or times
 * out costs only its keys, which are answered as misses (moxi's rule for static pools);
 * NOT_MY_VBUCKET sends the affected keys again to the master the map names next.
 *
 *   binary: GETK (one key) or GETKQ... NOOP per server (GATK / GATKQ for gat)
 *   text:   "get k1 k2 ...\r\n" per server ("gat <exptime> ..." for gat)
 *
 * Identical one-key gets squash: a get or gets of a key whose identical get (of any client) is still
 * waiting to be written downstream takes that one's answer instead of a fetch of its own. moxi had this
 * for gets already sent too, and disabled it (moxi-spec §6.5): a get joining a fetch the server may have
 * answered before a set the client saw completed reads the old value. A fetch not yet written is read
 * by the server after every get that joined it arrived and before any is answered, as if each had been
 * sent alone. A client with requests of its own still unanswered at the key's server does not join: its
 * get must be read after them.
 */
import {
  type DownstreamOp,
  type FailReason,
  releaseSlabsWhenWritten,
  shareSlabs,
} from '../downstream/connection.ts';
import type { DownstreamServer } from '../downstream/server.ts';
import { HEADER_LENGTH } from '../protocol/binary/header.ts';
import { Opcode, Status } from '../protocol/binary/opcodes.ts';
import type { BinaryPacket } from '../protocol/binary/parser.ts';
import type { TextResponse, ValueResponse } from '../protocol/ascii/response-parser.ts';
import { binaryExptime, touchExpiresItem, writeBinaryHead } from './codecs.ts';
import type { FrontCache } from './front-cache.ts';
import type { ProxyPool, Route } from './pool.ts';
import {
  RequestShape,
  failureText,
  type Reply,
  type ReplyAccount,
  type ReplySlot,
  type ReplyWriter,
} from './request.ts';
import { MemcachedError, ProxyError } from '../protocol/wire-errors.ts';
import { distinctKeys, sameBytes } from '../util/distinct-keys.ts';
import type { KeyList } from '../util/key-list.ts';
import { COPY_LIMIT, type OutputQueue } from '../util/output-queue.ts';

/** A value found by a binary batch (or a text one that could not keep the unit as received). */
class Hit {
  readonly flags: number;
  /**
   * The bytes holding the value at `offset` (a server's reply frame: no view of the value is made), or
   * a large value in the pieces it arrived in (written on as they are).
   */
  readonly value: Buffer | readonly Buffer[];
  readonly offset: number;
  readonly length: number;
  readonly cas: bigint;

  constructor(flags: number, value: Buffer | readonly Buffer[], offset: number, length: number, cas: bigint) {
    this.flags = flags;
    this.value = value;
    this.offset = offset;
    this.length = length;
    this.cas = cas;
  }
}

export interface GetOptions {
  withCas: boolean;
  touch: boolean;
  /** gat/gats exptime as the client gave it. */
  exptime: number;
}

const SPACE = 0x20;
/** The group of a one-key get: its only distinct key. */
const ONLY_KEY: readonly number[] = Object.freeze([0]);
const NONE_REFUSED: readonly number[] = Object.freeze([]);
/** A value found, as hits hold it: parsed, or the server's reply bytes holding its VALUE unit. */
type Found = Hit | Buffer | undefined;
const END = 'END\r\n';
/** In distinctOf: a repeated key answered as a miss. */
const REPEAT_MISSES = -1;

/**
 * A gat whose exptime expires the item: memcached touches and returns it for the key's first
 * occurrence and finds it expired for every repeat, so repeats miss (the key is fetched once).
 */
function missRepeats(distinctOf: Int32Array): void {
  let seen = 0;
  for (let i = 0; i < distinctOf.length; i++) {
    if (distinctOf[i] === seen) seen++;
    else distinctOf[i] = REPEAT_MISSES;
  }
}

export class MultiGetRequest implements ReplyWriter {
  private readonly pool: ProxyPool;
  private readonly slot: ReplySlot;
  private readonly affinity: number;
  private readonly options: GetOptions;
  /** The client's keys in order, duplicates included. */
  private readonly keys: KeyList;
  /**
   * The distinct keys (the same list as `keys` when there are no duplicates) and where each goes now;
   * batches name keys by their index here (no object per key: a multi-get's keys live until its reply).
   */
  private distinct: KeyList;
  /**
   * A one-key get's: where its key goes now, and its value once found: parsed, or the server's reply
   * bytes holding the VALUE unit to send exactly as received (where in them: `blocks`). Fields rather
   * than arrays: most gets have one key, and a request in flight keeps all it holds alive.
   */
  private firstRoute: Route | undefined = undefined;
  private firstHit: Found = undefined;
  /** The same for a multi-get, by distinct key index (null for a one-key get; see routeOf, hitAt). */
  private routes: Route[] | null = null;
  private hits: Found[] | null = null;
  /**
   * For each hit that is a server's reply bytes, at 3 x its distinct key index: where its VALUE unit
   * starts and ends there, and its value's length. Numbers in one array rather than an object per value
   * (made on the first such hit; a plain array: a typed one this size would be allocated off the heap).
   */
  private blocks: number[] | null = null;
  /**
   * For each of the client's keys, the index of its distinct key (null: the keys are all distinct), or
   * REPEAT_MISSES for a repeat that misses whatever the server holds.
   */
  private distinctOf: Int32Array | null = null;
  private outstanding = 0;
  private vbucketRetries = 0;
  private done = false;
  /** Why a batch failed, if one did (its keys are then misses, or the reply is the error). */
  private failure: FailReason | null = null;
  /** The front cache's sendMark when the keys were sent (values older than a later drop stay out). */
  private cacheMark = 0;
  /** The slot of pool.unsentGets this one-key get holds until its fetch is written; -1: none. */
  private unsentSlot = -1;
  /** Where this one-key get's fetch goes, while it may be joined (null: it may not). */
  private unsentServer: DownstreamServer | null = null;
  /** Identical gets that joined this one's fetch (squash()). */
  private followers: MultiGetRequest[] | null = null;

  /** The client's reply bytes, which a multi-get's values are held in until its reply is written. */
  private readonly account: ReplyAccount;
  /** Bytes of values this multi-get holds in `account`. */
  private heldBytes = 0;
  /** Its values passed the client's limit: they were let go, and the reply is an out-of-memory line. */
  private tooLarge = false;

  constructor(
    pool: ProxyPool,
    slot: ReplySlot,
    keys: KeyList,
    options: GetOptions,
    affinity: number,
    account: ReplyAccount,
  ) {
    this.pool = pool;
    this.slot = slot;
    this.keys = keys;
    this.distinct = keys;
    this.options = options;
    this.affinity = affinity;
    this.account = account;
  }

  start(): void {
    if (!this.pool.available && this.pool.clusterBucket) {
      // a bucket that left the cluster; a static pool without a usable map answers misses below
      this.finish(ProxyError.outOfDownstreams + '\r\n');
      return;
    }
    const counters = this.pool.counters;
    counters.totMultigetKeys += this.keys.length;
    // hold the request open while sending: a batch can fail synchronously (blacklisted server)
    this.outstanding++;
    const keys = this.keys;
    const distinctOf = keys.length === 1 ? null : distinctKeys(keys);
    if (distinctOf !== null) {
      const first: number[] = [];
      for (let i = 0; i < keys.length; i++) if (distinctOf[i] === first.length) first.push(i);
      this.distinct = keys.pick(first);
      this.distinctOf = distinctOf;
      const { touch, exptime } = this.options;
      if (touch && touchExpiresItem(exptime, Math.floor(Date.now() / 1000))) missRepeats(distinctOf);
    }
    const distinct = this.distinct;
    counters.totMultigetKeysDeduped += keys.length - distinct.length;
    // arrays of their final size: grown from empty, each would take room for 17
    const n = distinct.length;
    if (n === 1) {
      this.firstRoute = this.pool.routeIn(distinct.source, distinct.starts[0], distinct.ends[0]);
    } else {
      this.hits = new Array<Found>(n);
      const routes = new Array<Route>(n);
      this.pool.routeAll(distinct, routes);
      this.routes = routes;
    }
    const cache = this.pool.frontCache;
    if (cache !== null) this.cacheMark = cache.sendMark;
    if (cache !== null && !this.options.withCas && !this.options.touch) {
      const misses = this.fromFrontCache(cache);
      if (n === 1 && misses.length === 1) this.fetchOnly();
      else if (misses.length > 0) this.fetch(misses);
    } else if (n > 1) {
      const indexes = new Array<number>(n);
      for (let i = 0; i < n; i++) indexes[i] = i;
      this.fetch(indexes);
    } else {
      this.fetchOnly();
    }
    if (--this.outstanding === 0) this.complete();
  }

  /** Fetches the only key, unless an identical get's unsent fetch answers it too. */
  private fetchOnly(): void {
    if (this.options.touch) {
      this.fetch(ONLY_KEY);
      return;
    }
    const route = this.firstRoute!;
    const server = route.config.server(route.index);
    if (server === undefined) return; // no owner: a miss
    const { source, starts, ends } = this.distinct;
    const table = this.pool.unsentGets;
    const slot = table.slotOf(source, starts[0], ends[0], this.options.withCas ? 1 : 0);
    const leader = table.at(slot);
    if (leader !== undefined && leader.squash(this, server)) return;
    this.outstanding++;
    // a fetch held back behind its client's other requests at the server waits for their answers:
    // not one for other clients to wait on
    if (!this.send(server, ONLY_KEY)) return;
    table.hold(slot, this);
    this.unsentSlot = slot;
    this.unsentServer = server;
  }

  /**
   * Takes `get` (a one-key get for `server`) into this one's unsent fetch if it asks the same: same key,
   * verb and server, and its client has nothing unanswered at the server (so nothing it sent before can
   * be read after this fetch).
   */
  private squash(get: MultiGetRequest, server: DownstreamServer): boolean {
    if (this.unsentServer !== server || this.options.withCas !== get.options.withCas) return false;
    const a = this.distinct;
    const b = get.distinct;
    const length = a.ends[0] - a.starts[0];
    if (b.ends[0] - b.starts[0] !== length) return false;
    if (!sameBytes(a.source, a.starts[0], b.source, b.starts[0], length)) return false;
    if (!server.clientIdle(get.affinity)) return false;
    (this.followers ??= []).push(get);
    get.outstanding++;
    this.pool.counters.totGetsSquashed++;
    return true;
  }

  /** @internal The fetch is being written downstream: from now on no get may join it. */
  sent(): void {
    if (this.unsentSlot < 0) return;
    this.pool.unsentGets.release(this.unsentSlot, this);
    this.unsentSlot = -1;
    this.unsentServer = null;
  }

  /** The get this one joined (`leader`) is answered: so is this one, the same. */
  private answeredBy(leader: MultiGetRequest): void {
    const hit = leader.firstHit;
    if (hit instanceof Hit && !(hit.value instanceof Uint8Array)) {
      // a large value in read slabs: its slabs go back to the pool after the last reply's write
      shareSlabs(hit.value);
    } else if (hit !== undefined && !(hit instanceof Hit)) {
      this.blocks = leader.blocks!.slice(0, 3);
    }
    this.firstHit = hit;
    this.failure = leader.failure;
    if (--this.outstanding === 0) this.complete();
  }

  /** Answers the distinct keys the front cache holds live values of; returns the others, to be fetched. */
  private fromFrontCache(cache: FrontCache): number[] {
    const { source, starts, ends, length } = this.distinct;
    const now = performance.now();
    const misses: number[] = [];
    for (let i = 0; i < length; i++) {
      const item = cache.wants(source, starts[i], ends[i])
        ? cache.get(source.toString('latin1', starts[i], ends[i]), now)
        : undefined;
      if (item === undefined) misses.push(i);
      else this.setHit(i, new Hit(item.flags, item.value, 0, item.value.length, 0n));
    }
    return misses;
  }

  /** Offers a value a server returned to the front cache, if the key is one it keeps. */
  private offer(index: number, flags: number, value: Buffer | readonly Buffer[], length: number): void {
    const cache = this.pool.frontCache!;
    const { source, starts, ends } = this.distinct;
    if (!cache.wants(source, starts[index], ends[index])) return;
    const key = source.toString('latin1', starts[index], ends[index]);
    cache.add(key, flags, value, length, performance.now(), this.cacheMark);
  }

  /** @internal The distinct keys, which batches name by index. */
  get distinctKeys(): KeyList {
    return this.distinct;
  }

  /** @internal Appends distinct key `index` to `out` (no view made). */
  writeKey(out: OutputQueue, index: number): void {
    const distinct = this.distinct;
    out.range(distinct.source, distinct.starts[index], distinct.ends[index]);
  }

  /** @internal Whether `unit` is the VALUE of distinct key `index`. */
  answers(unit: ValueResponse, index: number): boolean {
    const distinct = this.distinct;
    return unit.keyEquals(distinct.source, distinct.starts[index], distinct.ends[index]);
  }

  /** @internal Where distinct key `index` goes now. */
  routeOf(index: number): Route {
    return this.routes === null ? this.firstRoute! : this.routes[index];
  }

  private setRoute(index: number, route: Route): void {
    if (this.routes === null) this.firstRoute = route;
    else this.routes[index] = route;
  }

  private hitAt(index: number): Found {
    return this.hits === null ? this.firstHit : this.hits[index];
  }

  private setHit(index: number, hit: Found): void {
    if (this.hits === null) this.firstHit = hit;
    else this.hits[index] = hit;
  }

  /** Groups distinct keys (by index) by the server their route names and sends one batch to each. */
  private fetch(indexes: readonly number[]): void {
    if (indexes.length === 1) {
      // the usual one-key get: no grouping
      const route = this.routeOf(indexes[0]);
      const server = route.config.server(route.index);
      if (server === undefined) return; // no owner: a miss
      this.outstanding++;
      this.send(server, indexes);
      return;
    }
    const groups = new Map<DownstreamServer, number[]>();
    for (const index of indexes) {
      const route = this.routeOf(index);
      const server = route.config.server(route.index);
      if (server === undefined) continue; // no owner: a miss
      let group = groups.get(server);
      if (group === undefined) groups.set(server, (group = []));
      group.push(index);
    }
    this.outstanding += groups.size;
    for (const [server, group] of groups) this.send(server, group);
  }

  /** Sends a batch of `group` to `server`; false if the server holds it back (see DownstreamServer.send). */
  private send(server: DownstreamServer, group: readonly number[]): boolean {
    // Several keys for one server of a host list go as one text "get k1 k2 ...": memcached serves that
    // at about 70% of the CPU of as many GETKQs. vBucket pools need the binary header's vbucket id, and
    // SASL buckets binary logins, so they stay binary.
    const protocol =
      this.pool.protocol === 'binary' && (group.length === 1 || !this.pool.textMultiGet) ? 'binary' : 'ascii';
    const batch =
      protocol === 'binary'
        ? new BinaryGetBatch(this, group, this.options)
        : new TextGetBatch(this, group, this.options);
    return server.send(batch, protocol, this.affinity);
  }

  /**
   * Whether a value of `length` bytes that arrived for this get is kept: a multi-get holds its values in
   * the client's account, and once they would pass its limit (CLIENT_REPLY_LIMIT) it lets all of them go.
   * A one-key get keeps its value: the client's window bounds how many it has in flight.
   */
  private keep(length: number): boolean {
    if (this.keys.length === 1) return true;
    if (this.tooLarge) return false;
    if (this.account.holdReplyBytes(length)) {
      this.heldBytes += length;
      return true;
    }
    this.tooLarge = true;
    this.pool.counters.errOom++;
    this.firstHit = undefined;
    this.hits?.fill(undefined);
    this.blocks = null;
    this.releaseHeld();
    return false;
  }

  private releaseHeld(): void {
    if (this.heldBytes === 0) return;
    this.account.releaseReplyBytes(this.heldBytes);
    this.heldBytes = 0;
  }

  /** @internal A batch found the value of distinct key `index`: `length` bytes of `value` at `offset`. */
  hit(
    index: number,
    flags: number,
    value: Buffer | readonly Buffer[],
    offset: number,
    length: number,
    cas: bigint,
  ): void {
    if (!this.keep(length)) return;
    this.setHit(index, new Hit(flags, value, offset, length, cas));
    if (this.pool.frontCache === null) return;
    const whole = value instanceof Uint8Array && offset > 0 ? value.subarray(offset, offset + length) : value;
    this.offer(index, flags, whole, length);
  }

  /**
   * @internal A text batch found distinct key `index`: a VALUE unit that arrived in one piece, which is
   * the client's reply as it is (its `blockSource` is not null).
   */
  hitUnit(index: number, unit: ValueResponse): void {
    if (!this.keep(unit.bytes)) return;
    const blocks = (this.blocks ??= new Array<number>(3 * this.distinct.length));
    blocks[3 * index] = unit.blockStart;
    blocks[3 * index + 1] = unit.blockEnd;
    blocks[3 * index + 2] = unit.bytes;
    this.setHit(index, unit.blockSource!);
    if (this.pool.frontCache !== null) this.offer(index, unit.flags, unit.data, unit.bytes);
  }

  /** @internal A batch is over; `refused` holds keys a server answered NOT_MY_VBUCKET for. */
  batchDone(refused: readonly number[]): void {
    if (refused.length > 0) {
      // learn each refused vBucket's next master once, then send its keys there
      const next = new Map<string, Route | null>();
      const again: number[] = [];
      for (const r of refused) {
        const old = this.routeOf(r);
        const key = this.distinct.key(r);
        const id = `${old.index}/${old.vbucket}`;
        if (!next.has(id)) next.set(id, this.pool.nextRoute(old, key, this.vbucketRetries));
        const route = next.get(id);
        if (route == null) continue;
        // a fresh configuration routes each key by itself; a learned master serves the whole vBucket
        this.setRoute(r, route.config === old.config ? route : route.config.route(key));
        again.push(r);
      }
      if (again.length > 0) {
        this.vbucketRetries++;
        this.fetch(again);
      }
    }
    if (--this.outstanding === 0) this.complete();
  }

  /**
   * @internal A batch failed: its keys are misses, unless a newer configuration routes them elsewhere
   * (their server may have left the cluster).
   */
  batchFailed(reason: FailReason, group: readonly number[], answered: boolean): void {
    this.failure ??= reason;
    const again: number[] = [];
    for (const index of group) {
      const moved = this.pool.rerouteAfterFailure(
        this.routeOf(index),
        this.distinct.key(index),
        reason,
        answered,
      );
      if (moved === null) continue;
      this.setRoute(index, moved);
      again.push(index);
    }
    // keys a newer configuration sends elsewhere are asked again: no failure, unless some are not
    if (again.length < group.length) this.pool.countFailure(reason);
    if (again.length > 0) this.fetch(again);
    if (--this.outstanding === 0) this.complete();
  }

  private complete(): void {
    if (this.done) return;
    this.done = true;
    this.sent();
    if (this.followers !== null) {
      for (const get of this.followers) get.answeredBy(this);
    }
    if (this.tooLarge) {
      this.countKeys(false);
      this.finish(MemcachedError.outOfMemoryGet + '\r\n');
      return;
    }
    const failure = this.pool.getErrorsAsText ? this.failure : null;
    this.countKeys(failure === null);
    if (failure !== null) {
      // a cluster's vBucket buckets report a failed get (moxi-spec §6.5); static pools answer misses
      this.releaseHeld();
      this.finish(failureText(failure, RequestShape.Retrieval, null) + '\r\n');
      return;
    }
    this.finish(this);
  }

  /** pstd_stats_cmd get_key: every key the client asked, a hit when its value is in the reply. */
  private countKeys(answered: boolean): void {
    const n = this.keys.length;
    let hits = 0;
    let bytes = 0;
    if (answered) {
      const distinctOf = this.distinctOf;
      for (let i = 0; i < n; i++) {
        const index = distinctOf === null ? i : distinctOf[i];
        if (index === REPEAT_MISSES) continue;
        const hit = this.hitAt(index);
        if (hit === undefined) continue;
        hits++;
        bytes += (hit instanceof Hit ? hit.length : this.blocks![3 * index + 2]) + 2;
      }
    }
    this.pool.commandStats.getKeys(n, hits, bytes);
  }

  /** The reply, written into the client's output when its turn comes: values in the client's key order. */
  writeTo(out: OutputQueue): void {
    const { withCas } = this.options;
    const distinctOf = this.distinctOf;
    const keys = this.keys;
    // VALUE units that lie one after the other in a server's reply (consecutive keys of one server, in
    // the order asked) go out as one range: one copy instead of one per value. Runs stay short enough
    // to be copied: a longer range would be queued by reference and keep the server's 64 KB read alive
    // until the client's write (bench multi-get: peak RSS 66 -> 120 MB, p999 8 -> 13 ms).
    let run: Buffer | null = null;
    let runStart = 0;
    let runEnd = 0;
    /** Large values written from read slabs. */
    let slabbed: Array<readonly Buffer[]> | null = null;
    for (let i = 0; i < keys.length; i++) {
      const index = distinctOf === null ? i : distinctOf[i];
      if (index === REPEAT_MISSES) continue;
      const hit = this.hitAt(index);
      if (hit === undefined) continue;
      if (!(hit instanceof Hit)) {
        const start = this.blocks![3 * index];
        const end = this.blocks![3 * index + 1];
        if (hit === run && start === runEnd && end - runStart < COPY_LIMIT) {
          runEnd = end;
          continue;
        }
        if (run !== null) out.range(run, runStart, runEnd);
        run = hit;
        runStart = start;
        runEnd = end;
        continue;
      }
      if (run !== null) {
        out.range(run, runStart, runEnd);
        run = null;
      }
      out.latin1('VALUE ');
      out.range(keys.source, keys.starts[i], keys.ends[i]);
      out.byte(SPACE);
      out.decimal(hit.flags);
      out.byte(SPACE);
      out.decimal(hit.length);
      if (withCas) {
        out.byte(SPACE);
        out.latin1(hit.cas.toString());
      }
      out.latin1('\r\n');
      const value = hit.value;
      if (value instanceof Uint8Array) out.range(value, hit.offset, hit.offset + hit.length);
      else {
        for (const piece of value) out.bytes(piece);
        // released once per reply, after its last copy of the value (a key asked twice)
        if (slabbed === null) slabbed = [value];
        else if (!slabbed.includes(value)) slabbed.push(value);
      }
      out.latin1('\r\n');
    }
    if (run !== null) out.range(run, runStart, runEnd);
    out.latin1(END);
    // the values are in the client's output now, counted there (the socket's writableLength)
    this.releaseHeld();
    if (slabbed !== null) for (const pieces of slabbed) releaseSlabsWhenWritten(out, pieces);
  }

  private finish(reply: Reply): void {
    this.slot.complete(reply);
    this.pool.release();
  }
}

/** Binary batch: GETK for one key, else GETKQ per key and a NOOP; consecutive opaques. */
class BinaryGetBatch implements DownstreamOp {
  readonly quiet = false;
  readonly opaqueCount: number;
  private base = 0;
  private readonly request: MultiGetRequest;
  /** Distinct key indexes of the request. */
  private readonly group: readonly number[];
  private readonly options: GetOptions;
  /** Keys answered NOT_MY_VBUCKET (made on the first). */
  private refused: number[] | null = null;

  constructor(request: MultiGetRequest, group: readonly number[], options: GetOptions) {
    this.request = request;
    this.group = group;
    this.options = options;
    this.opaqueCount = group.length + 1;
  }

  /** Key i goes out with opaque `opaque + i` (so an error reply names its key), the NOOP last. */
  encode(opaque: number, out: OutputQueue): undefined {
    this.base = opaque;
    this.request.sent();
    const group = this.group;
    const single = group.length === 1;
    let extras: Buffer | null = null;
    if (this.options.touch) {
      extras = Buffer.allocUnsafe(4);
      extras.writeUInt32BE(binaryExptime(this.options.exptime) >>> 0, 0);
    }
    const opcode = this.options.touch
      ? single
        ? Opcode.GATK
        : Opcode.GATKQ
      : single
        ? Opcode.GETK
        : Opcode.GETKQ;
    const request = this.request;
    const { source, starts, ends } = request.distinctKeys;
    for (let i = 0; i < group.length; i++) {
      const index = group[i];
      const vbucket = request.routeOf(index).vbucket;
      writeBinaryHead(out, opcode, opaque + i, vbucket, source, starts[index], ends[index], extras, 0);
    }
    if (!single) writeBinaryHead(out, Opcode.NOOP, opaque + group.length, 0, EMPTY, 0, 0, null, 0);
    return undefined;
  }

  onPacket(p: BinaryPacket): boolean {
    if (p.opcode === Opcode.NOOP) {
      this.request.batchDone(this.refused ?? NONE_REFUSED);
      return true;
    }
    if (p.status === Status.SUCCESS && p.extrasLength >= 4) {
      const i = p.opaque - this.base;
      if (i >= 0 && i < this.group.length) {
        const parts = p.valueParts;
        this.request.hit(
          this.group[i],
          p.head.readUInt32BE(HEADER_LENGTH),
          parts ?? p.frame,
          parts === null ? HEADER_LENGTH + p.extrasLength + p.keyLength : 0,
          p.valueLength,
          this.options.withCas ? p.cas : 0n,
        );
      }
    } else if (p.status === Status.NOT_MY_VBUCKET) {
      const i = p.opaque - this.base;
      if (i >= 0 && i < this.group.length) (this.refused ??= []).push(this.group[i]);
    }
    if (this.group.length === 1) {
      this.request.batchDone(this.refused ?? NONE_REFUSED);
      return true;
    }
    return false;
  }

  onFail(reason: FailReason, answered: boolean): void {
    this.request.batchFailed(reason, this.group, answered);
  }
}

const EMPTY = Buffer.alloc(0);

/**
 * Text batch: one "get k1 k2 ..." line, VALUE units until END. A get or gets may share its line with other
 * clients' batches queued behind it on the same connection; the reply's VALUEs then come in the order of
 * the shared line's keys, so each batch takes those of its own keys and leaves the rest to the next.
 */
class TextGetBatch implements DownstreamOp {
  readonly quiet = false;
  readonly shareVerb: string | null;
  private readonly request: MultiGetRequest;
  /** Distinct key indexes of the request. */
  private readonly group: readonly number[];
  private readonly options: GetOptions;
  /** Next key of the group a VALUE may answer. */
  private cursor = 0;

  constructor(request: MultiGetRequest, group: readonly number[], options: GetOptions) {
    this.request = request;
    this.group = group;
    this.options = options;
    // gat lines stay alone: memcached accepts lines over 2 KB only for get and gets
    this.shareVerb = options.touch ? null : options.withCas ? 'gets' : 'get';
  }

  encode(_opaque: number, out: OutputQueue): undefined {
    const { withCas, exptime } = this.options;
    out.latin1(this.shareVerb ?? (withCas ? `gats ${exptime}` : `gat ${exptime}`));
    this.encodeShared(out);
    out.latin1('\r\n');
    return undefined;
  }

  encodeShared(out: OutputQueue): void {
    const request = this.request;
    request.sent();
    for (const index of this.group) {
      out.byte(SPACE);
      request.writeKey(out, index);
    }
  }

  takeValue(unit: ValueResponse): boolean {
    // memcached answers in the order asked, skipping misses
    const group = this.group;
    const request = this.request;
    while (this.cursor < group.length && !request.answers(unit, group[this.cursor])) this.cursor++;
    if (this.cursor === group.length) return false;
    const index = group[this.cursor];
    if (unit.blockSource !== null) this.request.hitUnit(index, unit);
    else this.request.hit(index, unit.flags, unit.data, 0, unit.bytes, unit.cas ?? 0n);
    this.cursor++;
    return true;
  }

  endShare(): void {
    this.request.batchDone(NONE_REFUSED);
  }

  onUnit(unit: TextResponse): boolean {
    if (unit.kind === 'VALUE') {
      this.takeValue(unit);
      return false;
    }
    // END, or an error line that ends the reply: whatever arrived so far stands
    this.request.batchDone(NONE_REFUSED);
    return true;
  }

  onFail(reason: FailReason, answered: boolean): void {
    this.request.batchFailed(reason, this.group, answered);
  }
}
