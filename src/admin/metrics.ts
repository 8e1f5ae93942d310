/**
 * The Prometheus exposition of an AdminSnapshot (prom-client does the text format). Every value is
 * copied from the snapshot at scrape time into metrics reset first, so a pool or server that went away
 * with a reconfiguration, or a worker that is restarting, leaves no stale series behind. Counters are
 * moxi's own `tot_*` numbers: `stats proxy reset` zeroes them, which Prometheus treats as a counter
 * reset (rate() and increase() handle it).
 *
 * Pool series carry `port` and `bucket`; downstream server series add `server` (host:port); with
 * -t N the pool and server series are the sums over the workers, as `stats proxy` shows them, and the
 * `moxi_worker_*` series give each worker's CPU and memory.
 */
import { AggregatorRegistry, Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import {
  mergeStatsProxySnapshots,
  type ServerSnapshot,
  type StatsProxySnapshot,
} from '../proxy/stats-proxy.ts';
import { commandsSeen, getKeyResults } from '../proxy/command-stats.ts';
import type { AdminSnapshot } from './snapshot.ts';
import { LATENCY_BOUNDS_MS } from '../util/latency-histogram.ts';

type Kind = 'counter' | 'gauge';

/** A PoolCounters field as a metric; `numUpstream` is a gauge, the tot_* are counters. */
const POOL_METRICS: ReadonlyArray<readonly [field: string, name: string, kind: Kind, help: string]> = [
  ['numUpstream', 'moxi_upstream_connections', 'gauge', 'Client connections open'],
  ['totUpstream', 'moxi_upstream_connections_total', 'counter', 'Client connections accepted'],
  ['totRequests', 'moxi_requests_total', 'counter', 'Client requests forwarded or answered'],
  [
    'totDownstreamTimeouts',
    'moxi_downstream_timeouts_total',
    'counter',
    'Requests with no complete server reply within downstream_timeout',
  ],
  [
    'totWaitQueueTimeouts',
    'moxi_wait_queue_timeouts_total',
    'counter',
    'Requests that waited longer than wait_queue_timeout for admission',
  ],
  [
    'totDownstreamConnectFailures',
    'moxi_downstream_connect_failures_total',
    'counter',
    'Requests failed because their server could not be connected to (or was ejected)',
  ],
  [
    'totDownstreamClosed',
    'moxi_downstream_closed_total',
    'counter',
    'Requests failed because their server connection closed (or the server broke the protocol)',
  ],
  [
    'totDownstreamConnQueueTimeouts',
    'moxi_downstream_conn_queue_timeouts_total',
    'counter',
    'Requests that waited longer than downstream_conn_queue_timeout to be written to their server',
  ],
  ['totRetries', 'moxi_retries_total', 'counter', 'Requests sent again (closed connection, NOT_MY_VBUCKET)'],
  ['totNotMyVBucket', 'moxi_not_my_vbucket_total', 'counter', 'NOT_MY_VBUCKET replies from servers'],
  ['totMultigetKeys', 'moxi_multiget_keys_total', 'counter', 'Keys asked by get/gets/gat/gats requests'],
  [
    'totMultigetKeysDeduped',
    'moxi_multiget_keys_deduped_total',
    'counter',
    'Repeated keys of a multi-key get, fetched once',
  ],
  [
    'totGetsSquashed',
    'moxi_gets_squashed_total',
    'counter',
    "One-key gets answered by an identical get's fetch",
  ],
  [
    'errOom',
    'moxi_out_of_memory_replies_total',
    'counter',
    'Multi-gets answered out of memory: their values would pass what one client may hold',
  ],
  [
    'totUnreadDisconnects',
    'moxi_unread_disconnects_total',
    'counter',
    'Clients disconnected because the replies held for all clients passed --max-unread and theirs were the most unread',
  ],
  ['totConfigs', 'moxi_configs_total', 'counter', 'Configurations applied to the pool'],
  ['totBytesRead', 'moxi_client_read_bytes_total', 'counter', "Bytes read from the pool's clients"],
  ['totBytesWritten', 'moxi_client_written_bytes_total', 'counter', "Bytes written to the pool's clients"],
];

/** A ServerSnapshot number as a metric, labelled with its pool and `server` (host:port). */
const SERVER_METRICS: ReadonlyArray<
  readonly [
    field: Exclude<keyof ServerSnapshot, 'ident' | 'blacklisted' | 'latency'>,
    name: string,
    kind: Kind,
    help: string,
  ]
> = [
  ['numDownstreamConn', 'moxi_server_connections', 'gauge', 'Connections open to the downstream server'],
  ['totDownstreamConnect', 'moxi_server_connects_total', 'counter', 'Connections established to the server'],
  [
    'totDownstreamConnectFailed',
    'moxi_server_connect_failures_total',
    'counter',
    'Connection attempts to the server that failed',
  ],
  [
    'totDownstreamClosedError',
    'moxi_server_error_closes_total',
    'counter',
    'Connections to the server closed with requests lost or a protocol error',
  ],
  [
    'totDownstreamBlacklisted',
    'moxi_server_ejected_requests_total',
    'counter',
    'Requests failed at once because the server was ejected',
  ],
];

/** A FrontCacheCounters field as a counter (the cache is off unless front_cache_lifespan is set). */
const FRONT_CACHE_METRICS: ReadonlyArray<readonly [field: string, name: string, help: string]> = [
  ['totGetHits', 'moxi_front_cache_hits_total', 'Gets answered from the front cache'],
  ['totGetExpires', 'moxi_front_cache_expired_total', 'Front cache items found past their lifespan'],
  ['totGetMisses', 'moxi_front_cache_misses_total', 'Front cache lookups that found nothing'],
  ['totGetBytes', 'moxi_front_cache_hit_bytes_total', 'Bytes answered from the front cache'],
  ['totAdds', 'moxi_front_cache_adds_total', 'Values added to the front cache'],
  ['totAddSkips', 'moxi_front_cache_add_skips_total', 'Values not added (already held)'],
  ['totAddFails', 'moxi_front_cache_add_failures_total', 'Values refused (too large, or stale)'],
  ['totAddBytes', 'moxi_front_cache_added_bytes_total', 'Bytes added to the front cache'],
  ['totDeletes', 'moxi_front_cache_deletes_total', 'Items dropped because their key was mutated'],
  ['totEvictions', 'moxi_front_cache_evictions_total', 'Items evicted to make room'],
];

const POOL_LABELS = ['port', 'bucket'] as const;
const SERVER_LABELS = ['port', 'bucket', 'server'] as const;

/** Embedded server (ServerCounters) fields as counters; get/set/... also by `command`. */
const EMBEDDED_COMMANDS: ReadonlyArray<readonly [field: string, command: string]> = [
  ['cmdGet', 'get'],
  ['cmdSet', 'set'],
  ['cmdFlush', 'flush'],
  ['cmdTouch', 'touch'],
  ['cmdMeta', 'meta'],
];
const EMBEDDED_COUNTERS: ReadonlyArray<readonly [field: string, name: string, help: string]> = [
  ['totalConnections', 'moxi_embedded_connections_total', 'Client connections accepted'],
  ['rejectedConnections', 'moxi_embedded_rejected_connections_total', 'Connections refused past -c'],
  ['getHits', 'moxi_embedded_get_hits_total', 'Keys found by gets'],
  ['getMisses', 'moxi_embedded_get_misses_total', 'Keys not found by gets'],
  ['bytesRead', 'moxi_embedded_read_bytes_total', 'Bytes read from clients'],
  ['bytesWritten', 'moxi_embedded_written_bytes_total', 'Bytes written to clients'],
];

export class AdminMetrics {
  /** Always shown: moxi_info, uptime and the serving process's own (prom-client defaults). */
  private readonly common = new Registry();
  /** With -z; a label-less series would otherwise show a 0 where there is nothing to count. */
  private readonly proxy = new Registry();
  /** With -p (the embedded server). */
  private readonly server = new Registry();
  /** In cluster mode (a REST configuration stream). */
  private readonly configStream = new Registry();
  private readonly counters: Counter[] = [];
  private readonly gauges: Gauge[] = [];

  constructor(options: { processMetrics?: boolean } = {}) {
    // the process serving /metrics: node's CPU, memory, event loop lag and GC (prom-client's defaults)
    if (options.processMetrics !== false) collectDefaultMetrics({ register: this.common });
  }

  private counter(registry: Registry, name: string, help: string, labelNames: readonly string[]): Counter {
    const c = new Counter({ name, help, labelNames, registers: [registry] });
    this.counters.push(c);
    return c;
  }

  private gauge(registry: Registry, name: string, help: string, labelNames: readonly string[]): Gauge {
    const g = new Gauge({ name, help, labelNames, registers: [registry] });
    this.gauges.push(g);
    return g;
  }

  /** The proxy's metric of `kind` (a table row of POOL_METRICS or SERVER_METRICS). */
  private ofKind(kind: Kind, name: string, help: string, labelNames: readonly string[]): Counter | Gauge {
    return kind === 'gauge'
      ? this.gauge(this.proxy, name, help, labelNames)
      : this.counter(this.proxy, name, help, labelNames);
  }

  private readonly info = this.gauge(this.common, 'moxi_info', 'moxi.ts version and mode (always 1)', [
    'version',
    'mode',
    'node',
  ]);
  private readonly threads = this.gauge(this.proxy, 'moxi_threads', 'Event loops serving the proxy (-t)', []);
  private readonly uptime = this.gauge(
    this.common,
    'moxi_uptime_seconds',
    'Seconds since moxi.ts started',
    [],
  );
  private readonly workersUp = this.gauge(
    this.proxy,
    'moxi_workers_answering',
    'Processes serving clients whose numbers are in this scrape (-t N: workers not restarting)',
    [],
  );
  private readonly workerCpu = this.counter(
    this.proxy,
    'moxi_worker_cpu_seconds_total',
    'CPU time of each process serving clients (worker = its -t N slot)',
    ['worker', 'mode'],
  );
  private readonly workerRss = this.gauge(
    this.proxy,
    'moxi_worker_resident_memory_bytes',
    'Resident memory',
    ['worker'],
  );
  private readonly workerHeap = this.gauge(this.proxy, 'moxi_worker_heap_used_bytes', 'V8 heap in use', [
    'worker',
  ]);
  private readonly workerHeldReplies = this.gauge(
    this.proxy,
    'moxi_worker_held_reply_bytes',
    'Reply bytes held for clients, counted against --max-unread: replies clients have not read, multi-get values not yet sent',
    ['worker'],
  );
  private readonly configConnected = this.gauge(
    this.configStream,
    'moxi_config_stream_connected',
    'Cluster mode: the REST configuration stream is open (0: moxi.ts is reconnecting; the last map stays in use)',
    [],
  );
  private readonly configsReceived = this.counter(
    this.configStream,
    'moxi_config_stream_configs_total',
    'Cluster mode: configurations received from the REST stream',
    [],
  );
  private readonly configErrors = this.counter(
    this.configStream,
    'moxi_config_stream_errors_total',
    'Cluster mode: REST requests that failed (no connection, stream cut, bad document, HTTP error)',
    [],
  );
  private readonly configLastAt = this.gauge(
    this.configStream,
    'moxi_config_stream_last_config_timestamp_seconds',
    'Cluster mode: when the last configuration arrived (Unix time)',
    [],
  );
  private readonly poolAvailable = this.gauge(
    this.proxy,
    'moxi_pool_available',
    'The pool has a server map to route with (0: answers SERVER_ERROR proxy out of downstreams)',
    POOL_LABELS,
  );
  private readonly pool = POOL_METRICS.map(
    ([field, name, kind, help]) => [field, this.ofKind(kind, name, help, POOL_LABELS)] as const,
  );
  private readonly commands = this.counter(
    this.proxy,
    'moxi_commands_total',
    "Client commands, by moxi's pstd_stats_cmd name and type (quiet: noreply, or a quiet binary opcode)",
    [...POOL_LABELS, 'command', 'type'],
  );
  private readonly getKeys = this.counter(
    this.proxy,
    'moxi_get_keys_total',
    'Keys asked by get, gets, gat and gats, by result (hit: its value was answered)',
    [...POOL_LABELS, 'result'],
  );
  private readonly frontCacheItems = this.gauge(
    this.proxy,
    'moxi_front_cache_items',
    'Items held in the front cache',
    POOL_LABELS,
  );
  private readonly frontCache = FRONT_CACHE_METRICS.map(
    ([field, name, help]) => [field, this.counter(this.proxy, name, help, POOL_LABELS)] as const,
  );
  private readonly serverUp = this.gauge(
    this.proxy,
    'moxi_server_up',
    'The downstream server is in use (0: ejected after connect_max_errors errors, until connect_retry_interval)',
    SERVER_LABELS,
  );
  private readonly servers = SERVER_METRICS.map(
    ([field, name, kind, help]) => [field, this.ofKind(kind, name, help, SERVER_LABELS)] as const,
  );
  private readonly embeddedConnections = this.gauge(
    this.server,
    'moxi_embedded_connections',
    'Client connections open to the embedded memcached server',
    [],
  );
  private readonly embeddedMaxConnections = this.gauge(
    this.server,
    'moxi_embedded_max_connections',
    'The embedded server connection limit (-c)',
    [],
  );
  private readonly embeddedCommands = this.counter(
    this.server,
    'moxi_embedded_commands_total',
    'Commands served by the embedded server, by kind',
    ['command'],
  );
  private readonly embedded = EMBEDDED_COUNTERS.map(
    ([field, name, help]) => [field, this.counter(this.server, name, help, [])] as const,
  );
  private readonly embeddedItems = this.gauge(this.server, 'moxi_embedded_items', 'Items stored', ['bucket']);
  private readonly embeddedBytes = this.gauge(this.server, 'moxi_embedded_bytes', 'Bytes of items stored', [
    'bucket',
  ]);
  private readonly embeddedLimit = this.gauge(
    this.server,
    'moxi_embedded_limit_bytes',
    'Item memory limit (-m)',
    ['bucket'],
  );
  private readonly embeddedEvictions = this.counter(
    this.server,
    'moxi_embedded_evictions_total',
    'Items evicted to make room',
    ['bucket'],
  );

  /** The Prometheus text for `snapshot` (pool and server series: its workers' snapshots as one). */
  async render(snapshot: AdminSnapshot): Promise<string> {
    const merged = mergedProxy(snapshot);
    for (const c of this.counters) c.reset();
    for (const g of this.gauges) g.reset();
    this.info.set({ version: snapshot.version, mode: snapshot.mode, node: process.versions.node }, 1);
    this.uptime.set(snapshot.uptimeSeconds);
    if (snapshot.mode === 'proxy') {
      this.threads.set(snapshot.threads);
      this.workersUp.set(snapshot.workers.length);
    }
    for (const w of snapshot.workers) {
      const worker = String(w.process.worker);
      this.workerCpu.inc({ worker, mode: 'user' }, w.process.cpuUserSeconds);
      this.workerCpu.inc({ worker, mode: 'system' }, w.process.cpuSystemSeconds);
      this.workerRss.set({ worker }, w.process.rssBytes);
      this.workerHeap.set({ worker }, w.process.heapUsedBytes);
      this.workerHeldReplies.set({ worker }, w.process.heldReplyBytes);
    }
    const source = snapshot.configSource;
    if (source !== null) {
      this.configConnected.set(source.connected ? 1 : 0);
      this.configsReceived.inc(source.configs);
      this.configErrors.inc(source.errors);
      if (source.lastConfigAt !== null) this.configLastAt.set(source.lastConfigAt / 1000);
    }
    for (const p of merged?.pools ?? []) {
      const labels = { port: String(p.port), bucket: p.name };
      this.poolAvailable.set(labels, p.available ? 1 : 0);
      for (const [field, metric] of this.pool) setValue(metric, labels, p.counters[field] ?? 0);
      for (const [type, command, n] of commandsSeen(p.commands))
        this.commands.inc({ ...labels, command, type }, n);
      const keys = getKeyResults(p.commands);
      this.getKeys.inc({ ...labels, result: 'hit' }, keys.hits);
      this.getKeys.inc({ ...labels, result: 'miss' }, keys.misses);
      if (p.frontCache.on) {
        this.frontCacheItems.set(labels, p.frontCache.size);
        for (const [field, metric] of this.frontCache) metric.inc(labels, p.frontCache.counters[field] ?? 0);
      }
      for (const s of p.servers) {
        const l = { ...labels, server: s.ident };
        this.serverUp.set(l, s.blacklisted ? 0 : 1);
        for (const [field, metric] of this.servers) setValue(metric, l, s[field]);
      }
    }
    const e = snapshot.embedded;
    if (e !== null) {
      this.embeddedConnections.set(e.counters['currConnections'] ?? 0);
      this.embeddedMaxConnections.set(e.maxConnections);
      for (const [field, command] of EMBEDDED_COMMANDS)
        this.embeddedCommands.inc({ command }, e.counters[field] ?? 0);
      for (const [field, metric] of this.embedded) metric.inc(e.counters[field] ?? 0);
      for (const b of e.buckets) {
        const labels = { bucket: b.name };
        this.embeddedItems.set(labels, b.stats['currItems'] ?? 0);
        this.embeddedBytes.set(labels, b.stats['bytes'] ?? 0);
        this.embeddedLimit.set(labels, b.limitBytes);
        this.embeddedEvictions.inc(labels, b.stats['evictions'] ?? 0);
      }
    }
    const shown = [this.common];
    if (snapshot.mode === 'proxy') shown.push(this.proxy, responseTimes(merged));
    if (source !== null) shown.push(this.configStream);
    if (e !== null) shown.push(this.server);
    return Registry.merge(shown).metrics();
  }

  get contentType(): string {
    return this.common.contentType;
  }
}

const RESPONSE_SECONDS = 'moxi_server_response_seconds';

/**
 * The downstream servers' response times as a Prometheus histogram: counted on the request path into
 * fixed buckets (util/latency-histogram.ts), rendered here through prom-client's aggregation of
 * pre-counted values (what it does for node:cluster workers), with cumulative `le` buckets.
 */
function responseTimes(merged: StatsProxySnapshot | null): Registry {
  const values: Array<{ value: number; labels: Record<string, string | number>; metricName: string }> = [];
  for (const p of merged?.pools ?? []) {
    for (const s of p.servers) {
      const labels = { port: String(p.port), bucket: p.name, server: s.ident };
      const { counts, sum, count } = s.latency;
      let cumulative = 0;
      LATENCY_BOUNDS_MS.forEach((bound, i) => {
        cumulative += counts[i];
        values.push({
          value: cumulative,
          labels: { ...labels, le: bound / 1000 },
          metricName: `${RESPONSE_SECONDS}_bucket`,
        });
      });
      values.push(
        { value: count, labels: { ...labels, le: '+Inf' }, metricName: `${RESPONSE_SECONDS}_bucket` },
        { value: sum / 1000, labels, metricName: `${RESPONSE_SECONDS}_sum` },
        { value: count, labels, metricName: `${RESPONSE_SECONDS}_count` },
      );
    }
  }
  return AggregatorRegistry.aggregate([
    [
      {
        name: RESPONSE_SECONDS,
        help: 'Time from a request written to a downstream server to its reply read (seconds)',
        type: 'histogram',
        aggregator: 'sum',
        values,
      },
    ],
  ]);
}

function setValue(metric: Counter | Gauge, labels: Record<string, string>, value: number): void {
  if (metric instanceof Gauge) metric.set(labels, value);
  else metric.inc(labels, value);
}

/** The workers' proxy snapshots as one (null when there are none: no -z, or no worker answered). */
export function mergedProxy(snapshot: AdminSnapshot): StatsProxySnapshot | null {
  if (snapshot.workers.length === 0) return null;
  return mergeStatsProxySnapshots(snapshot.workers.map((w) => w.proxy));
}
