/**
 * The workloads table: what the load generator sends. One row per workload; the runner and the load
 * generator read only these fields, so a new workload is a new row (and, for a new request shape, a new
 * encoder case in engine.ts).
 */

export interface Workload {
  readonly name: string;
  readonly description: string;
  /** Client connections, all opened before the warm-up. */
  readonly connections: number;
  /** Requests in flight per connection (1 = request/response, >1 = pipelined). */
  readonly depth: number;
  /** Fraction of requests that are gets; the rest are sets. */
  readonly getRatio: number;
  /** Keys per get request (1 = `get k`, N = `get k1 ... kN`). */
  readonly keysPerGet: number;
  /** Value size of sets and of the preloaded items, in bytes. */
  readonly valueSize: number;
  /** Size of the key space; every key is set once before the warm-up. */
  readonly keyCount: number;
}

const MIX = { getRatio: 0.9, keysPerGet: 1, valueSize: 100, keyCount: 10_000 } as const;

export const WORKLOADS: readonly Workload[] = [
  {
    name: 'get',
    description: '90% get / 10% set, 100 B values, 10k keys, 50 connections x 1 in flight',
    connections: 50,
    depth: 1,
    ...MIX,
  },
  {
    name: 'pipe',
    description: '90% get / 10% set, 100 B values, 10k keys, 50 connections x 16 in flight',
    connections: 50,
    depth: 16,
    ...MIX,
  },
];

export function findWorkload(name: string): Workload | undefined {
  return WORKLOADS.find((w) => w.name === name);
}
