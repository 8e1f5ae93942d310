/**
 * The keys of one get, as offsets into the buffer that holds its command line. A 50-key get would
 * otherwise make 50 Buffer views (about 30 ns each), every one of them alive, and copied by the
 * young-generation collector, until the reply is written. Views are made on demand for the paths that
 * need a Buffer (a one-key get's binary request, retries).
 */

/** Keys as ranges of one buffer (a get's keys where its command line lies): key i is starts[i]..ends[i]. */
export interface KeyRanges {
  readonly source: Uint8Array;
  readonly starts: readonly number[];
  readonly ends: readonly number[];
}

export class KeyList implements KeyRanges {
  readonly source: Buffer;
  // plain arrays of small integers: allocating one costs a few ns, a typed array about 25 (a one-key
  // get, the commonest request, makes two)
  readonly starts: readonly number[];
  readonly ends: readonly number[];

  constructor(source: Buffer, starts: readonly number[], ends: readonly number[]) {
    this.source = source;
    this.starts = starts;
    this.ends = ends;
  }

  get length(): number {
    return this.starts.length;
  }

  /** Key `i` as a view of the source. */
  key(i: number): Buffer {
    return this.source.subarray(this.starts[i], this.ends[i]);
  }

  /** The keys at `indexes`, in that order. */
  pick(indexes: readonly number[]): KeyList {
    const n = indexes.length;
    const starts = new Array<number>(n);
    const ends = new Array<number>(n);
    for (let i = 0; i < n; i++) {
      starts[i] = this.starts[indexes[i]];
      ends[i] = this.ends[indexes[i]];
    }
    return new KeyList(this.source, starts, ends);
  }
}
