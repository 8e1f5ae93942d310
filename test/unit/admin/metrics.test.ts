/**
 * The admin endpoint's pure parts: `--admin` address parsing, the health verdict, and the Prometheus
 * text rendered from snapshots (series, sums over -t N workers, stale series dropped, the text format).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseAdminAddress } from '../../../src/admin/address.ts';
import { AdminMetrics, mergedProxy } from '../../../src/admin/metrics.ts';
import {
  adminSnapshot,
  health,
  type AdminSnapshot,
  type EmbeddedSnapshot,
  type WorkerSnapshot,
} from '../../../src/admin/snapshot.ts';
import { parseCommandLine } from '../../../src/cli/args.ts';
import { usageText } from '../../../src/cli/usage.ts';
import type { PoolSnapshot, StatsProxySnapshot } from '../../../src/proxy/stats-proxy.ts';
import { LatencyHistogram } from '../../../src/util/latency-histogram.ts';
import { promSamples } from '../../helpers/prometheus.ts';
import {
  poolSnapshot as pool,
  proxySnapshot,
  serverSnapshot as server,
} from '../../helpers/stats-snapshots.ts';

function worker(n: number, pools: PoolSnapshot[]): WorkerSnapshot {
  const proxy: StatsProxySnapshot = proxySnapshot(pools, { threads: 2 });
  return {
    proxy,
    process: {
      worker: n,
      pid: 1000 + n,
      cpuUserSeconds: n,
      cpuSystemSeconds: n / 2,
      rssBytes: n * 1e6,
      heapUsedBytes: n * 1e5,
      heldReplyBytes: n * 1e4,
      uptimeSeconds: 9,
    },
  };
}

const EMBEDDED: EmbeddedSnapshot = {
  port: 11311,
  maxConnections: 1024,
  counters: { currConnections: 3, totalConnections: 7, cmdGet: 40, cmdSet: 4, getHits: 30, getMisses: 10 },
  buckets: [{ name: 'default', limitBytes: 64 << 20, stats: { currItems: 4, bytes: 400, evictions: 2 } }],
};

async function render(snapshot: AdminSnapshot, metrics = new AdminMetrics({ processMetrics: false })) {
  return promSamples(await metrics.render(snapshot));
}

describe('--admin address', () => {
  it('takes a port, :port, addr:port and [v6]:port; the address defaults to loopback', () => {
    assert.deepEqual(parseAdminAddress('9111'), { host: '127.0.0.1', port: 9111 });
    assert.deepEqual(parseAdminAddress(':9111'), { host: '127.0.0.1', port: 9111 });
    assert.deepEqual(parseAdminAddress('0.0.0.0:9111'), { host: '0.0.0.0', port: 9111 });
    assert.deepEqual(parseAdminAddress('localhost:0'), { host: 'localhost', port: 0 });
    assert.deepEqual(parseAdminAddress('[::1]:9111'), { host: '::1', port: 9111 });
  });

  it('refuses anything else', () => {
    for (const bad of ['', 'x', '99999', '1.2.3.4:', 'a:b:9111', '::1:9111', '9111x', '-1'])
      assert.equal(parseAdminAddress(bad), null, bad);
  });

  it('is a command line option, listed in -h, off by default', () => {
    const on = parseCommandLine(['--admin', '9111', '-z', '11211=127.0.0.1:11212']);
    assert.deepEqual(on.kind === 'run' ? on.options.admin : on, { host: '127.0.0.1', port: 9111 });
    const off = parseCommandLine(['-p', '11211']);
    assert.equal(off.kind === 'run' ? off.options.admin : off, null);
    const bad = parseCommandLine(['--admin', 'nope']);
    assert.deepEqual(bad, {
      kind: 'exit',
      code: 1,
      message: 'Illegal --admin "nope": expected [addr:]port, e.g. 9111 or 0.0.0.0:9111',
    });
    assert.match(usageText(), /^ {2}--admin <\[addr:\]port>\n {20}HTTP admin endpoint/m);
  });
});

describe('health', () => {
  const snap = (pools: PoolSnapshot[]): AdminSnapshot =>
    adminSnapshot(1, pools.length > 0 ? [worker(1, pools)] : [], null, true);
  const verdict = (s: AdminSnapshot) => health(s, mergedProxy(s)).status;

  it('ok when every pool has a map and every server is up', () => {
    assert.equal(verdict(snap([pool({})])), 'ok');
  });

  it('degraded when some server of a pool is ejected, down when all are or a pool has no map', () => {
    const one = [server('127.0.0.1:1', { blacklisted: true }), server('127.0.0.1:2')];
    assert.equal(verdict(snap([pool({ servers: one })])), 'degraded');
    const all = [server('127.0.0.1:1', { blacklisted: true })];
    assert.equal(verdict(snap([pool({}), pool({ port: 11311, servers: all })])), 'down');
    assert.equal(verdict(snap([pool({ available: false })])), 'down');
  });

  it('down for a proxy with no pool yet (a cluster before its first configuration) or no worker', () => {
    assert.equal(verdict(snap([])), 'down');
    const cluster = adminSnapshot(1, [worker(1, [])], null, true);
    assert.equal(verdict(cluster), 'down');
  });

  it('ok for the embedded server alone', () => {
    assert.equal(verdict(adminSnapshot(1, [], EMBEDDED, false)), 'ok');
  });

  it('lists each server of each pool', () => {
    const s = snap([pool({ servers: [server('a:1', { blacklisted: true }), server('b:2')] })]);
    assert.deepEqual(health(s, mergedProxy(s)).pools, [
      {
        port: 11211,
        bucket: 'default',
        available: true,
        servers: [
          { server: 'a:1', up: false },
          { server: 'b:2', up: true },
        ],
      },
    ]);
  });
});

describe('Prometheus metrics', () => {
  it('pool, server and process series from one process', async () => {
    const p = pool({
      counters: { numUpstream: 5, totUpstream: 9, totRequests: 123, totDownstreamTimeouts: 2, totConfigs: 1 },
      servers: [
        server('127.0.0.1:1', { numDownstreamConn: 2, totDownstreamConnect: 3 }),
        server('127.0.0.1:2', { blacklisted: true, totDownstreamBlacklisted: 4 }),
      ],
    });
    const s = await render(adminSnapshot(1, [worker(1, [p])], null, true));
    const pl = '{port="11211",bucket="default"}';
    assert.equal(s.get(`moxi_upstream_connections${pl}`), 5);
    assert.equal(s.get(`moxi_upstream_connections_total${pl}`), 9);
    assert.equal(s.get(`moxi_requests_total${pl}`), 123);
    assert.equal(s.get(`moxi_downstream_timeouts_total${pl}`), 2);
    assert.equal(s.get(`moxi_pool_available${pl}`), 1);
    const s1 = '{port="11211",bucket="default",server="127.0.0.1:1"}';
    const s2 = '{port="11211",bucket="default",server="127.0.0.1:2"}';
    assert.equal(s.get(`moxi_server_up${s1}`), 1);
    assert.equal(s.get(`moxi_server_up${s2}`), 0);
    assert.equal(s.get(`moxi_server_connections${s1}`), 2);
    assert.equal(s.get(`moxi_server_connects_total${s1}`), 3);
    assert.equal(s.get(`moxi_server_ejected_requests_total${s2}`), 4);
    assert.equal(s.get('moxi_threads'), 1);
    assert.equal(s.get('moxi_workers_answering'), 1);
    assert.equal(s.get('moxi_worker_cpu_seconds_total{worker="1",mode="user"}'), 1);
    assert.equal(s.get('moxi_worker_resident_memory_bytes{worker="1"}'), 1e6);
    assert.equal(s.get('moxi_worker_held_reply_bytes{worker="1"}'), 1e4);
    assert.equal(s.get('moxi_info{version="0.1.0",mode="proxy",node="' + process.versions.node + '"}'), 1);
    // the front cache is off: no series for it, and nothing of the embedded server
    assert.ok(![...s.keys()].some((k) => k.startsWith('moxi_front_cache') || k.startsWith('moxi_embedded')));
  });

  it("-t N: pool and server series are the workers' sums, process series one per worker", async () => {
    const a = pool({ counters: { numUpstream: 2, totRequests: 100, totConfigs: 1 } });
    const b = pool({ counters: { numUpstream: 3, totRequests: 50, totConfigs: 1 } });
    const s = await render(adminSnapshot(2, [worker(1, [a]), worker(2, [b])], null, true));
    const pl = '{port="11211",bucket="default"}';
    assert.equal(s.get(`moxi_requests_total${pl}`), 150);
    assert.equal(s.get(`moxi_upstream_connections${pl}`), 5);
    // every worker applies every configuration: the largest, not the sum (as stats proxy)
    assert.equal(s.get(`moxi_configs_total${pl}`), 1);
    assert.equal(s.get('moxi_server_connections{port="11211",bucket="default",server="127.0.0.1:1"}'), 2);
    assert.equal(s.get('moxi_worker_cpu_seconds_total{worker="2",mode="system"}'), 1);
    assert.equal(s.get('moxi_workers_answering'), 2);
    assert.equal(s.get('moxi_threads'), 2);
  });

  it('a pool or server gone since the last scrape leaves no stale series', async () => {
    const metrics = new AdminMetrics({ processMetrics: false });
    const before = await render(
      adminSnapshot(1, [worker(1, [pool({}), pool({ port: 11311, name: 'b' })])], null, true),
      metrics,
    );
    assert.ok(before.has('moxi_requests_total{port="11311",bucket="b"}'));
    assert.ok(before.has('moxi_server_up{port="11311",bucket="b",server="127.0.0.1:2"}'));
    const after = await render(
      adminSnapshot(1, [worker(1, [pool({ servers: [server('127.0.0.1:1')] })])], null, true),
      metrics,
    );
    assert.ok(!after.has('moxi_requests_total{port="11311",bucket="b"}'));
    assert.ok(!after.has('moxi_server_up{port="11211",bucket="default",server="127.0.0.1:2"}'));
    assert.equal(after.get('moxi_server_up{port="11211",bucket="default",server="127.0.0.1:1"}'), 1);
  });

  it("each server's response times as a histogram (cumulative le buckets, seconds), summed over workers", async () => {
    const one = new LatencyHistogram();
    for (const ms of [0.05, 0.3, 0.3, 7, 600]) one.record(ms);
    const two = new LatencyHistogram();
    two.record(0.2);
    const withLatency = (h: LatencyHistogram) =>
      pool({ servers: [server('127.0.0.1:1', { latency: h.snapshot() }), server('127.0.0.1:2')] });
    const s = await render(
      adminSnapshot(2, [worker(1, [withLatency(one)]), worker(2, [withLatency(two)])], null, true),
    );
    const sl = (le: string) =>
      `moxi_server_response_seconds_bucket{port="11211",bucket="default",server="127.0.0.1:1",le="${le}"}`;
    assert.equal(s.get(sl('0.0001')), 1);
    assert.equal(s.get(sl('0.00025')), 2);
    assert.equal(s.get(sl('0.0005')), 4);
    assert.equal(s.get(sl('0.005')), 4);
    assert.equal(s.get(sl('0.01')), 5);
    assert.equal(s.get(sl('0.5')), 5);
    assert.equal(s.get(sl('1')), 6);
    assert.equal(s.get(sl('+Inf')), 6);
    const labels = '{port="11211",bucket="default",server="127.0.0.1:1"}';
    assert.equal(s.get(`moxi_server_response_seconds_count${labels}`), 6);
    assert.ok(Math.abs(s.get(`moxi_server_response_seconds_sum${labels}`)! - 0.60785) < 1e-9);
    // a server with nothing answered yet has its series, at zero
    assert.equal(
      s.get('moxi_server_response_seconds_count{port="11211",bucket="default",server="127.0.0.1:2"}'),
      0,
    );
    // none without a proxy
    const server1 = await render(adminSnapshot(1, [], EMBEDDED, false));
    assert.ok(![...server1.keys()].some((k) => k.startsWith('moxi_server_response_seconds')));
  });

  it("cluster mode: the REST configuration stream's series, none without one", async () => {
    const lastConfigAt = Date.UTC(2026, 10, 24, 12, 0, 0);
    const source = {
      url: 'http://127.0.0.1:8091/pools/default/bucketsStreaming/default',
      connected: false,
      configs: 3,
      lastConfigAt,
      errors: 2,
      lastError: 'Failed to connect to 127.0.0.1 port 8091: Connection refused',
    };
    const s = await render(adminSnapshot(1, [worker(1, [pool({})])], null, true, source));
    assert.equal(s.get('moxi_config_stream_connected'), 0);
    assert.equal(s.get('moxi_config_stream_configs_total'), 3);
    assert.equal(s.get('moxi_config_stream_errors_total'), 2);
    assert.equal(s.get('moxi_config_stream_last_config_timestamp_seconds'), lastConfigAt / 1000);
    const open = await render(
      adminSnapshot(1, [worker(1, [pool({})])], null, true, { ...source, connected: true }),
    );
    assert.equal(open.get('moxi_config_stream_connected'), 1);
    const static1 = await render(adminSnapshot(1, [worker(1, [pool({})])], null, true));
    assert.ok(![...static1.keys()].some((k) => k.startsWith('moxi_config_stream')));
  });

  it('front cache series when it is on', async () => {
    const p = pool({ frontCache: { size: 7, counters: { totGetHits: 11, totGetMisses: 3, totAdds: 9 } } });
    const s = await render(adminSnapshot(1, [worker(1, [p])], null, true));
    const pl = '{port="11211",bucket="default"}';
    assert.equal(s.get(`moxi_front_cache_items${pl}`), 7);
    assert.equal(s.get(`moxi_front_cache_hits_total${pl}`), 11);
    assert.equal(s.get(`moxi_front_cache_misses_total${pl}`), 3);
    assert.equal(s.get(`moxi_front_cache_adds_total${pl}`), 9);
  });

  it("the embedded server's series", async () => {
    const s = await render(adminSnapshot(1, [], EMBEDDED, false));
    assert.equal(s.get('moxi_embedded_connections'), 3);
    assert.equal(s.get('moxi_embedded_max_connections'), 1024);
    assert.equal(s.get('moxi_embedded_connections_total'), 7);
    assert.equal(s.get('moxi_embedded_commands_total{command="get"}'), 40);
    assert.equal(s.get('moxi_embedded_commands_total{command="set"}'), 4);
    assert.equal(s.get('moxi_embedded_get_hits_total'), 30);
    assert.equal(s.get('moxi_embedded_items{bucket="default"}'), 4);
    assert.equal(s.get('moxi_embedded_limit_bytes{bucket="default"}'), 64 << 20);
    assert.equal(s.get('moxi_embedded_evictions_total{bucket="default"}'), 2);
    // no proxy: no -t nor pool series
    assert.ok(!s.has('moxi_threads'));
    assert.ok(![...s.keys()].some((k) => k.startsWith('moxi_requests_total')));
  });

  it('names and label values are escaped as the text format wants', async () => {
    const p = pool({ name: 'we"ird\\bucket\nname' });
    const text = await new AdminMetrics({ processMetrics: false }).render(
      adminSnapshot(1, [worker(1, [p])], null, true),
    );
    assert.ok(text.includes('bucket="we\\"ird\\\\bucket\\nname"'), text.slice(0, 400));
    promSamples(text);
  });

  it("with process metrics, node's own series are there too (prom-client defaults)", async () => {
    const text = await new AdminMetrics().render(adminSnapshot(1, [], EMBEDDED, false));
    assert.match(text, /^process_cpu_user_seconds_total \d/m);
    assert.match(text, /^nodejs_heap_size_used_bytes \d/m);
  });
});
