/**
 * Requests every server of a pool answers: flush_all (OK once all have flushed) and stats (the servers'
 * stats merged; `stats reset` answers RESET). A server that cannot be reached costs only its part: stats
 * merges what arrived, and only when nothing did is the failure reported (moxi-spec §6.7, §7.4).
 */
import { type DownstreamOp, FailReason } from '../downstream/connection.ts';
import { encodeErrorResponse, encodeResponse } from '../protocol/binary/encoder.ts';
import { binaryFailure, binarySuccess } from './b2b.ts';
import { Opcode, Status } from '../protocol/binary/opcodes.ts';
import type { BinaryPacket } from '../protocol/binary/parser.ts';
import type { TextResponse } from '../protocol/ascii/response-parser.ts';
import { ProxyError } from '../protocol/wire-errors.ts';
import { binaryHead } from './codecs.ts';
import type { ProxyPool } from './pool.ts';
import { RequestShape, failureText, type Reply, type ReplySlot } from './request.ts';
import { StatsMerger } from './stats-merge.ts';

export type BroadcastKind =
  | { kind: 'flush'; delay: number }
  /** `group`: a binary STAT's key (`items`, `slabs`, `settings`...), merged like the general stats. */
  | { kind: 'stats'; group?: Buffer }
  | { kind: 'stats-reset' };

/** For a binary client: the request's opcode and opaque to answer with, and whether it was quiet. */
export interface BinaryAnswer {
  opcode: number;
  opaque: number;
  quiet: boolean;
}

const EMPTY = Buffer.alloc(0);
const RESET_KEY = Buffer.from('reset');

export class BroadcastRequest {
  private readonly pool: ProxyPool;
  private readonly slot: ReplySlot | null;
  private readonly what: BroadcastKind;
  private readonly affinity: number;
  private readonly merger = new StatsMerger();
  private outstanding = 0;
  private answered = 0;
  private failure: FailReason | null = null;
  private flushError: string | null = null;
  /** A binary server's error answer to the STAT (e.g. KEY_ENOENT for a group it does not know). */
  private statRefusal: BinaryPacket | null = null;
  private readonly binary: BinaryAnswer | null;
  private readonly protocol: 'binary' | 'ascii';

  constructor(
    pool: ProxyPool,
    slot: ReplySlot | null,
    what: BroadcastKind,
    affinity: number,
    binary?: BinaryAnswer,
  ) {
    this.pool = pool;
    this.slot = slot;
    this.what = what;
    this.affinity = affinity;
    this.binary = binary ?? null;
    // binary clients always get binary downstreams (see b2b.ts)
    this.protocol = binary !== undefined ? 'binary' : pool.protocol;
  }

  start(): void {
    // the front cache empties when flush_all is sent (noreply) and again when it is answered
    if (this.what.kind === 'flush') this.pool.forgetAll();
    const servers = this.pool.servers;
    if (servers.length === 0) {
      this.finish(ProxyError.outOfDownstreams + '\r\n');
      return;
    }
    this.outstanding = servers.length;
    for (const server of servers) {
      const op = this.protocol === 'binary' ? this.binaryOp() : this.textOp();
      server.send(op, this.protocol, this.affinity);
    }
  }

  private binaryOp(): DownstreamOp {
    const what = this.what;
    return {
      quiet: false,
      encode: (opaque) => {
        if (what.kind === 'flush') {
          const extras = Buffer.alloc(4);
          extras.writeUInt32BE(Math.max(0, what.delay), 0);
          return binaryHead(Opcode.FLUSH, opaque, 0, EMPTY, extras, 0, 0n);
        }
        const key = what.kind === 'stats' ? (what.group ?? EMPTY) : RESET_KEY;
        return binaryHead(Opcode.STAT, opaque, 0, key, null, 0, 0n);
      },
      onPacket: (p: BinaryPacket) => {
        if (what.kind === 'flush') {
          if (p.status === Status.NOT_SUPPORTED) this.flushError ??= ProxyError.flushNotSupported;
          else if (p.status !== Status.SUCCESS) this.flushError ??= `SERVER_ERROR flush_all failed`;
          this.serverDone(true);
          return true;
        }
        if (p.status !== Status.SUCCESS || p.keyLength === 0) {
          if (p.status !== Status.SUCCESS) this.statRefusal ??= p;
          this.serverDone(p.status === Status.SUCCESS);
          return true;
        }
        this.merger.add(p.key.toString('latin1'), p.value.toString('latin1'));
        return false;
      },
      onFail: (reason) => {
        this.serverFailed(reason);
      },
    };
  }

  private textOp(): DownstreamOp {
    const what = this.what;
    const line =
      what.kind === 'flush'
        ? `flush_all${what.delay !== 0 ? ` ${what.delay}` : ''}\r\n`
        : what.kind === 'stats'
          ? 'stats\r\n'
          : 'stats reset\r\n';
    const bytes = Buffer.from(line, 'latin1');
    return {
      quiet: false,
      encode: () => bytes,
      onUnit: (unit: TextResponse) => {
        if (unit.kind === 'STAT' && unit.tokens.length === 2) {
          this.merger.add(unit.tokens[0].toString('latin1'), unit.tokens[1].toString('latin1'));
          return false;
        }
        if (unit.kind === 'STAT') return false;
        if (what.kind === 'flush' && unit.kind !== 'OK') this.flushError ??= unit.line.toString('latin1');
        this.serverDone(unit.kind === 'OK' || unit.kind === 'END' || unit.kind === 'RESET');
        return true;
      },
      onFail: (reason) => {
        this.serverFailed(reason);
      },
    };
  }

  private serverDone(ok: boolean): void {
    if (ok) this.answered++;
    if (--this.outstanding === 0) this.complete();
  }

  private serverFailed(reason: FailReason): void {
    this.pool.countFailure(reason);
    this.failure ??= reason;
    if (--this.outstanding === 0) this.complete();
  }

  private complete(): void {
    if (this.what.kind === 'flush') this.pool.forgetAll(true);
    if (this.binary !== null) {
      this.completeBinary(this.binary);
      return;
    }
    const failed =
      this.failure !== null ? failureText(this.failure, RequestShape.Broadcast, null) + '\r\n' : null;
    switch (this.what.kind) {
      case 'flush':
        this.finish(failed ?? (this.flushError !== null ? this.flushError + '\r\n' : 'OK\r\n'));
        return;
      case 'stats-reset':
        this.finish(this.answered > 0 ? 'RESET\r\n' : (failed ?? ProxyError.writeToDownstream + '\r\n'));
        return;
      case 'stats':
        this.finish(
          this.answered > 0 ? this.merger.render() : (failed ?? ProxyError.writeToDownstream + '\r\n'),
        );
        return;
    }
  }

  /** The binary client's answer: one success (or failure) packet, or the merged stats as STAT packets. */
  private completeBinary(b: BinaryAnswer): void {
    const ok =
      this.what.kind === 'flush' ? this.failure === null && this.flushError === null : this.answered > 0;
    if (!ok) {
      const refusal = this.statRefusal;
      // every server that answered refused (a group memcached does not know): its answer, as memcached's
      this.finish([
        refusal !== null
          ? encodeErrorResponse(b.opcode, refusal.status, b.opaque, refusal.value)
          : binaryFailure(b.opcode, b.opaque, this.failure ?? FailReason.Closed),
      ]);
      return;
    }
    if (this.what.kind !== 'stats') {
      this.finish(b.quiet ? '' : [binarySuccess(b.opcode, b.opaque)]);
      return;
    }
    const packets: Buffer[] = [];
    for (const [name, value] of this.merger.entries()) {
      packets.push(encodeResponse({ opcode: b.opcode, opaque: b.opaque, key: name, value }));
    }
    packets.push(binarySuccess(b.opcode, b.opaque));
    this.finish(packets);
  }

  private finish(reply: Reply): void {
    this.slot?.complete(reply);
    this.pool.release();
  }
}
