/**
 * The embedded server's cache: items by key, one LRU list, a byte budget (-m) enforced by evicting from
 * the LRU tail, memcached's CAS counter, lazy expiry and flush_all, with memcached 1.6's store semantics
 * (do_store_item, do_add_delta, item_is_flushed). Synchronous and free of I/O: the protocol handlers
 * call it and turn its results into replies.
 *
 *   head (most recent) <-> ... <-> tail (next to evict)
 */
import type { Clock } from './clock.ts';

/** memcached's item header on 64-bit Linux, plus the 8-byte CAS it keeps with every item. */
const ITEM_HEADER_SIZE = 48;
const CAS_SIZE = 8;

/**
 * What an item costs us beyond memcached's own accounting: the JS object, its Map entry and the
 * value's ArrayBuffer. Counted against -m so that the process, not just the data, stays within budget.
 */
export const ITEM_JS_OVERHEAD = 160;

/** memcached leaves an item's access time alone for this long (ITEM_UPDATE_INTERVAL). */
const ITEM_UPDATE_INTERVAL = 60;

export const StoreMode = {
  Set: 1,
  Add: 2,
  Replace: 3,
  Append: 4,
  Prepend: 5,
  Cas: 6,
} as const;
export type StoreMode = (typeof StoreMode)[keyof typeof StoreMode];

export const StoreResult = {
  Stored: 1,
  NotStored: 2,
  Exists: 3,
  NotFound: 4,
  /** No room and evictions are off (-M), or nothing left to evict. */
  OutOfMemory: 5,
} as const;
export type StoreResult = (typeof StoreResult)[keyof typeof StoreResult];

export const DeltaResult = {
  Ok: 1,
  NonNumeric: 2,
  NotFound: 3,
  CasMismatch: 4,
  OutOfMemory: 5,
} as const;
export type DeltaResult = (typeof DeltaResult)[keyof typeof DeltaResult];

export class Item {
  /** The key's bytes as a latin1 string (lossless for any byte); replies write it back the same way. */
  readonly key: string;
  value: Buffer;
  flags: number;
  /** Relative expiry time; 0 never expires. */
  exptime: number;
  cas = 0;
  /** Relative time of last access as memcached tracks it (see bump()). */
  time = 0;
  fetched = false;
  active = false;
  /** Meta protocol: a client already holds the recache/win token for this item. */
  tokenSent = false;
  /** Meta protocol: invalidated (md I) or stored stale (ms I). */
  stale = false;
  /** Meta protocol: the key was given base64-encoded and replies re-encode it. */
  keyBinary = false;
  /** Replies queued but not yet sent that refer to this item (memcached's extra references). */
  refs = 0;
  /** Bytes counted against the memory budget. */
  cost = 0;
  prev: Item | null = null;
  next: Item | null = null;
  linked = false;

  constructor(key: string, flags: number, exptime: number, value: Buffer) {
    this.key = key;
    this.flags = flags;
    this.exptime = exptime;
    this.value = value;
  }

  /** memcached's ITEM_ntotal: what the `bytes` stat counts for this item. */
  get ntotal(): number {
    return itemTotalSize(this.key.length, this.flags, this.value.length);
  }
}

/** memcached's item size for a key length, flags and value length (value without its CRLF). */
export function itemTotalSize(nkey: number, flags: number, nbytes: number): number {
  return ITEM_HEADER_SIZE + nkey + 1 + (flags === 0 ? 0 : 4) + nbytes + 2 + CAS_SIZE;
}

export interface StoreOptions {
  /** -m in bytes. */
  maxBytes: number;
  /** -I in bytes. */
  itemSizeMax: number;
  /** false with -M: refuse stores instead of evicting. */
  evictions: boolean;
  clock: Clock;
}

/** Counters memcached reports from its item layer. */
export class StoreStats {
  currItems = 0;
  totalItems = 0;
  bytes = 0;
  evictions = 0;
  evictedUnfetched = 0;
  expiredUnfetched = 0;
  reclaimed = 0;
  getExpired = 0;
  getFlushed = 0;
  outOfMemory = 0;
}

export interface StoreOutcome {
  result: StoreResult;
  /** The stored item (Stored only). */
  item: Item | null;
}

export interface DeltaOutcome {
  result: DeltaResult;
  value: bigint;
  item: Item | null;
  /** The number fit in the old value's length, so the same item was updated (not replaced). */
  inPlace: boolean;
}

export class Store {
  readonly stats = new StoreStats();
  readonly clock: Clock;
  maxBytes: number;
  readonly itemSizeMax: number;
  readonly evictions: boolean;
  private readonly items = new Map<string, Item>();
  private head: Item | null = null;
  private tail: Item | null = null;
  /** Bytes charged against maxBytes (memcached's sizes plus our per-item overhead). */
  private used = 0;
  private casCounter = 0;
  /** flush_all state: items last accessed at or before oldestLive (or older than oldestCas) are gone. */
  private oldestLive = 0;
  private oldestCas = 0;

  constructor(options: StoreOptions) {
    this.clock = options.clock;
    this.maxBytes = options.maxBytes;
    this.itemSizeMax = options.itemSizeMax;
    this.evictions = options.evictions;
  }

  get size(): number {
    return this.items.size;
  }

  get usedBytes(): number {
    return this.used;
  }

  /** flush_all's cut-off (memcached's settings.oldest_live), as `stats settings` shows it. */
  get oldestLiveTime(): number {
    return this.oldestLive;
  }

  nextCas(): number {
    return ++this.casCounter;
  }

  /** memcached's item_size_ok: whether an item of these dimensions fits the -I limit. */
  itemSizeOk(nkey: number, flags: number, nbytes: number): boolean {
    return nbytes >= 0 && itemTotalSize(nkey, flags, nbytes) <= this.itemSizeMax;
  }

  private isFlushed(item: Item, now: number): boolean {
    const oldestLive = this.oldestLive;
    if (oldestLive === 0 || oldestLive > now) return false;
    return item.time <= oldestLive || (this.oldestCas !== 0 && item.cas !== 0 && item.cas < this.oldestCas);
  }

  /**
   * The live item for `key`, without any LRU or fetch-state update (memcached's DONT_UPDATE). Expired
   * and flushed items are unlinked on the way, as memcached does on access.
   */
  peek(key: string): Item | undefined {
    const item = this.items.get(key);
    if (item === undefined) return undefined;
    const now = this.clock.current();
    if (this.isFlushed(item, now)) {
      this.unlink(item);
      this.stats.getFlushed++;
      return undefined;
    }
    if (item.exptime !== 0 && item.exptime <= now) {
      this.unlink(item);
      this.stats.getExpired++;
      if (!item.fetched) this.stats.expiredUnfetched++;
      return undefined;
    }
    return item;
  }

  /** A fetch (memcached's DO_UPDATE): the live item, marked fetched and moved to the LRU head. */
  get(key: string): Item | undefined {
    const item = this.peek(key);
    if (item !== undefined) this.bump(item);
    return item;
  }

  /**
   * memcached's do_item_bump under its segmented LRU: the first fetch marks an item fetched, the second
   * makes it active and refreshes its access time. Our LRU order is refreshed on every fetch.
   */
  bump(item: Item): void {
    if (!item.active) {
      if (!item.fetched) item.fetched = true;
      else {
        item.active = true;
        item.time = this.clock.current();
      }
    }
    this.moveToHead(item);
  }

  /** memcached's do_item_update: refresh the access time at most once per ITEM_UPDATE_INTERVAL. */
  touchAccess(item: Item): void {
    const now = this.clock.current();
    if (item.time < now - ITEM_UPDATE_INTERVAL) item.time = now;
    this.moveToHead(item);
  }

  /** gat/touch: fetch and set a new (relative) expiry. */
  touch(key: string, exptime: number): Item | undefined {
    const item = this.get(key);
    if (item !== undefined) item.exptime = exptime;
    return item;
  }

  /**
   * Stores a new item built from the arguments. Mirrors memcached's do_store_item for every mode;
   * `compareCas` 0 means "no CAS given". With `setStale` (ms I in CAS mode) a lower CAS than the item's
   * replaces it but marks it stale. The value is copied out of the caller's buffer unless `adopt` says
   * the caller hands over a buffer nothing else uses.
   */
  store(
    mode: StoreMode,
    key: string,
    flags: number,
    exptime: number,
    value: Buffer,
    compareCas: bigint,
    setStale = false,
    keyBinary = false,
    adopt = false,
  ): StoreOutcome {
    const copy = adopt ? keep : copyValue;
    const old = this.peek(key);
    if (old !== undefined) {
      const cmp = casCompare(compareCas, old.cas, setStale);
      switch (mode) {
        case StoreMode.Add:
          this.touchAccess(old);
          return NOT_STORED;
        case StoreMode.Cas:
          if (cmp === CasCheck.Match) break;
          if (cmp === CasCheck.Stale) {
            const outcome = this.link(key, flags, old.exptime, copy(value), keyBinary);
            if (outcome.item !== null) {
              outcome.item.stale = true;
              outcome.item.tokenSent = old.tokenSent;
            }
            return outcome;
          }
          return EXISTS;
        case StoreMode.Append:
        case StoreMode.Prepend: {
          if (cmp !== CasCheck.None && cmp !== CasCheck.Match) return EXISTS;
          const total = old.value.length + value.length;
          if (!this.itemSizeOk(key.length, old.flags, total)) return NOT_STORED;
          const joined = Buffer.allocUnsafeSlow(total);
          if (mode === StoreMode.Append) {
            old.value.copy(joined, 0);
            value.copy(joined, old.value.length);
          } else {
            value.copy(joined, 0);
            old.value.copy(joined, value.length);
          }
          return this.link(key, old.flags, old.exptime, joined, old.keyBinary);
        }
        default:
          break; // Set, Replace
      }
      return this.link(key, flags, exptime, copy(value), keyBinary);
    }
    switch (mode) {
      case StoreMode.Set:
      case StoreMode.Add:
        return this.link(key, flags, exptime, copy(value), keyBinary);
      case StoreMode.Cas:
        return NOT_FOUND;
      default:
        return NOT_STORED;
    }
  }

  /** memcached's do_add_delta: incr/decr the decimal number an item holds, 64-bit unsigned. */
  delta(key: string, incr: boolean, delta: bigint, compareCas: bigint): DeltaOutcome {
    const item = this.peek(key);
    if (item === undefined) return { result: DeltaResult.NotFound, value: 0n, item: null, inPlace: false };
    if (item.value.length === 0)
      return { result: DeltaResult.NonNumeric, value: 0n, item: null, inPlace: false };
    if (compareCas !== 0n && BigInt(item.cas) !== compareCas) {
      return { result: DeltaResult.CasMismatch, value: 0n, item: null, inPlace: false };
    }
    const current = parseDecimal(item.value);
    if (current === undefined)
      return { result: DeltaResult.NonNumeric, value: 0n, item: null, inPlace: false };
    let next: bigint;
    if (incr) next = BigInt.asUintN(64, current + delta);
    else next = delta > current ? 0n : current - delta;
    const digits = next.toString();
    if (digits.length <= item.value.length && item.refs === 0) {
      // memcached rewrites in place, padding with spaces, when the new number is not longer and nobody
      // else holds the item (otherwise it stores a new item of the exact length). We build a
      // new buffer of the same length instead: the old one may still sit in a socket's write queue.
      const padded = Buffer.allocUnsafeSlow(item.value.length).fill(0x20);
      padded.write(digits, 0, 'latin1');
      item.value = padded;
      item.cas = this.nextCas();
      this.touchAccess(item);
      return { result: DeltaResult.Ok, value: next, item, inPlace: true };
    }
    const outcome = this.link(key, item.flags, item.exptime, Buffer.from(digits, 'latin1'), item.keyBinary);
    if (outcome.item === null)
      return { result: DeltaResult.OutOfMemory, value: 0n, item: null, inPlace: false };
    return { result: DeltaResult.Ok, value: next, item: outcome.item, inPlace: false };
  }

  delete(key: string): Item | undefined {
    const item = this.peek(key);
    if (item !== undefined) this.unlink(item);
    return item;
  }

  /**
   * Stores a copy of an item another store holds (a vBucket moving between cluster nodes). `expiresAt`
   * is a Unix time in seconds, 0 for never, so stores on different clocks agree. The item keeps its
   * `cas`, as membase's moves keep it, so that a client's gets before a move and cas after it still
   * match; later CAS values of this store stay above it. (Not when it is below a flush_all's cut-off
   * here: it would read as flushed, so it takes a new one.)
   */
  importItem(key: string, flags: number, expiresAt: number, value: Buffer, keyBinary = false, cas = 0): void {
    const exptime = expiresAt === 0 ? 0 : this.clock.realtime(Math.max(expiresAt, 60 * 60 * 24 * 30 + 1));
    const outcome = this.link(key, flags, exptime, copyValue(value), keyBinary);
    const item = outcome.item;
    if (item === null || cas === 0 || cas < this.oldestCas) return;
    item.cas = cas;
    if (cas > this.casCounter) this.casCounter = cas;
  }

  /** An item's expiry as a Unix time (0 = never), for importItem on another store. */
  expiresAt(item: Item): number {
    return item.exptime === 0 ? 0 : this.clock.processStarted + item.exptime;
  }

  /** Removes an item looked up earlier (e.g. a failed oversized SET drops the stale value). */
  remove(item: Item): void {
    if (item.linked) this.unlink(item);
  }

  /** flush_all [delay]: `delay` is the client's int32 (0 or negative = now). */
  flushAll(delay: number): void {
    const now = this.clock.current();
    const newOldest = delay > 0 ? this.clock.realtime(delay) : now;
    this.oldestLive = newOldest - 1;
    if (this.oldestLive <= now) this.oldestCas = this.nextCas();
  }

  /** cache_memlimit: a new budget, evicting at once if the cache is over it. */
  setMaxBytes(bytes: number): void {
    this.maxBytes = bytes;
    this.evictUntil(0);
  }

  /** Drops every expired or flushed item from the LRU tail up to `limit` items (a cheap crawler). */
  reclaim(limit: number): number {
    const now = this.clock.current();
    let reclaimed = 0;
    let item = this.tail;
    for (let i = 0; i < limit && item !== null; i++) {
      const prev = item.prev;
      if ((item.exptime !== 0 && item.exptime <= now) || this.isFlushed(item, now)) {
        this.unlink(item);
        this.stats.reclaimed++;
        reclaimed++;
      }
      item = prev;
    }
    return reclaimed;
  }

  *entries(): IterableIterator<Item> {
    for (let item = this.head; item !== null; item = item.next) yield item;
  }

  /** Links a new item for `key`, replacing any current one; evicts to make room. */
  private link(key: string, flags: number, exptime: number, value: Buffer, keyBinary: boolean): StoreOutcome {
    const item = new Item(key, flags, exptime, value);
    item.keyBinary = keyBinary;
    item.cost = itemTotalSize(key.length, flags, value.length) + ITEM_JS_OVERHEAD;
    const old = this.items.get(key);
    if (old !== undefined) this.unlink(old);
    if (!this.evictUntil(item.cost)) {
      this.stats.outOfMemory++;
      return OUT_OF_MEMORY;
    }
    item.cas = this.nextCas();
    item.time = this.clock.current();
    item.linked = true;
    this.items.set(key, item);
    this.used += item.cost;
    this.stats.currItems++;
    this.stats.totalItems++;
    this.stats.bytes += item.ntotal;
    this.pushHead(item);
    return { result: StoreResult.Stored, item };
  }

  /** Evicts from the tail until `incoming` more bytes fit; false if they cannot. */
  private evictUntil(incoming: number): boolean {
    while (this.used + incoming > this.maxBytes) {
      const victim = this.tail;
      if (victim === null || !this.evictions) return this.used + incoming <= this.maxBytes;
      const now = this.clock.current();
      if ((victim.exptime !== 0 && victim.exptime <= now) || this.isFlushed(victim, now)) {
        this.stats.reclaimed++;
      } else {
        this.stats.evictions++;
        if (!victim.fetched) this.stats.evictedUnfetched++;
      }
      this.unlink(victim);
    }
    return true;
  }

  private unlink(item: Item): void {
    if (!item.linked) return;
    item.linked = false;
    this.items.delete(item.key);
    this.used -= item.cost;
    this.stats.currItems--;
    this.stats.bytes -= item.ntotal;
    const { prev, next } = item;
    if (prev !== null) prev.next = next;
    else this.head = next;
    if (next !== null) next.prev = prev;
    else this.tail = prev;
    item.prev = item.next = null;
  }

  private pushHead(item: Item): void {
    item.prev = null;
    item.next = this.head;
    if (this.head !== null) this.head.prev = item;
    this.head = item;
    this.tail ??= item;
  }

  private moveToHead(item: Item): void {
    if (this.head === item || !item.linked) return;
    const { prev, next } = item;
    if (prev !== null) prev.next = next;
    if (next !== null) next.prev = prev;
    else this.tail = prev;
    this.pushHead(item);
  }
}

const NOT_STORED: StoreOutcome = { result: StoreResult.NotStored, item: null };
const EXISTS: StoreOutcome = { result: StoreResult.Exists, item: null };
const NOT_FOUND: StoreOutcome = { result: StoreResult.NotFound, item: null };
const OUT_OF_MEMORY: StoreOutcome = { result: StoreResult.OutOfMemory, item: null };

const CasCheck = { None: 0, Match: 1, BadValue: 2, Stale: 3 } as const;
type CasCheck = (typeof CasCheck)[keyof typeof CasCheck];

function casCompare(given: bigint, current: number, setStale: boolean): CasCheck {
  if (given === 0n) return CasCheck.None;
  const cur = BigInt(current);
  if (given === cur) return CasCheck.Match;
  if (setStale && given < cur) return CasCheck.Stale;
  return CasCheck.BadValue;
}

/**
 * A right-sized copy of a value that arrived inside a larger socket chunk: keeping a subarray would pin
 * the whole chunk. Unpooled, so freed items give their memory back instead of pinning a shared slab.
 */
function copyValue(value: Buffer): Buffer {
  const out = Buffer.allocUnsafeSlow(value.length);
  value.copy(out);
  return out;
}

function keep(value: Buffer): Buffer {
  return value;
}

/** incr/decr's reading of an item's value: safe_strtoull over data that ends in "\r\n" in memcached. */
function parseDecimal(value: Buffer): bigint | undefined {
  let i = 0;
  const n = value.length;
  while (i < n && isCSpace(value[i])) i++;
  let negative = false;
  if (i < n && (value[i] === 0x2b || value[i] === 0x2d)) {
    negative = value[i] === 0x2d;
    i++;
  }
  const start = i;
  while (i < n && value[i] >= 0x30 && value[i] <= 0x39) i++;
  if (i === start) return undefined;
  if (i < n && !isCSpace(value[i]) && value[i] !== 0) return undefined;
  const magnitude = BigInt(value.toString('latin1', start, i));
  if (magnitude > 0xffffffffffffffffn) return undefined;
  const v = negative ? BigInt.asUintN(64, -magnitude) : magnitude;
  if (v > 0x7fffffffffffffffn && value.includes(0x2d)) return undefined;
  return v;
}

function isCSpace(b: number): boolean {
  return b === 0x20 || (b >= 0x09 && b <= 0x0d);
}
