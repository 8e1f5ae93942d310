/**
 * Binary clients on a proxy port (moxi's b2b, moxi-spec §6.9). A keyed request is forwarded as the
 * client wrote it, with the vBucket id set and our opaque in place of the client's; the reply goes back
 * as the server wrote it, with the client's opaque restored. Quiet requests stay quiet: the server
 * answers only errors (and GETQ/GETKQ hits), which reach the client in request order.
 *
 * Binary clients always get a binary downstream, even with downstream_protocol=ascii (moxi has no
 * binary-to-text path and crashes there).
 */
import type { DownstreamOp, FailReason } from '../downstream/connection.ts';
import { FailReason as Fail } from '../downstream/connection.ts';
import { HEADER_LENGTH, HeaderOffset } from '../protocol/binary/header.ts';
import { encodeErrorResponse, encodeResponse } from '../protocol/binary/encoder.ts';
import { Opcode, Status, isQuiet } from '../protocol/binary/opcodes.ts';
import type { BinaryPacket } from '../protocol/binary/parser.ts';
import { requestBytes } from '../util/byte-budget.ts';
import type { ProxyPool, Route } from './pool.ts';
import type { Reply, ReplySlot } from './request.ts';

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

/** moxi's binary error bodies for failures it generates itself. */
const BUSY_TEXT = 'System is busy';
const INTERNAL_TEXT = 'Internal error';

/** moxi's binary reply for a failed request: EBUSY for timeouts, EINTERNAL for the rest. */
export function binaryFailure(opcode: number, opaque: number, reason: FailReason): Buffer {
  return reason === Fail.Timeout || reason === Fail.QueueTimeout
    ? encodeErrorResponse(opcode, Status.EBUSY, opaque, BUSY_TEXT)
    : encodeErrorResponse(opcode, Status.EINTERNAL, opaque, INTERNAL_TEXT);
}

/** A packet with a different opaque: the header copied, the body shared. */
function reopaque(frame: Buffer, opaque: number, vbucket?: number): Buffer[] {
  const head = Buffer.allocUnsafe(HEADER_LENGTH);
  frame.copy(head, 0, 0, HEADER_LENGTH);
  head.writeUInt32BE(opaque, HeaderOffset.opaque);
  if (vbucket !== undefined) head.writeUInt16BE(vbucket, HeaderOffset.vbucket);
  return frame.length > HEADER_LENGTH ? [head, frame.subarray(HEADER_LENGTH)] : [head];
}

export class BinaryKeyedRequest implements DownstreamOp {
  readonly quiet: boolean;
  private readonly pool: ProxyPool;
  private readonly slot: ReplySlot;
  private readonly frame: Buffer;
  private readonly key: Buffer;
  private readonly opcode: number;
  private readonly clientOpaque: number;
  private readonly affinity: number;
  private route: Route | null = null;
  private closeRetries = 0;
  private vbucketRetries = 0;
  /** Request bytes taken from the proxy's budget, given back when the request ends. */
  private readonly bytes: number;

  constructor(pool: ProxyPool, slot: ReplySlot, packet: BinaryPacket, affinity: number, bytes = 0) {
    this.pool = pool;
    this.bytes = bytes;
    this.slot = slot;
    this.frame = packet.frame;
    this.key = packet.key;
    this.opcode = packet.opcode;
    this.clientOpaque = packet.opaque;
    this.quiet = isQuiet(packet.opcode);
    this.affinity = affinity;
  }

  start(): void {
    this.route = this.pool.route(this.key);
    this.send();
  }

  private send(): void {
    const server = this.route?.config.server(this.route.index);
    if (server === undefined) {
      this.finish(binaryFailure(this.opcode, this.clientOpaque, Fail.Closed));
      return;
    }
    server.send(this, 'binary', this.affinity);
  }

  encode(opaque: number): Buffer[] {
    return reopaque(this.frame, opaque, this.route?.vbucket ?? 0);
  }

  onPacket(packet: BinaryPacket): boolean {
    if (packet.status === Status.NOT_MY_VBUCKET && !this.quiet && this.route !== null) {
      const next = this.pool.nextRoute(this.route, this.key, this.vbucketRetries);
      if (next !== null) {
        this.vbucketRetries++;
        this.route = next;
        this.send();
        return true;
      }
    }
    this.finish(reopaque(packet.frame, this.clientOpaque));
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
    this.finish(binaryFailure(this.opcode, this.clientOpaque, reason));
  }

  private finish(reply: Reply | Buffer): void {
    if (this.bytes > 0) requestBytes.give(this.bytes);
    this.slot.complete(Buffer.isBuffer(reply) ? [reply] : reply);
    this.pool.release();
  }
}

/** A locally answered binary request: success with an optional body. */
export function binarySuccess(opcode: number, opaque: number, body?: string): Buffer {
  return encodeResponse({ opcode, opaque, value: body });
}
