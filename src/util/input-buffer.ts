/**
 * The unconsumed input bytes of one connection, for the incremental codecs.
 *
 * Socket chunks are adopted without copying while nothing is pending. When a frame straddles chunks the
 * later chunks wait in a list and exactly the frame's bytes are joined once, when the caller asks for a
 * contiguous run that the held bytes can satisfy, so a 1 MB value arriving in 64 KB pieces is copied
 * once, not 16 times, and the joined copy can be kept as it is.
 *
 *   head (contiguous)                parts (not yet joined)
 *   [ consumed | view ... ]          [ chunk ][ chunk ][ chunk ]
 *              ^pos
 *
 * Offsets given to and returned by this class are relative to `pos`, the first unconsumed byte.
 */
const EMPTY = Buffer.alloc(0);

/** Joins at least this long get an unpooled buffer that a caller may keep (e.g. a stored value). */
const OWNED_JOIN_MIN = 4096;

export class InputBuffer {
  /** The contiguous bytes; unconsumed from `pos` to the end. */
  private head: Buffer = EMPTY;
  private pos = 0;
  private parts: Buffer[] = [];
  private partsLength = 0;
  /** The head is a buffer join() allocated, shared with nobody. */
  private joined = false;

  /** Unconsumed bytes held, contiguous or not. */
  get length(): number {
    return this.head.length - this.pos + this.partsLength;
  }

  /** Bytes readable through `view()` without joining. */
  get contiguousLength(): number {
    return this.head.length - this.pos;
  }

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    if (this.pos === this.head.length && this.partsLength === 0) {
      this.head = chunk;
      this.pos = 0;
      this.joined = false;
      return;
    }
    this.parts.push(chunk);
    this.partsLength += chunk.length;
  }

  /**
   * Makes at least `n` bytes contiguous if that many are held, joining pending chunks once.
   * Returns false (and joins nothing) when fewer than `n` bytes are held.
   */
  ensure(n: number): boolean {
    const have = this.head.length - this.pos;
    if (have >= n) return true;
    if (have + this.partsLength < n) return false;
    this.join(n);
    return true;
  }

  /**
   * True when the next `n` bytes are exactly a buffer this class allocated to join chunks: a caller that
   * takes them may keep them without copying, since nothing else shares that memory.
   */
  ownsNext(n: number): boolean {
    return this.joined && this.pos === 0 && this.head.length === n;
  }

  /**
   * Joins exactly the next `n` bytes into one new buffer; the rest stays pending as it was. Large joins
   * get a buffer of their own (which ownsNext() lets a caller keep); small ones come from Node's pool.
   */
  private join(n: number): void {
    const own = n >= OWNED_JOIN_MIN;
    const joined = own ? Buffer.allocUnsafeSlow(n) : Buffer.allocUnsafe(n);
    let at = this.head.copy(joined, 0, this.pos);
    while (at < n) {
      const part = this.parts.shift()!;
      this.partsLength -= part.length;
      const used = Math.min(part.length, n - at);
      part.copy(joined, at, 0, used);
      at += used;
      if (used < part.length) {
        this.parts.unshift(part.subarray(used));
        this.partsLength += part.length - used;
      }
    }
    this.head = joined;
    this.pos = 0;
    this.joined = own;
  }

  /** The contiguous buffer and the offset of the first unconsumed byte in it. */
  get buffer(): Buffer {
    return this.head;
  }

  get offset(): number {
    return this.pos;
  }

  /** The byte at unconsumed offset `i`, which must be below `contiguousLength`. */
  byteAt(i: number): number {
    return this.head[this.pos + i];
  }

  /**
   * Finds `byte` at or after unconsumed offset `from`, across pending chunks without joining them.
   * Returns its unconsumed offset or -1.
   */
  indexOf(byte: number, from: number): number {
    const headRest = this.head.length - this.pos;
    if (from < headRest) {
      const at = this.head.indexOf(byte, this.pos + from);
      if (at !== -1) return at - this.pos;
      from = headRest;
    }
    let base = headRest;
    for (const part of this.parts) {
      if (from < base + part.length) {
        const at = part.indexOf(byte, Math.max(0, from - base));
        if (at !== -1) return base + at;
      }
      base += part.length;
    }
    return -1;
  }

  /** A view of `n` unconsumed bytes from offset 0; callers must `ensure(n)` first. No copy. */
  peek(n: number): Buffer {
    return this.head.subarray(this.pos, this.pos + n);
  }

  /** Returns the next `n` bytes (callers must `ensure(n)` first) and consumes them. No copy. */
  take(n: number): Buffer {
    const out = this.head.subarray(this.pos, this.pos + n);
    this.consume(n);
    return out;
  }

  /** Drops `n` unconsumed bytes, which may span pending chunks. */
  consume(n: number): void {
    const headRest = this.head.length - this.pos;
    if (n < headRest) {
      this.pos += n;
      return;
    }
    n -= headRest;
    this.head = EMPTY;
    this.pos = 0;
    this.joined = false;
    while (n > 0 && this.parts.length > 0) {
      const part = this.parts.shift()!;
      this.partsLength -= part.length;
      if (n < part.length) {
        this.head = part;
        this.pos = n;
        n = 0;
      } else {
        n -= part.length;
      }
    }
    if (this.head === EMPTY && this.parts.length > 0) {
      this.head = this.parts.shift()!;
      this.partsLength -= this.head.length;
    }
  }

  /** Drops up to `n` bytes and returns how many were dropped (for swallowing unwanted data). */
  discard(n: number): number {
    const dropped = Math.min(n, this.length);
    this.consume(dropped);
    return dropped;
  }

  clear(): void {
    this.joined = false;
    this.head = EMPTY;
    this.pos = 0;
    this.parts = [];
    this.partsLength = 0;
  }
}
