/**
 * vBucket routing over a libvbucket server map (spec §5.1): key -> vBucket by the 15-bit CRC-32 hash
 * masked to the map size, vBucket -> master server from the map's first column. The router owns a
 * private copy of the map so it can learn NOT_MY_VBUCKET corrections the way libvbucket's
 * `vbucket_found_incorrect_master` does, without touching the parsed config.
 */

import type { VBucketServer, VBucketServerMap } from '../config/vbucket-map.ts';
import { crc32Hash } from './hash.ts';
import type { KeyRouter } from './router.ts';

export class VBucketRouter implements KeyRouter {
  readonly kind = 'vbucket';
  readonly servers: readonly VBucketServer[];
  readonly numVBuckets: number;
  readonly numReplicas: number;
  /** moxi's `cproxy_max_retries`: NOT_MY_VBUCKET retries allowed per request, 2 × servers. */
  readonly maxRetries: number;
  /** Row-major, numReplicas + 1 entries per vBucket; -1 = no server. Mutated by foundIncorrectMaster. */
  private readonly map: Int32Array;
  private readonly forward: Int32Array | undefined;
  private readonly width: number;
  private readonly mask: number;

  constructor(config: VBucketServerMap) {
    this.servers = config.servers.slice();
    this.numVBuckets = config.numVBuckets;
    this.numReplicas = config.numReplicas;
    this.maxRetries = 2 * this.servers.length;
    this.width = config.numReplicas + 1;
    this.mask = config.numVBuckets - 1;
    this.map = config.vBucketMap.slice();
    this.forward = config.vBucketMapForward?.slice();
  }

  /** The vBucket id of `key`: `((crc32(key) >> 16) & 0x7fff) & (numVBuckets - 1)`. */
  vbucketOf(key: Uint8Array): number {
    return crc32Hash(key) & this.mask;
  }

  /** Current master server of `vbucket` (as corrected so far); -1 for none or an id out of range. */
  masterOf(vbucket: number): number {
    return this.validVBucket(vbucket) ? this.map[vbucket * this.width] : -1;
  }

  /** Replica `i` (0-based) of `vbucket`; -1 for none or out of range. */
  replicaOf(vbucket: number, i: number): number {
    if (!this.validVBucket(vbucket) || !Number.isInteger(i) || i < 0 || i >= this.numReplicas) return -1;
    return this.map[vbucket * this.width + 1 + i];
  }

  /** Master server of `key`'s vBucket; -1 when the map has no server for it. */
  serverIndex(key: Buffer): number {
    return this.map[this.vbucketOf(key) * this.width];
  }

  /**
   * Learns that server `wrongServerIndex` answered NOT_MY_VBUCKET for `vbucket` and returns the
   * master to retry with. With a forward map, the vBucket's whole row (master and replicas) is
   * replaced by the forward map's row; otherwise, if the current master is the server that refused,
   * the master becomes the next server, `(master + 1) % servers`; if it is not, nothing changes and the
   * current master is returned. Out-of-range vBucket ids change nothing and return -1.
   */
  foundIncorrectMaster(vbucket: number, wrongServerIndex: number): number {
    if (!this.validVBucket(vbucket)) return -1;
    const row = vbucket * this.width;
    if (this.forward !== undefined) {
      this.map.set(this.forward.subarray(row, row + this.width), row);
      return this.map[row];
    }
    const master = this.map[row];
    if (master === wrongServerIndex) this.map[row] = (master + 1) % this.servers.length;
    return this.map[row];
  }

  private validVBucket(vbucket: number): boolean {
    return Number.isInteger(vbucket) && vbucket >= 0 && vbucket < this.numVBuckets;
  }
}
