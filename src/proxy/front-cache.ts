/**
 * moxi's front cache (moxi-spec §8): values of chosen keys kept in the proxy for a short lifespan, so a
 * text client's `get` of a hot key is answered without a trip to memcached. Off unless the operator asks:
 * front_cache_lifespan (ms) and front_cache_max (items) both above 0, and front_cache_spec naming the key
 * prefixes to cache (front_cache_unspec the prefixes never to cache). A value is served until its
 * lifespan ends even if memcached's copy changes behind the proxy's back: that is what the operator buys.
 *
 * As moxi: filled from the VALUEs of text gets (add-only: a key already cached keeps its entry),
 * consulted by `get` (never gets, gat or gats, which need the server's cas or touch), emptied by
 * flush_all and by every reconfiguration, a key dropped when a mutation of it passes through the proxy.
 * Unlike moxi: every item is on the LRU list from the start (moxi links new items only on their first
 * read, so a full cache of never-read items refused every add), every text get reads the cache (moxi's
 * binary-downstream path read it for multi-key gets only), mutations from binary and meta clients drop
 * the key too, and the cache holds at most `maxBytes` (values, keys and a per-item overhead: moxi's
 * items lived in its -m memory), so even a large front_cache_max of tiny values stays bounded.
 * A get sent before its key was dropped cannot put the old value back (moxi had that window: a get on
 * another downstream connection answered after a client's set), so a client reads its own writes.
 * With -t N each worker process has its own cache (moxi's threads shared one); the pool passes the keys
 * it drops on to the other workers (ProxyPool.tellPeers).
 *
 * Pure and synchronous: the caller passes the clock (ms) and does the I/O.
 */
import { behaviorList, type Behaviors } from '../config/behaviors.ts';

/** The counters `stats proxy frontcache` shows, under moxi's names (tot_* reset by `stats proxy reset`). */
export class FrontCacheCounters {
  totGetHits = 0;
  totGetExpires = 0;
  totGetMisses = 0;
  totGetBytes = 0;
  totAdds = 0;
  totAddSkips = 0;
  totAddFails = 0;
  totAddBytes = 0;
  totDeletes = 0;
  totEvictions = 0;
}

/** A cached value: what a hit answers (the client's own key goes in the VALUE line). */
export interface FrontCacheItem {
  readonly flags: number;
  readonly value: Buffer;
  /** When the item stops being served (ms on the caller's clock). */
  readonly expires: number;
}

/**
 * moxi counts an item's size as memcached's item nbytes: the value and its trailing "\r\n". Kept for the
 * byte counters, so they read as moxi's do.
 */
const ITEM_SUFFIX = 2;

/**
 * Memory an item costs besides its value and key: 200,000 items of 1-byte values with 10-byte keys took
 * ~330 bytes of heap and ~530 of RSS each (Node 20).
 */
const ITEM_OVERHEAD = 512;

/** Recent drops remembered by key (a get in flight for longer than this many drops is refused). */
const DROPS_KEPT = 4096;

export class FrontCache {
  readonly max: number;
  readonly lifespanMs: number;
  readonly maxBytes: number;
  readonly counters = new FrontCacheCounters();
  private readonly spec: readonly Buffer[];
  private readonly unspec: readonly Buffer[];
  /** Items by key (latin1, so any bytes), least recently used first: Map keeps insertion order. */
  private readonly items = new Map<string, FrontCacheItem>();
  private bytes = 0;
  /**
   * Counts drops (delete, clear). A get sent before its key was dropped may answer the old value after
   * the drop (another downstream connection, another worker): add() refuses it, so a client that reads
   * its own write through the proxy never gets the cache's old copy back.
   */
  private drops = 0;
  /** The drop count at each key's latest drop, oldest first; at most DROPS_KEPT keys. */
  private readonly droppedAt = new Map<string, number>();
  /** Gets sent before this drop count are refused: a clear, or a drop forgotten from droppedAt. */
  private refuseBefore = 0;

  constructor(
    max: number,
    lifespanMs: number,
    spec: readonly string[],
    unspec: readonly string[],
    maxBytes: number,
  ) {
    this.max = max;
    this.lifespanMs = lifespanMs;
    this.maxBytes = maxBytes;
    this.spec = spec.map((p) => Buffer.from(p, 'latin1'));
    this.unspec = unspec.map((p) => Buffer.from(p, 'latin1'));
  }

  /** The pool's front cache, or null when its behaviors leave it off (moxi starts it on both > 0). */
  static fromBehaviors(b: Behaviors, maxBytes: number): FrontCache | null {
    if (b.front_cache_max <= 0 || b.front_cache_lifespan <= 0) return null;
    return new FrontCache(
      b.front_cache_max,
      b.front_cache_lifespan,
      behaviorList(b.front_cache_spec),
      behaviorList(b.front_cache_unspec),
      maxBytes,
    );
  }

  /** Items held now. */
  get size(): number {
    return this.items.size;
  }

  /** Bytes charged for the items held now (FrontCache.cost of each). */
  get heldBytes(): number {
    return this.bytes;
  }

  /**
   * What an item counts against maxBytes: its value and key, and about what the Map entry, the item,
   * the key string and the Buffer cost the heap besides.
   */
  static cost(key: string, length: number): number {
    return length + key.length + ITEM_OVERHEAD;
  }

  /** Whether the key `source[start..end)` is one to cache: it starts with a spec prefix and no unspec one. */
  wants(source: Uint8Array, start: number, end: number): boolean {
    return hasPrefix(this.spec, source, start, end) && !hasPrefix(this.unspec, source, start, end);
  }

  /** The live item for `key` (made the most recently used), or undefined: a miss, or an expired item (dropped). */
  get(key: string, now: number): FrontCacheItem | undefined {
    const item = this.items.get(key);
    if (item === undefined) {
      this.counters.totGetMisses++;
      return undefined;
    }
    this.items.delete(key);
    if (item.expires < now) {
      this.bytes -= FrontCache.cost(key, item.value.length);
      this.counters.totGetExpires++;
      return undefined;
    }
    this.items.set(key, item);
    this.counters.totGetHits++;
    this.counters.totGetBytes += item.value.length + ITEM_SUFFIX;
    return item;
  }

  /**
   * Offers a value a server just returned. Add-only, as moxi: a key already cached keeps its item (made
   * the most recently used). `value` is copied (the caller's bytes may be a read buffer's): pass its pieces
   * when it arrived in several. `sendMark`: the cache's sendMark when the get went to the server; a value
   * whose key was dropped since is not taken.
   */
  add(
    key: string,
    flags: number,
    value: Buffer | readonly Buffer[],
    length: number,
    now: number,
    sendMark: number,
  ): void {
    if (sendMark < this.refuseBefore || (this.droppedAt.get(key) ?? 0) > sendMark) return;
    const existing = this.items.get(key);
    if (existing !== undefined) {
      this.items.delete(key);
      this.items.set(key, existing);
      this.counters.totAddSkips++;
      return;
    }
    const cost = FrontCache.cost(key, length);
    if (cost > this.maxBytes) {
      this.counters.totAddFails++;
      return;
    }
    while (this.items.size > 0 && (this.items.size >= this.max || this.bytes + cost > this.maxBytes)) {
      this.evictOldest();
    }
    const copy = Buffer.allocUnsafeSlow(length);
    if (value instanceof Uint8Array) value.copy(copy, 0, 0, length);
    else {
      let at = 0;
      for (const piece of value) at += piece.copy(copy, at);
    }
    this.items.set(key, { flags, value: copy, expires: now + this.lifespanMs });
    this.bytes += cost;
    this.counters.totAdds++;
    this.counters.totAddBytes += length + ITEM_SUFFIX;
  }

  /** A mutation of `key` passed through the proxy: its cached value, if any, is no longer served. */
  delete(key: string): void {
    this.droppedAt.delete(key);
    this.droppedAt.set(key, ++this.drops);
    if (this.droppedAt.size > DROPS_KEPT) {
      const [oldest, at] = this.droppedAt.entries().next().value!;
      this.droppedAt.delete(oldest);
      this.refuseBefore = Math.max(this.refuseBefore, at);
    }
    const item = this.items.get(key);
    if (item === undefined) return;
    this.items.delete(key);
    this.bytes -= FrontCache.cost(key, item.value.length);
    this.counters.totDeletes++;
  }

  /** flush_all, or a reconfiguration: every item goes (the counters stay). */
  clear(): void {
    this.items.clear();
    this.bytes = 0;
    this.droppedAt.clear();
    this.refuseBefore = ++this.drops;
  }

  /** What a get records when it is sent, for add() to know which drops came after it. */
  get sendMark(): number {
    return this.drops;
  }

  /** Zeroes the tot_* counters (`stats proxy reset`); the items stay. */
  resetCounters(): void {
    Object.assign(this.counters, new FrontCacheCounters());
  }

  private evictOldest(): void {
    const [key, item] = this.items.entries().next().value!;
    this.items.delete(key);
    this.bytes -= FrontCache.cost(key, item.value.length);
    this.counters.totEvictions++;
  }
}

/** moxi's matcher: a literal prefix match against any of `prefixes` (none: no match). */
function hasPrefix(prefixes: readonly Buffer[], source: Uint8Array, start: number, end: number): boolean {
  next: for (const prefix of prefixes) {
    if (prefix.length > end - start) continue;
    for (let i = 0; i < prefix.length; i++) if (source[start + i] !== prefix[i]) continue next;
    return true;
  }
  return false;
}
