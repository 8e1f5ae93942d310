/**
 * The workloads table: what the load generator sends. One row per workload; the runner and the load
 * generator read only these fields, so a new workload is a new row (and, for a new request shape, a new
 * encoder case in engine.ts).
 */

export interface Workload {
  readonly name: string;
  readonly description: string;
  /** Closed-loop client connections (each keeps `depth` requests in flight), opened before the warm-up. */
  readonly connections: number;
  /** Requests in flight per closed-loop connection (1 = request/response, >1 = pipelined). */
  readonly depth: number;
  /** Fraction of the closed-loop requests that are gets; the rest are sets. */
  readonly getRatio: number;
  /**
   * Keys per get request, drawn uniformly from keysPerGet..keysPerGetMax (1 = `get k`, N = `get k1 ... kN`,
   * all distinct, so the reply must hold exactly N VALUE blocks in the request's key order).
   */
  readonly keysPerGet: number;
  readonly keysPerGetMax: number;
  /**
   * Value size in bytes of sets and of the preloaded items: valueSize..valueSizeMax, fixed per key (a hash of
   * the key's index), so a get's reply can be checked for the key's length.
   */
  readonly valueSize: number;
  readonly valueSizeMax: number;
  /** Size of the key space; every key is set once before the warm-up. */
  readonly keyCount: number;
  /**
   * Extra, mostly idle connections, also opened before the warm-up: each sends one single-key get every
   * idleIntervalMs..idleIntervalMaxMs (uniform), never more than one in flight.
   */
  readonly idleConnections: number;
  readonly idleIntervalMs: number;
  readonly idleIntervalMaxMs: number;
  /** Run only when --workloads names it (not part of the default set the targets are about). */
  readonly optional?: boolean;
}

const MIX = {
  getRatio: 0.9,
  keysPerGet: 1,
  keysPerGetMax: 1,
  valueSize: 100,
  valueSizeMax: 100,
  keyCount: 10_000,
  idleConnections: 0,
  idleIntervalMs: 0,
  idleIntervalMaxMs: 0,
} as const;

export const WORKLOADS: readonly Workload[] = [
  {
    ...MIX,
    name: 'get',
    description: '90% get / 10% set, 100 B values, 10k keys, 50 connections x 1 in flight',
    connections: 50,
    depth: 1,
  },
  {
    ...MIX,
    name: 'pipe',
    description: '90% get / 10% set, 100 B values, 10k keys, 50 connections x 16 in flight',
    connections: 50,
    depth: 16,
  },
  {
    ...MIX,
    name: 'mget',
    description:
      '90% multi-get of 10-100 distinct keys (uniform) / 10% set, 100 B values, 10k keys, 50 connections x 1 in flight',
    connections: 50,
    depth: 1,
    keysPerGet: 10,
    keysPerGetMax: 100,
  },
  {
    // 200 keys of 10-500 KiB (mean ~255 KiB): ~51 MB in all, split over the backends, far below memcached's
    // -m 256 (no evictions) and below its 1 MiB item limit. 20 connections keep at most ~10 MB in flight:
    // enough to keep the server core busy, few enough that the load generator has headroom (README).
    ...MIX,
    name: 'large',
    description:
      '90% get / 10% set, 10-500 KiB values (fixed per key), 200 keys, 20 connections x 1 in flight',
    connections: 20,
    depth: 1,
    valueSize: 10 * 1024,
    valueSizeMax: 500 * 1024,
    keyCount: 200,
  },
  {
    // 2,000 client connections: what a proxy in front of many application servers sees. 50 do the work
    // (as in `get`); the 1,950 others each send one get every 1-2 s (~1,300 gets/s in all), enough to
    // keep every connection's buffers and state in use without dominating the load.
    ...MIX,
    name: 'conns',
    description:
      '2,000 connections: 50 x 1 in flight (90% get / 10% set) + 1,950 sending one get every 1-2 s; 100 B, 10k keys',
    connections: 50,
    depth: 1,
    idleConnections: 1950,
    idleIntervalMs: 1000,
    idleIntervalMaxMs: 2000,
  },
  {
    // A few keys every client wants (a front page, a feature flag): identical gets of many clients
    // arrive together. moxi.ts answers those that meet before their fetch is written from one fetch;
    // nutcracker and direct clients fetch each.
    ...MIX,
    name: 'hot',
    description: '90% get / 10% set, 100 B values, 10 keys, 50 connections x 1 in flight',
    connections: 50,
    depth: 1,
    keyCount: 10,
    optional: true,
  },
];

export function findWorkload(name: string): Workload | undefined {
  return WORKLOADS.find((w) => w.name === name);
}

/** All the client connections a workload opens (closed-loop and idle). */
export function totalConnections(w: Workload): number {
  return w.connections + w.idleConnections;
}
