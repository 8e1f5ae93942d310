/**
 * Snapshots of `stats proxy` data (what a worker reports) for the tests of the listing and of the admin
 * endpoint: a downstream server's numbers and a pool's, every field defaulted.
 */
import { STATS_CMD_SLOTS } from '../../src/proxy/command-stats.ts';
import { FrontCacheCounters } from '../../src/proxy/front-cache.ts';
import { PoolCounters } from '../../src/proxy/pool.ts';
import { ConfigEvents } from '../../src/proxy/proxy.ts';
import type { PoolSnapshot, ServerSnapshot, StatsProxySnapshot } from '../../src/proxy/stats-proxy.ts';
import { defaultBehaviors } from '../../src/config/behaviors.ts';
import { emptyLatency } from '../../src/util/latency-histogram.ts';

export function serverSnapshot(ident: string, o: Partial<ServerSnapshot> = {}): ServerSnapshot {
  return {
    ident,
    numDownstreamConn: 1,
    totDownstreamConnect: 1,
    totDownstreamConnectFailed: 0,
    totDownstreamClosedError: 0,
    totDownstreamBlacklisted: 0,
    blacklisted: false,
    latency: emptyLatency(),
    ...o,
  };
}

export function poolSnapshot(o: {
  port?: number;
  name?: string;
  available?: boolean;
  counters?: Partial<PoolCounters>;
  servers?: ServerSnapshot[];
  frontCache?: { size: number; counters: Partial<FrontCacheCounters> };
  commands?: number[];
}): PoolSnapshot {
  return {
    port: o.port ?? 11211,
    name: o.name ?? 'default',
    available: o.available ?? true,
    configText: '{"saslPassword": "secret"}',
    configVer: 0,
    listening: 1,
    counters: Object.assign(new PoolCounters(), o.counters) as unknown as Record<string, number>,
    frontCache: {
      on: o.frontCache !== undefined,
      size: o.frontCache?.size ?? 0,
      max: o.frontCache !== undefined ? 100 : 0,
      counters: Object.assign(new FrontCacheCounters(), o.frontCache?.counters) as unknown as Record<
        string,
        number
      >,
    },
    commands: o.commands ?? new Array<number>(STATS_CMD_SLOTS).fill(0),
    timings: null,
    servers: o.servers ?? [serverSnapshot('127.0.0.1:1'), serverSnapshot('127.0.0.1:2')],
  };
}

/** A whole listing's data: a static run of one event loop with `pools`, unless `o` says otherwise. */
export function proxySnapshot(
  pools: PoolSnapshot[],
  o: Partial<StatsProxySnapshot> = {},
): StatsProxySnapshot {
  return {
    mode: 'static',
    behaviors: defaultBehaviors(),
    threads: 1,
    settings: [],
    process: {
      worker: 1,
      pid: 1,
      cpuUserSeconds: 0,
      cpuSystemSeconds: 0,
      rssBytes: 0,
      heapUsedBytes: 0,
      heldReplyBytes: 0,
      uptimeSeconds: 0,
    },
    configEvents: { ...(new ConfigEvents() as unknown as Record<string, number>) },
    pools,
    ...o,
  };
}
