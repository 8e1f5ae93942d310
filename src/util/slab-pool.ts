/**
 * Fixed-size buffers that a large value is read into and that come back once the value has been written
 * on, so a proxy relaying large values reads them into memory it used a moment ago instead of a fresh
 * allocation per read. Bench, large workload (10-500 KB values): each fresh 64 KB read buffer cost a
 * malloc and free, an ArrayBuffer for the collector to sweep, and a kernel copy into cold memory.
 *
 * A slab is lent to one holder, which gives it back by any view of it once nothing refers to those bytes
 * any more. Giving back is the only risky step (a slab given back early is overwritten by the next read
 * while still queued for a client), so the pool tolerates the safe mistakes: a slab never given back is
 * simply collected, a second give-back of the same slab is ignored, and so is a view of any other memory.
 */
export class SlabPool {
  readonly slabSize: number;
  /** Slabs kept for reuse at most; beyond that, given-back slabs are left to the collector. */
  readonly maxFree: number;
  private readonly free: Buffer[] = [];
  /** The slabs lent and not yet given back, by their memory (weakly: a lost slab is just collected). */
  private readonly lent = new WeakMap<ArrayBuffer, Buffer>();
  /** Slabs handed out again after a give-back (for tests and stats). */
  reused = 0;

  constructor(slabSize: number, maxFree: number) {
    this.slabSize = slabSize;
    this.maxFree = maxFree;
  }

  /** A slab of `slabSize` bytes, whose contents are undefined, for the caller alone until it is given back. */
  lend(): Buffer {
    const slab = this.take();
    this.claim(slab);
    return slab;
  }

  /**
   * A slab for the caller to keep: it comes back only if the caller claims it later, once it knows that
   * whoever gets the slab's bytes will be their only holder.
   */
  take(): Buffer {
    const slab = this.free.pop();
    if (slab === undefined) return Buffer.allocUnsafeSlow(this.slabSize);
    this.reused++;
    return slab;
  }

  /** Makes a slab from take() one that is lent (and so may be given back). */
  claim(slab: Buffer): void {
    this.lent.set(slab.buffer as ArrayBuffer, slab);
  }

  /** Gives back the slabs under `views`, each of which must no longer be read or written by anyone. */
  giveBack(views: readonly Buffer[]): void {
    for (const view of views) {
      const memory = view.buffer as ArrayBuffer;
      const slab = this.lent.get(memory);
      if (slab === undefined) continue;
      this.lent.delete(memory);
      if (this.free.length < this.maxFree) this.free.push(slab);
    }
  }

  /** Slabs waiting to be lent again. */
  get freeCount(): number {
    return this.free.length;
  }
}
