/**
 * The cluster itself: the memcached servers (embedded nodes in this process, or real memcached
 * addresses), the vBucket ownership, the published bucket configs, and the rebalance.
 *
 * Embedded nodes are EmbeddedServers with SASL buckets. Every vbucket bucket on every node is made
 * vBucket-aware before the node listens (all states None), so a node only serves the vBuckets it was
 * made Active for and answers NOT_MY_VBUCKET otherwise. Items belong to vBuckets by the CRC hash of
 * their key (what clients and moxi route by).
 *
 * A rebalance moves one vBucket at a time, as membase's did:
 *   1. the map is published with vBucketMapForward = where every vBucket will end up;
 *   2. the destination is set Pending (still NOT_MY_VBUCKET) and gets a copy of the vBucket's items;
 *   3. in one synchronous step (no request can interleave) the vBucket is copied again, source
 *      items the destination lacks added and destination items the source lacks removed, the
 *      source becomes Dead and the destination Active;
 *   4. the map is published with the new owner (its forward row equals its map row) and the source's
 *      copy is dropped.
 * Nodes joining are started (owning nothing) and published with the first forward map, before any
 * move; nodes leaving (always the last ones) give away their vBuckets first, then disappear from the
 * map, then are stopped.
 */
import { randomUUID } from 'node:crypto';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { Bucket, VBucketState } from '../server/bucket.ts';
import { Clock } from '../server/clock.ts';
import { EmbeddedServer } from '../server/server.ts';
import type { ServerSettings } from '../server/stats.ts';
import type { Item, Store } from '../server/store.ts';
import { crc32Hash } from '../routing/hash.ts';
import type { Logger } from '../util/log.ts';
import { BucketType, MAX_NODES, nodePortFor, type ClusterOptions } from './args.ts';
import {
  bucketJson,
  hostPort,
  type BucketDescription,
  type BucketJson,
  type ClusterView,
  type NodeAddress,
} from './config-json.ts';
import { planRebalance, roundRobin } from './placement.ts';

/** An error with the HTTP status the control port answers it with. */
export class ClusterError extends Error {
  override readonly name = 'ClusterError';
  readonly status: number;
  constructor(status: number, message: string, options?: ErrorOptions) {
    super(message, options);
    this.status = status;
  }
}

export interface ClusterNode extends NodeAddress {
  /** The node's slot (its port comes from --node-ports by slot); equals its serverList index. */
  readonly slot: number;
  /** Null for a real memcached server. */
  readonly server: EmbeddedServer | null;
}

export interface RebalanceSummary {
  readonly from: number;
  readonly to: number;
  readonly moved: number;
  readonly started: readonly string[];
  readonly stopped: readonly string[];
  readonly ms: number;
  readonly serverList: readonly string[];
  /** vBuckets owned per node, in serverList order. */
  readonly vbucketsPerNode: readonly number[];
}

/** Called after a publication with the names of the buckets whose config changed. */
export type ConfigListener = (changed: readonly string[]) => void;

interface Published {
  json: BucketJson;
  /** The JSON without `rev`, to tell a change from a republication of the same thing. */
  signature: string;
}

/** Copies are done this many items at a time between turns of the event loop. */
const COPY_BATCH = 256;
const NODE_MAX_CONNS = 4096;
const ITEM_SIZE_MAX = 1024 * 1024;

function sleep(ms: number): Promise<void> {
  return ms <= 0 ? Promise.resolve() : new Promise((resolve) => setTimeout(resolve, ms));
}

function closeNode(node: ClusterNode): Promise<void> {
  return node.server === null ? Promise.resolve() : node.server.close();
}

export class Cluster {
  readonly options: ClusterOptions;
  readonly buckets: readonly BucketDescription[];
  readonly numVBuckets: number;
  /** Whether the servers are embedded nodes (false: real memcached, static map). */
  readonly embedded: boolean;
  private readonly log: Logger;
  private readonly clock = new Clock();
  private nodeList: ClusterNode[] = [];
  private owners: Int32Array;
  private forward: Int32Array | null = null;
  private readonly published = new Map<string, Published>();
  private readonly listeners = new Set<ConfigListener>();
  private rebalancing = false;
  private closed = false;

  constructor(options: ClusterOptions, log: Logger) {
    this.options = options;
    this.log = log;
    this.embedded = options.memcached === null;
    this.numVBuckets = options.numVBuckets;
    this.buckets = options.buckets.map((b) => ({ ...b, uuid: randomUUID().replaceAll('-', '') }));
    this.owners = new Int32Array(options.numVBuckets);
  }

  get nodes(): readonly ClusterNode[] {
    return this.nodeList;
  }

  get isRebalancing(): boolean {
    return this.rebalancing;
  }

  /** Starts the initial nodes, assigns vBuckets round-robin and makes them Active, publishes. */
  async start(): Promise<void> {
    const external = this.options.memcached;
    if (external !== null) {
      this.nodeList = external.map((s, slot) => ({ slot, host: s.host, port: s.port, server: null }));
    } else {
      try {
        for (let slot = 0; slot < this.options.nodes; slot++) this.nodeList.push(await this.startNode(slot));
      } catch (err) {
        await this.close();
        throw err;
      }
    }
    this.owners = roundRobin(this.numVBuckets, this.nodeList.length);
    for (let v = 0; v < this.numVBuckets; v++) {
      for (const bucket of this.vbucketBuckets(this.nodeList[this.owners[v]])) {
        bucket.setState(v, VBucketState.Active);
      }
    }
    this.publish();
  }

  /** The bucket's current config, or undefined for an unknown bucket. */
  config(name: string): BucketJson | undefined {
    return this.published.get(name)?.json;
  }

  /** Every bucket's config, in --buckets order. */
  configs(): BucketJson[] {
    return this.buckets.map((b) => this.published.get(b.name)!.json);
  }

  onChange(listener: ConfigListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** A snapshot of the topology for the control port's /status. */
  status(): object {
    const counts = this.vbucketsPerNode();
    return {
      mode: this.embedded ? 'embedded' : 'memcached',
      numVBuckets: this.numVBuckets,
      rebalancing: this.rebalancing,
      nodes: this.nodeList.map((n, i) => ({
        slot: n.slot,
        host: n.host,
        port: n.port,
        address: hostPort(n.host, n.port),
        embedded: n.server !== null,
        vbuckets: counts[i],
      })),
      nodePorts: this.nodeList.map((n) => n.port),
      buckets: this.buckets.map((b) => ({
        name: b.name,
        type: b.type,
        password: b.password,
        rev: this.published.get(b.name)?.json.rev ?? 0,
      })),
      configs: this.configs(),
    };
  }

  /**
   * Starts or stops embedded nodes to reach `target` and moves vBuckets until each node owns an
   * even share. Resolves when done. One rebalance at a time.
   */
  async rebalance(target: number): Promise<RebalanceSummary> {
    if (!this.embedded) {
      throw new ClusterError(
        400,
        'cannot rebalance real memcached servers (no vBucket ownership); start without --memcached',
      );
    }
    if (!Number.isInteger(target) || target < 1 || target > MAX_NODES) {
      throw new ClusterError(400, `nodes must be an integer between 1 and ${MAX_NODES}`);
    }
    if (this.closed) throw new ClusterError(503, 'the cluster is shutting down');
    if (this.rebalancing) throw new ClusterError(409, 'a rebalance is already running');
    this.rebalancing = true;
    const began = Date.now();
    const from = this.nodeList.length;
    const started: string[] = [];
    const stopped: string[] = [];
    let moved = 0;
    try {
      this.log.info({ from, to: target }, 'rebalance starting');
      if (target > from) {
        const joining: ClusterNode[] = [];
        try {
          for (let slot = from; slot < target; slot++) joining.push(await this.startNode(slot));
        } catch (err) {
          await Promise.all(joining.map(closeNode));
          const e = err as NodeJS.ErrnoException;
          throw new ClusterError(500, `could not start a node: ${e.message}`, { cause: err });
        }
        this.nodeList.push(...joining);
        started.push(...joining.map((n) => hostPort(n.host, n.port)));
      }
      // joining nodes are published together with the forward map (they own nothing yet)
      const plan = planRebalance(this.owners, target);
      this.forward = plan.target;
      this.publish();
      for (const move of plan.moves) {
        if (this.isClosed()) throw new ClusterError(503, 'the cluster is shutting down');
        await this.moveVBucket(move.vbucket, move.from, move.to);
        moved++;
      }
      this.forward = null;
      const leaving = this.nodeList.slice(target);
      this.nodeList = this.nodeList.slice(0, target);
      this.publish();
      for (const node of leaving) {
        await closeNode(node);
        stopped.push(hostPort(node.host, node.port));
      }
      const summary: RebalanceSummary = {
        from,
        to: target,
        moved,
        started,
        stopped,
        ms: Date.now() - began,
        serverList: this.nodeList.map((n) => hostPort(n.host, n.port)),
        vbucketsPerNode: this.vbucketsPerNode(),
      };
      this.log.info(summary, 'rebalance done');
      return summary;
    } finally {
      this.rebalancing = false;
      if (this.forward !== null) {
        // stopped half way: what was not moved stays where it is
        this.forward = null;
        this.publish();
      }
    }
  }

  /** Stops every embedded node. */
  async close(): Promise<void> {
    this.closed = true;
    const nodes = this.nodeList;
    await Promise.all(nodes.map(closeNode));
  }

  // ------------------------------------------------------------------------------------------

  /** (A method, so that a check after an await is not narrowed away.) */
  private isClosed(): boolean {
    return this.closed;
  }

  private view(): ClusterView {
    return {
      host: this.options.host,
      restPort: this.options.restPort,
      nodes: this.nodeList,
      owners: this.owners,
      forward: this.forward,
    };
  }

  /** Rebuilds every bucket's config; those that changed get a new rev and are announced. */
  private publish(): void {
    const view = this.view();
    const changed: string[] = [];
    for (const bucket of this.buckets) {
      const previous = this.published.get(bucket.name);
      const json = bucketJson(bucket, view, 0);
      const signature = JSON.stringify(json);
      if (previous !== undefined && previous.signature === signature) continue;
      json.rev = (previous?.json.rev ?? 0) + 1;
      this.published.set(bucket.name, { json, signature });
      changed.push(bucket.name);
    }
    if (changed.length === 0) return;
    this.log.debug({ changed, forward: this.forward !== null }, 'config published');
    for (const listener of this.listeners) {
      try {
        listener(changed);
      } catch (err) {
        this.log.error({ err: (err as Error).message }, 'config listener failed');
      }
    }
  }

  private vbucketsPerNode(): number[] {
    const counts = new Array<number>(this.nodeList.length).fill(0);
    for (const owner of this.owners) if (owner >= 0 && owner < counts.length) counts[owner]++;
    return counts;
  }

  private async startNode(slot: number): Promise<ClusterNode> {
    const port = nodePortFor(this.options.nodePorts, slot);
    const settings: ServerSettings = {
      port,
      udpPort: 0,
      bindAddress: this.options.host,
      maxBytes: this.options.maxBytes,
      maxConns: NODE_MAX_CONNS,
      verbosity: this.options.verbosity,
      evictions: true,
      itemSizeMax: ITEM_SIZE_MAX,
      threads: 1,
      reqsPerEvent: 20,
      tcpBacklog: 1024,
      bindingProtocol: 'auto-negotiate',
      casEnabled: true,
      growthFactor: 1.25,
      chunkSize: 48,
      prefixDelimiter: ':',
      detailEnabled: false,
    };
    const server = new EmbeddedServer(settings, this.log.child({ node: slot }), {
      buckets: this.buckets.map((b) => ({ name: b.name, password: b.password })),
      sasl: true,
      clock: this.clock,
    });
    // vBucket-aware from the first request on: nothing is served until a vBucket is made Active
    for (const bucket of server.buckets.values()) {
      if (!this.isVBucketBucket(bucket.name)) continue;
      for (let v = 0; v < this.numVBuckets; v++) bucket.setState(v, VBucketState.None);
    }
    try {
      await server.listen();
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      throw new Error(`node ${slot} failed to listen on ${hostPort(this.options.host, port)}: ${e.message}`, {
        cause: err,
      });
    }
    this.log.info({ slot, port }, 'node started');
    return { slot, host: this.options.host, port, server };
  }

  private isVBucketBucket(name: string): boolean {
    return this.buckets.some((b) => b.name === name && b.type === BucketType.VBucket);
  }

  /** The vbucket buckets of an embedded node (none for a real memcached). */
  private vbucketBuckets(node: ClusterNode): Bucket[] {
    if (node.server === null) return [];
    const out: Bucket[] = [];
    for (const bucket of node.server.buckets.values())
      if (this.isVBucketBucket(bucket.name)) out.push(bucket);
    return out;
  }

  private vbucketOf(item: Item): number {
    return crc32Hash(Buffer.from(item.key, 'latin1')) & (this.numVBuckets - 1);
  }

  /** The live items of vBucket `vbucket` in `store` (expired and flushed ones are left out). */
  private itemsOf(store: Store, vbucket: number): Item[] {
    const found: Item[] = [];
    for (const item of store.entries()) if (this.vbucketOf(item) === vbucket) found.push(item);
    // peek drops expired / flushed items (it may unlink, so not while iterating)
    return found.filter((item) => store.peek(item.key) === item);
  }

  private static copyItem(from: Store, to: Store, item: Item): void {
    to.importItem(item.key, item.flags, from.expiresAt(item), item.value, item.keyBinary, item.cas);
  }

  private async moveVBucket(vbucket: number, from: number, to: number): Promise<void> {
    const source = this.nodeList[from];
    const destination = this.nodeList[to];
    const pairs = this.vbucketBuckets(source).map((src) => {
      const dst = destination.server!.buckets.get(src.name)!;
      return { src, dst };
    });
    // (1) the forward map naming the destination is published (it is the rebalance's target map)
    this.publish();
    // (2) destination pending; bulk copy, yielding to clients between batches
    let copied = 0;
    for (const { src, dst } of pairs) {
      dst.setState(vbucket, VBucketState.Pending);
      const items = this.itemsOf(src.store, vbucket);
      for (let i = 0; i < items.length; i++) {
        const item = items[i];
        if (item.linked) Cluster.copyItem(src.store, dst.store, item);
        copied++;
        if ((i + 1) % COPY_BATCH === 0) await yieldToLoop();
      }
    }
    await sleep(this.options.moveDelayMs);
    // (3) the flip: one synchronous step, no await until the states are set
    let flipped = 0;
    for (const { src, dst } of pairs) {
      for (const stale of this.itemsOf(dst.store, vbucket)) dst.store.remove(stale);
      for (const item of this.itemsOf(src.store, vbucket)) {
        Cluster.copyItem(src.store, dst.store, item);
        flipped++;
      }
      src.setState(vbucket, VBucketState.Dead);
      dst.setState(vbucket, VBucketState.Active);
    }
    this.owners[vbucket] = to;
    // (4) the new owner is published; the source's copy goes away
    this.publish();
    for (const { src } of pairs) for (const item of this.itemsOf(src.store, vbucket)) src.store.remove(item);
    this.log.debug({ vbucket, from, to, copied, flipped }, 'vbucket moved');
    await sleep(this.options.moveDelayMs);
  }
}
