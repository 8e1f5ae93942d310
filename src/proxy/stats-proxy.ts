/**
 * `stats proxy [all|info|settings|behaviors|stats|config|reset]`: moxi.ts's own configuration and
 * counters under moxi's names (moxi-spec §6.8): basic:*, proxy_main:*, and per pool
 * `<port>:<bucket>:info|behavior|pstd_stats|server-<i>:*`. Config text has its passwords masked.
 */
import os from 'node:os';
import { BEHAVIORS, type Behaviors } from '../config/behaviors.ts';
import { MOXI_TS_VERSION } from '../version.ts';
import type { ProxyPool } from './pool.ts';

/** What the listing reads from the proxy. */
export interface StatsProxySource {
  readonly mode: 'static' | 'cluster';
  readonly pools: readonly ProxyPool[];
  readonly options: { readonly behaviors: Behaviors; readonly threads: number };
}

export function renderStatsProxy(proxy: StatsProxySource, _current: ProxyPool | null, arg: string): string {
  const sub = arg === '' ? 'all' : arg;
  if (sub === 'reset') {
    for (const p of proxy.pools) resetCounters(p);
    return 'OK\r\n';
  }
  const all = sub === 'all';
  // `buckets` (binary STAT "proxy buckets") is the per-bucket part only
  const buckets = sub === 'buckets';
  const lines: Array<readonly [string, string | number]> = [];
  if (all || sub === 'info') {
    lines.push(
      ['basic:version', MOXI_TS_VERSION],
      ['basic:nthreads', proxy.options.threads + 1],
      ['basic:hostname', os.hostname()],
    );
  }
  if (all || sub === 'behaviors' || sub === 'settings') {
    lines.push(['proxy_main:conf_type', proxy.mode === 'static' ? 'static' : 'dynamic']);
    for (const row of BEHAVIORS) {
      lines.push([`proxy_main:behavior:${row.name}`, behaviorValue(proxy.options.behaviors, row.name)]);
    }
  }
  for (const p of proxy.pools) {
    const prefix = `${p.port}:${p.name}:`;
    if (all || buckets || sub === 'info' || sub === 'config') {
      lines.push(
        [`${prefix}info:port`, p.port],
        [`${prefix}info:name`, p.name],
        [`${prefix}info:available`, p.available ? 1 : 0],
        [`${prefix}info:config`, maskPasswords(p.configText)],
      );
    }
    if (all || buckets || sub === 'stats') {
      for (const [name, value] of Object.entries(p.counters))
        lines.push([`${prefix}pstd_stats:${snake(name)}`, value]);
      p.servers.forEach((s, i) => {
        lines.push(
          [`${prefix}server-${i}:ident`, s.ident],
          [`${prefix}server-${i}:num_downstream_conn`, s.connectionCount],
          [`${prefix}server-${i}:tot_downstream_connect`, s.counters.connects],
          [`${prefix}server-${i}:tot_downstream_connect_failed`, s.counters.connectFailures],
          [`${prefix}server-${i}:tot_downstream_closed_error`, s.counters.errorCloses],
          [`${prefix}server-${i}:tot_downstream_blacklisted`, s.counters.blacklistedFailures],
          [`${prefix}server-${i}:blacklisted`, s.blacklisted ? 1 : 0],
        );
      });
    }
  }
  let out = '';
  for (const [name, value] of lines) out += value === '' ? `STAT ${name}\r\n` : `STAT ${name} ${value}\r\n`;
  return out + 'END\r\n';
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

function behaviorValue(b: Behaviors, name: string): string | number {
  return (b as unknown as Record<string, string | number>)[name] ?? '';
}

function snake(name: string): string {
  return name.replace(/[A-Z]/g, (c) => '_' + c.toLowerCase());
}

function resetCounters(pool: ProxyPool): void {
  const c = pool.counters as unknown as Record<string, number>;
  for (const key of Object.keys(c)) if (key.startsWith('tot')) c[key] = 0;
}
