/**
 * A process-wide cap on the reply bytes the proxy holds for its clients: replies written to client
 * sockets that will not take them (the client does not read), and multi-get values held until their
 * reply is whole. Each client is bounded on its own (its window of requests in flight, CLIENT_REPLY_LIMIT
 * for multi-get values), but those bounds add up: 100 clients that each pipeline 256 gets of a 1 MB
 * value and never read would make the proxy hold 25 GB. Past the cap, the client with the most unread
 * replies is disconnected, then the next, until the rest fits (as Redis does with a client whose output
 * buffer passes client-output-buffer-limit); a multi-get value that does not fit even then is refused
 * (the multi-get is answered out of memory). A client that keeps up with its replies holds little here.
 *
 * Only a client whose socket is backed up (it holds at least its high-water mark, 64 KB, unwritten)
 * counts as not reading. Its count is what its socket held at its last write; the socket drains in part
 * with no event, so before choosing whom to disconnect every count is read again. The choice goes by
 * bytes held, not by whether the client reads at all: one reading a huge reply slowly can be chosen.
 * A value written to several clients (squashed gets share it) counts once per client.
 */

/** A client whose unread replies are counted. */
export interface UnreadHolder {
  /** Bytes written to the client's socket that it has not taken yet. */
  readonly unread: number;
}

export class UnreadReplies<H extends UnreadHolder> {
  /** Bytes; Infinity when off. */
  readonly limit: number;
  /** Disconnects a client chosen to make room; its replies are dropped with its socket. */
  private readonly disconnect: (holder: H, unread: number) => void;
  /** Backed-up clients and the unread bytes counted for each. */
  private readonly backedUp = new Map<H, number>();
  private unreadBytes = 0;
  private heldBytes = 0;

  constructor(limit: number, disconnect: (holder: H, unread: number) => void) {
    this.limit = limit > 0 ? limit : Infinity;
    this.disconnect = disconnect;
  }

  /** Bytes counted now: unread replies plus held multi-get values. */
  get bytes(): number {
    return this.unreadBytes + this.heldBytes;
  }

  /** Clients counted as not reading. */
  get backedUpCount(): number {
    return this.backedUp.size;
  }

  /**
   * `holder` wrote to its socket, or its socket drained or closed: `unread` is what the socket holds
   * now while it is backed up, 0 once it is not (or is gone).
   */
  count(holder: H, unread: number): void {
    const before = this.backedUp.get(holder) ?? 0;
    if (unread > 0) this.backedUp.set(holder, unread);
    else if (before === 0) return;
    else this.backedUp.delete(holder);
    this.unreadBytes += unread - before;
    if (this.bytes > this.limit) this.makeRoom(0);
  }

  /** `n` more bytes of multi-get values are to be held: false when they do not fit, even after making room. */
  hold(n: number): boolean {
    if (this.bytes + n > this.limit && !this.makeRoom(n)) return false;
    this.heldBytes += n;
    return true;
  }

  release(n: number): void {
    this.heldBytes -= n;
  }

  /** Disconnects the clients with the most unread replies, most first, until `n` more bytes fit. */
  private makeRoom(n: number): boolean {
    this.recount();
    while (this.bytes + n > this.limit) {
      let largest: H | null = null;
      let most = 0;
      for (const [holder, unread] of this.backedUp) {
        if (unread > most) {
          largest = holder;
          most = unread;
        }
      }
      if (largest === null) return false;
      this.backedUp.delete(largest);
      this.unreadBytes -= most;
      this.disconnect(largest, most);
    }
    return true;
  }

  /** Reads every backed-up client's count again (what drained since its last write is no longer held). */
  private recount(): void {
    let total = 0;
    for (const [holder, counted] of this.backedUp) {
      const unread = holder.unread;
      if (unread === 0) this.backedUp.delete(holder);
      else {
        if (unread !== counted) this.backedUp.set(holder, unread);
        total += unread;
      }
    }
    this.unreadBytes = total;
  }
}

/**
 * The default cap of one process (each -t worker has its own): 512 MiB, twice what one client's
 * multi-gets may hold (CLIENT_REPLY_LIMIT), so that one client at its own limit leaves room for others.
 */
export const UNREAD_REPLIES_LIMIT = 512 * 1024 * 1024;
