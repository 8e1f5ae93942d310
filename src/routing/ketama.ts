/**
 * libmemcached's key distributions as moxi's embedded copy ran them for host-list pools and memcached
 * buckets (moxi `src/mcs.c` lmc_create; spec §5.4):
 *
 *   ketama-weighted (default)  160 points per server scaled by weight, 4 points per MD5 of "host-i"
 *   ketama                     100 points per server, 1 point per MD5 of "host-i"
 *   modula                     one-at-a-time(key) % number of servers
 *
 * The point strings are `host-i` when the port is 11211 and `host:port-i` otherwise, with the host
 * spelled as written in the config. The continuum is built once into typed arrays sorted by value; a
 * key goes to the first point >= MD5(key) (its first 4 bytes, little-endian), wrapping to the first
 * point. One server always gets index 0 without hashing.
 */

import { DEFAULT_SERVER_PORT } from '../config/cluster-config.ts';
import type { KeyRanges } from '../util/key-list.ts';
import { ketamaHash, md5, md5FirstWord, md5FirstWords, oneAtATime } from './hash.ts';
import type { KeyRouter } from './router.ts';

export const Distribution = {
  KETAMA_WEIGHTED: 'ketama-weighted',
  KETAMA: 'ketama',
  MODULA: 'modula',
} as const;
export type Distribution = (typeof Distribution)[keyof typeof Distribution];

export interface KetamaServer {
  /** As written in the config: it is hashed as-is (`localhost` and `127.0.0.1` differ). */
  readonly host: string;
  readonly port: number;
  /** ketama-weighted only; 0 or absent counts as 1. */
  readonly weight?: number;
}

/** One continuum entry (a copy, for tests and diagnostics). */
export interface ContinuumPoint {
  readonly value: number;
  readonly server: number;
}

/** libmemcached's MEMCACHED_POINTS_PER_SERVER_KETAMA (weighted) and MEMCACHED_POINTS_PER_SERVER. */
const WEIGHTED_POINTS_PER_SERVER = 160;
const POINTS_PER_SERVER = 100;
/** Points taken from one MD5 digest in ketama-weighted mode. */
const POINTS_PER_HASH = 4;
/** Sort key packing: value * 2^21 + server stays below 2^53, so it is exact in a Float64Array. */
const SERVER_INDEX_LIMIT = 0x200000;

/**
 * The distribution named by moxi's `mcs_opts` behavior, matched as moxi does (substring search, in
 * this order): `distribution:ketama-weighted`, `distribution:ketama`, `distribution:modula`; anything
 * else (including '') is the default, ketama-weighted.
 */
export function parseDistribution(mcsOpts: string): Distribution {
  if (mcsOpts.includes('distribution:ketama-weighted')) return Distribution.KETAMA_WEIGHTED;
  if (mcsOpts.includes('distribution:ketama')) return Distribution.KETAMA;
  if (mcsOpts.includes('distribution:modula')) return Distribution.MODULA;
  return Distribution.KETAMA_WEIGHTED;
}

/**
 * Continuum points each server gets: ketama-weighted computes
 * `floor(weight/Σweight × 160/4 × servers + 1e-10) × 4` in single-precision float, as libmemcached does
 * (weights 0 count as 1; equal weights give 160); ketama gives 100; modula has no continuum (0).
 */
export function ketamaPointsPerServer(
  servers: readonly KetamaServer[],
  distribution: Distribution = Distribution.KETAMA_WEIGHTED,
): number[] {
  if (distribution === Distribution.MODULA) return servers.map(() => 0);
  if (distribution === Distribution.KETAMA) return servers.map(() => POINTS_PER_SERVER);
  const weights = servers.map((s) => effectiveWeight(s.weight));
  const total = Math.fround(weights.reduce((sum, w) => sum + w, 0));
  const live = Math.fround(servers.length);
  return weights.map((w) => {
    // Each C float operation rounds to single precision; 1e-10 is too small to change a float >= 1.
    const pct = Math.fround(Math.fround(w) / total);
    const scaled = Math.fround(Math.fround(Math.fround(pct * WEIGHTED_POINTS_PER_SERVER) / 4) * live);
    return Math.floor(Math.fround(scaled + 1e-10)) * POINTS_PER_HASH;
  });
}

/** libmemcached stores a weight of 0 as 1; weights are uint32. */
function effectiveWeight(weight: number | undefined): number {
  return weight === undefined || weight === 0 ? 1 : weight >>> 0;
}

/** The string hashed for a server's `i`th point group: `host-i` on port 11211, else `host:port-i`. */
export function ketamaPointName(server: KetamaServer, i: number): string {
  return server.port === DEFAULT_SERVER_PORT ? `${server.host}-${i}` : `${server.host}:${server.port}-${i}`;
}

export class KetamaRouter implements KeyRouter {
  readonly kind = 'ketama';
  readonly servers: readonly KetamaServer[];
  readonly distribution: Distribution;
  /** Point values, ascending (ties in server order). Empty for modula. */
  private readonly values: Uint32Array;
  /** Server index of each point in `values`. */
  private readonly owners: Uint32Array;
  /**
   * For each range of hashes sharing their top `bucketBits` bits, the first point at or above the
   * range's start: a lookup starts there and steps over the few points inside the range, instead of a
   * binary search whose branches a random key makes the CPU mispredict (5% of a 50-key multi-get).
   */
  private readonly bucketStart: Uint32Array;
  private readonly bucketShift: number;

  constructor(servers: readonly KetamaServer[], distribution: Distribution = Distribution.KETAMA_WEIGHTED) {
    if (servers.length > SERVER_INDEX_LIMIT) throw new RangeError(`too many servers: ${servers.length}`);
    this.servers = servers.slice();
    this.distribution = distribution;
    const points = ketamaPointsPerServer(servers, distribution);
    const total = points.reduce((sum, n) => sum + n, 0);
    const keys = new Float64Array(total);
    let k = 0;
    servers.forEach((server, index) => {
      const n = points[index];
      if (distribution === Distribution.KETAMA_WEIGHTED) {
        for (let i = 0; i < n / POINTS_PER_HASH; i++) {
          const digest = md5(Buffer.from(ketamaPointName(server, i)));
          for (let a = 0; a < POINTS_PER_HASH; a++) {
            keys[k++] = digest.readUInt32LE(a * 4) * SERVER_INDEX_LIMIT + index;
          }
        }
      } else {
        for (let i = 0; i < n; i++) {
          keys[k++] = ketamaHash(Buffer.from(ketamaPointName(server, i))) * SERVER_INDEX_LIMIT + index;
        }
      }
    });
    keys.sort();
    this.values = new Uint32Array(total);
    this.owners = new Uint32Array(total);
    for (let i = 0; i < total; i++) {
      const index = keys[i] % SERVER_INDEX_LIMIT;
      this.owners[i] = index;
      this.values[i] = (keys[i] - index) / SERVER_INDEX_LIMIT;
    }
    // about four buckets per point, at most 2^16 of them
    const bucketBits = Math.min(16, Math.max(1, Math.ceil(Math.log2(Math.max(total, 1))) + 2));
    this.bucketShift = 32 - bucketBits;
    this.bucketStart = new Uint32Array(2 ** bucketBits);
    let point = 0;
    for (let b = 0; b < this.bucketStart.length; b++) {
      const low = b * 2 ** this.bucketShift;
      while (point < total && this.values[point] < low) point++;
      this.bucketStart[b] = point;
    }
  }

  /** Number of continuum points (0 for modula). */
  get continuumLength(): number {
    return this.values.length;
  }

  /** A copy of the sorted continuum. */
  get continuum(): readonly ContinuumPoint[] {
    return Array.from(this.values, (value, i) => ({ value, server: this.owners[i] }));
  }

  /**
   * The 32-bit hash libmemcached computes for a key under this distribution (MD5 for ketama,
   * one-at-a-time for modula). Not used when there is one server.
   */
  keyHash(key: Uint8Array, start = 0, end = key.length): number {
    return this.distribution === Distribution.MODULA
      ? oneAtATime(key, start, end)
      : md5FirstWord(key, start, end);
  }

  /** keyHash() of each of `keys`, into `out` (at least as long): MD5s are computed several at once. */
  keyHashes(keys: KeyRanges, out: Uint32Array): void {
    if (this.distribution !== Distribution.MODULA) {
      md5FirstWords(keys, out);
      return;
    }
    const { source, starts, ends } = keys;
    for (let i = 0; i < starts.length; i++) out[i] = oneAtATime(source, starts[i], ends[i]);
  }

  /**
   * The server for a key hash (with more than one server): modula takes `hash % servers`; ketama the
   * server of the first continuum point >= `hash`, wrapping to the first point.
   */
  serverForHash(hash: number): number {
    if (this.distribution === Distribution.MODULA) return hash % this.servers.length;
    const values = this.values;
    const n = values.length;
    let i = this.bucketStart[hash >>> this.bucketShift];
    while (i < n && values[i] < hash) i++;
    return this.owners[i === n ? 0 : i];
  }

  /** Index into `servers` for `key` (its bytes `start` to `end`); 0 with one server, -1 with none. */
  serverIndex(key: Uint8Array, start = 0, end = key.length): number {
    const count = this.servers.length;
    if (count <= 1) return count - 1;
    return this.serverForHash(this.keyHash(key, start, end));
  }
}
