/**
 * `stats proxy [all|info|settings|behaviors|frontcache|stats|config|reset]`: moxi.ts's own configuration
 * and counters under moxi's names and in moxi's order (moxi-spec §6.8): basic:*, memcached:settings:*,
 * memcached:stats:*, proxy_main:*, and per pool `<port>:<bucket>:info|behavior|stats|frontcache|
 * pstd_stats|pstd_stats_cmd|server-<i>:*`, each sub-command choosing the families moxi's does. Config
 * text has its passwords masked.
 *
 * The listing is rendered from a snapshot (plain data) so that, with `-t N` worker processes, each
 * worker's snapshot can cross IPC and the listing shows their sums (mergeStatsProxySnapshots).
 */
import os from 'node:os';
import { DOWNSTREAM_PROTOCOL_CODE, type BehaviorKey, type Behaviors } from '../config/behaviors.ts';
import { MOXI_TS_VERSION } from '../version.ts';
import { addCommandStats, commandStatRows } from './command-stats.ts';
import { FrontCacheCounters, type FrontCache } from './front-cache.ts';
import type { PoolCounters, ProxyPool } from './pool.ts';
import type { ConfigEvents } from './proxy.ts';
import { addLatency, type LatencySnapshot } from '../util/latency-histogram.ts';
import { settingsStats, type ServerSettings } from '../server/stats.ts';
import { addTimings, timingLines, type PoolTimingsSnapshot } from '../util/timing-histogram.ts';
import { processSnapshot, type ProcessSnapshot } from '../admin/snapshot.ts';

/** What the listing reads from the proxy. */
export interface StatsProxySource {
  readonly mode: 'static' | 'cluster';
  readonly pools: readonly ProxyPool[];
  readonly options: {
    readonly behaviors: Behaviors;
    readonly threads: number;
    readonly settings?: ServerSettings;
  };
  readonly configEvents: ConfigEvents;
  readonly unreadReplies: { readonly bytes: number };
  listeningOn(port: number): number;
}

type Row = readonly [name: string, value: string | number];

/** One downstream server's numbers, named as the listing names them. */
export interface ServerSnapshot {
  readonly ident: string;
  readonly numDownstreamConn: number;
  readonly totDownstreamConnect: number;
  readonly totDownstreamConnectFailed: number;
  readonly totDownstreamClosedError: number;
  readonly totDownstreamBlacklisted: number;
  readonly blacklisted: boolean;
  /** Response times (not listed by `stats proxy`; the admin endpoint's histogram). */
  readonly latency: LatencySnapshot;
}

/** A pool's front cache as moxi lists it (its counters are there, zero, when it is off). */
export interface FrontCacheSnapshot {
  readonly on: boolean;
  /** Items held. */
  readonly size: number;
  /** front_cache_max when on, else 0. */
  readonly max: number;
  /** FrontCacheCounters by field name, in declaration order. */
  readonly counters: Readonly<Record<string, number>>;
}

export interface PoolSnapshot {
  readonly port: number;
  readonly name: string;
  readonly available: boolean;
  readonly configText: string;
  /** moxi's config_ver (the same in every worker). */
  readonly configVer: number;
  /** Listening sockets taking the pool's clients (moxi's stats:listening). */
  readonly listening: number;
  /** PoolCounters by field name, in declaration order. */
  readonly counters: Readonly<Record<string, number>>;
  readonly frontCache: FrontCacheSnapshot;
  /** CommandStats.snapshot(): moxi's pstd_stats_cmd table. */
  readonly commands: readonly number[];
  /** time_stats histograms (null when time_stats is 0). */
  readonly timings: PoolTimingsSnapshot | null;
  readonly servers: readonly ServerSnapshot[];
}

function frontCacheSnapshot(cache: FrontCache | null): FrontCacheSnapshot {
  return {
    on: cache !== null,
    size: cache?.size ?? 0,
    max: cache?.max ?? 0,
    counters: { ...((cache?.counters ?? new FrontCacheCounters()) as unknown as Record<string, number>) },
  };
}

/** Everything the listing shows, as JSON-safe data. */
export interface StatsProxySnapshot {
  readonly mode: 'static' | 'cluster';
  readonly behaviors: Behaviors;
  /** -t: event loops (worker processes); moxi shows it plus one as basic:nthreads. */
  readonly threads: number;
  /** memcached:settings:* (empty when the proxy was made without the run's settings). */
  readonly settings: readonly Row[];
  /** The process's CPU and memory (memcached:stats:*; the admin endpoint's per worker). */
  readonly process: ProcessSnapshot;
  /** ConfigEvents by field name, in declaration order (the same in every worker). */
  readonly configEvents: Readonly<Record<string, number>>;
  readonly pools: readonly PoolSnapshot[];
}

/**
 * moxi's memcached:settings:* rows: the `stats settings` of the memcached moxi was built on, a subset
 * of today's in the same order; num_threads is moxi's thread count, as basic:nthreads.
 */
const MOXI_SETTINGS: ReadonlySet<string> = new Set([
  'maxbytes',
  'maxconns',
  'tcpport',
  'udpport',
  'inter',
  'verbosity',
  'oldest',
  'evictions',
  'domain_socket',
  'umask',
  'growth_factor',
  'chunk_size',
  'num_threads',
  'stat_key_prefix',
  'detail_enabled',
  'reqs_per_event',
  'cas_enabled',
  'tcp_backlog',
  'binding_protocol',
]);

function settingsRows(settings: ServerSettings | undefined, threads: number): Row[] {
  if (settings === undefined) return [];
  return settingsStats(settings, settings.maxBytes, 0)
    .filter(([name]) => MOXI_SETTINGS.has(name))
    .map(([name, value]) => [name, name === 'num_threads' ? threads + 1 : value]);
}

/** The listing's data from this process, `worker` its -t N slot (1 for a single process). */
export function statsProxySnapshot(proxy: StatsProxySource, worker = 1): StatsProxySnapshot {
  return {
    mode: proxy.mode,
    behaviors: proxy.options.behaviors,
    threads: proxy.options.threads,
    settings: settingsRows(proxy.options.settings, proxy.options.threads),
    process: processSnapshot(worker, proxy.unreadReplies.bytes),
    configEvents: { ...(proxy.configEvents as unknown as Record<string, number>) },
    pools: proxy.pools.map((p) => ({
      port: p.port,
      name: p.name,
      available: p.available,
      configText: p.configText,
      configVer: p.configVer,
      listening: proxy.listeningOn(p.port),
      counters: { ...(p.counters as unknown as Record<string, number>) },
      frontCache: frontCacheSnapshot(p.frontCache),
      commands: p.commandStats.snapshot(),
      timings:
        p.timings === null
          ? null
          : { connect: p.timings.connect.snapshot(), reserved: p.timings.reserved.snapshot() },
      servers: p.servers.map((s) => ({
        ident: s.ident,
        numDownstreamConn: s.connectionCount,
        totDownstreamConnect: s.counters.connects,
        totDownstreamConnectFailed: s.counters.connectFailures,
        totDownstreamClosedError: s.counters.errorCloses,
        totDownstreamBlacklisted: s.counters.blacklistedFailures,
        blacklisted: s.blacklisted,
        latency: s.latency.snapshot(),
      })),
    })),
  };
}

/** `stats proxy reset`: zeroes every pool's tot_* counters (moxi resets its proxy_main's). */
export function resetStatsProxy(proxy: StatsProxySource): void {
  for (const p of proxy.pools) {
    resetCounters(p);
    p.frontCache?.resetCounters();
  }
}

/** The reply to `stats proxy <arg>` from this process alone. */
export function renderStatsProxy(proxy: StatsProxySource, _current: ProxyPool | null, arg: string): string {
  if (arg === 'reset') {
    resetStatsProxy(proxy);
    return 'OK\r\n';
  }
  return renderStatsProxySnapshot(statsProxySnapshot(proxy), arg);
}

/** The listing for `stats proxy <arg>` (any sub-command but reset) from a snapshot. */
export function renderStatsProxySnapshot(snapshot: StatsProxySnapshot, arg: string): string {
  const lines: Row[] = [];
  if (arg === 'timings') {
    // moxi's time_stats histograms, drawn line by line (nothing while time_stats is 0)
    for (const p of snapshot.pools) {
      for (const kind of ['connect', 'reserved'] as const) {
        for (const line of timingLines(p.timings?.[kind] ?? []))
          lines.push([`${p.port}:${p.name}:${kind}`, line]);
      }
    }
    return renderRows(lines);
  }
  if (arg === 'config') {
    // moxi's is the raw text; here passwords stay masked, as everywhere else
    for (const p of snapshot.pools) lines.push([`${p.port}:${p.name}:config`, maskPasswords(p.configText)]);
    return renderRows(lines);
  }
  const sub = arg === '' ? 'all' : arg;
  const all = sub === 'all';
  // `buckets` (binary STAT "proxy buckets") is the per-bucket part only: info, frontcache, stats
  const buckets = sub === 'buckets';
  const info = all || sub === 'info';
  const stats = all || sub === 'stats';
  const behaviors = all || sub === 'behaviors';
  const frontcache = all || sub === 'frontcache';
  if (info) {
    lines.push(
      ['basic:version', MOXI_TS_VERSION],
      ['basic:nthreads', snapshot.threads + 1],
      ['basic:hostname', os.hostname()],
    );
  }
  if (all || sub === 'settings') {
    for (const [name, value] of snapshot.settings) lines.push([`memcached:settings:${name}`, value]);
  }
  if (stats) {
    for (const [name, value] of memcachedStatsRows(snapshot)) lines.push([`memcached:stats:${name}`, value]);
  }
  if (info) lines.push(['proxy_main:conf_type', snapshot.mode === 'static' ? 'static' : 'dynamic']);
  if (behaviors) behaviorRows(lines, 'proxy_main:behavior:', snapshot.behaviors, 2);
  if (stats) {
    for (const [name, value] of Object.entries(snapshot.configEvents))
      lines.push([`proxy_main:stats:stat_${snake(name)}`, value]);
  }
  for (const p of snapshot.pools) {
    const prefix = `${p.port}:${p.name}:`;
    if (info || buckets) {
      lines.push(
        [`${prefix}info:port`, p.port],
        [`${prefix}info:name`, p.name],
        [`${prefix}info:config`, maskPasswords(p.configText)],
        [`${prefix}info:config_ver`, p.configVer],
        [`${prefix}info:behaviors_num`, p.servers.length],
        // moxi.ts's own: 0 once the bucket left the cluster's configuration
        [`${prefix}info:available`, p.available ? 1 : 0],
      );
    }
    if (behaviors) {
      behaviorRows(lines, `${prefix}behavior:`, snapshot.behaviors, 1);
      p.servers.forEach((server, i) => {
        const colon = server.ident.lastIndexOf(':');
        const at = {
          ...snapshot.behaviors,
          host: server.ident.slice(0, colon),
          port: Number(server.ident.slice(colon + 1)),
        };
        behaviorRows(lines, `${prefix}behavior-${i}:`, at, 0);
      });
    }
    if (stats || buckets) {
      // a port that could not be bound ends the run (as in moxi), so listening_failed stays 0
      lines.push([`${prefix}stats:listening`, p.listening], [`${prefix}stats:listening_failed`, 0]);
    }
    if (frontcache || buckets) {
      const fc = p.frontCache;
      // moxi prints size only while the cache runs; oldest_live stays 0 (its flush_all passes 0)
      if (fc.on) lines.push([`${prefix}frontcache:size`, fc.size]);
      lines.push([`${prefix}frontcache:max`, fc.max], [`${prefix}frontcache:oldest_live`, 0]);
      for (const [name, value] of Object.entries(fc.counters))
        lines.push([`${prefix}frontcache:${snake(name)}`, value]);
    }
    if (stats || buckets) {
      for (const [name, value] of PSTD_STATS) lines.push([`${prefix}pstd_stats:${name}`, value(p)]);
      for (const row of commandStatRows(prefix, p.commands)) lines.push(row);
      p.servers.forEach((s, i) => {
        lines.push(
          [`${prefix}server-${i}:ident`, s.ident],
          [`${prefix}server-${i}:num_downstream_conn`, s.numDownstreamConn],
          [`${prefix}server-${i}:tot_downstream_connect`, s.totDownstreamConnect],
          [`${prefix}server-${i}:tot_downstream_connect_failed`, s.totDownstreamConnectFailed],
          [`${prefix}server-${i}:tot_downstream_closed_error`, s.totDownstreamClosedError],
          [`${prefix}server-${i}:tot_downstream_blacklisted`, s.totDownstreamBlacklisted],
          [`${prefix}server-${i}:blacklisted`, s.blacklisted ? 1 : 0],
        );
      });
    }
  }
  return renderRows(lines);
}

function renderRows(lines: readonly Row[]): string {
  let out = '';
  for (const [name, value] of lines) out += value === '' ? `STAT ${name}\r\n` : `STAT ${name} ${value}\r\n`;
  return out + 'END\r\n';
}

/**
 * moxi's memcached:stats:* rows, the `stats` of the memcached it was built on, for the proxy process:
 * its clients as connections, their bytes read and written; the command and hit rows count what
 * memcached itself served, which a proxy run does not (moxi.ts's embedded server, -p, answers its own
 * `stats`).
 */
function memcachedStatsRows(snapshot: StatsProxySnapshot): Row[] {
  const pr = snapshot.process;
  let current = 0;
  let total = 0;
  let bytesRead = 0;
  let bytesWritten = 0;
  for (const p of snapshot.pools) {
    current += p.counters['numUpstream'] ?? 0;
    total += p.counters['totUpstream'] ?? 0;
    bytesRead += p.counters['totBytesRead'] ?? 0;
    bytesWritten += p.counters['totBytesWritten'] ?? 0;
  }
  const maxBytes = snapshot.settings.find(([name]) => name === 'maxbytes')?.[1] ?? 0;
  const served = SERVED_ROWS.map((name): Row => [name, 0]);
  return [
    ['pid', pr.pid],
    ['uptime', Math.floor(pr.uptimeSeconds)],
    ['time', Math.floor(Date.now() / 1000)],
    ['version', MOXI_TS_VERSION],
    ['pointer_size', 64],
    ['rusage_user', pr.cpuUserSeconds.toFixed(6)],
    ['rusage_system', pr.cpuSystemSeconds.toFixed(6)],
    ['curr_connections', current],
    ['total_connections', total],
    ['connection_structures', current],
    ...served,
    ['bytes_read', bytesRead],
    ['bytes_written', bytesWritten],
    ['limit_maxbytes', maxBytes],
    ['accepting_conns', 1],
    ['listen_disabled_num', 0],
    ['threads', snapshot.threads + 1],
    ['conn_yields', 0],
  ];
}

const SERVED_ROWS = [
  'cmd_get',
  'cmd_set',
  'cmd_flush',
  'get_hits',
  'get_misses',
  'delete_misses',
  'delete_hits',
  'incr_misses',
  'incr_hits',
  'decr_misses',
  'decr_hits',
  'cas_misses',
  'cas_hits',
  'cas_badval',
];

type PoolValue = (p: PoolSnapshot) => number;
const counter =
  (name: keyof PoolCounters): PoolValue =>
  (p) =>
    p.counters[name] ?? 0;
const serversSum =
  (value: (s: ServerSnapshot) => number): PoolValue =>
  (p) =>
    p.servers.reduce((n, s) => n + value(s), 0);
/** A moxi counter of a mechanism moxi.ts does not have (reserving a downstream per request, ...). */
const NONE: PoolValue = () => 0;

/**
 * `<port>:<bucket>:pstd_stats:*`: moxi's rows, in moxi's order and under its names, each from what
 * moxi.ts counts for the same thing, then moxi.ts's own. moxi counts connections per pool; moxi.ts
 * counts them per server, so the connection rows are the sums over the pool's servers.
 */
const PSTD_STATS: ReadonlyArray<readonly [name: string, value: PoolValue]> = [
  ['num_upstream', counter('numUpstream')],
  ['tot_upstream', counter('totUpstream')],
  ['num_downstream_conn', serversSum((s) => s.numDownstreamConn)],
  ['tot_downstream_conn', serversSum((s) => s.totDownstreamConnect)],
  ['tot_downstream_conn_acquired', NONE],
  ['tot_downstream_conn_released', NONE],
  ['tot_downstream_released', NONE],
  ['tot_downstream_reserved', NONE],
  ['tot_downstream_reserved_time', NONE],
  ['max_downstream_reserved_time', NONE],
  ['tot_downstream_freed', NONE],
  ['tot_downstream_quit_server', NONE],
  ['tot_downstream_max_reached', NONE],
  ['tot_downstream_create_failed', NONE],
  [
    'tot_downstream_connect_started',
    serversSum((s) => s.totDownstreamConnect + s.totDownstreamConnectFailed),
  ],
  ['tot_downstream_connect_wait', NONE],
  ['tot_downstream_connect', serversSum((s) => s.totDownstreamConnect)],
  ['tot_downstream_connect_failed', serversSum((s) => s.totDownstreamConnectFailed)],
  ['tot_downstream_connect_timeout', NONE],
  // requests failed at once, without a connect, while connect_retry_interval runs
  ['tot_downstream_connect_interval', serversSum((s) => s.totDownstreamBlacklisted)],
  ['tot_downstream_connect_max_reached', NONE],
  ['tot_downstream_waiting_errors', NONE],
  ['tot_downstream_auth', NONE],
  ['tot_downstream_auth_failed', NONE],
  ['tot_downstream_bucket', NONE],
  ['tot_downstream_bucket_failed', NONE],
  ['tot_downstream_propagate_failed', NONE],
  ['tot_downstream_close_on_upstream_close', NONE],
  ['tot_downstream_conn_queue_timeout', counter('totDownstreamConnQueueTimeouts')],
  ['tot_downstream_conn_queue_add', NONE],
  ['tot_downstream_conn_queue_remove', NONE],
  ['tot_downstream_timeout', counter('totDownstreamTimeouts')],
  ['tot_wait_queue_timeout', counter('totWaitQueueTimeouts')],
  ['tot_auth_timeout', NONE],
  ['tot_assign_downstream', NONE],
  ['tot_assign_upstream', NONE],
  ['tot_assign_recursion', NONE],
  ['tot_reset_upstream_avail', NONE],
  ['tot_multiget_keys', counter('totMultigetKeys')],
  ['tot_multiget_keys_dedupe', counter('totMultigetKeysDeduped')],
  ['tot_multiget_bytes_dedupe', NONE],
  ['tot_optimize_sets', NONE],
  ['tot_retry', counter('totRetries')],
  ['tot_retry_time', NONE],
  ['max_retry_time', NONE],
  ['tot_retry_vbucket', counter('totNotMyVBucket')],
  ['tot_upstream_paused', NONE],
  ['tot_upstream_unpaused', NONE],
  ['err_oom', counter('errOom')],
  ['err_upstream_write_prep', NONE],
  ['err_downstream_write_prep', NONE],
  ['tot_cmd_time', NONE],
  ['tot_cmd_count', NONE],
  ['tot_local_cmd_time', NONE],
  ['tot_local_cmd_count', NONE],
  // moxi.ts's own
  ['tot_requests', counter('totRequests')],
  ['tot_requests_connect_failed', counter('totDownstreamConnectFailures')],
  ['tot_downstream_closed', counter('totDownstreamClosed')],
  ['tot_gets_squashed', counter('totGetsSquashed')],
  ['tot_unread_disconnects', counter('totUnreadDisconnects')],
  ['tot_configs', counter('totConfigs')],
];

/**
 * The snapshots of several worker processes as one: counters summed (gauges such as num_upstream too,
 * which gives the process-wide total; tot_configs is the largest, see SAME_IN_EVERY_WORKER), a server
 * blacklisted when any worker has it blacklisted, a pool
 * available when any worker has it. Mode, behaviors, -t and config text come from the first snapshot
 * (the worker that answers the client), so `stats proxy config` shows what that worker routes with.
 *
 * Pools are matched by port and bucket name, counted from the newest: a bucket re-created with a new
 * password leaves its old pool in the list, and a worker restarted since has only the newest one.
 * Servers are matched by ident, since a worker restarted after a reconfiguration never saw the old ones.
 */
export function mergeStatsProxySnapshots(snapshots: readonly StatsProxySnapshot[]): StatsProxySnapshot {
  if (snapshots.length === 0) throw new Error('mergeStatsProxySnapshots: no snapshot');
  const first = snapshots[0];
  if (snapshots.length === 1) return first;
  const pools = new Map<string, MergedPool>();
  for (const snapshot of snapshots) {
    const keys = poolKeys(snapshot.pools);
    snapshot.pools.forEach((p, i) => {
      const key = keys[i];
      const merged = pools.get(key);
      if (merged === undefined) pools.set(key, copyPool(p));
      else addPool(merged, p);
    });
  }
  const configEvents: Record<string, number> = {};
  for (const snapshot of snapshots)
    for (const [name, value] of Object.entries(snapshot.configEvents))
      configEvents[name] = Math.max(configEvents[name] ?? 0, value);
  return {
    mode: first.mode,
    behaviors: first.behaviors,
    threads: first.threads,
    settings: first.settings,
    process: {
      ...first.process,
      uptimeSeconds: Math.max(...snapshots.map((s) => s.process.uptimeSeconds)),
      cpuUserSeconds: snapshots.reduce((n, s) => n + s.process.cpuUserSeconds, 0),
      cpuSystemSeconds: snapshots.reduce((n, s) => n + s.process.cpuSystemSeconds, 0),
      rssBytes: snapshots.reduce((n, s) => n + s.process.rssBytes, 0),
      heapUsedBytes: snapshots.reduce((n, s) => n + s.process.heapUsedBytes, 0),
      heldReplyBytes: snapshots.reduce((n, s) => n + s.process.heldReplyBytes, 0),
    },
    configEvents,
    pools: [...pools.values()].map((p) => ({ ...p, servers: [...p.servers.values()] })),
  };
}

/**
 * Counters every worker counts for the same event: each applies every configuration the primary
 * receives, so the pool's count is the largest (a worker restarted since has seen fewer), not the sum.
 */
const SAME_IN_EVERY_WORKER: ReadonlySet<string> = new Set(['totConfigs']);

interface MergedPool {
  readonly port: number;
  readonly name: string;
  available: boolean;
  readonly configText: string;
  configVer: number;
  listening: number;
  readonly counters: Record<string, number>;
  readonly frontCache: { on: boolean; size: number; max: number; readonly counters: Record<string, number> };
  readonly commands: number[];
  timings: PoolTimingsSnapshot | null;
  readonly servers: Map<string, MergedServer>;
}

type MergedServer = { -readonly [K in keyof ServerSnapshot]: ServerSnapshot[K] };

/** `port:name:k`, k counting the later pools of the same port and name. */
function poolKeys(pools: readonly PoolSnapshot[]): string[] {
  const later = new Map<string, number>();
  const keys = new Array<string>(pools.length);
  for (let i = pools.length - 1; i >= 0; i--) {
    const base = `${pools[i].port}:${pools[i].name}`;
    const k = later.get(base) ?? 0;
    later.set(base, k + 1);
    keys[i] = `${base}:${k}`;
  }
  return keys;
}

function copyPool(p: PoolSnapshot): MergedPool {
  return {
    port: p.port,
    name: p.name,
    available: p.available,
    configText: p.configText,
    configVer: p.configVer,
    listening: p.listening,
    counters: { ...p.counters },
    frontCache: { ...p.frontCache, counters: { ...p.frontCache.counters } },
    commands: [...p.commands],
    timings: p.timings,
    servers: new Map(p.servers.map((s) => [s.ident, { ...s }])),
  };
}

/** Adds one worker's counters to the merged ones (the largest for SAME_IN_EVERY_WORKER). */
function addCounters(into: Record<string, number>, from: Readonly<Record<string, number>>): void {
  for (const [name, value] of Object.entries(from)) {
    const sum = SAME_IN_EVERY_WORKER.has(name) ? Math.max : (a: number, b: number): number => a + b;
    into[name] = sum(into[name] ?? 0, value);
  }
}

function addPool(into: MergedPool, p: PoolSnapshot): void {
  into.available ||= p.available;
  // every worker applies the same configurations and listens on the same ports
  into.configVer = Math.max(into.configVer, p.configVer);
  into.listening = Math.max(into.listening, p.listening);
  addCounters(into.counters, p.counters);
  // each worker has a front cache of its own: items, room and counters add up
  const fc = into.frontCache;
  fc.on ||= p.frontCache.on;
  fc.size += p.frontCache.size;
  fc.max += p.frontCache.max;
  addCounters(fc.counters, p.frontCache.counters);
  addCommandStats(into.commands, p.commands);
  if (p.timings !== null) {
    into.timings =
      into.timings === null
        ? p.timings
        : {
            connect: addTimings(into.timings.connect, p.timings.connect),
            reserved: addTimings(into.timings.reserved, p.timings.reserved),
          };
  }
  for (const s of p.servers) {
    const m = into.servers.get(s.ident);
    if (m === undefined) {
      into.servers.set(s.ident, { ...s });
      continue;
    }
    m.numDownstreamConn += s.numDownstreamConn;
    m.totDownstreamConnect += s.totDownstreamConnect;
    m.totDownstreamConnectFailed += s.totDownstreamConnectFailed;
    m.totDownstreamClosedError += s.totDownstreamClosedError;
    m.totDownstreamBlacklisted += s.totDownstreamBlacklisted;
    m.blacklisted ||= s.blacklisted;
    m.latency = addLatency(m.latency, s.latency);
  }
}

/** moxi overwrites every `...assword": "..."` value and drops newlines. */
function maskPasswords(text: string): string {
  return text
    .replace(/[\r\n]/g, '')
    .replace(
      /(assword"\s*:\s*")([^"]*)/g,
      (_m, head: string, value: string) => head + 'X'.repeat(value.length),
    );
}

/**
 * moxi's listing of a set of behaviors (its proxy_stats_dump_behavior): level 2 for proxy_main, 1 for
 * a pool, 0 for one server of it; downstream_protocol as moxi's enum value. mcs_opts and pwd are never
 * listed (the password stays out of every stats reply, as in moxi).
 */
function behaviorRows(lines: Row[], prefix: string, b: Behaviors, level: number): void {
  const row = (name: BehaviorKey, value: string | number = b[name]): void => {
    lines.push([prefix + name, value]);
  };
  if (level >= 2) row('cycle');
  if (level >= 1) {
    row('downstream_max');
    row('downstream_conn_max');
  }
  row('downstream_weight');
  row('downstream_retry');
  row('downstream_protocol', DOWNSTREAM_PROTOCOL_CODE[b.downstream_protocol]);
  row('downstream_timeout');
  row('downstream_conn_queue_timeout');
  row('connect_timeout');
  row('auth_timeout');
  if (level >= 1) {
    for (const name of LEVEL_1_BEHAVIORS) row(name);
  }
  row('usr');
  row('host');
  row('port');
  row('bucket');
  if (level >= 1) {
    row('port_listen');
    row('default_bucket_name');
  }
}

const LEVEL_1_BEHAVIORS: readonly BehaviorKey[] = [
  'wait_queue_timeout',
  'time_stats',
  'connect_max_errors',
  'connect_retry_interval',
  'front_cache_max',
  'front_cache_lifespan',
  'front_cache_spec',
  'front_cache_unspec',
  'key_stats_max',
  'key_stats_lifespan',
  'key_stats_spec',
  'key_stats_unspec',
  'optimize_set',
];

function snake(name: string): string {
  return name.replace(/[A-Z]/g, (c) => '_' + c.toLowerCase());
}

function resetCounters(pool: ProxyPool): void {
  const c = pool.counters as unknown as Record<string, number>;
  for (const key of Object.keys(c)) if (key.startsWith('tot')) c[key] = 0;
  pool.commandStats.reset();
  pool.timings?.connect.reset();
  pool.timings?.reserved.reset();
  // the pool's connection rows are its servers' sums
  for (const server of pool.servers) {
    const counters = server.counters;
    counters.connects = 0;
    counters.connectFailures = 0;
    counters.errorCloses = 0;
    counters.timeouts = 0;
    counters.blacklistedFailures = 0;
  }
}
