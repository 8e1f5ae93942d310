/**
 * `stats proxy`: moxi's families of rows in moxi's order, the ones each sub-command lists, and a pool's
 * pstd_stats rows in moxi's order (its proxy_stats_dump_pstd_stats), each from the moxi.ts counter for
 * the same thing, then moxi.ts's own.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { proxyDefaults } from '../../../src/config/behaviors.ts';
import { CommandStats, StatsCmd } from '../../../src/proxy/command-stats.ts';
import type { PoolCounters } from '../../../src/proxy/pool.ts';
import {
  mergeStatsProxySnapshots,
  renderStatsProxySnapshot,
  type ServerSnapshot,
  type StatsProxySnapshot,
} from '../../../src/proxy/stats-proxy.ts';
import { parseCommandLine } from '../../../src/cli/args.ts';
import { serverSettings } from '../../../src/cli/proxy-service.ts';
import { settingsStats } from '../../../src/server/stats.ts';
import { poolSnapshot, proxySnapshot, serverSnapshot } from '../../helpers/stats-snapshots.ts';

/** moxi's pstd_stats rows, in the order moxi lists them. */
const MOXI_PSTD_STATS = [
  'num_upstream',
  'tot_upstream',
  'num_downstream_conn',
  'tot_downstream_conn',
  'tot_downstream_conn_acquired',
  'tot_downstream_conn_released',
  'tot_downstream_released',
  'tot_downstream_reserved',
  'tot_downstream_reserved_time',
  'max_downstream_reserved_time',
  'tot_downstream_freed',
  'tot_downstream_quit_server',
  'tot_downstream_max_reached',
  'tot_downstream_create_failed',
  'tot_downstream_connect_started',
  'tot_downstream_connect_wait',
  'tot_downstream_connect',
  'tot_downstream_connect_failed',
  'tot_downstream_connect_timeout',
  'tot_downstream_connect_interval',
  'tot_downstream_connect_max_reached',
  'tot_downstream_waiting_errors',
  'tot_downstream_auth',
  'tot_downstream_auth_failed',
  'tot_downstream_bucket',
  'tot_downstream_bucket_failed',
  'tot_downstream_propagate_failed',
  'tot_downstream_close_on_upstream_close',
  'tot_downstream_conn_queue_timeout',
  'tot_downstream_conn_queue_add',
  'tot_downstream_conn_queue_remove',
  'tot_downstream_timeout',
  'tot_wait_queue_timeout',
  'tot_auth_timeout',
  'tot_assign_downstream',
  'tot_assign_upstream',
  'tot_assign_recursion',
  'tot_reset_upstream_avail',
  'tot_multiget_keys',
  'tot_multiget_keys_dedupe',
  'tot_multiget_bytes_dedupe',
  'tot_optimize_sets',
  'tot_retry',
  'tot_retry_time',
  'max_retry_time',
  'tot_retry_vbucket',
  'tot_upstream_paused',
  'tot_upstream_unpaused',
  'err_oom',
  'err_upstream_write_prep',
  'err_downstream_write_prep',
  'tot_cmd_time',
  'tot_cmd_count',
  'tot_local_cmd_time',
  'tot_local_cmd_count',
];

/** Server i of the pool: n connections, 10n connects, 100n failed connects, 1000n blacklisted requests. */
function server(ident: string, n: number): ServerSnapshot {
  return serverSnapshot(ident, {
    numDownstreamConn: n,
    totDownstreamConnect: 10 * n,
    totDownstreamConnectFailed: 100 * n,
    totDownstreamBlacklisted: 1000 * n,
  });
}

function snapshot(counters: Partial<PoolCounters>): StatsProxySnapshot {
  return proxySnapshot(
    [poolSnapshot({ counters, servers: [server('127.0.0.1:1', 1), server('127.0.0.1:2', 2)] })],
    { behaviors: proxyDefaults() },
  );
}

/** The pstd_stats rows of a listing, in order. */
function pstdStats(listing: string): Array<[string, string]> {
  const rows: Array<[string, string]> = [];
  for (const line of listing.split('\r\n')) {
    const m = /^STAT 11211:default:pstd_stats:(\S+) (\S+)$/.exec(line);
    if (m !== null) rows.push([m[1], m[2]]);
  }
  return rows;
}

describe('stats proxy pstd_stats', () => {
  it("lists moxi's rows in moxi's order, then moxi.ts's own", () => {
    const rows = pstdStats(renderStatsProxySnapshot(snapshot({}), 'stats'));
    const names = rows.map(([name]) => name);
    assert.deepEqual(names.slice(0, MOXI_PSTD_STATS.length), MOXI_PSTD_STATS);
    assert.deepEqual(names.slice(MOXI_PSTD_STATS.length), [
      'tot_requests',
      'tot_requests_connect_failed',
      'tot_downstream_closed',
      'tot_gets_squashed',
      'tot_unread_disconnects',
      'tot_configs',
    ]);
  });

  it('fills each row from the counter for the same thing, connections summed over the servers', () => {
    const rows = new Map(
      pstdStats(
        renderStatsProxySnapshot(
          snapshot({
            numUpstream: 3,
            totUpstream: 4,
            totDownstreamTimeouts: 5,
            totWaitQueueTimeouts: 6,
            totMultigetKeys: 7,
            totMultigetKeysDeduped: 8,
            totRetries: 9,
            totNotMyVBucket: 11,
            totRequests: 12,
            totGetsSquashed: 13,
            errOom: 14,
            totUnreadDisconnects: 15,
          }),
          '',
        ),
      ),
    );
    const expected: Record<string, string> = {
      num_upstream: '3',
      tot_upstream: '4',
      num_downstream_conn: '3',
      tot_downstream_conn: '30',
      tot_downstream_connect_started: '330',
      tot_downstream_connect: '30',
      tot_downstream_connect_failed: '300',
      tot_downstream_connect_interval: '3000',
      tot_downstream_timeout: '5',
      tot_wait_queue_timeout: '6',
      tot_multiget_keys: '7',
      tot_multiget_keys_dedupe: '8',
      tot_retry: '9',
      tot_retry_vbucket: '11',
      tot_requests: '12',
      tot_gets_squashed: '13',
      tot_downstream_reserved: '0',
      err_oom: '14',
      tot_unread_disconnects: '15',
    };
    for (const [name, value] of Object.entries(expected)) assert.equal(rows.get(name), value, name);
  });

  it('sums two workers row by row', () => {
    const merged = mergeStatsProxySnapshots([snapshot({ totRetries: 2 }), snapshot({ totRetries: 5 })]);
    const rows = new Map(pstdStats(renderStatsProxySnapshot(merged, 'stats')));
    assert.equal(rows.get('tot_retry'), '7');
    assert.equal(rows.get('num_downstream_conn'), '6');
  });
});

describe('stats proxy pstd_stats_cmd', () => {
  function withCommands(counts: CommandStats): StatsProxySnapshot {
    return proxySnapshot([poolSnapshot({ commands: counts.snapshot() })], { behaviors: proxyDefaults() });
  }

  /** The pstd_stats_cmd rows of a listing that are not zero. */
  function commandRows(listing: string): Record<string, string> {
    const rows: Record<string, string> = {};
    for (const line of listing.split('\r\n')) {
      const m = /^STAT 11211:default:pstd_stats_cmd:(\S+) (\S+)$/.exec(line);
      if (m !== null && m[2] !== '0') rows[m[1]] = m[2];
    }
    return rows;
  }

  it('lists each count under its type, command and field, and sums two workers slot by slot', () => {
    const a = new CommandStats();
    a.seen(StatsCmd.Get, false, 10, true);
    a.getKeys(3, 2, 7);
    a.seen(StatsCmd.Set, true, 20);
    a.seen(StatsCmd.Cas, false, 5, true);
    a.refused(StatsCmd.Cas, false);
    a.seen(StatsCmd.Error, false, 4);
    const b = new CommandStats();
    b.seen(StatsCmd.Get, false, 6);
    b.getKeys(1, 0, 0);
    assert.deepEqual(commandRows(renderStatsProxySnapshot(withCommands(a), 'stats')), {
      'regular_get:seen': '1',
      'regular_get:read_bytes': '10',
      'regular_get:cas': '1',
      'regular_get_key:seen': '3',
      'regular_get_key:hits': '2',
      'regular_get_key:misses': '1',
      'regular_get_key:write_bytes': '7',
      'regular_cas:seen': '1',
      'regular_cas:misses': '1',
      'regular_cas:read_bytes': '5',
      'regular_cas:cas': '1',
      'regular_ERROR:seen': '1',
      'regular_ERROR:read_bytes': '4',
      'quiet_set:seen': '1',
      'quiet_set:read_bytes': '20',
    });
    const merged = mergeStatsProxySnapshots([withCommands(a), withCommands(b)]);
    const rows = commandRows(renderStatsProxySnapshot(merged, ''));
    assert.equal(rows['regular_get:seen'], '2');
    assert.equal(rows['regular_get:read_bytes'], '16');
    assert.equal(rows['regular_get_key:seen'], '4');
    assert.equal(rows['regular_get_key:misses'], '2');
    assert.equal(rows['quiet_set:seen'], '1');
  });

  it('are not listed by the sub-commands without pstd_stats (info, behaviors, frontcache)', () => {
    const a = new CommandStats();
    a.seen(StatsCmd.Get, false, 10);
    for (const sub of ['info', 'behaviors', 'frontcache', 'config']) {
      assert.deepEqual(commandRows(renderStatsProxySnapshot(withCommands(a), sub)), {}, sub);
    }
  });
});

describe('stats proxy behaviors', () => {
  const level0 = [
    'downstream_weight',
    'downstream_retry',
    'downstream_protocol',
    'downstream_timeout',
    'downstream_conn_queue_timeout',
    'connect_timeout',
    'auth_timeout',
  ];
  const level1 = [
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
  const server = ['usr', 'host', 'port', 'bucket'];
  const listening = ['port_listen', 'default_bucket_name'];

  function rows(listing: string, prefix: string): Array<[string, string]> {
    const out: Array<[string, string]> = [];
    for (const line of listing.split('\r\n')) {
      if (!line.startsWith(`STAT ${prefix}`)) continue;
      const rest = line.slice(`STAT ${prefix}`.length);
      const space = rest.indexOf(' ');
      out.push(space < 0 ? [rest, ''] : [rest.slice(0, space), rest.slice(space + 1)]);
    }
    return out;
  }

  it("lists moxi's rows for proxy_main, each pool and each of its servers, in moxi's order", () => {
    const s = snapshot({});
    const listing = renderStatsProxySnapshot(
      { ...s, behaviors: { ...s.behaviors, usr: 'admin' } },
      'behaviors',
    );
    const main = rows(listing, 'proxy_main:behavior:');
    assert.deepEqual(
      main.map(([n]) => n),
      ['cycle', 'downstream_max', 'downstream_conn_max', ...level0, ...level1, ...server, ...listening],
    );
    assert.deepEqual(
      rows(listing, '11211:default:behavior:').map(([n]) => n),
      ['downstream_max', 'downstream_conn_max', ...level0, ...level1, ...server, ...listening],
    );
    const first = rows(listing, '11211:default:behavior-0:');
    assert.deepEqual(
      first.map(([n]) => n),
      [...level0, ...server],
    );
    const values = new Map(first);
    assert.equal(values.get('host'), '127.0.0.1');
    assert.equal(values.get('port'), '1');
    assert.equal(values.get('usr'), 'admin');
    // moxi's enum protocol: 8 = binary (the proxy default)
    assert.equal(values.get('downstream_protocol'), '8');
    assert.equal(new Map(rows(listing, '11211:default:behavior-1:')).get('port'), '2');
  });

  it('never lists the password', () => {
    const s = snapshot({});
    const listing = renderStatsProxySnapshot(
      { ...s, behaviors: { ...s.behaviors, usr: 'admin', pwd: 's3cret-pwd' } },
      '',
    );
    assert.ok(!listing.includes('s3cret-pwd'), listing);
    assert.ok(!listing.includes(':pwd'), listing);
  });
});

describe('stats proxy families and sub-commands', () => {
  const run = parseCommandLine(['-l', '127.0.0.1', '-t', '2', '-z', '11211=127.0.0.1:11212']);
  assert.ok(run.kind === 'run');
  const settings = settingsStats(serverSettings(run.options, 0), run.options.maxBytes, 0);
  const data = proxySnapshot(
    [poolSnapshot({ servers: [serverSnapshot('127.0.0.1:1')], frontCache: { size: 0, counters: {} } })],
    {
      mode: 'cluster',
      settings: settings.filter(([name]) => ['maxbytes', 'maxconns', 'inter', 'num_threads'].includes(name)),
      configEvents: {
        configs: 3,
        configFails: 1,
        proxyStarts: 1,
        proxyStartFails: 0,
        proxyExistings: 2,
        proxyShutdowns: 0,
      },
    },
  );

  /** Each row's family (its name up to the last colon, the pool's prefix as "pool:"), runs collapsed. */
  function families(listing: string): string[] {
    const out: string[] = [];
    for (const line of listing.split('\r\n')) {
      if (!line.startsWith('STAT ')) continue;
      const name = line.split(' ')[1].replace(/^11211:default:/, 'pool:');
      const family = name.slice(0, name.lastIndexOf(':'));
      if (out.at(-1) !== family) out.push(family);
    }
    return out;
  }
  const rows = (listing: string): Map<string, string> =>
    new Map(
      listing
        .split('\r\n')
        .filter((l) => l.startsWith('STAT '))
        .map((l) => [l.split(' ')[1], l.split(' ').slice(2).join(' ')]),
    );

  it("lists moxi's families in moxi's order: basic, memcached, proxy_main, then per pool", () => {
    const all = families(renderStatsProxySnapshot(data, ''));
    const cmdFamilies = all.filter((f) => f.startsWith('pool:pstd_stats_cmd'));
    assert.deepEqual(
      all.filter((f) => !f.startsWith('pool:pstd_stats_cmd')),
      [
        'basic',
        'memcached:settings',
        'memcached:stats',
        'proxy_main',
        'proxy_main:behavior',
        'proxy_main:stats',
        'pool:info',
        'pool:behavior',
        'pool:behavior-0',
        'pool:stats',
        'pool:frontcache',
        'pool:pstd_stats',
        'pool:server-0',
      ],
    );
    assert.equal(cmdFamilies.length, 40, 'the per-command rows sit between pstd_stats and server-0');
    assert.deepEqual(renderStatsProxySnapshot(data, 'all'), renderStatsProxySnapshot(data, ''));
  });

  it('each sub-command lists the families moxi gives it', () => {
    const of = (sub: string): string[] =>
      families(renderStatsProxySnapshot(data, sub)).filter((f) => !f.startsWith('pool:pstd_stats_cmd'));
    assert.deepEqual(of('info'), ['basic', 'proxy_main', 'pool:info']);
    assert.deepEqual(of('settings'), ['memcached:settings']);
    assert.deepEqual(of('behaviors'), ['proxy_main:behavior', 'pool:behavior', 'pool:behavior-0']);
    assert.deepEqual(of('frontcache'), ['pool:frontcache']);
    assert.deepEqual(of('stats'), [
      'memcached:stats',
      'proxy_main:stats',
      'pool:stats',
      'pool:pstd_stats',
      'pool:server-0',
    ]);
    assert.deepEqual(of('keystats'), []);
    assert.deepEqual(of('bogus'), []);
    assert.equal(renderStatsProxySnapshot(data, 'bogus'), 'END\r\n');
    // config: the pool's configuration, passwords masked
    assert.equal(
      renderStatsProxySnapshot(data, 'config'),
      'STAT 11211:default:config {"saslPassword": "XXXXXX"}\r\nEND\r\n',
    );
  });

  it('fills the info, settings, stats and proxy_main rows', () => {
    const r = rows(renderStatsProxySnapshot(data, ''));
    assert.equal(r.get('proxy_main:conf_type'), 'dynamic');
    assert.deepEqual(
      [...r].filter(([n]) => n.startsWith('memcached:settings:')),
      [
        ['memcached:settings:maxbytes', '67108864'],
        ['memcached:settings:maxconns', '1024'],
        ['memcached:settings:inter', '127.0.0.1'],
        ['memcached:settings:num_threads', '2'],
      ],
    );
    assert.deepEqual(
      [...r].filter(([n]) => n.startsWith('proxy_main:stats:')),
      [
        ['proxy_main:stats:stat_configs', '3'],
        ['proxy_main:stats:stat_config_fails', '1'],
        ['proxy_main:stats:stat_proxy_starts', '1'],
        ['proxy_main:stats:stat_proxy_start_fails', '0'],
        ['proxy_main:stats:stat_proxy_existings', '2'],
        ['proxy_main:stats:stat_proxy_shutdowns', '0'],
      ],
    );
    assert.deepEqual(
      [...r].filter(([n]) => n.startsWith('11211:default:info:')).map(([n]) => n.slice(19)),
      ['port', 'name', 'config', 'config_ver', 'behaviors_num', 'available'],
    );
    assert.equal(r.get('11211:default:info:behaviors_num'), '1');
    assert.equal(r.get('11211:default:stats:listening'), '1');
    assert.equal(r.get('11211:default:stats:listening_failed'), '0');
    const memcachedStats = [...r].filter(([n]) => n.startsWith('memcached:stats:')).map(([n]) => n.slice(16));
    assert.deepEqual(memcachedStats.slice(0, 10), [
      'pid',
      'uptime',
      'time',
      'version',
      'pointer_size',
      'rusage_user',
      'rusage_system',
      'curr_connections',
      'total_connections',
      'connection_structures',
    ]);
    assert.deepEqual(memcachedStats.slice(-5), [
      'limit_maxbytes',
      'accepting_conns',
      'listen_disabled_num',
      'threads',
      'conn_yields',
    ]);
    assert.equal(r.get('memcached:stats:limit_maxbytes'), '67108864');
    assert.equal(r.get('memcached:stats:threads'), '2');
    assert.match(r.get('memcached:stats:rusage_user') ?? '', /^\d+\.\d{6}$/);
  });

  it("sums the workers: processes, connections; configuration counts and versions are each worker's alike", () => {
    const worker = (pid: number, configVer: number, numUpstream: number): StatsProxySnapshot =>
      proxySnapshot(
        [{ ...poolSnapshot({ counters: { numUpstream, totUpstream: numUpstream * 10 } }), configVer }],
        {
          process: {
            worker: 1,
            pid,
            cpuUserSeconds: 1.5,
            cpuSystemSeconds: 0.25,
            rssBytes: 0,
            heapUsedBytes: 0,
            heldReplyBytes: 0,
            uptimeSeconds: pid,
          },
          configEvents: {
            configs: configVer,
            configFails: 0,
            proxyStarts: 1,
            proxyStartFails: 0,
            proxyExistings: 0,
            proxyShutdowns: 0,
          },
        },
      );
    const merged = mergeStatsProxySnapshots([worker(7, 4, 2), worker(9, 3, 5)]);
    const r = rows(renderStatsProxySnapshot(merged, 'stats'));
    assert.equal(r.get('memcached:stats:pid'), '7');
    assert.equal(r.get('memcached:stats:uptime'), '9');
    assert.equal(r.get('memcached:stats:rusage_user'), '3.000000');
    assert.equal(r.get('memcached:stats:rusage_system'), '0.500000');
    assert.equal(r.get('memcached:stats:curr_connections'), '7');
    assert.equal(r.get('memcached:stats:total_connections'), '70');
    assert.equal(r.get('proxy_main:stats:stat_configs'), '4');
    assert.equal(r.get('proxy_main:stats:stat_proxy_starts'), '1');
    assert.equal(r.get('11211:default:stats:listening'), '1');
    assert.equal(rows(renderStatsProxySnapshot(merged, 'info')).get('11211:default:info:config_ver'), '4');
  });
});
