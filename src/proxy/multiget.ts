/**
 * get / gets / gat / gats with one or many keys: keys are grouped by server and each distinct key is
 * fetched once; the reply lists the values in the client's key order, once per occurrence (as
 * memcached answers a multi-get), then one END. A server that fails or times out costs only its keys,
 * which are answered as misses (moxi's rule for static pools); NOT_MY_VBUCKET sends the affected keys
 * again to the master the map names next.
 *
 *   binary: GETK (one key) or GETKQ... NOOP per server (GATK / GATKQ for gat)
 *   text:   "get k1 k2 ...\r\n" per server ("gat <exptime> ..." for gat)
 */
import { type DownstreamOp, type FailReason, FailReason as Fail } from '../downstream/connection.ts';
import type { DownstreamServer } from '../downstream/server.ts';
import { HEADER_LENGTH } from '../protocol/binary/header.ts';
import { Opcode, Status } from '../protocol/binary/opcodes.ts';
import type { BinaryPacket } from '../protocol/binary/parser.ts';
import type { TextResponse, ValueResponse } from '../protocol/ascii/response-parser.ts';
import { binaryExptime, writeBinaryHead } from './codecs.ts';
import type { ProxyPool, Route } from './pool.ts';
import { RequestShape, failureText, type Reply, type ReplySlot, type ReplyWriter } from './request.ts';
import { ProxyError } from '../protocol/wire-errors.ts';
import { distinctKeys } from '../util/distinct-keys.ts';
import type { OutputQueue } from '../util/output-queue.ts';

/** A distinct key of the request, where it goes, and its position among the distinct keys. */
interface KeyEntry {
  key: Buffer;
  route: Route;
  index: number;
}

interface Hit {
  flags: number;
  value: Buffer;
  cas: bigint;
}

export interface GetOptions {
  withCas: boolean;
  touch: boolean;
  /** gat/gats exptime as the client gave it. */
  exptime: number;
}

const SPACE = 0x20;
const END = 'END\r\n';

export class MultiGetRequest implements ReplyWriter {
  private readonly pool: ProxyPool;
  private readonly slot: ReplySlot;
  private readonly affinity: number;
  private readonly options: GetOptions;
  /** The client's keys in order, duplicates included. */
  private readonly keys: Buffer[];
  /** Values found, by distinct key index: parsed, or the VALUE unit to send as it is. */
  private readonly hits: Array<Hit | Buffer | undefined> = [];
  /** For each of the client's keys, the index of its distinct key (null: the keys are all distinct). */
  private distinctOf: Int32Array | null = null;
  private outstanding = 0;
  private vbucketRetries = 0;
  private done = false;
  /** Why a batch failed, if one did (its keys are then misses, or the reply is the error). */
  private failure: FailReason | null = null;

  constructor(pool: ProxyPool, slot: ReplySlot, keys: Buffer[], options: GetOptions, affinity: number) {
    this.pool = pool;
    this.slot = slot;
    this.keys = keys;
    this.options = options;
    this.affinity = affinity;
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
    if (keys.length === 1) {
      const key = keys[0];
      this.fetch([{ key, route: this.pool.route(key), index: 0 }]);
    } else {
      const distinctOf = distinctKeys(keys);
      const entries: KeyEntry[] = [];
      if (distinctOf === null) {
        for (let i = 0; i < keys.length; i++)
          entries.push({ key: keys[i], route: this.pool.route(keys[i]), index: i });
      } else {
        for (let i = 0; i < keys.length; i++) {
          if (distinctOf[i] === entries.length)
            entries.push({ key: keys[i], route: this.pool.route(keys[i]), index: entries.length });
        }
        this.distinctOf = distinctOf;
      }
      counters.totMultigetKeysDeduped += keys.length - entries.length;
      this.fetch(entries);
    }
    if (--this.outstanding === 0) this.complete();
  }

  /** Groups keys by the server their route names and sends one batch to each. */
  private fetch(keys: ReadonlyArray<KeyEntry>): void {
    if (keys.length === 1) {
      // the usual one-key get: no grouping
      const server = keys[0].route.config.server(keys[0].route.index);
      if (server === undefined) return; // no owner: a miss
      this.outstanding++;
      this.send(server, keys);
      return;
    }
    const groups = new Map<DownstreamServer, Array<KeyEntry>>();
    for (const entry of keys) {
      const server = entry.route.config.server(entry.route.index);
      if (server === undefined) continue; // no owner: a miss
      let group = groups.get(server);
      if (group === undefined) groups.set(server, (group = []));
      group.push(entry);
    }
    this.outstanding += groups.size;
    for (const [server, group] of groups) this.send(server, group);
  }

  private send(server: DownstreamServer, group: ReadonlyArray<KeyEntry>): void {
    // Several keys for one server of a host list go as one text "get k1 k2 ...": memcached serves that
    // at about 70% of the CPU of as many GETKQs. vBucket pools need the binary header's vbucket id, and
    // SASL buckets binary logins, so they stay binary.
    const protocol =
      this.pool.protocol === 'binary' && (group.length === 1 || !this.pool.textMultiGet) ? 'binary' : 'ascii';
    const batch =
      protocol === 'binary'
        ? new BinaryGetBatch(this, group, this.options)
        : new TextGetBatch(this, group, this.options);
    server.send(batch, protocol, this.affinity);
  }

  /** @internal A batch found the value of distinct key `index`. */
  hit(index: number, flags: number, value: Buffer, cas: bigint): void {
    this.hits[index] = { flags, value, cas };
  }

  /** @internal A text batch found distinct key `index`: its VALUE unit as received, the client's reply. */
  hitBlock(index: number, block: Buffer): void {
    this.hits[index] = block;
  }

  /** @internal A batch is over; `refused` holds keys a server answered NOT_MY_VBUCKET for. */
  batchDone(refused: ReadonlyArray<KeyEntry>): void {
    if (refused.length > 0) {
      // learn each refused vBucket's next master once, then send its keys there
      const next = new Map<string, Route | null>();
      const again: Array<KeyEntry> = [];
      for (const r of refused) {
        const id = `${r.route.index}/${r.route.vbucket}`;
        if (!next.has(id)) next.set(id, this.pool.nextRoute(r.route, r.key, this.vbucketRetries));
        const route = next.get(id);
        if (route == null) continue;
        // a fresh configuration routes each key by itself; a learned master serves the whole vBucket
        again.push({
          key: r.key,
          index: r.index,
          route: route.config === r.route.config ? route : route.config.route(r.key),
        });
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
  batchFailed(reason: FailReason, group: ReadonlyArray<KeyEntry>, answered: boolean): void {
    if (reason === Fail.Timeout) this.pool.counters.totDownstreamTimeouts++;
    else if (reason === Fail.Connect) this.pool.counters.totDownstreamConnectFailures++;
    this.failure ??= reason;
    const again: Array<KeyEntry> = [];
    for (const entry of group) {
      const moved = this.pool.rerouteAfterFailure(entry.route, entry.key, reason, answered);
      if (moved !== null) again.push({ key: entry.key, route: moved, index: entry.index });
    }
    if (again.length > 0) this.fetch(again);
    if (--this.outstanding === 0) this.complete();
  }

  private complete(): void {
    if (this.done) return;
    this.done = true;
    if (this.failure !== null && this.pool.getErrorsAsText) {
      // a cluster's vBucket buckets report a failed get (moxi-spec §6.5); static pools answer misses
      this.finish(failureText(this.failure, RequestShape.Retrieval, null) + '\r\n');
      return;
    }
    this.finish(this);
  }

  /** The reply, written into the client's output when its turn comes: values in the client's key order. */
  writeTo(out: OutputQueue): void {
    const { withCas } = this.options;
    const distinctOf = this.distinctOf;
    for (let i = 0; i < this.keys.length; i++) {
      const hit = this.hits[distinctOf === null ? i : distinctOf[i]];
      if (hit === undefined) continue;
      if (hit instanceof Uint8Array) {
        out.bytes(hit);
        continue;
      }
      out.latin1('VALUE ');
      out.bytes(this.keys[i]);
      out.byte(SPACE);
      out.decimal(hit.flags);
      out.byte(SPACE);
      out.decimal(hit.value.length);
      if (withCas) {
        out.byte(SPACE);
        out.latin1(hit.cas.toString());
      }
      out.latin1('\r\n');
      out.bytes(hit.value);
      out.latin1('\r\n');
    }
    out.latin1(END);
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
  private readonly group: ReadonlyArray<KeyEntry>;
  private readonly options: GetOptions;
  private readonly refused: Array<KeyEntry> = [];

  constructor(request: MultiGetRequest, group: ReadonlyArray<KeyEntry>, options: GetOptions) {
    this.request = request;
    this.group = group;
    this.options = options;
    this.opaqueCount = group.length + 1;
  }

  /** Key i goes out with opaque `opaque + i` (so an error reply names its key), the NOOP last. */
  encode(opaque: number, out: OutputQueue): undefined {
    this.base = opaque;
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
    for (let i = 0; i < group.length; i++) {
      writeBinaryHead(out, opcode, opaque + i, group[i].route.vbucket, group[i].key, extras, 0);
    }
    if (!single) writeBinaryHead(out, Opcode.NOOP, opaque + group.length, 0, EMPTY, null, 0);
    return undefined;
  }

  onPacket(p: BinaryPacket): boolean {
    if (p.opcode === Opcode.NOOP) {
      this.request.batchDone(this.refused);
      return true;
    }
    if (p.status === Status.SUCCESS && p.extrasLength >= 4) {
      const i = p.opaque - this.base;
      if (i >= 0 && i < this.group.length) {
        this.request.hit(
          this.group[i].index,
          p.frame.readUInt32BE(HEADER_LENGTH),
          p.value,
          this.options.withCas ? p.cas : 0n,
        );
      }
    } else if (p.status === Status.NOT_MY_VBUCKET) {
      const i = p.opaque - this.base;
      if (i >= 0 && i < this.group.length) this.refused.push(this.group[i]);
    }
    if (this.group.length === 1) {
      this.request.batchDone(this.refused);
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
  private readonly group: ReadonlyArray<KeyEntry>;
  private readonly options: GetOptions;
  /** Next key of the group a VALUE may answer. */
  private cursor = 0;

  constructor(request: MultiGetRequest, group: ReadonlyArray<KeyEntry>, options: GetOptions) {
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
    for (const { key } of this.group) {
      out.byte(SPACE);
      out.bytes(key);
    }
  }

  takeValue(unit: ValueResponse): boolean {
    // memcached answers in the order asked, skipping misses
    const group = this.group;
    while (this.cursor < group.length && !unit.keyEquals(group[this.cursor].key)) this.cursor++;
    if (this.cursor === group.length) return false;
    const index = group[this.cursor].index;
    const block = unit.block;
    if (block !== null) this.request.hitBlock(index, block);
    else this.request.hit(index, unit.flags, unit.data, unit.cas ?? 0n);
    this.cursor++;
    return true;
  }

  endShare(): void {
    this.request.batchDone([]);
  }

  onUnit(unit: TextResponse): boolean {
    if (unit.kind === 'VALUE') {
      this.takeValue(unit);
      return false;
    }
    // END, or an error line that ends the reply: whatever arrived so far stands
    this.request.batchDone([]);
    return true;
  }

  onFail(reason: FailReason, answered: boolean): void {
    this.request.batchFailed(reason, this.group, answered);
  }
}
