/**
 * What the admin endpoints (/metrics, /healthz, /api/stats, the dashboard) show, as plain JSON-safe data
 * gathered at request time: the proxy's `stats proxy` snapshot of every process that serves clients
 * (one, or each -t N worker), those processes' CPU and memory, and the embedded server's counters.
 * Nothing here is computed on the request path: it reads the counters the proxy keeps anyway.
 */
import type { CpuProfileCapture } from './cpu-profile.ts';
import type { EmbeddedServer } from '../server/server.ts';
import type { RestStreamStatus } from '../config/rest-stream.ts';
import type { StatsProxySnapshot } from '../proxy/stats-proxy.ts';
import { MOXI_TS_VERSION } from '../version.ts';

/** One process that serves clients: the only one (worker 1), or a -t N worker (by its slot, 1..N). */
export interface ProcessSnapshot {
  readonly worker: number;
  readonly pid: number;
  /** CPU time in seconds since the process started. */
  readonly cpuUserSeconds: number;
  readonly cpuSystemSeconds: number;
  readonly rssBytes: number;
  readonly heapUsedBytes: number;
  /** Reply bytes held for clients under --max-unread (unread replies, multi-get values); 0 outside a proxy. */
  readonly heldReplyBytes: number;
  readonly uptimeSeconds: number;
}

/** One worker's (or the only process's) part: its proxy snapshot and its process figures. */
export interface WorkerSnapshot {
  readonly process: ProcessSnapshot;
  readonly proxy: StatsProxySnapshot;
}

/** A process's part, from its proxy snapshot (which carries the process figures too). */
export function workerSnapshot(proxy: StatsProxySnapshot): WorkerSnapshot {
  return { process: proxy.process, proxy };
}

/** The embedded memcached server (-p): server-wide counters and one entry per bucket's store. */
export interface EmbeddedSnapshot {
  readonly port: number;
  readonly maxConnections: number;
  /** ServerCounters by field name. */
  readonly counters: Readonly<Record<string, number>>;
  readonly buckets: ReadonlyArray<{
    readonly name: string;
    readonly limitBytes: number;
    /** StoreStats by field name. */
    readonly stats: Readonly<Record<string, number>>;
  }>;
}

export interface AdminSnapshot {
  readonly version: string;
  /** 'proxy' with -z (static or cluster), 'server' for the embedded server alone. */
  readonly mode: 'proxy' | 'server';
  /** -t: the proxy's event loops (worker processes when above 1). */
  readonly threads: number;
  readonly uptimeSeconds: number;
  /** Empty without -z; with -t N, the workers that answered (a restarting one may be missing). */
  readonly workers: readonly WorkerSnapshot[];
  readonly embedded: EmbeddedSnapshot | null;
  /** The REST configuration stream followed (cluster mode), null without one. */
  readonly configSource: RestStreamStatus | null;
}

/**
 * This process's CPU and memory, as `worker` (its -t N slot, 1..N; 1 for a single process), with the
 * reply bytes its proxy holds for clients.
 */
export function processSnapshot(worker: number, heldReplyBytes = 0): ProcessSnapshot {
  const cpu = process.cpuUsage();
  const memory = process.memoryUsage();
  return {
    worker,
    pid: process.pid,
    cpuUserSeconds: cpu.user / 1e6,
    cpuSystemSeconds: cpu.system / 1e6,
    rssBytes: memory.rss,
    heapUsedBytes: memory.heapUsed,
    heldReplyBytes,
    uptimeSeconds: process.uptime(),
  };
}

export function embeddedSnapshot(server: EmbeddedServer): EmbeddedSnapshot {
  return {
    port: server.settings.port,
    maxConnections: server.settings.maxConns,
    counters: { ...(server.counters as unknown as Record<string, number>) },
    buckets: [...server.buckets.values()].map((b) => ({
      name: b.name,
      limitBytes: b.store.maxBytes,
      stats: { ...(b.store.stats as unknown as Record<string, number>) },
    })),
  };
}

export function adminSnapshot(
  threads: number,
  workers: readonly WorkerSnapshot[],
  embedded: EmbeddedSnapshot | null,
  proxyMode: boolean,
  configSource: RestStreamStatus | null = null,
): AdminSnapshot {
  return {
    version: MOXI_TS_VERSION,
    mode: proxyMode ? 'proxy' : 'server',
    threads,
    uptimeSeconds: process.uptime(),
    workers,
    embedded,
    configSource,
  };
}

/** Where the admin server gets its data, each time an endpoint is asked. */
export interface AdminSource {
  snapshot(): Promise<AdminSnapshot>;
  /**
   * A CPU profile of `seconds` of the process serving clients: this one, or with -t N worker `worker`
   * (null: the first). Rejects with a CpuProfileError saying what the client did wrong or what failed.
   */
  cpuProfile(seconds: number, worker: number | null): Promise<CpuProfileCapture>;
}

export type HealthStatus = 'ok' | 'degraded' | 'down';

export interface Health {
  readonly status: HealthStatus;
  readonly pools: ReadonlyArray<{
    readonly port: number;
    readonly bucket: string;
    readonly available: boolean;
    readonly servers: ReadonlyArray<{ readonly server: string; readonly up: boolean }>;
  }>;
}

/**
 * ok: every pool has a map and every server is up (not ejected after connect errors); degraded: some
 * server is down, so the keys it owns fail; down: a pool has no map or no server up, there is no pool
 * yet (a cluster before its first configuration), or (with -t N) no worker answered. Proxy pools come from the workers' merged view: a server is down when any worker
 * has ejected it.
 */
export function health(snapshot: AdminSnapshot, merged: StatsProxySnapshot | null): Health {
  // with -z but no pool yet (a cluster before its first configuration), nothing is served
  if (snapshot.mode === 'proxy' && (merged === null || merged.pools.length === 0))
    return { status: 'down', pools: [] };
  let status: HealthStatus = 'ok';
  const pools = (merged?.pools ?? []).map((p) => {
    const servers = p.servers.map((s) => ({ server: s.ident, up: !s.blacklisted }));
    const up = servers.filter((s) => s.up).length;
    if (!p.available || up === 0) status = 'down';
    else if (up < servers.length && status === 'ok') status = 'degraded';
    return { port: p.port, bucket: p.name, available: p.available, servers };
  });
  return { status, pools };
}
