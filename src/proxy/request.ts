/**
 * What every proxied request shares: the slot its reply goes into (the client session writes slots in
 * request order), and the mapping from a downstream failure to moxi's client-facing error line.
 */
import { FailReason } from '../downstream/connection.ts';
import type { DownstreamServer } from '../downstream/server.ts';
import { ProxyError } from '../protocol/wire-errors.ts';
import type { OutputQueue } from '../util/output-queue.ts';

/**
 * Reply bytes: text (lines with their "\r\n") and values, written in order; or an object that writes
 * them straight into the client's output when its turn comes (no intermediate strings or arrays).
 */
export type Reply = string | ReadonlyArray<Buffer | string> | ReplyWriter;

export interface ReplyWriter {
  writeTo(out: OutputQueue): void;
}

/**
 * The reply bytes a client lets its requests hold (ProxySession): a multi-get holds its values here from
 * their arrival until its reply goes into the client's output.
 */
export interface ReplyAccount {
  /** Holds `n` more bytes, or refuses (false) when the client already holds its limit. */
  holdReplyBytes(n: number): boolean;
  releaseReplyBytes(n: number): void;
}

/** Where a request puts its reply; null for noreply requests. */
export interface ReplySlot {
  complete(reply: Reply): void;
}

/** The shape of request a failure happened in, which decides the error text (moxi-spec §7.4). */
export const RequestShape = {
  /** get/gets/gat/gats: in static pools any error is answered as a miss. */
  Retrieval: 0,
  /** One key, one server: errors name the server's host. */
  Keyed: 1,
  /** flush_all / stats: errors do not name a host. */
  Broadcast: 2,
} as const;
export type RequestShape = (typeof RequestShape)[keyof typeof RequestShape];

/** moxi's error line for a request of `shape` that failed with `reason` on `server`. */
export function failureText(
  reason: FailReason,
  shape: RequestShape,
  server: DownstreamServer | null,
): string {
  const host = shape === RequestShape.Keyed && server !== null ? server.errorHost : null;
  switch (reason) {
    case FailReason.Timeout:
      return host === null ? ProxyError.downstreamTimeout : ProxyError.downstreamTimeoutHost(host);
    case FailReason.QueueTimeout:
      return ProxyError.downstreamTimeout;
    case FailReason.Connect:
      return host === null ? ProxyError.writeToDownstream : ProxyError.writeToDownstreamHost(host);
    case FailReason.Blacklisted:
      return ProxyError.writeToDownstream;
    case FailReason.Closed:
    case FailReason.Protocol:
      return host === null ? ProxyError.downstreamClosed : ProxyError.downstreamClosedHost(host);
  }
}
