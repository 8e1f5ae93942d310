/**
 * Gets whose fetch is not written downstream yet, by a hash of the key and a salt (the verb or opcode):
 * an identical get arriving meanwhile joins the fetch instead of making its own (multiget.ts, b2b.ts say
 * when that is safe). A slot holds the latest get; a get that displaced another, of another key or the
 * same, only costs the displaced one its chance to be joined.
 */
import { fnv1a } from '../util/distinct-keys.ts';

/** Slots (a power of two): far more than the gets one turn of the event loop reads. */
const SLOTS = 1024;

export class UnsentGets<T> {
  private readonly slots = new Array<T | undefined>(SLOTS);

  /** The slot of the key `key[start..end)` asked with `salt`. */
  slotOf(key: Uint8Array, start: number, end: number, salt: number): number {
    return (fnv1a(key, start, end) ^ salt) & (SLOTS - 1);
  }

  /** The get held in `slot`, if any (its key may differ: the caller compares). */
  at(slot: number): T | undefined {
    return this.slots[slot];
  }

  hold(slot: number, get: T): void {
    this.slots[slot] = get;
  }

  /** `get` was written (or is over): it leaves its slot, unless another took the slot since. */
  release(slot: number, get: T): void {
    if (this.slots[slot] === get) this.slots[slot] = undefined;
  }
}
