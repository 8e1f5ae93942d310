/**
 * `-t N`: the proxy in N worker processes sharing its ports (node:cluster), against real memcacheds and
 * bin/moxi-cluster:
 *
 *  - -t 2 over two memcacheds: two workers, 40 clients each writing and reading their own keys get
 *    exact answers, and both workers serve some of them (which process holds a client's connection
 *    is read from /proc: the socket inode of the accepted connection, among the workers' fds); a key
 *    written through one worker is read through the other;
 *  - `stats proxy` shows the totals of both workers (tot_requests equals what the clients sent,
 *    num_upstream the open connections, basic:nthreads 3), text and binary, in the client's reply
 *    order; `stats proxy reset` resets both; a stopped (SIGSTOP) worker delays the answer by about
 *    the primary's 1 s bound and is left out;
 *  - a worker stopped with SIGTERM while clients keep connecting: every connection is answered (the
 *    one it held is closed), and it is restarted;
 *  - a worker killed with SIGKILL is logged and restarted; the other worker's clients never notice,
 *    and the port keeps serving;
 *  - a port already in use: moxi's message and exit code 1 as with -t 1, and no worker left behind;
 *    SIGINT: `SIGINT handled.`, exit 0, no worker left behind;
 *  - -t 1 and the default -t (1 on two cores) run in one process, as before;
 *  - cluster mode with -t 2: one REST stream (the primary's), both workers follow a rebalance live,
 *    a restarted worker serves the latest configuration at once; port_listen in use and HTTP 401 end
 *    moxi.ts as with -t 1.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { availableParallelism } from 'node:os';
import { defaultThreads } from '../../src/cli/args.ts';
import { BufferedSocket } from '../helpers/buffered-socket.ts';
import { startCluster, type BucketJson, type ClusterHandle } from '../helpers/cluster.ts';
import { LOOPBACK, freePort } from '../helpers/ports.ts';
import { moxiBin, startMemcached, type MultiPortHandle, type ServerHandle } from '../helpers/processes.ts';
import {
  couldNotListenLine,
  directCommand,
  directGetMany,
  hostList,
  parseStats,
  pollUntil,
  retrievalDone,
  sleep,
  startClusterProxy,
  startProxy,
  statsDone,
  type ProxyHandle,
} from '../helpers/proxy.ts';
import {
  BinOp,
  RawClient,
  binRequest,
  binaryExchange,
  parseBinFrames,
  printable,
} from '../helpers/raw-client.ts';

const SUITE_TIMEOUT = { timeout: 90_000 };
const CLIENTS = 40;
const KEYS_PER_CLIENT = 5;
const ADMIN = { user: 'Administrator', password: 'passw0rd' } as const;
const AUTH_FAILURE_LINE = 'ERROR: Authentication failure';

const oneLine = (b: Buffer): boolean => b.indexOf('\r\n') >= 0;

// ---------------------------------------------------------------------------------------------
// A client that knows its local port (to find the worker holding the other end)

class Client {
  private readonly conn: BufferedSocket;

  private constructor(conn: BufferedSocket) {
    this.conn = conn;
  }

  static async connect(port: number, timeoutMs = 5000): Promise<Client> {
    return new Client(await BufferedSocket.connect(port, timeoutMs));
  }

  get closed(): boolean {
    return this.conn.closed;
  }

  get localPort(): number {
    return this.conn.sock.localPort ?? -1;
  }

  /** Sends `payload` and reads until `complete` (bounded); the reply as latin1 text. */
  async request(payload: string, complete: (b: Buffer) => boolean, timeoutMs = 5000): Promise<string> {
    const conn = this.conn;
    conn.buf = Buffer.alloc(0);
    conn.sock.write(payload);
    const text = await conn.waitFor(
      () => (complete(conn.buf) ? conn.buf.toString('latin1') : undefined),
      timeoutMs,
      (why) =>
        new Error(
          why === 'closed'
            ? `connection closed; got: ${printable(conn.buf)}`
            : `no complete reply to ${printable(Buffer.from(payload))}: ${printable(conn.buf)}`,
        ),
    );
    conn.buf = Buffer.alloc(0);
    return text;
  }

  close(): void {
    this.conn.close();
  }
}

async function setGet(c: Client, key: string, value: string, context = ''): Promise<void> {
  const set = await c.request(`set ${key} 7 0 ${value.length}\r\n${value}\r\n`, oneLine);
  assert.equal(set, 'STORED\r\n', `set ${key} ${context}`);
  const get = await c.request(`get ${key}\r\n`, retrievalDone);
  assert.equal(get, `VALUE ${key} 7 ${value.length}\r\n${value}\r\nEND\r\n`, `get ${key} ${context}`);
}

async function statsProxy(c: Client, sub = ''): Promise<Map<string, string>> {
  return parseStats(await c.request(`stats proxy${sub === '' ? '' : ' ' + sub}\r\n`, statsDone));
}

// ---------------------------------------------------------------------------------------------
// Processes, from /proc

/** Direct children of `pid`. */
function childPids(pid: number): number[] {
  const out: number[] = [];
  for (const e of readdirSafe('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(e));
    } catch {
      // gone meanwhile
    }
  }
  return out.sort((a, b) => a - b);
}

/** Processes whose environment holds `marker` (a variable only the moxi.ts of one test has). */
function processesWith(marker: string): number[] {
  const out: number[] = [];
  for (const e of readdirSafe('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      if (readFileSync(`/proc/${e}/environ`, 'latin1').split('\0').includes(marker)) out.push(Number(e));
    } catch {
      // gone, or not ours to read
    }
  }
  return out;
}

function readdirSafe(p: string): string[] {
  try {
    return readdirSync(p);
  } catch {
    return [];
  }
}

/** "0100007F:1F90" for 127.0.0.1:8080, as /proc/net/tcp writes addresses. */
function procAddress(port: number): string {
  return `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
}

/** Which of `pids` holds the server side of the client connection from `clientPort` to `serverPort`. */
function connectionOwner(
  serverPort: number,
  clientPort: number,
  pids: readonly number[],
): number | undefined {
  let inode: string | undefined;
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n')) {
    const cols = line.trim().split(/\s+/);
    if (cols[1] === procAddress(serverPort) && cols[2] === procAddress(clientPort)) inode = cols[9];
  }
  if (inode === undefined) return undefined;
  for (const pid of pids) {
    for (const fd of readdirSafe(`/proc/${pid}/fd`)) {
      try {
        if (readlinkSync(`/proc/${pid}/fd/${fd}`) === `socket:[${inode}]`) return pid;
      } catch {
        // closed meanwhile
      }
    }
  }
  return undefined;
}

/** The worker serving `c` (asked after a round trip, once the primary has handed the socket over). */
async function ownerOf(c: Client, port: number, moxiPid: number): Promise<number | undefined> {
  await c.request('version\r\n', oneLine);
  return pollUntil(
    async () => Promise.resolve(connectionOwner(port, c.localPort, childPids(moxiPid))),
    2000,
    20,
  );
}

/** Waits (bounded) until `moxiPid` has `n` children; they, sorted. */
async function workersOf(moxiPid: number, n: number, timeoutMs = 10_000): Promise<number[]> {
  const pids = await pollUntil(async () => {
    const c = childPids(moxiPid);
    return Promise.resolve(c.length === n ? c : undefined);
  }, timeoutMs);
  assert.ok(pids, `moxi.ts pid ${moxiPid} does not have ${n} workers: ${childPids(moxiPid).join(',')}`);
  return pids;
}

/** Opens connections (at most `max`) until one is served by each of `pids`; closes the others. */
async function clientsOn(
  port: number,
  moxiPid: number,
  pids: readonly number[],
  timeoutMs = 10_000,
): Promise<Map<number, Client>> {
  const found = new Map<number, Client>();
  const deadline = Date.now() + timeoutMs;
  // a worker may still be starting (binding its port): keep trying, a little slower after a while
  for (let i = 0; i < 500 && found.size < pids.length && Date.now() < deadline; i++) {
    const c = await Client.connect(port);
    const owner = await ownerOf(c, port, moxiPid);
    if (owner !== undefined && pids.includes(owner) && !found.has(owner)) found.set(owner, c);
    else c.close();
    if (i >= 20) await sleep(20);
  }
  assert.equal(found.size, pids.length, `no connection served by each of ${pids.join(',')}`);
  return found;
}

/** How many worker deaths the primary has logged. */
function deaths(moxi: { output(): string }): number {
  return moxi.output().split('worker died; restarting it').length - 1;
}

/** Waits (bounded) until each of `pids` serves a connection (a restarted worker binds a little later). */
async function allUp(port: number, moxiPid: number, pids: readonly number[]): Promise<void> {
  for (const c of (await clientsOn(port, moxiPid, pids)).values()) c.close();
}

/** Waits (bounded) for the primary's `workers listening` log line (-v): every worker accepts. */
async function allListening(moxi: { output(): string }): Promise<void> {
  const ok = await pollUntil(
    async () => Promise.resolve(moxi.output().includes('"msg":"workers listening"') ? true : undefined),
    10_000,
    20,
  );
  assert.ok(ok, `the workers did not all listen:\n${moxi.output()}`);
}

// ---------------------------------------------------------------------------------------------
// Running bin/moxi to completion with a marker in its environment

interface Run {
  readonly code: number | null;
  readonly signal: string | null;
  readonly stderr: string;
}

function runMarked(args: readonly string[], marker: string, timeoutMs = 8000): Promise<Run> {
  const [name, value] = marker.split('=');
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [moxiBin(), ...args],
      { timeout: timeoutMs, killSignal: 'SIGKILL', env: { ...process.env, [name]: value } },
      (err, _stdout, stderr) => {
        const e = err as (Error & { code?: number | string; signal?: string | null }) | null;
        resolve({
          code: e === null ? 0 : typeof e.code === 'number' ? e.code : null,
          signal: e?.signal ?? null,
          stderr,
        });
      },
    );
  });
}

function newMarker(): string {
  return `MOXI_WORKERS_TEST=${randomUUID()}`;
}

async function noneLeft(marker: string): Promise<number[]> {
  return (
    (await pollUntil(
      async () => Promise.resolve(processesWith(marker).length === 0 ? [] : undefined),
      3000,
    )) ?? processesWith(marker)
  );
}

// ---------------------------------------------------------------------------------------------

describe('-t 2 over two memcacheds', SUITE_TIMEOUT, () => {
  let mcs: ServerHandle[];
  let moxi: ProxyHandle;
  let workers: number[];

  before(async () => {
    mcs = await Promise.all([startMemcached({ memoryMb: 16 }), startMemcached({ memoryMb: 16 })]);
    moxi = await startProxy((p) => `${p[0]}=${hostList(mcs)}`, { threads: 2, extraArgs: ['-v'] });
    await allListening(moxi);
    workers = await workersOf(moxi.pid, 2);
  });
  after(async () => {
    await moxi.stop();
    await Promise.all(mcs.map((m) => m.stop()));
  });

  it('serves 40 clients with their own keys, through both workers', async (t) => {
    const clients = await Promise.all(Array.from({ length: CLIENTS }, () => Client.connect(moxi.port)));
    try {
      await Promise.all(
        clients.map(async (c, i) => {
          const keys = Array.from({ length: KEYS_PER_CLIENT }, (_, j) => `w:${i}:${j}`);
          const values = keys.map((_, j) => `value-${i}-${j}-${'x'.repeat(i)}`);
          for (const [j, key] of keys.entries()) await setGet(c, key, values[j], `client ${i}`);
          const multi = await c.request(`get ${keys.join(' ')}\r\n`, retrievalDone);
          const expected = keys
            .map((k, j) => `VALUE ${k} 7 ${values[j].length}\r\n${values[j]}\r\n`)
            .join('');
          assert.equal(multi, expected + 'END\r\n', `multi-get of client ${i}`);
        }),
      );
      const owners = new Map<number, number>();
      for (const c of clients) {
        const owner = await ownerOf(c, moxi.port, moxi.pid);
        assert.ok(
          owner !== undefined && workers.includes(owner),
          `connection ${c.localPort} is served by no worker`,
        );
        owners.set(owner, (owners.get(owner) ?? 0) + 1);
      }
      t.diagnostic(`connections per worker: ${[...owners.values()].join('/')}`);
      assert.equal(
        owners.size,
        2,
        `only one worker served the ${CLIENTS} clients: ${JSON.stringify([...owners])}`,
      );
      // every key is on exactly one of the memcacheds, whichever worker routed it
      const keys = clients.flatMap((_, i) =>
        Array.from({ length: KEYS_PER_CLIENT }, (_, j) => `w:${i}:${j}`),
      );
      const [a, b] = await Promise.all(mcs.map((m) => directGetMany(m, keys)));
      for (const k of keys)
        assert.ok(a.has(k) !== b.has(k), `${k} is on ${a.has(k) ? 'both' : 'neither'} server`);
      assert.ok(a.size > 0 && b.size > 0, 'every key went to one server');
    } finally {
      for (const c of clients) c.close();
    }
  });

  it('a key written through one worker is read through the other', async () => {
    const on = await clientsOn(moxi.port, moxi.pid, workers);
    try {
      const [first, second] = workers.map((pid) => on.get(pid)!);
      for (let i = 0; i < 10; i++) {
        const value = `cross-${i}`;
        assert.equal(
          await first.request(`set cross:${i} 3 0 ${value.length}\r\n${value}\r\n`, oneLine),
          'STORED\r\n',
        );
        assert.equal(
          await second.request(`get cross:${i}\r\n`, retrievalDone),
          `VALUE cross:${i} 3 ${value.length}\r\n${value}\r\nEND\r\n`,
        );
      }
    } finally {
      for (const c of on.values()) c.close();
    }
  });

  it('stats proxy shows both workers together; stats proxy reset resets both', async () => {
    const on = await clientsOn(moxi.port, moxi.pid, workers);
    const admin = await Client.connect(moxi.port);
    try {
      const prefix = `${moxi.port}:default:`;
      // each worker applied the configuration once: the pool was configured once, not twice
      const before = await statsProxy(admin, 'stats');
      assert.equal(before.get(`${prefix}pstd_stats:tot_configs`), '1', 'tot_configs is not summed');
      assert.equal(await admin.request('stats proxy reset\r\n', oneLine), 'OK\r\n');
      // each worker's client sends a known number of counted requests (stats proxy is not one)
      const perWorker = [7, 12];
      for (const [w, pid] of workers.entries()) {
        const c = on.get(pid)!;
        for (let i = 0; i < perWorker[w]; i++) {
          assert.equal(await c.request(`set count:${w}:${i} 0 0 1\r\nv\r\n`, oneLine), 'STORED\r\n');
        }
      }
      const total = perWorker[0] + perWorker[1];
      const stats = await statsProxy(admin);
      assert.equal(stats.get('basic:nthreads'), '3', 'basic:nthreads is -t + 1');
      assert.equal(
        stats.get(`${prefix}pstd_stats:tot_requests`),
        String(total),
        'tot_requests of both workers',
      );
      // open: one client per worker and the admin connection
      assert.equal(stats.get(`${prefix}pstd_stats:num_upstream`), '3', 'num_upstream of both workers');
      assert.equal(stats.get(`${prefix}server-0:ident`), `${LOOPBACK}:${mcs[0].port}`);
      assert.equal(stats.get(`${prefix}server-1:blacklisted`), '0');
      // every worker answers the same totals
      for (const c of on.values()) {
        const s = await statsProxy(c, 'stats');
        assert.equal(
          s.get(`${prefix}pstd_stats:tot_requests`),
          String(total),
          'tot_requests from either worker',
        );
      }

      // binary STAT "proxy stats": the same totals, as STAT packets ending with an empty one
      const bin = await RawClient.connect(moxi.port);
      try {
        const ex = await binaryExchange(
          bin,
          binRequest({ opcode: BinOp.stat, key: 'proxy stats', opaque: 0x77 }),
        );
        const frames = parseBinFrames(ex.data).frames.filter((f) => f.opaque === 0x77);
        const tot = frames.find((f) => f.key.toString() === `${prefix}pstd_stats:tot_requests`);
        assert.equal(tot?.value.toString(), String(total), 'binary tot_requests');
        assert.equal(frames.at(-1)?.key.length, 0, 'ends with an empty STAT packet');
      } finally {
        bin.destroy();
      }

      // replies keep the client's order around a gathered stats proxy
      const c = on.get(workers[0])!;
      const piped = await c.request(
        'get count:0:0\r\nstats proxy info\r\nget count:0:1\r\nversion\r\n',
        (b) => /VERSION [^\r]*\r\n$/.test(b.toString('latin1')),
      );
      assert.match(
        piped,
        /^VALUE count:0:0 0 1\r\nv\r\nEND\r\nSTAT basic:version [^\r]*\r\nSTAT basic:nthreads 3\r\n(STAT [^\r]*\r\n)*END\r\nVALUE count:0:1 0 1\r\nv\r\nEND\r\nVERSION [^\r]*\r\n$/,
        printable(Buffer.from(piped, 'latin1')),
      );

      // reset through one worker resets both
      assert.equal(await on.get(workers[1])!.request('stats proxy reset\r\n', oneLine), 'OK\r\n');
      const after = await statsProxy(admin, 'stats');
      for (const [name, value] of after) {
        if (name.includes(':pstd_stats:tot_')) assert.equal(value, '0', `${name} after stats proxy reset`);
      }
      assert.equal(after.get(`${prefix}pstd_stats:num_upstream`), '3', 'num_upstream is not a total');
    } finally {
      admin.close();
      for (const c of on.values()) c.close();
    }
  });

  it('a stuck worker delays stats proxy by at most about a second, and is left out', async () => {
    const on = await clientsOn(moxi.port, moxi.pid, workers);
    const [stuck, answering] = workers;
    const prefix = `${moxi.port}:default:`;
    try {
      assert.equal(await on.get(answering)!.request('stats proxy reset\r\n', oneLine), 'OK\r\n');
      for (const [pid, c] of on) {
        const n = pid === stuck ? 5 : 3;
        for (let i = 0; i < n; i++)
          assert.equal(await c.request(`set stuck:${i} 0 0 1\r\nv\r\n`, oneLine), 'STORED\r\n');
      }
      process.kill(stuck, 'SIGSTOP');
      try {
        const t0 = Date.now();
        const stats = await statsProxy(on.get(answering)!, 'stats');
        const ms = Date.now() - t0;
        assert.ok(ms >= 800 && ms < 2500, `stats proxy took ${ms} ms with a stuck worker`);
        assert.equal(
          stats.get(`${prefix}pstd_stats:tot_requests`),
          '3',
          "the answering worker's own requests",
        );
      } finally {
        process.kill(stuck, 'SIGCONT');
      }
      const all = await statsProxy(on.get(answering)!, 'stats');
      assert.equal(all.get(`${prefix}pstd_stats:tot_requests`), '8', 'both again once it runs');
    } finally {
      for (const c of on.values()) c.close();
    }
  });

  it('a worker stopped with SIGTERM while clients connect: none is lost, and it is restarted', async () => {
    const [leaver, stayer] = workers;
    const deathsBefore = deaths(moxi);
    let restarted: number[] | undefined;
    // Clients connect one after another, before, while and after the worker leaves. The one it holds
    // when it leaves is closed (that is what leaving means); no connection may go unanswered.
    let served = 0;
    let closedByLeaver = 0;
    const storm = (async (): Promise<void> => {
      for (
        let n = 0, until = Date.now() + 8000;
        Date.now() < until && n < 400 && restarted === undefined;
        n++
      ) {
        const c = await Client.connect(moxi.port);
        try {
          await setGet(c, `term:${n}`, `t${n}`, `(connection ${n}, a worker leaving)`);
          served++;
        } catch (err) {
          if (!c.closed) throw err;
          closedByLeaver++;
        } finally {
          c.close();
        }
      }
    })();
    const stormDone = storm.then(
      () => undefined,
      (err: unknown) => err,
    );
    await sleep(30);
    process.kill(leaver, 'SIGTERM');
    restarted = await pollUntil(async () => {
      const now = childPids(moxi.pid);
      return Promise.resolve(
        now.length === 2 && !now.includes(leaver) && now.includes(stayer) ? now : undefined,
      );
    }, 10_000);
    restarted ??= [];
    const failure = await stormDone;
    assert.equal(failure, undefined, `a client was not answered: ${String(failure)}`);
    assert.equal(restarted.length, 2, `the stopped worker was not replaced:\n${moxi.output()}`);
    assert.ok(served > 0, 'no client was served');
    assert.ok(
      closedByLeaver <= 1,
      `${closedByLeaver} connections closed, one at most was on the leaving worker`,
    );
    assert.ok(deaths(moxi) > deathsBefore, 'the exit is logged');
    workers = restarted;
    await allUp(moxi.port, moxi.pid, workers);
  });

  it('a worker killed with SIGKILL is restarted; the other clients and the port keep serving', async () => {
    const on = await clientsOn(moxi.port, moxi.pid, workers);
    const [victim, survivor] = workers;
    const survivorClient = on.get(survivor)!;
    try {
      await setGet(survivorClient, 'kill:before', 'b');
      assert.deepEqual(childPids(moxi.pid), workers, 'the workers are children of moxi.ts');
      const deathsBefore = deaths(moxi);
      process.kill(victim, 'SIGKILL');
      // the survivor's clients go on as if nothing happened
      const noticed = await pollUntil(async () => {
        await setGet(survivorClient, 'kill:meanwhile', 'm', '(the other worker was killed)');
        return deaths(moxi) > deathsBefore ? true : undefined;
      }, 5000);
      assert.ok(noticed, `the primary did not log the death:\n${moxi.output()}`);
      // New clients once the primary has seen the death: in the millisecond before, Node's round-robin
      // may still hand a connection to the dead worker, and then never answers it (see primary.ts).
      for (let i = 0; i < 10; i++) {
        const c = await Client.connect(moxi.port);
        try {
          await setGet(c, `kill:during:${i}`, `d${i}`, '(one worker killed)');
        } finally {
          c.close();
        }
        await setGet(survivorClient, `kill:survivor:${i}`, `s${i}`, '(the other worker was killed)');
      }
      const restarted = await pollUntil(async () => {
        const now = childPids(moxi.pid);
        return Promise.resolve(
          now.length === 2 && !now.includes(victim) && now.includes(survivor) ? now : undefined,
        );
      }, 10_000);
      assert.ok(
        restarted,
        `the killed worker was not replaced: ${childPids(moxi.pid).join(',')}\n${moxi.output()}`,
      );
      const fresh = restarted.find((p) => p !== survivor)!;
      const onFresh = await clientsOn(moxi.port, moxi.pid, [fresh]);
      try {
        await setGet(onFresh.get(fresh)!, 'kill:after', 'a', '(restarted worker)');
        assert.equal(
          await onFresh.get(fresh)!.request('get kill:during:0\r\n', retrievalDone),
          'VALUE kill:during:0 7 2\r\nd0\r\nEND\r\n',
        );
        const s = await statsProxy(onFresh.get(fresh)!, 'info');
        assert.equal(s.get('basic:nthreads'), '3');
      } finally {
        for (const c of onFresh.values()) c.close();
      }
      await setGet(survivorClient, 'kill:survivor:after', 'sa');
      assert.equal(survivorClient.closed, false, "the other worker's client was disconnected");
      assert.match(moxi.output(), /worker died; restarting it/, 'the death is logged');
      workers = restarted;
    } finally {
      for (const c of on.values()) c.close();
    }
  });
});

describe('-t 2 with a front cache', SUITE_TIMEOUT, () => {
  let mcs: ServerHandle[];
  let moxi: ProxyHandle;
  let workers: number[];

  before(async () => {
    mcs = await Promise.all([startMemcached({ memoryMb: 16 }), startMemcached({ memoryMb: 16 })]);
    moxi = await startProxy((p) => `${p[0]}=${hostList(mcs)}`, {
      threads: 2,
      extraArgs: ['-v'],
      behaviors: 'front_cache_lifespan=600000,front_cache_spec=fc:',
    });
    await allListening(moxi);
    workers = await workersOf(moxi.pid, 2);
  });
  after(async () => {
    await moxi.stop();
    await Promise.all(mcs.map((m) => m.stop()));
  });

  /** The value `c` gets for `key` once it is `value` (polled, bounded: the other worker hears by IPC). */
  async function eventually(c: Client, key: string, value: string): Promise<string> {
    const expected = `VALUE ${key} 0 ${value.length}\r\n${value}\r\nEND\r\n`;
    let last = '';
    await pollUntil(async () => {
      last = await c.request(`get ${key}\r\n`, retrievalDone);
      return last === expected ? true : undefined;
    }, 2000);
    return last;
  }

  it("a key mutated through one worker is dropped from the other worker's front cache too", async () => {
    const on = await clientsOn(moxi.port, moxi.pid, workers);
    try {
      const [first, second] = workers.map((pid) => on.get(pid)!);
      for (let i = 0; i < 5; i++) {
        const key = `fc:${i}`;
        assert.equal(await first.request(`set ${key} 0 0 3\r\nold\r\n`, oneLine), 'STORED\r\n');
        for (const c of [first, second]) {
          assert.equal(
            await c.request(`get ${key}\r\n`, retrievalDone),
            `VALUE ${key} 0 3\r\nold\r\nEND\r\n`,
          );
        }
        // both workers now hold it for ten minutes; a set through the first must reach the second's cache
        assert.equal(await first.request(`set ${key} 0 0 3\r\nnew\r\n`, oneLine), 'STORED\r\n');
        assert.equal(await eventually(second, key, 'new'), `VALUE ${key} 0 3\r\nnew\r\nEND\r\n`);
      }
      // flush_all through the second empties the first's cache (memcached's copies change behind it)
      assert.equal(await first.request('get fc:0\r\n', retrievalDone), 'VALUE fc:0 0 3\r\nnew\r\nEND\r\n');
      assert.equal(await second.request('flush_all\r\n', oneLine), 'OK\r\n');
      for (const m of mcs) assert.equal(await directCommand(m, 'set fc:0 0 0 6\r\nbehind\r\n'), 'STORED\r\n');
      assert.equal(await eventually(first, 'fc:0', 'behind'), 'VALUE fc:0 0 6\r\nbehind\r\nEND\r\n');
    } finally {
      for (const c of on.values()) c.close();
    }
  });
});

describe('-t N: startup errors and signals', SUITE_TIMEOUT, () => {
  let held: Server;
  let heldPort: number;
  let mc: ServerHandle;

  before(async () => {
    mc = await startMemcached({ memoryMb: 16 });
    held = createServer();
    for (let i = 0; i < 5; i++) {
      heldPort = await freePort();
      const ok = await new Promise<boolean>((resolve) => {
        held.once('error', () => {
          resolve(false);
        });
        held.listen({ port: heldPort, host: LOOPBACK, exclusive: true }, () => {
          resolve(true);
        });
      });
      if (ok) break;
    }
    assert.ok(held.listening, 'could not hold a port');
  });
  after(async () => {
    await new Promise<void>((resolve) =>
      held.close(() => {
        resolve();
      }),
    );
    await mc.stop();
  });

  it('a port already in use: the message and exit code of -t 1, and no worker left behind', async () => {
    const args = (t: number): string[] => [
      '-t',
      String(t),
      '-l',
      LOOPBACK,
      '-z',
      `${heldPort}=${LOOPBACK}:${mc.port}`,
    ];
    const marker1 = newMarker();
    const single = await runMarked(args(1), marker1);
    const marker2 = newMarker();
    const multi = await runMarked(args(2), marker2);
    assert.equal(single.code, 1, `-t 1: ${single.stderr}`);
    assert.equal(single.stderr, couldNotListenLine(heldPort) + '\n');
    assert.equal(multi.code, 1, `-t 2: ${multi.stderr}`);
    assert.equal(multi.stderr, single.stderr, '-t 2 prints what -t 1 prints');
    assert.deepEqual(await noneLeft(marker2), [], 'moxi.ts processes left running');
  });

  it('SIGINT stops the primary and every worker: "SIGINT handled.", exit 0', async () => {
    const port = await freePort();
    const marker = newMarker();
    const [name, value] = marker.split('=');
    const child = spawn(
      process.execPath,
      [moxiBin(), '-t', '2', '-l', LOOPBACK, '-z', `${port}=${LOOPBACK}:${mc.port}`],
      { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, [name]: value } },
    );
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => {
      stderr += b.toString();
    });
    const exited = new Promise<number | null>((resolve) =>
      child.once('exit', (code) => {
        resolve(code);
      }),
    );
    try {
      const workers = await workersOf(child.pid!, 2);
      const served = await pollUntil(async () => {
        try {
          const c = await Client.connect(port, 500);
          try {
            await setGet(c, 'sigint', 'v');
            return true;
          } finally {
            c.close();
          }
        } catch {
          return undefined;
        }
      }, 10_000);
      assert.ok(served, `moxi.ts -t 2 did not serve: ${stderr}`);
      child.kill('SIGINT');
      const code = await Promise.race([exited, sleep(5000).then(() => 'timeout' as const)]);
      assert.equal(code, 0, `exit code; stderr: ${stderr}`);
      assert.ok(stderr.split('\n').includes('SIGINT handled.'), stderr);
      assert.deepEqual(await noneLeft(marker), [], `workers ${workers.join(',')} left running`);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      for (const pid of processesWith(marker)) process.kill(pid, 'SIGKILL');
    }
  });
});

describe('-t 1 and the default -t', SUITE_TIMEOUT, () => {
  let mc: ServerHandle;

  before(async () => {
    mc = await startMemcached({ memoryMb: 16 });
  });
  after(async () => {
    await mc.stop();
  });

  it('the default is cores - 1, at least 1, at most 4', () => {
    assert.deepEqual(
      [1, 2, 3, 4, 5, 8, 64].map((n) => defaultThreads(n)),
      [1, 1, 2, 3, 4, 4, 4],
    );
  });

  for (const threads of [1, null] as const) {
    const n = threads ?? defaultThreads(availableParallelism());
    it(`${threads === null ? `no -t (${n} here)` : '-t 1'}: ${n === 1 ? 'one process, as before' : `${n} workers`}`, async () => {
      const moxi = await startProxy((p) => `${p[0]}=${hostList([mc])}`, { threads });
      try {
        const c = await Client.connect(moxi.port);
        try {
          await setGet(c, `t1:${threads}`, 'one');
          assert.equal((await statsProxy(c, 'info')).get('basic:nthreads'), String(n + 1));
        } finally {
          c.close();
        }
        await sleep(200);
        assert.equal(childPids(moxi.pid).length, n === 1 ? 0 : n, 'worker processes');
      } finally {
        await moxi.stop();
      }
    });
  }
});

describe('cluster mode with -t 2', SUITE_TIMEOUT, () => {
  let cluster: ClusterHandle;
  let moxi: MultiPortHandle;

  before(async () => {
    cluster = await startCluster({ nodes: 2, maxNodes: 4, moveDelayMs: 1, admin: ADMIN });
    moxi = await startClusterProxy(
      (port) => [
        '-z',
        `auth=${ADMIN.user}%${ADMIN.password},url=${cluster.streamingUrl('default')}`,
        '-Z',
        `port_listen=${port}`,
      ],
      { threads: 2 },
    );
  });
  after(async () => {
    await moxi.stop();
    await cluster.stop();
  });

  /** The serverList a worker routes with: `stats proxy config` shows the answering worker's. */
  async function serverListOf(c: Client): Promise<string[]> {
    const text = (await statsProxy(c, 'config')).get(`${moxi.port}:default:config`) ?? '';
    return text === '' ? [] : ((JSON.parse(text) as BucketJson).vBucketServerMap?.serverList ?? []);
  }

  it('one REST stream; both workers serve and follow a rebalance; a restarted worker gets the latest map', async () => {
    const workers = await workersOf(moxi.pid, 2);
    const on = await clientsOn(moxi.port, moxi.pid, workers);
    try {
      for (const [w, c] of [...on.values()].entries()) await setGet(c, `rest:${w}`, `v${w}`);
      const streams = async (): Promise<number> => (await cluster.status()).streams;
      assert.equal(await pollUntil(async () => ((await streams()) >= 1 ? streams() : undefined), 5000), 1);
      await sleep(300);
      assert.equal(await streams(), 1, 'only the primary follows the REST stream');

      const summary = await cluster.rebalance(4);
      for (const [pid, c] of on) {
        const followed = await pollUntil(async () => {
          const list = await serverListOf(c);
          return JSON.stringify(list) === JSON.stringify(summary.serverList) ? list : undefined;
        }, 8000);
        assert.ok(followed, `worker ${pid} did not follow the rebalance to ${summary.serverList.join(',')}`);
        for (let i = 0; i < 20; i++) await setGet(c, `rest:after:${pid}:${i}`, `a${i}`, `(worker ${pid})`);
      }
      assert.equal(await streams(), 1);

      const [victim, survivor] = workers;
      process.kill(victim, 'SIGKILL');
      const restarted = await pollUntil(async () => {
        const now = childPids(moxi.pid);
        return Promise.resolve(now.length === 2 && !now.includes(victim) ? now : undefined);
      }, 10_000);
      assert.ok(restarted, `the killed worker was not replaced\n${moxi.output()}`);
      const fresh = restarted.find((p) => p !== survivor)!;
      const onFresh = await clientsOn(moxi.port, moxi.pid, [fresh]);
      try {
        const c = onFresh.get(fresh)!;
        assert.deepEqual(
          await serverListOf(c),
          summary.serverList,
          'the restarted worker has the latest map',
        );
        await setGet(c, 'rest:restarted', 'r');
        assert.equal(
          await c.request(`get rest:after:${survivor}:0\r\n`, retrievalDone),
          `VALUE rest:after:${survivor}:0 7 2\r\na0\r\nEND\r\n`,
        );
      } finally {
        for (const c of onFresh.values()) c.close();
      }
      await setGet(on.get(survivor)!, 'rest:survivor', 's');
      assert.equal(await streams(), 1, 'a restarted worker opens no REST stream');
    } finally {
      for (const c of on.values()) c.close();
    }
  });

  it('port_listen already in use: the message and exit code of -t 1, and no worker left behind', async () => {
    const held = createServer();
    const port = await freePort();
    await new Promise<void>((resolve, reject) => {
      held.once('error', reject);
      held.listen({ port, host: LOOPBACK, exclusive: true }, resolve);
    });
    try {
      const args = (t: number): string[] => [
        '-t',
        String(t),
        '-l',
        LOOPBACK,
        '-Z',
        `port_listen=${port}`,
        '-z',
        `auth=${ADMIN.user}%${ADMIN.password},url=${cluster.streamingUrl('default')}`,
      ];
      const single = await runMarked(args(1), newMarker());
      const marker = newMarker();
      const multi = await runMarked(args(2), marker);
      assert.equal(single.code, 1, `-t 1: ${single.stderr}`);
      assert.ok(single.stderr.split('\n').includes(couldNotListenLine(port)), single.stderr);
      assert.equal(multi.code, 1, `-t 2: ${multi.stderr}`);
      assert.equal(multi.stderr, single.stderr, '-t 2 prints what -t 1 prints');
      assert.deepEqual(await noneLeft(marker), [], 'moxi.ts processes left running');
    } finally {
      await new Promise<void>((resolve) => {
        held.close(() => {
          resolve();
        });
      });
    }
  });

  it("HTTP 401 still ends moxi.ts with moxi's message, leaving no worker", async () => {
    const port = await freePort();
    const marker = newMarker();
    const run = await runMarked(
      [
        '-t',
        '2',
        '-l',
        LOOPBACK,
        '-Z',
        `port_listen=${port}`,
        '-z',
        `auth=${ADMIN.user}%wrong,url=${cluster.streamingUrl('default')}`,
      ],
      marker,
    );
    assert.equal(run.code, 1, `exit code; stderr:\n${run.stderr}`);
    assert.ok(run.stderr.split('\n').includes(AUTH_FAILURE_LINE), run.stderr);
    assert.deepEqual(await noneLeft(marker), [], 'moxi.ts processes left running');
  });
});
