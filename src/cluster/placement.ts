/**
 * Where vBuckets live: the initial round-robin assignment and a rebalance plan that gives every node
 * an even share while moving as few vBuckets as possible. Pure: owners are node indexes (positions
 * in the published serverList); the cluster carries the plan out.
 */

export interface VBucketMove {
  readonly vbucket: number;
  readonly from: number;
  readonly to: number;
}

export interface RebalancePlan {
  /** The owner of every vBucket once the plan is done (the published vBucketMapForward). */
  readonly target: Int32Array;
  /** In the order they are carried out. */
  readonly moves: readonly VBucketMove[];
}

/** vBucket v on node v % nodes. */
export function roundRobin(numVBuckets: number, nodes: number): Int32Array {
  const owners = new Int32Array(numVBuckets);
  for (let v = 0; v < numVBuckets; v++) owners[v] = v % nodes;
  return owners;
}

/** How many vBuckets node `index` of `nodes` should own: an even share, the remainder to the first. */
export function quota(numVBuckets: number, nodes: number, index: number): number {
  return Math.floor(numVBuckets / nodes) + (index < numVBuckets % nodes ? 1 : 0);
}

/**
 * The moves that take `current` to an even spread over nodes 0..nodes-1. Nodes at index >= nodes
 * are leaving and give up everything; a node keeps its vBuckets (lowest ids first) up to its quota.
 * Moves alternate between destinations, so the new nodes fill up evenly as the rebalance runs.
 */
export function planRebalance(current: Int32Array, nodes: number): RebalancePlan {
  if (nodes < 1) throw new RangeError('a cluster needs at least one node');
  const n = current.length;
  const quotas = Array.from({ length: nodes }, (_, i) => quota(n, nodes, i));
  const counts = new Array<number>(nodes).fill(0);
  const target = current.slice();
  const moving: number[] = [];
  for (let v = 0; v < n; v++) {
    const owner = current[v];
    if (owner >= 0 && owner < nodes && counts[owner] < quotas[owner]) counts[owner]++;
    else moving.push(v);
  }
  const moves: VBucketMove[] = [];
  let cursor = 0;
  for (const v of moving) {
    // next node (round robin from the last choice) still below its quota
    let to = -1;
    for (let k = 0; k < nodes; k++) {
      const candidate = (cursor + k) % nodes;
      if (counts[candidate] < quotas[candidate]) {
        to = candidate;
        break;
      }
    }
    if (to < 0) throw new Error('rebalance plan: quotas do not cover every vBucket');
    cursor = (to + 1) % nodes;
    counts[to]++;
    target[v] = to;
    if (current[v] !== to) moves.push({ vbucket: v, from: current[v], to });
  }
  return { target, moves };
}
