/**
 * The -z cluster configuration (and the trailing positional URL), parsed the way moxi's cproxy_init,
 * cproxy_init_string and cproxy_init_agent do (src/cproxy_config.c, src/agent_config.c):
 *
 *   "11211=mc1:11222,mc2;11311={...json...}"   static: one pool per `;` section (host list or vBucket map)
 *   "http://h:8091/pools/...,http://h2/..."     dynamic: REST URLs (any `@` or `http://` selects this)
 *   "auth=USER%PASS,url=http://a|http://b"      dynamic, explicit keys; `;` separates agents
 *
 * Pure: no sockets. Reading a file named by a value is delegated to the caller's `readFile`.
 * Errors moxi exits on are thrown as ConfigError with moxi's text; the rest are returned as data.
 */

import { type Behaviors, cAtoi, cStrto, cTrim, isCSpace, wordeq } from './behaviors.ts';
import { parseVBucketServerMap, VBucketMapError, type VBucketServerMap } from './vbucket-map.ts';

/** A configuration moxi refuses to start with; `message` is moxi's log line (it then exits 1). */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly code = 'ECONFIG';
  readonly exitCode = 1;
}

/** libmemcached's default server port for host lists. */
export const DEFAULT_SERVER_PORT = 11211;

export interface HostListServer {
  /** As written (libmemcached does not trim it); ketama hashes this exact spelling. */
  readonly host: string;
  readonly port: number;
  /** 0 when not given (ketama-weighted treats 0 as 1). */
  readonly weight: number;
}

/** A `PORT=host[:port[:weight]],...` pool, hashed with libmemcached ketama. */
export interface HostListPool {
  readonly kind: 'hosts';
  /** Port moxi listens on for this pool. */
  readonly port: number;
  /** The text after `=`, trimmed (what moxi keeps as the pool's config). */
  readonly config: string;
  /** May be empty (`11211=`): moxi then starts the pool but cannot serve it. */
  readonly servers: readonly HostListServer[];
}

/** A `PORT={json}` pool. An invalid map is not fatal in moxi: the pool listens but every request fails. */
export interface VBucketPool {
  readonly kind: 'vbucket';
  readonly port: number;
  readonly config: string;
  /** null when the JSON was rejected; see `error`. */
  readonly vbucketMap: VBucketServerMap | null;
  /** The VBucketMapError message when vbucketMap is null. */
  readonly error?: string;
}

export type StaticPool = HostListPool | VBucketPool;

export interface StaticClusterConfig {
  readonly kind: 'static';
  /** One per `;` section, in order. Empty only for an empty -z value. */
  readonly pools: readonly StaticPool[];
}

/** One REST "agent" (one `;` section): a URL list tried in order, with optional credentials. */
export interface RestAgentConfig {
  /** The `url=`/`host=` value as given (`|`-separated); moxi prints it in its contact errors. */
  readonly host: string;
  /** `host` split on `|`, empty entries dropped. Never empty. */
  readonly urls: readonly string[];
  /**
   * Set only when the section had `auth=`/`apikey=` (then `password` is set too, possibly ''):
   * otherwise moxi falls back to -Z usr/pwd (see restCredentials).
   */
  readonly user?: string;
  readonly password?: string;
  /** `config=`/`dbpath=` (config persistence path; unused by moxi master). */
  readonly dbpath?: string;
}

export interface RestClusterConfig {
  readonly kind: 'rest';
  readonly agents: readonly RestAgentConfig[];
  /** `unknown configuration key: K` lines, which moxi logs at -v. */
  readonly warnings: readonly string[];
}

export type ClusterConfig = StaticClusterConfig | RestClusterConfig;

/** moxi's dispatch rule: a config mentioning `@` or `http://` anywhere is a dynamic (REST) config. */
export function isDynamicConfig(text: string): boolean {
  return text.includes('@') || text.includes('http://');
}

/**
 * Parses a -z value (after file resolution, see resolveConfigArgument). Throws ConfigError for what
 * moxi exits on: `bad moxi config, missing =`, `missing proxy port`,
 * `ERROR: missing -z configuration for url/host`.
 */
export function parseClusterConfig(text: string): ClusterConfig {
  if (text.length === 0) return { kind: 'static', pools: [] };
  return isDynamicConfig(text) ? parseRestConfig(text) : parseStaticConfig(text);
}

// ---------------------------------------------------------------------------------------------------
// Static: PORT=hosts or PORT={json}, `;`-separated

function parseStaticConfig(text: string): StaticClusterConfig {
  const pools: StaticPool[] = [];
  for (const section of cTrim(text).split(';')) {
    const eq = section.indexOf('=');
    if (eq < 0) throw new ConfigError('bad moxi config, missing =');
    const port = cAtoi(cTrim(section.slice(0, eq)));
    if (port <= 0) throw new ConfigError('missing proxy port');
    const config = cTrim(section.slice(eq + 1));
    pools.push(config.startsWith('{') ? vbucketPool(port, config) : hostListPool(port, config));
  }
  return { kind: 'static', pools };
}

function vbucketPool(port: number, config: string): VBucketPool {
  try {
    return { kind: 'vbucket', port, config, vbucketMap: parseVBucketServerMap(config) };
  } catch (err) {
    if (!(err instanceof VBucketMapError)) throw err;
    return { kind: 'vbucket', port, config, vbucketMap: null, error: err.message };
  }
}

function hostListPool(port: number, config: string): HostListPool {
  return { kind: 'hosts', port, config, servers: parseHostList(config) };
}

/** libmemcached's strtoul-then-cast: (uint32_t) strtoul(s, NULL, 10). */
function cStrtoul32(s: string): number {
  return Number(BigInt.asUintN(32, cStrto(s, true).value));
}

/**
 * A libmemcached server list (`memcached_servers_parse`): items split on `,` (one whitespace after a
 * comma is skipped), `host[:port[:weight]]` or `host:port weight`. The port is cut to 16 bits and 0
 * means 11211; a trailing comma adds nothing; hosts are not trimmed.
 */
export function parseHostList(list: string): HostListServer[] {
  const servers: HostListServer[] = [];
  let pos = 0;
  while (pos < list.length) {
    const comma = list.indexOf(',', pos);
    const item = comma < 0 ? list.slice(pos) : list.slice(pos, comma);
    pos = comma < 0 ? list.length : comma + 1;
    let host = item;
    let port = 0;
    let weight = 0;
    const colon = item.indexOf(':');
    if (colon >= 0) {
      host = item.slice(0, colon);
      const rest = item.slice(colon + 1);
      port = cStrtoul32(rest) & 0xffff;
      let sep = rest.indexOf(' ');
      if (sep < 0) sep = rest.indexOf(':');
      if (sep >= 0) weight = cStrtoul32(rest.slice(sep + 1));
    }
    servers.push({ host, port: port === 0 ? DEFAULT_SERVER_PORT : port, weight });
    if (isCSpace(list[pos])) pos++;
  }
  return servers;
}

// ---------------------------------------------------------------------------------------------------
// Dynamic: REST agents

function parseRestConfig(text: string): RestClusterConfig {
  let buff: string;
  if (text.startsWith('apikey=') || text.startsWith('auth=') || text.startsWith('url=')) {
    buff = cTrim(text);
  } else if (text.startsWith('http://')) {
    // Shorthand: a bare URL list; commas become the `|` URL separator.
    buff = cTrim(`url=${text}`.replaceAll(',', '|'));
  } else {
    buff = cTrim(text);
  }

  const agents: RestAgentConfig[] = [];
  const warnings: string[] = [];
  for (const section of buff.split(';')) {
    let auth: string | undefined;
    let dbpath: string | undefined;
    let host: string | undefined;
    for (const item of cTrim(section).split(/[,\r\n]/)) {
      const keyVal = cTrim(item);
      const eq = keyVal.indexOf('=');
      const key = cTrim(eq < 0 ? keyVal : keyVal.slice(0, eq));
      const val = eq < 0 ? undefined : cTrim(keyVal.slice(eq + 1));
      let handled = false;
      if (val !== undefined) {
        handled = true;
        if (wordeq(key, 'apikey') || wordeq(key, 'auth')) auth = val;
        else if (wordeq(key, 'config') || wordeq(key, 'dbpath')) dbpath = val;
        else if (wordeq(key, 'host') || wordeq(key, 'url')) host = val;
        else handled = false;
      }
      if (!handled && key !== '' && !key.startsWith('#')) warnings.push(`unknown configuration key: ${key}`);
    }
    // moxi only checks for an empty value; a list of nothing but `|` is refused here too.
    const urls = host === undefined ? [] : host.split('|').filter((url) => url !== '');
    if (host === undefined || urls.length === 0) {
      throw new ConfigError('ERROR: missing -z configuration for url/host');
    }
    agents.push({
      host,
      urls,
      ...(auth !== undefined ? splitAuth(auth) : {}),
      ...(dbpath !== undefined ? { dbpath } : {}),
    });
  }
  return { kind: 'rest', agents, warnings };
}

/**
 * An `auth=`/`apikey=` value: `USER%PASSWORD`, or without `%` the `user:password@host` form (which
 * moxi turns into user `user@host`), or just a user with an empty password.
 */
function splitAuth(value: string): { user: string; password: string } {
  const percent = value.indexOf('%');
  if (percent >= 0) return { user: value.slice(0, percent), password: value.slice(percent + 1) };
  const colon = value.indexOf(':');
  const at = value.indexOf('@');
  if (colon >= 0 && at > colon) {
    return { user: value.slice(0, colon) + value.slice(at), password: value.slice(colon + 1, at) };
  }
  return { user: value, password: '' };
}

/**
 * The HTTP basic-auth credentials an agent uses: its own auth= values, else -Z usr/pwd (which already
 * include the MOXI_SASL_PLAIN_* env overrides). Undefined when the user is empty: no auth is sent.
 */
export function restCredentials(
  agent: RestAgentConfig,
  behaviors: Pick<Behaviors, 'usr' | 'pwd'>,
): { user: string; password: string } | undefined {
  const user = agent.user ?? behaviors.usr;
  const password = agent.password ?? behaviors.pwd;
  return user === '' ? undefined : { user, password };
}

// ---------------------------------------------------------------------------------------------------
// Files and the positional argument

/** Which flag a value came from: -z (`cfg`) or -Z (`behavior`); it picks moxi's error text. */
export type ConfigArgumentKind = 'cfg' | 'behavior';

/** Reads a file's contents; should throw (any error) when it cannot. */
export type ReadConfigFile = (path: string) => string | Uint8Array;

/** Bound on files naming files; moxi recursed without limit. */
const MAX_FILE_NESTING = 16;

/**
 * moxi's file rule for -z and -Z: a value starting with `.` or `/` is a path whose contents replace it
 * (and those contents may again be a path). A missing, unreadable or empty file throws ConfigError
 * `ERROR: could not read cfg file: <path>` (-z) or `ERROR: could not read behavior file: <path>` (-Z).
 * Contents end at the first NUL byte, as C strings do.
 */
export function resolveConfigArgument(
  value: string,
  readFile: ReadConfigFile,
  kind: ConfigArgumentKind = 'cfg',
): string {
  let current = value;
  for (let depth = 0; current.startsWith('.') || current.startsWith('/'); depth++) {
    if (depth >= MAX_FILE_NESTING) throw new ConfigError(`ERROR: config files nested too deeply: ${current}`);
    let contents: string;
    try {
      const raw = readFile(current);
      contents = typeof raw === 'string' ? raw : Buffer.from(raw).toString('utf8');
    } catch {
      contents = '';
    }
    const nul = contents.indexOf('\0');
    if (nul >= 0) contents = contents.slice(0, nul);
    if (contents.length === 0) throw new ConfigError(`ERROR: could not read ${kind} file: ${current}`);
    current = contents;
  }
  return current;
}

/**
 * The positional-URL rule: the last argument is a cluster config when it starts with `apikey=` or
 * `http://` or contains `@` (comma-separated URL lists included; `https://` is not recognised).
 * Returns it, or undefined. The caller applies this only without -z and without -X, and passes the
 * arguments after the program name with operands last (as GNU getopt leaves argv).
 */
export function positionalConfig(args: readonly string[]): string | undefined {
  const last = args.at(-1);
  if (last === undefined) return undefined;
  return last.startsWith('apikey=') || last.startsWith('http://') || last.includes('@') ? last : undefined;
}
