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

/**
 * Values at least this long that arrived over several reads are passed on as the pieces they came in
 * (takeParts) by the parsers, not joined into one copy.
 */
export const PARTS_MIN = 64 * 1024;

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
  /** Where indexOf() stopped: a part index and that part's offset; -1 when stale. */
  private cursorPart = 0;
  private cursorBase = -1;

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
    this.cursorBase = -1;
    const own = n >= OWNED_JOIN_MIN;
    const joined = own ? Buffer.allocUnsafeSlow(n) : Buffer.allocUnsafe(n);
    let at = this.head.copy(joined, 0, this.pos);
    // walk the parts by index and drop the used ones in one splice: shift() per part would make a frame
    // that arrived in many small pieces cost quadratic time
    let used = 0;
    while (at < n) {
      const part = this.parts[used];
      const take = Math.min(part.length, n - at);
      part.copy(joined, at, 0, take);
      at += take;
      this.partsLength -= take;
      if (take < part.length) {
        this.parts[used] = part.subarray(take);
        break;
      }
      used++;
    }
    this.parts.splice(0, used);
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
    // resume from the part the last search ended in: a line arriving in many small pieces is then
    // scanned once, not once per piece
    let i = 0;
    let base = headRest;
    if (this.cursorBase >= 0 && this.cursorBase <= from && this.cursorPart < this.parts.length) {
      i = this.cursorPart;
      base = this.cursorBase;
    }
    for (; i < this.parts.length; i++) {
      const part = this.parts[i];
      if (from < base + part.length) {
        const at = part.indexOf(byte, Math.max(0, from - base));
        if (at !== -1) return base + at;
      }
      base += part.length;
    }
    if (this.parts.length > 0) {
      this.cursorPart = this.parts.length - 1;
      this.cursorBase = base - this.parts[this.cursorPart].length;
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

  /**
   * Returns the next `n` bytes (which must be held) as views of the chunks they arrived in, in order,
   * and consumes them: a large value is passed on without being joined into one copy.
   */
  takeParts(n: number): Buffer[] {
    const out: Buffer[] = [];
    let left = n;
    const headRest = this.head.length - this.pos;
    if (headRest > 0) {
      const k = Math.min(left, headRest);
      out.push(this.head.subarray(this.pos, this.pos + k));
      left -= k;
    }
    for (let i = 0; left > 0 && i < this.parts.length; i++) {
      const part = this.parts[i];
      const k = Math.min(left, part.length);
      out.push(k === part.length ? part : part.subarray(0, k));
      left -= k;
    }
    this.consume(n);
    return out;
  }

  /** Drops `n` unconsumed bytes, which may span pending chunks. */
  consume(n: number): void {
    this.cursorBase = -1;
    const headRest = this.head.length - this.pos;
    if (n < headRest) {
      this.pos += n;
      return;
    }
    n -= headRest;
    this.head = EMPTY;
    this.pos = 0;
    this.joined = false;
    let used = 0;
    while (n > 0 && used < this.parts.length) {
      const part = this.parts[used];
      this.partsLength -= part.length;
      used++;
      if (n < part.length) {
        this.head = part;
        this.pos = n;
        n = 0;
      } else {
        n -= part.length;
      }
    }
    if (this.head === EMPTY && used < this.parts.length) {
      this.head = this.parts[used]!;
      this.partsLength -= this.head.length;
      used++;
    }
    this.parts.splice(0, used);
  }

  /** Drops up to `n` bytes and returns how many were dropped (for swallowing unwanted data). */
  discard(n: number): number {
    const dropped = Math.min(n, this.length);
    this.consume(dropped);
    return dropped;
  }

  clear(): void {
    this.cursorBase = -1;
    this.joined = false;
    this.head = EMPTY;
    this.pos = 0;
    this.parts = [];
    this.partsLength = 0;
  }
}
