/**
 * Helpers for testing bin/moxi in PROXY mode against real memcached processes:
 *
 *  - startProxy: `node bin/moxi -z <cfg> [-Z <behaviors>] -l 127.0.0.1 -t 1`, with every pool port
 *    picked free on loopback below 32768 and retried on "could not listen"; ready when every proxy
 *    port accepts connections and belongs to the process.
 *  - startTopology: moxi's four test topologies (simple, chain, fanout, fanoutin) in front of fresh
 *    memcacheds, for a given downstream protocol.
 *  - direct reads from a backend (which server really holds a key), timed one-shot requests, reply
 *    parsers, fixture templates, and running bin/moxi to completion for startup errors.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { LOOPBACK, PortInUseError, freePort } from './ports.ts';
import {
  TargetKinds,
  moxiBin,
  repoRoot,
  spawnServerProcess,
  startMemcached,
  startTarget,
  targetKind,
  type MultiPortHandle,
  type ServerHandle,
  type ServerOptions,
} from './processes.ts';
import { RawClient, printable } from './raw-client.ts';

export const DownstreamProtocols = { ascii: 'ascii', binary: 'binary' } as const;
export type DownstreamProtocol = (typeof DownstreamProtocols)[keyof typeof DownstreamProtocols];

/** "a2a" / "a2b": how moxi names the ASCII-client paths. */
export function pathName(protocol: DownstreamProtocol): string {
  return protocol === DownstreamProtocols.ascii ? 'a2a' : 'a2b';
}

/** `-Z` text selecting the downstream protocol plus `extra` (comma-separated key=value). */
export function behaviorsFor(protocol: DownstreamProtocol, extra = ''): string {
  const base = `downstream_protocol=${protocol}`;
  return extra === '' ? base : `${base},${extra}`;
}

// ---------------------------------------------------------------------------------------------
// Starting proxies

export interface ProxyOptions {
  /** The -Z value (omitted when undefined). */
  readonly behaviors?: string;
  /** -t (default 1; null = no -t). */
  readonly threads?: number | null;
  /** -l (default 127.0.0.1; null = no -l). */
  readonly bind?: string | null;
  /** Appended last. */
  readonly extraArgs?: readonly string[];
  /** Working directory (for `-z ./file`). */
  readonly cwd?: string;
  /** How many proxy ports to pick (default 1); the config builder gets them in order. */
  readonly portCount?: number;
  /** Extra ports the process must listen on too (e.g. an embedded server's -p port). */
  readonly alsoListens?: readonly number[];
  readonly readyTimeoutMs?: number;
  readonly stopTimeoutMs?: number;
}

export interface ProxyHandle extends MultiPortHandle {
  /** The -z argument as given. */
  readonly config: string;
  /** The pool ports picked for the config builder, in order (`port` is the first). */
  readonly poolPorts: readonly number[];
}

/** moxi's bind failure line (spec §4.1). */
export function couldNotListenLine(port: number): string {
  return `ERROR: could not listen on port ${port}. Please use -Z port_listen=PORT_NUM to specify a different port number.`;
}

function portFromOutput(text: string): number | undefined {
  const m = /could not listen on port (\d+)/.exec(text);
  return m ? Number(m[1]) : undefined;
}

/** The argv after `node` for a proxy run. */
export function proxyArgs(config: string, opts: ProxyOptions = {}): string[] {
  const args = [moxiBin(), '-z', config];
  if (opts.behaviors !== undefined) args.push('-Z', opts.behaviors);
  const bind = opts.bind === undefined ? LOOPBACK : opts.bind;
  if (bind !== null) args.push('-l', bind);
  const threads = opts.threads === undefined ? 1 : opts.threads;
  if (threads !== null) args.push('-t', String(threads));
  if (opts.extraArgs) args.push(...opts.extraArgs);
  return args;
}

const PROXY_START_ATTEMPTS = 5;

/**
 * Starts bin/moxi as a proxy. `config(ports)` builds the -z argument from freshly picked free pool
 * ports (it may write a config file into opts.cwd and return `./name`). A bind failure ("could not
 * listen on port N", EADDRINUSE) is retried with new ports, at most 5 times.
 */
export async function startProxy(
  config: string | ((ports: readonly number[]) => string),
  opts: ProxyOptions = {},
): Promise<ProxyHandle> {
  let last: unknown;
  for (let attempt = 0; attempt < PROXY_START_ATTEMPTS; attempt++) {
    const ports: number[] = [];
    for (let i = 0; i < (opts.portCount ?? 1); i++) ports.push(await freePort());
    const cfg = typeof config === 'string' ? config : config(ports);
    try {
      const handle = await spawnServerProcess({
        kind: TargetKinds.moxi,
        command: process.execPath,
        args: proxyArgs(cfg, opts),
        ports: [...ports, ...(opts.alsoListens ?? [])],
        cwd: opts.cwd,
        opts: { readyTimeoutMs: opts.readyTimeoutMs ?? 10_000, stopTimeoutMs: opts.stopTimeoutMs ?? 3000 },
        portInUse: portFromOutput,
      });
      return Object.assign(handle, { config: cfg, poolPorts: ports });
    } catch (err) {
      if (!(err instanceof PortInUseError) || opts.alsoListens?.includes(err.port) === true) throw err;
      last = err;
    }
  }
  throw new Error(`startProxy: gave up after ${PROXY_START_ATTEMPTS} attempts`, { cause: last });
}

/** What a client test talks to, started, and how to stop all of it. */
export interface StartedClientTarget {
  readonly server: ServerHandle;
  stop(): Promise<void>;
}

export interface ClientTarget {
  readonly name: string;
  start(): Promise<StartedClientTarget>;
}

/**
 * The targets of a test written for any memcached server: the one MOXI_TEST_TARGET names (bin/moxi's
 * embedded server, or memcached), and with bin/moxi also moxi.ts as a proxy (ketama, its default
 * binary downstream) over two memcacheds.
 */
export function clientTargets(opts: ServerOptions = {}): readonly ClientTarget[] {
  const embedded: ClientTarget = {
    name: targetKind(),
    start: async () => {
      const server = await startTarget(opts);
      return { server, stop: () => server.stop() };
    },
  };
  if (targetKind() !== TargetKinds.moxi) return [embedded];
  const proxy: ClientTarget = {
    name: 'moxi proxy over 2 memcacheds',
    start: async () => {
      const { servers, proxy } = await startProxyOverMemcacheds(DownstreamProtocols.binary);
      return {
        server: proxy,
        stop: async () => {
          await Promise.all([proxy.stop(), ...servers.map((s) => s.stop())]);
        },
      };
    },
  };
  return [embedded, proxy];
}

/**
 * Starts `target` before the tests of the enclosing suite and stops it after them; the result gives
 * its server once started.
 */
export function startedForSuite(target: ClientTarget): () => ServerHandle {
  let started: StartedClientTarget | undefined;
  before(async () => {
    started = await target.start();
  });
  after(async () => {
    await started?.stop();
  });
  return () => {
    if (started === undefined) throw new Error(`${target.name} is not started`);
    return started.server;
  };
}

/** `count` real memcacheds and a proxy with one pool over them (`-z PORT=<host list>`). */
export async function startProxyOverMemcacheds(
  protocol: DownstreamProtocol,
  count = 2,
): Promise<{ servers: ServerHandle[]; proxy: ProxyHandle }> {
  const servers = await Promise.all(Array.from({ length: count }, () => startMemcached()));
  const proxy = await startProxy((ports) => `${ports[0]}=${hostList(servers)}`, {
    behaviors: behaviorsFor(protocol),
  });
  return { servers, proxy };
}

/** `127.0.0.1:<port>` for each server, comma-separated (a host list). */
export function hostList(servers: readonly { readonly port: number }[], weights?: readonly number[]): string {
  return servers.map((s, i) => `${LOOPBACK}:${s.port}${weights ? `:${weights[i]}` : ''}`).join(',');
}

/** A vBucket server map (libvbucket JSON) over `servers` with `map` (master per vBucket, no replicas). */
export function vbucketJson(servers: readonly { readonly port: number }[], map: readonly number[]): string {
  return JSON.stringify({
    hashAlgorithm: 'CRC',
    numReplicas: 0,
    serverList: servers.map((s) => `${LOOPBACK}:${s.port}`),
    vBucketMap: map.map((m) => [m]),
  });
}

// ---------------------------------------------------------------------------------------------
// Topologies (moxi's t/moxi.pl: simple, chain, fanout, fanoutin)

export const TopologyKinds = ['simple', 'chain', 'fanout', 'fanoutin'] as const;
export type TopologyKind = (typeof TopologyKinds)[number];

export interface Topology {
  readonly kind: TopologyKind;
  readonly protocol: DownstreamProtocol;
  /** Where clients connect. */
  readonly entry: ProxyHandle;
  readonly proxies: readonly ProxyHandle[];
  readonly memcacheds: readonly ServerHandle[];
  /** One line per hop, for failure messages. */
  describe(): string;
  stop(): Promise<void>;
}

const CHAIN_HOPS = 3;
const FANOUT_WIDTH = 4;

/**
 * Starts a topology; every proxy gets `-Z downstream_protocol=<protocol>` (plus `extraBehaviors`):
 *  - simple:   client -> moxi.ts -> memcached
 *  - chain:    client -> moxi.ts -> moxi.ts -> moxi.ts -> memcached: ONE process with three `;` pools,
 *              each forwarding to the next pool's port
 *  - fanout:   client -> moxi.ts -> 4 memcacheds (one pool)
 *  - fanoutin: client -> moxi.ts -> 4 moxi.ts processes (one pool of 4) -> 1 memcached
 */
export async function startTopology(
  kind: TopologyKind,
  protocol: DownstreamProtocol,
  extraBehaviors = '',
  mcOpts: ServerOptions = { memoryMb: 64 },
): Promise<Topology> {
  const behaviors = behaviorsFor(protocol, extraBehaviors);
  const memcacheds: ServerHandle[] = [];
  const proxies: ProxyHandle[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all([...proxies, ...memcacheds].map((s) => s.stop()));
  };
  try {
    switch (kind) {
      case 'simple': {
        memcacheds.push(await startMemcached(mcOpts));
        proxies.push(await startProxy((p) => `${p[0]}=${hostList(memcacheds)}`, { behaviors }));
        break;
      }
      case 'chain': {
        memcacheds.push(await startMemcached(mcOpts));
        const mc = memcacheds[0];
        proxies.push(
          await startProxy(
            (p) =>
              p.map((port, i) => `${port}=${LOOPBACK}:${i + 1 < p.length ? p[i + 1] : mc.port}`).join(';'),
            { behaviors, portCount: CHAIN_HOPS },
          ),
        );
        break;
      }
      case 'fanout': {
        memcacheds.push(
          ...(await Promise.all(Array.from({ length: FANOUT_WIDTH }, () => startMemcached(mcOpts)))),
        );
        proxies.push(await startProxy((p) => `${p[0]}=${hostList(memcacheds)}`, { behaviors }));
        break;
      }
      case 'fanoutin': {
        memcacheds.push(await startMemcached(mcOpts));
        const inner = await Promise.all(
          Array.from({ length: FANOUT_WIDTH }, () =>
            startProxy((p) => `${p[0]}=${hostList(memcacheds)}`, { behaviors }),
          ),
        );
        const outer = await startProxy((p) => `${p[0]}=${hostList(inner)}`, { behaviors });
        proxies.push(outer, ...inner);
        break;
      }
    }
  } catch (err) {
    await stop();
    throw err;
  }
  const entry = proxies[0];
  return {
    kind,
    protocol,
    entry,
    proxies,
    memcacheds,
    describe: () =>
      [
        `${kind} ${pathName(protocol)}: client -> 127.0.0.1:${entry.port}`,
        ...proxies.map((p) => `  moxi.ts pid ${p.pid} -z '${p.config}' -Z '${behaviors}'`),
        ...memcacheds.map((m) => `  memcached pid ${m.pid} on ${m.host}:${m.port}`),
      ].join('\n'),
    stop,
  };
}

// ---------------------------------------------------------------------------------------------
// Talking to servers

/** Opens a connection (bounded), runs `fn`, always closes it. */
export async function withClient<T>(
  server: { readonly port: number; readonly host?: string },
  fn: (c: RawClient) => Promise<T>,
): Promise<T> {
  const c = await RawClient.connect(server.port, server.host ?? LOOPBACK);
  try {
    return await fn(c);
  } finally {
    c.destroy();
  }
}

export interface TimedReply {
  readonly text: string;
  readonly raw: Buffer;
  /** ms from the last byte sent to the end of the read. */
  readonly ms: number;
  readonly closed: boolean;
  readonly timedOut: boolean;
  /** `complete` matched. */
  readonly complete: boolean;
}

/** Reply complete: one line ending "\r\n" (for single-line replies). */
export const oneLine = (b: Buffer): boolean => b.indexOf('\r\n') >= 0;

/** Reply complete: a retrieval reply (VALUE blocks then END, or any single non-VALUE line). */
export function retrievalDone(b: Buffer): boolean {
  let pos = 0;
  for (let guard = 0; guard < 100_000; guard++) {
    const nl = b.indexOf('\r\n', pos);
    if (nl < 0) return false;
    const line = b.subarray(pos, nl).toString('latin1');
    if (!line.startsWith('VALUE ')) return true;
    const n = Number(line.split(' ')[3]);
    if (!Number.isSafeInteger(n) || n < 0) return true;
    pos = nl + 2 + n + 2;
    if (pos > b.length) return false;
  }
  return false;
}

/** Reply complete: `count` replies of which each is one line, or a retrieval reply. */
export function repliesDone(count: number): (b: Buffer) => boolean {
  return (b) => countReplies(b) >= count;
}

/** How many complete replies (single lines, or VALUE.../END groups) `b` holds. */
export function countReplies(b: Buffer): number {
  let pos = 0;
  let n = 0;
  for (let guard = 0; guard < 1_000_000 && pos < b.length; guard++) {
    let p = pos;
    let inValues = false;
    for (;;) {
      const nl = b.indexOf('\r\n', p);
      if (nl < 0) return n;
      const line = b.subarray(p, nl).toString('latin1');
      if (line.startsWith('VALUE ')) {
        const len = Number(line.split(' ')[3]);
        p = nl + 2 + len + 2;
        if (p > b.length) return n;
        inValues = true;
        continue;
      }
      p = nl + 2;
      if (inValues && line !== 'END') return n; // malformed: count no further
      break;
    }
    pos = p;
    n++;
  }
  return n;
}

/**
 * Sends `payload` on `client` and reads until `complete` says the reply is whole, the peer closes,
 * or `timeoutMs` passes. Timed from the send.
 */
export async function timedRequest(
  client: RawClient,
  payload: string | Buffer,
  complete: (b: Buffer) => boolean = oneLine,
  timeoutMs = 5000,
): Promise<TimedReply> {
  const t0 = performance.now();
  await client.send(payload);
  const r = await client.read({ until: complete, timeoutMs });
  return {
    text: r.data.toString('latin1'),
    raw: r.data,
    ms: performance.now() - t0,
    closed: r.closed,
    timedOut: r.timedOut,
    complete: r.matched,
  };
}

/** A one-shot request on a new connection. */
export function requestOnce(
  server: { readonly port: number; readonly host?: string },
  payload: string | Buffer,
  complete: (b: Buffer) => boolean = oneLine,
  timeoutMs = 5000,
): Promise<TimedReply> {
  return withClient(server, (c) => timedRequest(c, payload, complete, timeoutMs));
}

/** "sent X, got Y (after N ms, closed?)" for assertion messages. */
export function describeExchange(sent: string | Buffer, r: TimedReply): string {
  const s = typeof sent === 'string' ? Buffer.from(sent, 'latin1') : sent;
  return (
    `sent: ${printable(s, 600)}\n` +
    `got (${Math.round(r.ms)} ms${r.closed ? ', connection closed' : ''}${r.timedOut ? ', read timed out' : ''}): ` +
    (r.raw.length === 0 ? '<nothing>' : printable(r.raw, 2000))
  );
}

export interface Value {
  readonly key: string;
  readonly flags: number;
  readonly data: Buffer;
  readonly cas?: string;
}

/**
 * Parses a retrieval reply (`VALUE k f n [cas]` + data, then `END`). Returns the values in order, or
 * throws with the reply shown when it is anything else.
 */
export function parseValues(b: Buffer): Value[] {
  const out: Value[] = [];
  let pos = 0;
  for (let guard = 0; guard < 1_000_000; guard++) {
    const nl = b.indexOf('\r\n', pos);
    if (nl < 0) throw new Error(`incomplete retrieval reply: ${printable(b, 1000)}`);
    const line = b.subarray(pos, nl).toString('latin1');
    if (line === 'END') {
      if (nl + 2 !== b.length) throw new Error(`bytes after END: ${printable(b.subarray(nl + 2), 500)}`);
      return out;
    }
    const t = line.split(' ');
    if (t[0] !== 'VALUE' || (t.length !== 4 && t.length !== 5)) {
      throw new Error(`not a retrieval reply line "${line}" in: ${printable(b, 1000)}`);
    }
    const n = Number(t[3]);
    const data = b.subarray(nl + 2, nl + 2 + n);
    if (b.subarray(nl + 2 + n, nl + 4 + n).toString('latin1') !== '\r\n') {
      throw new Error(`value of ${t[1]} not followed by CRLF in: ${printable(b, 1000)}`);
    }
    out.push({ key: t[1], flags: Number(t[2]), data, ...(t.length === 5 ? { cas: t[4] } : {}) });
    pos = nl + 4 + n;
  }
  throw new Error('parseValues: too many values');
}

/**
 * Which of `keys` a server holds, read directly over a text connection in chunks of 100 keys.
 * Keys are latin1 strings (bytes); the map goes from key to its value.
 */
export async function directGetMany(
  server: { readonly port: number; readonly host?: string },
  keys: readonly string[],
): Promise<Map<string, Value>> {
  const found = new Map<string, Value>();
  await withClient(server, async (c) => {
    for (let i = 0; i < keys.length; i += 100) {
      const chunk = keys.slice(i, i + 100);
      const r = await timedRequest(c, `get ${chunk.join(' ')}\r\n`, retrievalDone, 5000);
      if (!r.complete)
        throw new Error(`direct get on ${server.port} failed:\n${describeExchange(`get ...`, r)}`);
      for (const v of parseValues(r.raw)) found.set(v.key, v);
    }
  });
  return found;
}

/** Sends one text command directly to a server and returns its one-line reply (bounded). */
export async function directCommand(
  server: { readonly port: number; readonly host?: string },
  payload: string,
  complete: (b: Buffer) => boolean = oneLine,
): Promise<string> {
  return (await requestOnce(server, payload, complete, 5000)).text;
}

/** `stats` of one server as a name -> value map (all lines `STAT name value`). */
export function parseStats(text: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of text.split('\r\n')) {
    const t = line.split(' ');
    if (t[0] === 'STAT' && t.length >= 3) m.set(t[1], t.slice(2).join(' '));
  }
  return m;
}

export const statsDone = (b: Buffer): boolean => {
  const s = b.toString('latin1');
  return s.endsWith('END\r\n') || /(^|\r\n)(ERROR|SERVER_ERROR[^\r]*|CLIENT_ERROR[^\r]*)\r\n$/.test(s);
};

// ---------------------------------------------------------------------------------------------
// Fixtures and temporary directories

/** A fixture under test/fixtures/proxy/, with `@NAME@` placeholders replaced from `vars`. */
export function renderFixture(name: string, vars: Readonly<Record<string, string | number>>): string {
  const text = readFileSync(join(repoRoot(), 'test', 'fixtures', 'proxy', name), 'utf8');
  const out = text.replace(/@([A-Z0-9_]+)@/g, (m, v: string) => {
    if (!Object.hasOwn(vars, v)) throw new Error(`fixture ${name}: no value for ${m}`);
    return String(vars[v]);
  });
  return out;
}

const tempDirs: string[] = [];
after(() => {
  for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
});

/** A fresh temporary directory, removed when the test file ends. */
export function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'moxi-proxy-test-'));
  tempDirs.push(d);
  return d;
}

/** Writes `text` to `dir/name` and returns the path. */
export function writeIn(dir: string, name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

// ---------------------------------------------------------------------------------------------
// Running bin/moxi to completion (startup errors)

export interface RunResult {
  readonly code: number | null;
  readonly signal: string | null;
  readonly stdout: string;
  readonly stderr: string;
  /** Killed at the deadline: it did not exit by itself. */
  readonly killed: boolean;
}

/** Runs `node bin/moxi <args>` and waits for it to exit (killed after `timeoutMs`). */
export function runMoxi(
  args: readonly string[],
  opts: { cwd?: string; timeoutMs?: number } = {},
): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [moxiBin(), ...args],
      { timeout: opts.timeoutMs ?? 5000, killSignal: 'SIGKILL', cwd: opts.cwd, maxBuffer: 4 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const e = err as
          (Error & { code?: number | string; signal?: string | null; killed?: boolean }) | null;
        resolve({
          code: e === null ? 0 : typeof e.code === 'number' ? e.code : null,
          signal: e?.signal ?? null,
          stdout,
          stderr,
          killed: e?.killed === true,
        });
      },
    );
  });
}

// ---------------------------------------------------------------------------------------------
// Small utilities

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls `fn` until it returns a non-undefined value or `timeoutMs` passes (then undefined). */
export async function pollUntil<T>(
  fn: () => Promise<T | undefined>,
  timeoutMs: number,
  everyMs = 50,
): Promise<T | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) return undefined;
    await sleep(everyMs);
  }
}

/** Local listening TCP addresses of `pid` (not its children) from /proc, as "a.b.c.d:port"; sorted. */
export function listeningAddressesOf(pid: number): string[] | undefined {
  let tcp: string;
  try {
    tcp = readFileSync('/proc/net/tcp', 'utf8') + readFileSync('/proc/net/tcp6', 'utf8');
  } catch {
    return undefined;
  }
  const mine = new Set<string>();
  try {
    for (const fd of readdirSafe(`/proc/${pid}/fd`)) {
      const link = readlinkSafe(`/proc/${pid}/fd/${fd}`);
      const m = link === undefined ? null : /^socket:\[(\d+)\]$/.exec(link);
      if (m) mine.add(m[1]);
    }
  } catch {
    return undefined;
  }
  const out: string[] = [];
  for (const line of tcp.split('\n')) {
    const cols = line.trim().split(/\s+/);
    if (cols.length < 10 || cols[3] !== '0A' || !mine.has(cols[9])) continue;
    const [addrHex, portHex] = cols[1].split(':');
    out.push(`${hexToAddress(addrHex)}:${parseInt(portHex, 16)}`);
  }
  return out.sort();
}

function hexToAddress(hex: string): string {
  if (hex.length === 8) {
    const n = parseInt(hex, 16);
    return [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, n >>> 24].join('.');
  }
  if (/^0+$/.test(hex)) return '[::]';
  if (hex === '00000000000000000000000001000000') return '[::1]';
  if (hex.startsWith('0000000000000000FFFF0000')) return hexToAddress(hex.slice(24));
  return `[${hex}]`;
}

function readdirSafe(p: string): string[] {
  try {
    return readdirSync(p);
  } catch {
    return [];
  }
}

function readlinkSafe(p: string): string | undefined {
  try {
    return readlinkSync(p);
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// Cluster mode (a REST configuration URL instead of a static -z)

export interface ClusterProxyOptions {
  /** -t (default 1; null = no -t). */
  readonly threads?: number | null;
  readonly cwd?: string;
  /** How long to wait for port_listen to accept connections (default 10 s). */
  readonly readyTimeoutMs?: number;
  readonly stopTimeoutMs?: number;
}

/**
 * Starts bin/moxi in cluster mode: `node bin/moxi -l 127.0.0.1 -t 1 <args(port)>`, where `args`
 * builds the rest of the command line around a freshly picked free port (it must pass that port as
 * `-Z port_listen=PORT`, and a positional URL must come last). Ready once port_listen accepts
 * connections and belongs to the process, i.e. once the first configuration arrived (at once with
 * default_bucket_name). A bind failure is retried on a new port, at most 5 times.
 */
export async function startClusterProxy(
  args: (port: number) => readonly string[],
  opts: ClusterProxyOptions = {},
): Promise<MultiPortHandle> {
  let last: unknown;
  for (let attempt = 0; attempt < PROXY_START_ATTEMPTS; attempt++) {
    const port = await freePort();
    const threads = opts.threads === undefined ? 1 : opts.threads;
    const argv = [
      moxiBin(),
      '-l',
      LOOPBACK,
      ...(threads !== null ? ['-t', String(threads)] : []),
      ...args(port),
    ];
    try {
      return await spawnServerProcess({
        kind: TargetKinds.moxi,
        command: process.execPath,
        args: argv,
        ports: [port],
        cwd: opts.cwd,
        opts: { readyTimeoutMs: opts.readyTimeoutMs ?? 10_000, stopTimeoutMs: opts.stopTimeoutMs ?? 3000 },
        portInUse: portFromOutput,
      });
    } catch (err) {
      if (!(err instanceof PortInUseError)) throw err;
      last = err;
    }
  }
  throw new Error(`startClusterProxy: gave up after ${PROXY_START_ATTEMPTS} attempts`, { cause: last });
}
