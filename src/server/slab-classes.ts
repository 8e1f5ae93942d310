/**
 * memcached's slab class table (slabs_init with the default -n 48 and -f 1.25): the embedded server has
 * no slabs, but the class id of an item is visible on the wire (`me` reports cls=) and in stats, so we
 * compute the class memcached would have used.
 */
const ITEM_HEADER_SIZE = 48;
const CHUNK_ALIGN_BYTES = 8;
const MAX_NUMBER_OF_SLAB_CLASSES = 64;
const SLAB_PAGE_SIZE = 1024 * 1024;
const SLAB_CHUNK_SIZE_MAX = SLAB_PAGE_SIZE / 2;

export class SlabClasses {
  /** Chunk size of class i (index 0 unused). */
  readonly sizes: number[] = [0];

  constructor(chunkSize = 48, factor = 1.25) {
    let size = ITEM_HEADER_SIZE + chunkSize;
    let i = 0;
    while (++i < MAX_NUMBER_OF_SLAB_CLASSES - 1) {
      if (size >= SLAB_CHUNK_SIZE_MAX / factor) break;
      if (size % CHUNK_ALIGN_BYTES) size += CHUNK_ALIGN_BYTES - (size % CHUNK_ALIGN_BYTES);
      this.sizes.push(size);
      // memcached keeps the size in an unsigned int, so each step truncates
      size = Math.floor(size * factor);
    }
    this.sizes[i] = SLAB_CHUNK_SIZE_MAX;
  }

  get largest(): number {
    return this.sizes.length - 1;
  }

  /** memcached's slabs_clsid for an item's total size (items above the largest class are chunked). */
  classOf(ntotal: number): number {
    if (ntotal === 0) return 0;
    for (let i = 1; i < this.sizes.length; i++) if (ntotal <= this.sizes[i]) return i;
    return this.largest;
  }
}
