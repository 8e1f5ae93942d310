/**
 * Binary clients on a proxy port (moxi's b2b, moxi-spec §6.9). A keyed request is forwarded as the
 * client wrote it, with the vBucket id set and our opaque in place of the client's; the reply goes back
 * as the server wrote it, with the client's opaque restored. Quiet requests stay quiet: the server
 * answers only errors (and GETQ/GETKQ hits), which reach the client in request order.
 *
 * Binary clients always get a binary downstream, even with downstream_protocol=ascii (moxi has no
 * binary-to-text path and crashes there).
 *
 * Identical gets squash as text ones do (multiget.ts): a GET, GETQ, GETK or GETKQ of a key whose
 * identical request, same opcode, is still waiting to be written to the key's server takes that one's
 * answer, with its own opaque, instead of a fetch of its own; never for a client with requests still
 * unanswered at that server.
 */
import type { DownstreamOp, FailReason } from '../downstream/connection.ts';
import { FailReason as Fail, shareSlabs, writeFromSlabs } from '../downstream/connection.ts';
import { HEADER_LENGTH, HeaderOffset } from '../protocol/binary/header.ts';
import { encodeErrorResponse, encodeResponse } from '../protocol/binary/encoder.ts';
import { MUTATING_OPCODES, Opcode, Status, isQuiet, loudOf } from '../protocol/binary/opcodes.ts';
import type { BinaryPacket } from '../protocol/binary/parser.ts';
import { requestBytes } from '../util/byte-budget.ts';
import type { DownstreamServer } from '../downstream/server.ts';
import type { ProxyPool, Route } from './pool.ts';
import type { Reply, ReplySlot, ReplyWriter } from './request.ts';
import type { OutputQueue } from '../util/output-queue.ts';

/** The keyed opcodes memcached 1.6 answers; others are answered locally as unknown. */
export const FORWARDED_OPCODES: ReadonlySet<number> = new Set([
  Opcode.GET,
  Opcode.GETQ,
  Opcode.GETK,
  Opcode.GETKQ,
  Opcode.SET,
  Opcode.SETQ,
  Opcode.ADD,
  Opcode.ADDQ,
  Opcode.REPLACE,
  Opcode.REPLACEQ,
  Opcode.DELETE,
  Opcode.DELETEQ,
  Opcode.INCREMENT,
  Opcode.INCREMENTQ,
  Opcode.DECREMENT,
  Opcode.DECREMENTQ,
  Opcode.APPEND,
  Opcode.APPENDQ,
  Opcode.PREPEND,
  Opcode.PREPENDQ,
  Opcode.TOUCH,
  Opcode.GAT,
  Opcode.GATQ,
  Opcode.GATK,
  Opcode.GATKQ,
]);

/** The gets that squash (those without a value or extras to send). */
const SQUASHED_OPCODES: ReadonlySet<number> = new Set([Opcode.GET, Opcode.GETQ, Opcode.GETK, Opcode.GETKQ]);

/** The requests whose key counts as a get's (pstd_stats_cmd get_key): the gets and gats. */
const KEY_READING_OPCODES: ReadonlySet<number> = new Set([
  ...SQUASHED_OPCODES,
  Opcode.GAT,
  Opcode.GATQ,
  Opcode.GATK,
  Opcode.GATKQ,
]);

/** moxi's binary error bodies for failures it generates itself. */
const BUSY_TEXT = 'System is busy';
const INTERNAL_TEXT = 'Internal error';

/** moxi's binary reply for a failed request: EBUSY for timeouts, EINTERNAL for the rest. */
export function binaryFailure(opcode: number, opaque: number, reason: FailReason): Buffer {
  return reason === Fail.Timeout || reason === Fail.QueueTimeout
    ? encodeErrorResponse(opcode, Status.EBUSY, opaque, BUSY_TEXT)
    : encodeErrorResponse(opcode, Status.EINTERNAL, opaque, INTERNAL_TEXT);
}

/**
 * A packet with a different opaque: the header copied, the body shared. `head` is the whole frame, or
 * (a large value that came in several reads) its header, extras and key, followed by the value's pieces.
 */
function reopaque(head: Buffer, parts: readonly Buffer[] | null, opaque: number, vbucket?: number): Buffer[] {
  const header = Buffer.allocUnsafe(HEADER_LENGTH);
  head.copy(header, 0, 0, HEADER_LENGTH);
  header.writeUInt32BE(opaque, HeaderOffset.opaque);
  if (vbucket !== undefined) header.writeUInt16BE(vbucket, HeaderOffset.vbucket);
  const out = head.length > HEADER_LENGTH ? [header, head.subarray(HEADER_LENGTH)] : [header];
  if (parts !== null) out.push(...parts);
  return out;
}

/**
 * A server's reply whose large value came in pieces: written on as those pieces, never joined. They lie
 * in slabs of their own (ReadBuffer.expectValue) that nothing else refers to, so once the client's
 * socket has taken them they go back to the pool, as a text client's reply gives back its slabs.
 */
class PiecesReply implements ReplyWriter {
  /** Header (with the client's opaque), extras and key. */
  private readonly head: Buffer[];
  private readonly value: readonly Buffer[];

  constructor(packet: BinaryPacket, opaque: number) {
    this.head = reopaque(packet.head, null, opaque);
    this.value = packet.valueParts!;
  }

  writeTo(out: OutputQueue): void {
    for (const piece of this.head) out.bytes(piece);
    writeFromSlabs(out, this.value);
  }
}

export class BinaryKeyedRequest implements DownstreamOp {
  readonly quiet: boolean;
  private readonly pool: ProxyPool;
  private readonly slot: ReplySlot;
  /** The request as the client sent it: the whole frame, or header, extras and key before `parts`. */
  private readonly head: Buffer;
  /** A large value's pieces as they were read (a set), forwarded as they are; else null. */
  private readonly parts: readonly Buffer[] | null;
  private readonly key: Buffer;
  private readonly opcode: number;
  private readonly clientOpaque: number;
  private readonly affinity: number;
  private route: Route | null = null;
  private closeRetries = 0;
  private vbucketRetries = 0;
  /** Request bytes taken from the proxy's budget, given back when the request ends. */
  private readonly bytes: number;
  /** A mutation of a key the front cache may hold: the key is dropped when sent and when answered. */
  private readonly forgets: boolean;
  /** The slot of pool.unsentBinaryGets this get holds until it is written; -1: none. */
  private unsentSlot = -1;
  /** Where this get goes, while identical ones may join it (null: they may not). */
  private unsentServer: DownstreamServer | null = null;
  /** Identical gets answered with this one's reply. */
  private followers: BinaryKeyedRequest[] | null = null;
  /** A get or gat: its key is counted as a hit or a miss when it is answered. */
  private readonly readsKey: boolean;

  constructor(pool: ProxyPool, slot: ReplySlot, packet: BinaryPacket, affinity: number, bytes = 0) {
    this.pool = pool;
    this.bytes = bytes;
    this.forgets = pool.frontCache !== null && MUTATING_OPCODES.has(loudOf(packet.opcode));
    this.slot = slot;
    this.parts = packet.valueParts;
    this.head = this.parts === null ? packet.frame : packet.head;
    if (this.head.readUInt32BE(HeaderOffset.bodyLength) !== packet.bodyLength) {
      // a touch or gat whose header claims bytes past its key that memcached would not read as part of
      // it (the parser ended it there): the server gets the length it reads
      this.head = Buffer.from(this.head);
      this.head.writeUInt32BE(packet.bodyLength, HeaderOffset.bodyLength);
    }
    this.key = packet.key;
    this.opcode = packet.opcode;
    this.clientOpaque = packet.opaque;
    this.quiet = isQuiet(packet.opcode);
    this.affinity = affinity;
    this.readsKey = KEY_READING_OPCODES.has(packet.opcode);
  }

  start(): void {
    if (this.forgets) this.pool.forgetKey(this.key);
    this.route = this.pool.route(this.key);
    if (SQUASHED_OPCODES.has(this.opcode) && this.parts === null) this.sendOrJoin();
    else this.send();
  }

  /** Sends this get, unless an identical one not yet written answers it too (then joins that one). */
  private sendOrJoin(): void {
    const route = this.route!;
    const server = route.config.server(route.index);
    if (server === undefined) {
      this.send();
      return;
    }
    const table = this.pool.unsentBinaryGets;
    const slot = table.slotOf(this.key, 0, this.key.length, this.opcode);
    const leader = table.at(slot);
    if (leader !== undefined && leader.squash(this, server)) return;
    // held before sending: a server that fails it at once (blacklisted, closed) finishes it inside
    // send(), and finishing is what takes it out of the table again
    table.hold(slot, this);
    this.unsentSlot = slot;
    this.unsentServer = server;
    // held back behind the client's requests on the other protocol: not one for others to wait on
    if (!server.send(this, 'binary', this.affinity)) this.sent();
  }

  /** Takes `get` into this one if it asks the same of `server` and its client has nothing unanswered there. */
  private squash(get: BinaryKeyedRequest, server: DownstreamServer): boolean {
    if (this.unsentServer !== server || this.opcode !== get.opcode || !this.key.equals(get.key)) return false;
    if (!server.clientIdle(get.affinity)) return false;
    (this.followers ??= []).push(get);
    this.pool.counters.totGetsSquashed++;
    return true;
  }

  /** Written to the server (or over): no get may join it from now on. */
  private sent(): void {
    if (this.unsentSlot < 0) return;
    this.pool.unsentBinaryGets.release(this.unsentSlot, this);
    this.unsentSlot = -1;
    this.unsentServer = null;
  }

  /** Answers the gets that joined this one, each with its own opaque. */
  private answerFollowers(reply: (get: BinaryKeyedRequest) => Reply | Buffer): void {
    const followers = this.followers;
    if (followers === null) return;
    this.followers = null;
    for (const get of followers) get.finish(reply(get));
  }

  /** A get's answer, for it and the gets that joined it: found (with the value's bytes) or not. */
  private countKeys(found: boolean, valueBytes: number): void {
    if (!this.readsKey) return;
    const n = 1 + (this.followers?.length ?? 0);
    this.pool.commandStats.getKeys(n, found ? n : 0, found ? n * (valueBytes + 2) : 0);
  }

  private send(): void {
    const server = this.route?.config.server(this.route.index);
    if (server === undefined) {
      this.countKeys(false, 0);
      this.finish(this.failure(Fail.Closed));
      return;
    }
    server.send(this, 'binary', this.affinity);
  }

  encode(opaque: number): Buffer[] {
    this.sent();
    return reopaque(this.head, this.parts, opaque, this.route?.vbucket ?? 0);
  }

  onPacket(packet: BinaryPacket): boolean {
    // a quiet request too (moxi passed its NOT_MY_VBUCKET on: a SETQ during a rebalance was lost)
    if (packet.status === Status.NOT_MY_VBUCKET && this.route !== null) {
      const next = this.pool.nextRoute(this.route, this.key, this.vbucketRetries);
      if (next !== null) {
        this.vbucketRetries++;
        this.route = next;
        this.send();
        return true;
      }
    }
    this.countKeys(packet.status === Status.SUCCESS, packet.valueLength);
    if (packet.valueParts !== null) {
      const pieces = packet.valueParts;
      // every reply is written from the same slabs, given back after the last one's write
      this.answerFollowers((get) => {
        shareSlabs(pieces);
        return new PiecesReply(packet, get.clientOpaque);
      });
      this.finish(new PiecesReply(packet, this.clientOpaque));
    } else {
      this.answerFollowers((get) => reopaque(packet.frame, null, get.clientOpaque));
      this.finish(reopaque(packet.frame, null, this.clientOpaque));
    }
    return true;
  }

  onNoReply(): void {
    this.countKeys(false, 0);
    this.answerFollowers(() => '');
    this.finish('');
  }

  onFail(reason: FailReason, answered: boolean): void {
    const again = this.pool.retryKeyed(this.route, this.key, reason, answered, this.closeRetries);
    if (again !== null) {
      if (again.closeRetry) this.closeRetries++;
      this.route = again.route;
      this.send();
      return;
    }
    this.pool.countFailure(reason);
    this.countKeys(false, 0);
    this.answerFollowers((get) => get.failure(reason));
    this.finish(this.failure(reason));
  }

  /**
   * The answer when the server could not answer: moxi's EBUSY or EINTERNAL, except for a quiet get,
   * which misses (says nothing), as a text get of a host-list pool answers END (moxi-spec §7.4). A
   * multi-get of GETKQs then keeps the values of the servers that are up: libmemcached ends a binary
   * multi-get at the first error, and Dalli takes an error without a key for the closing NOOP and reads
   * the replies after it as the answers to its next requests.
   */
  private failure(reason: FailReason): Buffer | '' {
    if (this.opcode === Opcode.GETQ || this.opcode === Opcode.GETKQ) return '';
    return binaryFailure(this.opcode, this.clientOpaque, reason);
  }

  private finish(reply: Reply | Buffer): void {
    this.sent();
    if (this.bytes > 0) requestBytes.give(this.bytes);
    if (this.forgets) this.pool.forgetKey(this.key, true);
    this.slot.complete(Buffer.isBuffer(reply) ? [reply] : reply);
    this.pool.release();
  }
}

/** A locally answered binary request: success with an optional body. */
export function binarySuccess(opcode: number, opaque: number, body?: string): Buffer {
  return encodeResponse({ opcode, opaque, value: body });
}
