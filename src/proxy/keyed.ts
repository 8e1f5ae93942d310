/**
 * Single-key requests (storage, incr/decr, delete, touch, meta commands): route the key, send one op to
 * its server, turn the reply into the client's text reply, and retry where moxi does: once more on a new
 * connection when the connection closed before any reply (downstream_retry), and on NOT_MY_VBUCKET to
 * the master the vBucket map names next (at most 2 x servers times; noreply requests too, which moxi
 * did not retry).
 *
 * Text downstream (a2a and every meta command) carries the client's line as is, minus noreply / q: the
 * server then always answers and the proxy drops the reply the client did not want, which keeps the
 * connection's replies in step with its requests whatever the server says.
 */
import type { DownstreamOp, FailReason } from '../downstream/connection.ts';
import type { DownstreamServer } from '../downstream/server.ts';
import type { TextResponse } from '../protocol/ascii/response-parser.ts';
import type { BinaryPacket } from '../protocol/binary/parser.ts';
import { Status } from '../protocol/binary/opcodes.ts';
import { requestBytes } from '../util/byte-budget.ts';
import { ProxyError } from '../protocol/wire-errors.ts';
import type { ProxyPool, Route } from './pool.ts';
import { RequestShape, failureText, type Reply, type ReplySlot } from './request.ts';

/** How one kind of keyed command is written and read, for one downstream protocol. */
export interface KeyedCodec {
  readonly protocol: 'binary' | 'ascii';
  /** Binary: a quiet opcode is used (noreply), so success brings no reply. */
  readonly quiet: boolean;
  encode(opaque: number, vbucket: number): Buffer | readonly Buffer[];
  /** Binary: the client's reply for the server's response. */
  fromPacket?(packet: BinaryPacket): Reply;
  /** Text: the client's reply for the server's reply line (and data), or MORE_UNITS until it ends. */
  fromUnit?(unit: TextResponse): Reply | typeof MORE_UNITS;
}

/** What fromUnit returns for a unit that does not end its command's reply. */
export const MORE_UNITS = Symbol('more units');

const CRLF = '\r\n';

export class KeyedRequest implements DownstreamOp {
  readonly quiet: boolean;
  private readonly pool: ProxyPool;
  private readonly slot: ReplySlot | null;
  private readonly key: Buffer;
  private readonly codec: KeyedCodec;
  private readonly affinity: number;
  private server: DownstreamServer | null = null;
  private route: Route | null = null;
  private closeRetries = 0;
  private vbucketRetries = 0;
  /** Request bytes taken from the proxy's budget, given back when the request ends. */
  private readonly bytes: number;
  /** A mutation of a key the front cache may hold: the key is dropped when sent and when answered. */
  private readonly forgets: boolean;

  constructor(
    pool: ProxyPool,
    slot: ReplySlot | null,
    key: Buffer,
    codec: KeyedCodec,
    affinity: number,
    bytes = 0,
    forgets = false,
  ) {
    this.pool = pool;
    this.bytes = bytes;
    this.forgets = forgets;
    this.slot = slot;
    this.key = key;
    this.codec = codec;
    this.quiet = codec.quiet;
    this.affinity = affinity;
  }

  /** Routes the key and sends the op (call once admitted). */
  start(): void {
    if (!this.pool.available) {
      this.finish(ProxyError.outOfDownstreams + CRLF);
      return;
    }
    if (this.forgets) this.pool.forgetKey(this.key);
    this.route = this.pool.route(this.key);
    this.send();
  }

  private send(): void {
    const server = this.route?.config.server(this.route.index);
    if (server === undefined) {
      this.server = null;
      this.finish(ProxyError.writeToDownstream + CRLF);
      return;
    }
    this.server = server;
    server.send(this, this.codec.protocol, this.affinity);
  }

  encode(opaque: number): Buffer | readonly Buffer[] {
    return this.codec.encode(opaque, this.route?.vbucket ?? 0);
  }

  onPacket(packet: BinaryPacket): boolean {
    if (packet.status === Status.NOT_MY_VBUCKET && this.retryElsewhere()) return true;
    this.finish(this.codec.fromPacket!(packet));
    return true;
  }

  onUnit(unit: TextResponse): boolean {
    const reply = this.codec.fromUnit!(unit);
    if (reply === MORE_UNITS) return false;
    this.finish(reply);
    return true;
  }

  onNoReply(): void {
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
    this.finish(failureText(reason, RequestShape.Keyed, this.server) + CRLF);
  }

  /**
   * NOT_MY_VBUCKET: learn the next master of the vBucket and send there, unless the retries are used up.
   * A noreply request too: moxi dropped its NOT_MY_VBUCKET, and the write was lost during a rebalance.
   */
  private retryElsewhere(): boolean {
    if (this.route === null) return false;
    const next = this.pool.nextRoute(this.route, this.key, this.vbucketRetries);
    if (next === null) return false;
    this.vbucketRetries++;
    this.route = next;
    this.send();
    return true;
  }

  private finish(reply: Reply): void {
    if (this.bytes > 0) requestBytes.give(this.bytes);
    // again once answered: a get sent before the mutation may have cached the old value meanwhile
    if (this.forgets) this.pool.forgetKey(this.key, true);
    if (this.slot !== null) this.slot.complete(reply);
    this.pool.release();
  }
}
