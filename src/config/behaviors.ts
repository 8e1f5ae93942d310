/**
 * The -Z proxy behaviors: one table row per key (moxi's `proxy_behavior`), their defaults, and the
 * parser for the comma-separated `key=value` list with moxi's exact quirks (src/cproxy_config.c).
 *
 * Also home to the few C string/number primitives moxi's config code is built on (isspace trim,
 * `wordeq`, strtoul/strtol/atoi, `safe_strtoul`), so cluster-config.ts and vbucket-map.ts share them.
 *
 * Behaviors objects use moxi's snake_case key names, so a row's `name` is the property name and the
 * same spelling shows up in `stats proxy` output.
 */

// ---------------------------------------------------------------------------------------------------
// C primitives

/** C `isspace` in the "C" locale: space, \t, \n, \v, \f, \r. */
export function isCSpace(ch: string | undefined): boolean {
  return ch === ' ' || ch === '\t' || ch === '\n' || ch === '\v' || ch === '\f' || ch === '\r';
}

/** moxi's `trimstr`: strips C whitespace (not Unicode spaces) from both ends. */
export function cTrim(s: string): string {
  let start = 0;
  let end = s.length;
  while (start < end && isCSpace(s[start])) start++;
  while (end > start && isCSpace(s[end - 1])) end--;
  return start === 0 && end === s.length ? s : s.slice(start, end);
}

/**
 * moxi's `wordeq(s, word)`: true when the first word of `s` (up to C whitespace) is a prefix of `word`.
 * It is a prefix test, not equality: `wordeq("conn", "connect_timeout")` and `wordeq("", x)` are true.
 */
export function wordeq(s: string, word: string): boolean {
  let end = 0;
  while (end < s.length && !isCSpace(s[end])) end++;
  return word.startsWith(end === s.length ? s : s.slice(0, end));
}

const U64_MAX = (1n << 64n) - 1n;
const I64_MAX = (1n << 63n) - 1n;
const I64_MIN = -(1n << 63n);

/** Result of a C `strtoul`/`strtol` call (base 10) on a JS string. */
export interface CStrtoResult {
  /** The C return value: unsigned 64-bit for strtoul, signed 64-bit for strtol. */
  readonly value: bigint;
  /** Index of `*endptr`; 0 when no digits were converted (C sets endptr = str). */
  readonly end: number;
  /** errno == ERANGE (the value saturated). */
  readonly erange: boolean;
}

/**
 * C `strtoul` (`unsigned` true) or `strtol` on an LP64 platform, base 10: skips leading C whitespace,
 * takes one optional sign, then decimal digits. strtoul negates modulo 2^64 ("-1" = 2^64-1).
 */
export function cStrto(s: string, unsigned: boolean): CStrtoResult {
  let i = 0;
  while (i < s.length && isCSpace(s[i])) i++;
  let negative = false;
  if (s[i] === '+' || s[i] === '-') {
    negative = s[i] === '-';
    i++;
  }
  const start = i;
  while (i < s.length && s.charCodeAt(i) >= 0x30 && s.charCodeAt(i) <= 0x39) i++;
  if (i === start) return { value: 0n, end: 0, erange: false };
  const magnitude = BigInt(s.slice(start, i));
  if (unsigned) {
    if (magnitude > U64_MAX) return { value: U64_MAX, end: i, erange: true };
    return { value: negative ? BigInt.asUintN(64, -magnitude) : magnitude, end: i, erange: false };
  }
  if (negative) {
    if (magnitude > -I64_MIN) return { value: I64_MIN, end: i, erange: true };
    return { value: -magnitude, end: i, erange: false };
  }
  if (magnitude > I64_MAX) return { value: I64_MAX, end: i, erange: true };
  return { value: magnitude, end: i, erange: false };
}

/** C `atoi` as glibc does it: `(int) strtol(s, NULL, 10)` (saturate to 64 bits, then wrap to 32). */
export function cAtoi(s: string): number {
  return Number(BigInt.asIntN(32, cStrto(s, false).value));
}

/** A `safe_strto*` verdict: `value` is 0 when `ok` is false (moxi zeroes its output first). */
export interface SafeNumber {
  readonly ok: boolean;
  readonly value: number;
}

const FAILED: SafeNumber = { ok: false, value: 0 };

function endIsClean(s: string, r: CStrtoResult): boolean {
  return isCSpace(s[r.end]) || (r.end === s.length && r.end !== 0);
}

/**
 * moxi's `safe_strtoul` into a `uint32_t`: digits must be followed by whitespace or the end; a
 * minus sign that makes the 64-bit result negative fails; the result is truncated to 32 bits.
 */
export function safeStrtoul(s: string): SafeNumber {
  const r = cStrto(s, true);
  if (r.erange || !endIsClean(s, r)) return FAILED;
  if (r.value > I64_MAX && s.includes('-')) return FAILED;
  return { ok: true, value: Number(BigInt.asUintN(32, r.value)) };
}

/** moxi's `safe_strtol` into an `int32_t` (64-bit strtol, then wrapped to 32 bits). */
export function safeStrtol(s: string): SafeNumber {
  const r = cStrto(s, false);
  if (r.erange || !endIsClean(s, r)) return FAILED;
  return { ok: true, value: Number(BigInt.asIntN(32, r.value)) };
}

function byteLength(s: string): number {
  return Buffer.byteLength(s, 'utf8');
}

// ---------------------------------------------------------------------------------------------------
// The table

/** How a behavior value is parsed: unsigned 32-bit ints (`int-ms` = milliseconds), text, or a protocol. */
export type BehaviorType = 'int' | 'int-ms' | 'string' | 'protocol' | 'list';

/**
 * moxi's config levels (src/cproxy.h): IL = process init, ML = per REST source (proxy_main),
 * PL = per pool/bucket, SL = per server (inherited from the pool).
 */
export type BehaviorLevel = 'IL' | 'ML' | 'PL' | 'SL';

export const DownstreamProtocol = { ASCII: 'ascii', BINARY: 'binary' } as const;
export type DownstreamProtocol = (typeof DownstreamProtocol)[keyof typeof DownstreamProtocol];

/** The numbers `stats proxy` shows for downstream_protocol (moxi's `enum protocol`). */
export const DOWNSTREAM_PROTOCOL_CODE = { ascii: 7, binary: 8 } as const;

/** default_bucket_name's default: clients start in the first configured bucket. */
export const FIRST_BUCKET = '[ <FIRST_BUCKET> ]';
/** Name of the bucket clients land in when default_bucket_name names a missing bucket. */
export const NULL_BUCKET = '[ <NULL_BUCKET> ]';

export interface BehaviorSpec {
  readonly name: string;
  /** Other spellings moxi accepts for the key. */
  readonly aliases: readonly string[];
  readonly level: BehaviorLevel;
  readonly type: BehaviorType;
  readonly default: number | string;
  /** int/int-ms: parsed with safe_strtol (signed) instead of safe_strtoul. */
  readonly signed?: boolean;
  /** string/list: the longest value in UTF-8 bytes moxi's fixed char array holds (size - 1). */
  readonly maxBytes?: number;
  readonly help: string;
}

/**
 * One row per -Z key, in moxi's matching order: because keys match by prefix (`wordeq`), the first row
 * whose name or alias starts with the given key wins ("time" means downstream_timeout's alias "timeout").
 */
// prettier-ignore
export const BEHAVIORS = [
  { name: 'cycle', aliases: [], level: 'IL', type: 'int-ms', default: 200,
    help: 'Tick of the coarse millisecond clock used for queue ages, front cache expiry and blacklisting.' },
  { name: 'downstream_max', aliases: ['concurrency'], level: 'PL', type: 'int', default: 1024,
    help: 'Concurrent requests per worker and bucket; more wait in the wait queue. 0 = unlimited.' },
  { name: 'downstream_conn_max', aliases: [], level: 'PL', type: 'int', default: 4,
    help: 'Connections per worker to one host:port:user:protocol; more requests queue. 0 = unlimited.' },
  { name: 'downstream_weight', aliases: ['weight'], level: 'SL', type: 'int', default: 0,
    help: 'Server weight used when building ketama server lists from dynamic configs.' },
  { name: 'downstream_retry', aliases: ['retry'], level: 'SL', type: 'int', default: 1,
    help: 'Retries of a single-server request whose connection closed before any reply.' },
  { name: 'downstream_protocol', aliases: ['protocol'], level: 'SL', type: 'protocol', default: 'ascii',
    help: 'Protocol spoken to servers: ascii or binary (binary whenever moxi runs as a proxy).' },
  { name: 'downstream_timeout', aliases: ['timeout', 'downstream_conn_timeout'], level: 'SL', type: 'int-ms',
    default: 5000, help: 'Milliseconds a request may run once its connections are assigned. 0 = no limit.' },
  { name: 'downstream_conn_queue_timeout', aliases: [], level: 'SL', type: 'int-ms', default: 200,
    help: 'Milliseconds a request may wait for a server connection. 0 = no limit.' },
  { name: 'wait_queue_timeout', aliases: [], level: 'PL', type: 'int-ms', default: 200,
    help: 'Milliseconds a request may wait for a free downstream. 0 = no limit.' },
  { name: 'connect_timeout', aliases: [], level: 'PL', type: 'int-ms', default: 400,
    help: 'Milliseconds allowed for connecting to a server. 0 = no limit.' },
  { name: 'auth_timeout', aliases: [], level: 'PL', type: 'int-ms', default: 100,
    help: 'Milliseconds allowed for the SASL auth or bucket selection reply. 0 = no limit.' },
  { name: 'time_stats', aliases: [], level: 'IL', type: 'int', default: 0,
    help: '1 collects timing histograms (stats proxy timings); any non-zero value counts as 1.' },
  { name: 'mcs_opts', aliases: [], level: 'PL', type: 'string', default: '', maxBytes: 79,
    help: 'Host-list hashing: distribution:ketama-weighted (default), distribution:ketama or distribution:modula.' },
  { name: 'connect_max_errors', aliases: [], level: 'IL', type: 'int', default: 5,
    help: 'Consecutive errors after which a server is blacklisted per worker. 0 = never blacklist.' },
  { name: 'connect_retry_interval', aliases: [], level: 'IL', type: 'int-ms', default: 30000,
    help: 'Milliseconds a blacklisted server is skipped before moxi tries it again.' },
  { name: 'front_cache_max', aliases: [], level: 'PL', type: 'int', default: 200,
    help: 'Most items kept in the per-bucket front cache.' },
  { name: 'front_cache_lifespan', aliases: [], level: 'PL', type: 'int-ms', default: 0,
    help: 'Milliseconds an item lives in the front cache. 0 = front cache off.' },
  { name: 'front_cache_spec', aliases: [], level: 'PL', type: 'list', default: '', maxBytes: 299,
    help: 'Key prefixes to front-cache, separated by |. Empty = cache nothing.' },
  { name: 'front_cache_unspec', aliases: [], level: 'PL', type: 'list', default: '', maxBytes: 99,
    help: 'Key prefixes never to front-cache, separated by |.' },
  { name: 'key_stats_max', aliases: [], level: 'PL', type: 'int', default: 4000,
    help: 'Most keys tracked for per-key stats.' },
  { name: 'key_stats_lifespan', aliases: [], level: 'PL', type: 'int-ms', default: 0,
    help: 'Milliseconds a per-key stats entry lives.' },
  { name: 'key_stats_spec', aliases: [], level: 'PL', type: 'list', default: '', maxBytes: 299,
    help: 'Key prefixes to track per-key stats for, separated by |.' },
  { name: 'key_stats_unspec', aliases: [], level: 'PL', type: 'list', default: '', maxBytes: 99,
    help: 'Key prefixes never tracked for per-key stats, separated by |.' },
  { name: 'optimize_set', aliases: [], level: 'PL', type: 'list', default: '', maxBytes: 399,
    help: 'Key prefixes whose set is answered STORED before the server replies, separated by |.' },
  { name: 'usr', aliases: [], level: 'SL', type: 'string', default: '', maxBytes: 249,
    help: 'User for SASL PLAIN to servers, or HTTP basic auth to the REST URL (env MOXI_SASL_PLAIN_USR).' },
  { name: 'pwd', aliases: [], level: 'SL', type: 'string', default: '', maxBytes: 899,
    help: 'Password going with usr (env MOXI_SASL_PLAIN_PWD).' },
  { name: 'host', aliases: [], level: 'SL', type: 'string', default: '', maxBytes: 249,
    help: 'Server host (server-level field of old XMPP-era configs).' },
  { name: 'port', aliases: [], level: 'SL', type: 'int', default: 0, signed: true,
    help: 'Server port (server-level field of old XMPP-era configs).' },
  { name: 'bucket', aliases: [], level: 'SL', type: 'string', default: '', maxBytes: 249,
    help: 'Bucket to select on binary server connections after auth; empty = none.' },
  { name: 'port_listen', aliases: [], level: 'ML', type: 'int', default: 11211, signed: true,
    help: 'Port shared by all buckets of a REST config (static -z PORT=... names its own port).' },
  { name: 'default_bucket_name', aliases: [], level: 'ML', type: 'string', default: FIRST_BUCKET, maxBytes: 249,
    help: 'Bucket new clients start in; when set, clients of a missing bucket land in a NULL bucket.' },
] as const satisfies readonly BehaviorSpec[];

type BehaviorRow = (typeof BEHAVIORS)[number];
type ValueOf<T extends BehaviorType> = T extends 'protocol'
  ? DownstreamProtocol
  : T extends 'int' | 'int-ms'
    ? number
    : string;

/** Every -Z key by its canonical name. */
export type BehaviorKey = BehaviorRow['name'];

/** A full set of behaviors, keyed by moxi's canonical names. Times are milliseconds. */
export type Behaviors = { -readonly [R in BehaviorRow as R['name']]: ValueOf<R['type']> };

/** moxi's `behavior_default_g` as compiled in: downstream_protocol is ascii here. */
export function defaultBehaviors(): Behaviors {
  const b: Record<string, number | string> = {};
  for (const row of BEHAVIORS) b[row.name] = row.default;
  return b as Behaviors;
}

/** The defaults once moxi runs as a proxy (any -z or URL config): downstream_protocol becomes binary. */
export function proxyDefaults(): Behaviors {
  return { ...defaultBehaviors(), downstream_protocol: DownstreamProtocol.BINARY };
}

/** Looks a key up the way moxi does (prefix `wordeq`, table order); undefined for unknown keys. */
export function findBehavior(key: string): BehaviorSpec | undefined {
  for (const row of BEHAVIORS) {
    if (wordeq(key, row.name)) return row;
    for (const alias of row.aliases) if (wordeq(key, alias)) return row;
  }
  return undefined;
}

/** Splits a `|`-separated list value (front_cache_spec etc.), dropping empty items as moxi's matcher does. */
export function behaviorList(value: string): string[] {
  return value.split('|').filter((item) => item !== '');
}

// ---------------------------------------------------------------------------------------------------
// Parsing

const PROTOCOL_WORDS: readonly (readonly [string, DownstreamProtocol])[] = [
  ['ascii', 'ascii'],
  ['memcached-ascii', 'ascii'],
  ['membase-ascii', 'ascii'],
  ['binary', 'binary'],
  ['memcached-binary', 'binary'],
  ['membase-binary', 'binary'],
];

export interface ParseBehaviorsOptions {
  /** moxi's -v count; at 2 or more the extra `unknown behavior ...` lines are reported too. */
  readonly verbose?: number;
}

export interface ParsedBehaviors {
  readonly behaviors: Behaviors;
  /** Log lines, e.g. `ERROR: config error in key: K value: V`. Never fatal. */
  readonly errors: string[];
}

/**
 * Applies one `key=value` pair to `b` (moxi's `cproxy_parse_behavior_key_val`) and returns the log
 * lines it produced. `rawValue` is undefined when the item had no `=` (logged as `(null)`).
 *
 * Quirk kept from moxi: a number that fails to parse still overwrites the setting, with 0.
 */
function applyKeyValue(
  b: Record<string, number | string>,
  rawKey: string,
  rawValue: string | undefined,
  verbose: number,
): string[] {
  if (rawValue === undefined) return [`ERROR: config error in key: ${rawKey} value: (null)`];
  const key = cTrim(rawKey);
  const value = cTrim(rawValue);
  const out: string[] = [];
  let ok = false;
  const row = findBehavior(key);
  if (row === undefined) {
    if (key.startsWith('#')) ok = true;
    else if (verbose > 1) out.push(`ERROR: unknown behavior key: ${key}`);
  } else if (row.type === 'int' || row.type === 'int-ms') {
    const n = row.signed === true ? safeStrtol(value) : safeStrtoul(value);
    ok = n.ok;
    b[row.name] = row.name === 'time_stats' ? Number(n.value !== 0) : n.value;
  } else if (row.type === 'protocol') {
    const hit = PROTOCOL_WORDS.find(([word]) => wordeq(value, word));
    if (hit !== undefined) {
      b[row.name] = hit[1];
      ok = true;
    } else if (verbose > 1) {
      out.push(`unknown behavior prot: ${value}`);
    }
  } else if (byteLength(value) <= (row.maxBytes ?? Infinity)) {
    b[row.name] = value;
    ok = true;
  }
  if (!ok) out.push(`ERROR: config error in key: ${key} value: ${value}`);
  return out;
}

/**
 * Parses a -Z value on top of `base` (default: `defaultBehaviors()`), exactly as moxi does: trim, split
 * on `,`, split each item on its first `=`, trim both, match the key by prefix (aliases included), skip
 * `#` comments. Bad items become error lines; nothing throws. An empty string changes nothing, but a
 * blank one (or an empty item) reports `... value: (null)` like moxi.
 */
export function parseBehaviors(
  text: string,
  base?: Behaviors,
  options: ParseBehaviorsOptions = {},
): ParsedBehaviors {
  const b = { ...(base ?? defaultBehaviors()) } as Record<string, number | string>;
  const errors: string[] = [];
  if (text.length > 0) {
    for (const item of cTrim(text).split(',')) {
      const keyVal = cTrim(item);
      const eq = keyVal.indexOf('=');
      const key = eq < 0 ? keyVal : keyVal.slice(0, eq);
      const value = eq < 0 ? undefined : keyVal.slice(eq + 1);
      errors.push(...applyKeyValue(b, key, value, options.verbose ?? 0));
    }
  }
  return { behaviors: b as Behaviors, errors };
}

/** Truncates to at most `max` UTF-8 bytes without splitting a character (moxi's strncpy into char[]). */
function truncateBytes(s: string, max: number): string {
  if (byteLength(s) <= max) return s;
  let out = '';
  let used = 0;
  for (const ch of s) {
    const n = byteLength(ch);
    if (used + n > max) break;
    out += ch;
    used += n;
  }
  return out;
}

export interface SaslEnvResult {
  readonly behaviors: Behaviors;
  /** moxi's log lines, `env: MOXI_SASL_PLAIN_USR (<length>)`. */
  readonly messages: string[];
}

/**
 * Applies MOXI_SASL_PLAIN_USR / MOXI_SASL_PLAIN_PWD from `env` to the defaults (moxi does this before
 * parsing -Z, so -Z usr=/pwd= still win). Values are cut to the usr/pwd size limits.
 */
export function applySaslEnv(
  base: Behaviors,
  env: Readonly<Record<string, string | undefined>>,
): SaslEnvResult {
  const behaviors = { ...base };
  const messages: string[] = [];
  const usr = env['MOXI_SASL_PLAIN_USR'];
  if (usr !== undefined) {
    behaviors.usr = truncateBytes(usr, 249);
    messages.push(`env: MOXI_SASL_PLAIN_USR (${byteLength(behaviors.usr)})`);
  }
  const pwd = env['MOXI_SASL_PLAIN_PWD'];
  if (pwd !== undefined) {
    behaviors.pwd = truncateBytes(pwd, 899);
    messages.push(`env: MOXI_SASL_PLAIN_PWD (${byteLength(behaviors.pwd)})`);
  }
  return { behaviors, messages };
}

function usageValue(row: BehaviorSpec, value: number | string): string {
  if (row.name === 'default_bucket_name' && value === FIRST_BUCKET) return '<the first bucket>';
  if (value === '' && (row.type === 'string' || row.type === 'list')) return '<none>';
  return String(value);
}

/**
 * The behavior section of `-h`: every key as `  key=default`, then an indented help line (with the
 * aliases). Defaults are the proxy defaults unless `behaviors` is given. Ends with a newline.
 */
export function formatBehaviorsForUsage(behaviors: Behaviors = proxyDefaults()): string {
  const values = behaviors as Record<string, number | string>;
  let out = '';
  for (const row of BEHAVIORS as readonly BehaviorSpec[]) {
    out += `  ${row.name}=${usageValue(row, values[row.name] ?? row.default)}\n`;
    const aliases = row.aliases.length > 0 ? ` Also spelled: ${row.aliases.join(', ')}.` : '';
    out += `      ${row.help}${aliases}\n`;
  }
  return out;
}
