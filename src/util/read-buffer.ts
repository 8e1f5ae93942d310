import net from 'node:net';
import type { SlabPool } from './slab-pool.ts';

/**
 * Where a socket's reads land: a buffer the socket keeps and reads into again and again (node:net's
 * `onread`), instead of the fresh 64 KB allocation Node makes for every read, shrinks to the bytes read,
 * wraps in an ArrayBuffer and pushes through the socket's Readable stream. Bench, get workload: proxy
 * CPU 11.5 -> 9.9 us per request (libc malloc/free went from 5.5% of the profile to 2.4%).
 *
 * What the reader is given must stay valid for as long as it keeps it (parsers hold partial frames,
 * replies hold value views), so the reused buffer is never given out:
 *   - a small read (the common case: requests and replies of a few hundred bytes), or one that fills
 *     less than half the buffer, is copied out (below 4 KB into Node's shared allocation pool), which
 *     costs less than the allocation it replaces;
 *   - a read of 4 KB or more that fills at least half the buffer gives the buffer itself away, and the
 *     next read gets a new one. A read that filled the buffer makes the next ones larger, so bulk data
 *     arrives in few reads.
 *
 * A buffer a socket keeps is promoted to the old generation once and stays; memory the reader is given
 * dies young, as it did before. (Carving consecutive reads out of one slab instead was tried: slabs that
 * fill slowly live across collections, get promoted, and their release then waits for full
 * mark-compacts, 7x more of them in the pipe workload.)
 *
 * Client sockets (`shared`) read into one buffer of the whole process while their reads are small, which
 * the first rule copies out anyway: node reads a socket only inside that socket's read event, and each
 * read is copied before anything else runs, so the buffer is free again before any other socket reads
 * into it. It is never given out; a read of 4 KB or more is copied out of it too, and the socket then
 * reads into a buffer of its own until a small read brings it back. A buffer per socket kept 16 KB for
 * every idle client connection (bench `conns`, 2,000 connections: 67 MB of ArrayBuffers with the output
 * queues' scratch areas, 6 MB without either; peak RSS 97 -> 84 MB, as pages never written were not
 * resident).
 */

/** First buffer of a socket: one that only ever sees small requests keeps this much. */
const MIN_BUFFER = 16 * 1024;
/** Largest buffer, the size Node reads with. */
const MAX_BUFFER = 64 * 1024;
/** Reads shorter than this are always copied (Buffer.allocUnsafe serves them from Node's pool). */
const COPY_BELOW = 4096;
/** Reads up to this long are copied byte by byte (a JS loop beats Buffer#copy's native call). */
const SMALL_COPY = 64;

/** The buffer client sockets share while their reads are small (made on first use). */
let sharedArea: Buffer | null = null;

function copyOut(region: Buffer, n: number): Buffer {
  const chunk = Buffer.allocUnsafe(n);
  if (n <= SMALL_COPY) for (let i = 0; i < n; i++) chunk[i] = region[i];
  else region.copy(chunk, 0, 0, n);
  return chunk;
}

export class ReadBuffer {
  private buffer: Buffer | null = null;
  private size: number;
  /** Where a large value's bytes are read when the reader says one is coming (null: never). */
  private readonly slabs: SlabPool | null;
  /** Bytes of the announced value still to come: until they are in, reads go into slabs. */
  private valueLeft = 0;
  private slab: Buffer | null = null;
  private slabFill = 0;
  /** The buffer of the read last handed on whole, when it came from the pool (it may be claimed). */
  private givenSlab: Buffer | null = null;
  /** Whether small reads go into the process's shared buffer (client sockets). */
  private readonly shares: boolean;
  /** Whether the next read goes there: until a large read, and again after a small one. */
  private sharing: boolean;

  constructor(size = MIN_BUFFER, slabs: SlabPool | null = null, shared = false) {
    this.size = size;
    this.slabs = slabs;
    this.shares = shared;
    this.sharing = shared;
  }

  /**
   * The next `n` bytes to arrive are the rest of one large value, all of them: they are read into slabs
   * of the pool, which hold nothing else, and handed on a slab at a time (when one is full, and when the
   * value is complete), so that whoever writes the value on can give its slabs back. `first` is the
   * chunk the value's frame began with, when that chunk holds nothing but the frame: if it was a read
   * handed on in its own slab, that slab is lent to the value too. Without a pool, nothing changes.
   */
  expectValue(n: number, first: Buffer | null = null): void {
    if (this.slabs === null) return;
    this.valueLeft = n;
    const given = this.givenSlab;
    this.givenSlab = null;
    if (first !== null && given !== null && first.buffer === given.buffer) this.slabs.claim(given);
  }

  /** Where the next read goes (node calls this before the first read and after every read). */
  readonly next = (): Buffer => {
    if (this.valueLeft > 0) {
      const slab = (this.slab ??= this.slabs!.lend());
      const end = this.slabFill + Math.min(this.valueLeft, slab.length - this.slabFill);
      return slab.subarray(this.slabFill, end);
    }
    if (this.sharing) return (sharedArea ??= Buffer.allocUnsafeSlow(MAX_BUFFER));
    return (this.buffer ??=
      this.slabs !== null && this.size === this.slabs.slabSize
        ? this.slabs.take()
        : Buffer.allocUnsafeSlow(this.size));
  };

  /**
   * The `n` bytes just read into `region` (what next() returned), as a buffer the caller may keep; null
   * while a slab is filling (its bytes come with the rest of it).
   */
  take(n: number, region: Buffer): Buffer | null {
    const slab = this.slab;
    if (slab !== null && region.buffer === slab.buffer) {
      this.slabFill += n;
      this.valueLeft -= n;
      if (this.valueLeft > 0 && this.slabFill < slab.length) return null;
      const chunk = slab.subarray(0, this.slabFill);
      this.slab = null;
      this.slabFill = 0;
      return chunk;
    }
    if (region === sharedArea) {
      // (next() hands out the shared buffer itself, never a view of it)
      if (n >= COPY_BELOW) {
        // bulk data (a large value being set): next reads into a buffer of its own, sized to this one
        this.sharing = false;
        let size = MIN_BUFFER;
        while (size < n && size < MAX_BUFFER) size *= 2;
        this.size = size;
      }
      return copyOut(region, n);
    }
    if (n < COPY_BELOW || n < region.length >>> 1) {
      if (this.shares && n < COPY_BELOW) {
        // small requests again: this socket's buffer goes to the collector, the shared one serves
        this.sharing = true;
        this.buffer = null;
      }
      return copyOut(region, n);
    }
    if (n === region.length && this.size < MAX_BUFFER) this.size = Math.min(MAX_BUFFER, this.size * 2);
    this.givenSlab = this.slabs !== null && region.length === this.slabs.slabSize ? region : null;
    this.buffer = null;
    return region.subarray(0, n);
  }

  /** `onread` options for net.connect / new net.Socket: every read goes to `onChunk`. */
  options(onChunk: (chunk: Buffer) => void): net.OnReadOpts {
    return {
      buffer: this.next,
      callback: (n, region) => {
        const chunk = this.take(n, region as Buffer);
        if (chunk !== null) onChunk(chunk);
        return true;
      },
    };
  }

  /** `onread` options for a client socket: a ReadBuffer of their own that shares while reads are small. */
  static onread(onChunk: (chunk: Buffer) => void): net.OnReadOpts {
    return new ReadBuffer(MIN_BUFFER, null, true).options(onChunk);
  }
}

/**
 * A socket that a net.Server with `pauseOnConnect` accepted (so nothing has been read yet), wrapped
 * again to read through `onread`, for which net.Server has no option. This takes the handle from the
 * socket's `_handle` property and gives it to a new net.Socket through the constructor's `handle`
 * option, as net.Server itself does: neither is documented, both are long-standing (used here on
 * Node 20; test/integration/accepted-reads.test.ts checks the behaviour). The original socket lets go
 * of the handle and is destroyed when the new one closes, which keeps the server's connection count
 * (and so `server.close()`) true. Where the property is missing, the socket reads through 'data'
 * events as before.
 *
 * `open` makes what reads the socket (a session) from the socket it is to use; every read goes to its
 * receive(). Returns what `open` made.
 */
export function adoptAccepted<T extends { receive(chunk: Buffer): void }>(
  socket: net.Socket,
  highWaterMark: number,
  open: (socket: net.Socket) => T,
): T {
  const holder = socket as unknown as { _handle?: unknown };
  const handle = holder._handle;
  if (typeof handle !== 'object' || handle === null || !('readStart' in handle)) {
    const receiver = open(socket);
    socket.on('data', (chunk: Buffer) => {
      receiver.receive(chunk);
    });
    socket.resume();
    return receiver;
  }
  holder._handle = null;
  // reads start on a later turn of the event loop, once `open` has made the receiver
  let receiver: T | null = null;
  const adopted = new net.Socket({
    handle,
    onread: ReadBuffer.onread((chunk) => {
      receiver!.receive(chunk);
    }),
    readableHighWaterMark: highWaterMark,
    writableHighWaterMark: highWaterMark,
  } as net.SocketConstructorOpts);
  adopted.once('close', () => socket.destroy());
  receiver = open(adopted);
  return receiver;
}
