/**
 * The embedded server's counters and settings, and the `stats` / `stats settings` listings built from
 * them with memcached 1.6's names and order (the subset that means something here).
 */
import type { Store } from './store.ts';
import { SERVER_VERSION } from '../version.ts';

export interface ServerSettings {
  port: number;
  udpPort: number;
  /** -l, or null when listening on all interfaces. */
  bindAddress: string | null;
  maxBytes: number;
  maxConns: number;
  verbosity: number;
  evictions: boolean;
  itemSizeMax: number;
  threads: number;
  reqsPerEvent: number;
  tcpBacklog: number;
  /** -B: 'auto-negotiate' | 'ascii' | 'binary' */
  bindingProtocol: 'auto-negotiate' | 'ascii' | 'binary';
  casEnabled: boolean;
  growthFactor: number;
  chunkSize: number;
  prefixDelimiter: string;
  detailEnabled: boolean;
}

/** Per-command counters, named after memcached's stats. */
export class ServerCounters {
  cmdGet = 0;
  cmdSet = 0;
  cmdFlush = 0;
  cmdTouch = 0;
  cmdMeta = 0;
  getHits = 0;
  getMisses = 0;
  deleteMisses = 0;
  deleteHits = 0;
  incrMisses = 0;
  incrHits = 0;
  decrMisses = 0;
  decrHits = 0;
  casMisses = 0;
  casHits = 0;
  casBadval = 0;
  touchHits = 0;
  touchMisses = 0;
  storeTooLarge = 0;
  storeNoMemory = 0;
  authCmds = 0;
  authErrors = 0;
  bytesRead = 0;
  bytesWritten = 0;
  currConnections = 0;
  totalConnections = 0;
  rejectedConnections = 0;
  connYields = 0;

  reset(): void {
    const fresh = new ServerCounters();
    const self = this as unknown as Record<string, number>;
    for (const [key, value] of Object.entries(fresh as unknown as Record<string, number>)) {
      if (key !== 'currConnections') self[key] = value;
    }
  }
}

export type StatLine = readonly [name: string, value: string | number];

/** The general `stats` listing. */
export function generalStats(
  counters: ServerCounters,
  store: Store,
  settings: ServerSettings,
  accepting: boolean,
): StatLine[] {
  const clock = store.clock;
  const usage = process.cpuUsage();
  const s = store.stats;
  return [
    ['pid', process.pid],
    ['uptime', clock.current() - 60],
    ['time', clock.unixNow()],
    ['version', SERVER_VERSION],
    ['libevent', `node-${process.versions.node}`],
    ['pointer_size', 64],
    ['rusage_user', seconds(usage.user)],
    ['rusage_system', seconds(usage.system)],
    ['max_connections', settings.maxConns],
    ['curr_connections', counters.currConnections],
    ['total_connections', counters.totalConnections],
    ['rejected_connections', counters.rejectedConnections],
    ['connection_structures', counters.currConnections + 1],
    ['cmd_get', counters.cmdGet],
    ['cmd_set', counters.cmdSet],
    ['cmd_flush', counters.cmdFlush],
    ['cmd_touch', counters.cmdTouch],
    ['cmd_meta', counters.cmdMeta],
    ['get_hits', counters.getHits],
    ['get_misses', counters.getMisses],
    ['get_expired', s.getExpired],
    ['get_flushed', s.getFlushed],
    ['delete_misses', counters.deleteMisses],
    ['delete_hits', counters.deleteHits],
    ['incr_misses', counters.incrMisses],
    ['incr_hits', counters.incrHits],
    ['decr_misses', counters.decrMisses],
    ['decr_hits', counters.decrHits],
    ['cas_misses', counters.casMisses],
    ['cas_hits', counters.casHits],
    ['cas_badval', counters.casBadval],
    ['touch_hits', counters.touchHits],
    ['touch_misses', counters.touchMisses],
    ['store_too_large', counters.storeTooLarge],
    ['store_no_memory', counters.storeNoMemory],
    ['auth_cmds', counters.authCmds],
    ['auth_errors', counters.authErrors],
    ['bytes_read', counters.bytesRead],
    ['bytes_written', counters.bytesWritten],
    ['limit_maxbytes', store.maxBytes],
    ['accepting_conns', accepting ? 1 : 0],
    ['threads', settings.threads],
    ['conn_yields', counters.connYields],
    ['malloc_fails', 0],
    ['bytes', s.bytes],
    ['curr_items', s.currItems],
    ['total_items', s.totalItems],
    ['expired_unfetched', s.expiredUnfetched],
    ['evicted_unfetched', s.evictedUnfetched],
    ['evictions', s.evictions],
    ['reclaimed', s.reclaimed],
  ];
}

/** `stats settings`. */
export function settingsStats(settings: ServerSettings, maxBytes: number, oldestLive: number): StatLine[] {
  return [
    ['maxbytes', maxBytes],
    ['maxconns', settings.maxConns],
    ['tcpport', settings.port],
    ['udpport', settings.udpPort],
    ['inter', settings.bindAddress ?? 'NULL'],
    ['verbosity', settings.verbosity],
    ['oldest', oldestLive],
    ['evictions', settings.evictions ? 'on' : 'off'],
    ['domain_socket', 'NULL'],
    ['umask', 700],
    ['shutdown_command', 'no'],
    ['growth_factor', settings.growthFactor.toFixed(2)],
    ['chunk_size', settings.chunkSize],
    ['num_threads', settings.threads],
    ['num_threads_per_udp', settings.threads],
    ['stat_key_prefix', settings.prefixDelimiter],
    ['detail_enabled', settings.detailEnabled ? 'yes' : 'no'],
    ['reqs_per_event', settings.reqsPerEvent],
    ['cas_enabled', settings.casEnabled ? 'yes' : 'no'],
    ['tcp_backlog', settings.tcpBacklog],
    ['binding_protocol', settings.bindingProtocol],
    ['auth_enabled_sasl', 'no'],
    ['auth_enabled_ascii', 'no'],
    ['item_size_max', settings.itemSizeMax],
    ['maxconns_fast', 'yes'],
    ['hashpower_init', 0],
    ['slab_reassign', 'no'],
    ['slab_automove', 0],
    ['lru_crawler', 'yes'],
    ['lru_segmented', 'no'],
    ['flush_enabled', 'yes'],
    ['dump_enabled', 'no'],
    ['idle_timeout', 0],
  ];
}

function seconds(micros: number): string {
  return (micros / 1e6).toFixed(6);
}

/** Renders STAT lines plus END as memcached's text protocol does. */
export function renderTextStats(lines: readonly StatLine[]): string {
  let out = '';
  for (const [name, value] of lines) out += `STAT ${name} ${value}\r\n`;
  return out + 'END\r\n';
}
