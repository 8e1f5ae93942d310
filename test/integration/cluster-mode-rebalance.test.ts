/**
 * moxi.ts in cluster mode (`-z url=<saslBucketsStreaming>`, a2b) in front of bin/moxi-cluster while
 * the cluster rebalances 2 -> 4 -> 2 nodes under load. Clients hammer their own keys through moxi.ts:
 *
 *  - text clients (raw sockets) in the `default` bucket: set / get / delete / multi-get;
 *  - binary clients (raw, pipelined, opaque-matched) in `default` and, after SASL PLAIN, in the
 *    password-protected bucket `secure`;
 *  - memjs clients in `default` and in `secure` (`secure:s3cret@host:port`).
 *
 * Every reply is checked as it arrives (the value read is the last one acknowledged). Afterwards:
 *  - no request failed, and requests really ran while vBuckets moved;
 *  - moxi.ts followed both new maps (stats proxy shows 4, then 2 servers);
 *  - every acknowledged write is read back through moxi.ts AND directly from the node that owns its
 *    vBucket by the final map (with its flags); every acknowledged delete stays deleted;
 *  - no client connection was closed (each socket still open; tot_upstream counts exactly the
 *    connections we opened, so memjs never reconnected), and moxi.ts kept its connections to the
 *    surviving nodes (no more connects than downstream_conn_max, no error closes).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import memjs from 'memjs';
import {
  BinStatus,
  NodeClient,
  ownerOf,
  startCluster,
  type BucketJson,
  type ClusterHandle,
} from '../helpers/cluster.ts';
import {
  parseStats,
  parseValues,
  retrievalDone,
  sleep,
  startClusterProxy,
  statsDone,
  timedRequest,
} from '../helpers/proxy.ts';
import type { MultiPortHandle } from '../helpers/processes.ts';
import { RawClient, printable, type BinResponse } from '../helpers/raw-client.ts';

type MemjsClient = ReturnType<typeof memjs.Client.create>;

const SUITE_TIMEOUT = { timeout: 120_000 };
const TEXT_WRITERS = 3;
const BINARY_WRITERS_PER_BUCKET = 2;
const MEMJS_DEFAULT = 2;
const MEMJS_SECURE = 1;
const KEYS_PER_WRITER = 40;
/** Bounds: every writer stops after this many operations or this long, whichever comes first. */
const MAX_OPS_PER_WRITER = 20_000;
const MAX_RUN_MS = 40_000;
const SECURE = { name: 'secure', password: 's3cret' } as const;
const CONN_MAX = 4;

type Bucket = 'default' | 'secure';

/** What a key must hold: its last acknowledged value, or null once a delete was acknowledged. */
interface Expect {
  value: string;
  flags: number;
}

/** What every writer shares: its keys, what it expects each to hold, and its operation counts. */
abstract class Writer {
  readonly label: string;
  readonly bucket: Bucket;
  readonly keys: readonly string[];
  readonly state = new Map<string, Expect | null>();
  ops = 0;
  /** Operations that completed while a rebalance was running. */
  opsDuringRebalance = 0;

  constructor(label: string, bucket: Bucket, keyPrefix: string) {
    this.label = label;
    this.bucket = bucket;
    this.keys = Array.from({ length: KEYS_PER_WRITER }, (_, i) => `${keyPrefix}:key${i}`);
  }

  abstract run(): Promise<void>;
}

const errors: string[] = [];
let stopAt = 0;
let stopping = false;
let rebalancing = false;

function shouldStop(w: Writer): boolean {
  return stopping || w.ops >= MAX_OPS_PER_WRITER || Date.now() > stopAt;
}

function fail(w: Writer, what: string): void {
  if (errors.length < 50) errors.push(`${w.label}: ${what}`);
}

function randomFlags(): number {
  return Math.floor(Math.random() * 0xffff_ffff);
}

function sample<T>(items: readonly T[], n: number): T[] {
  const out: T[] = [];
  for (let i = 0; i < n; i++) out.push(items[Math.floor(Math.random() * items.length)]);
  return out;
}

function counted(w: Writer): void {
  w.ops++;
  if (rebalancing) w.opsDuringRebalance++;
}

// ---------------------------------------------------------------------------------------------
// Text client (a2b through moxi.ts), default bucket

class TextWriter extends Writer {
  readonly client: RawClient;

  constructor(index: number, client: RawClient) {
    super(`text writer ${index}`, 'default', `txt${index}`);
    this.client = client;
  }

  private async exchange(send: string, complete: (b: Buffer) => boolean): Promise<string | null> {
    const r = await timedRequest(this.client, send, complete, 10_000);
    if (!r.complete) {
      fail(this, `no complete reply to ${JSON.stringify(send.slice(0, 80))}: ${printable(r.raw, 300)}`);
      return null;
    }
    return r.text;
  }

  private async get(keys: readonly string[]): Promise<void> {
    const send = `get ${keys.join(' ')}\r\n`;
    const r = await timedRequest(this.client, send, retrievalDone, 10_000);
    if (!r.complete) {
      fail(this, `no complete reply to ${JSON.stringify(send)}: ${printable(r.raw, 300)}`);
      return;
    }
    let values;
    try {
      values = parseValues(r.raw);
    } catch (err) {
      fail(this, `${JSON.stringify(send)} -> ${(err as Error).message}`);
      return;
    }
    const got = new Map(values.map((v) => [v.key, v]));
    for (const key of new Set(keys)) {
      const want = this.state.get(key) ?? null;
      const v = got.get(key);
      if (want === null && v !== undefined) fail(this, `${key}: expected a miss, got ${v.data.toString()}`);
      if (want !== null && (v === undefined || v.data.toString() !== want.value || v.flags !== want.flags)) {
        fail(
          this,
          `${key}: expected ${want.value} flags ${want.flags}, got ${v === undefined ? 'a miss' : `${v.data.toString()} flags ${v.flags}`}`,
        );
      }
    }
  }

  async run(): Promise<void> {
    for (let i = 0; !shouldStop(this); i++) {
      const key = this.keys[Math.floor(Math.random() * this.keys.length)];
      const step = i % 10;
      if (step <= 4) {
        const value = `${this.label}-${i}-${Math.random().toString(36).slice(2, 10)}`;
        const flags = randomFlags();
        const reply = await this.exchange(
          `set ${key} ${flags} 0 ${value.length}\r\n${value}\r\n`,
          (b) => b.indexOf('\r\n') >= 0,
        );
        if (reply === 'STORED\r\n') this.state.set(key, { value, flags });
        else if (reply !== null) fail(this, `set ${key} -> ${JSON.stringify(reply)}`);
      } else if (step <= 6) {
        await this.get([key]);
      } else if (step === 7) {
        const present = (this.state.get(key) ?? null) !== null;
        const reply = await this.exchange(`delete ${key}\r\n`, (b) => b.indexOf('\r\n') >= 0);
        const want = present ? 'DELETED\r\n' : 'NOT_FOUND\r\n';
        if (reply === 'DELETED\r\n') this.state.set(key, null);
        if (reply !== null && reply !== want) fail(this, `delete ${key} -> ${JSON.stringify(reply)}`);
      } else {
        await this.get(sample(this.keys, 6));
      }
      counted(this);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Binary client (b2b through moxi.ts): several requests in flight on one connection

class BinaryWriter extends Writer {
  readonly client: NodeClient;

  constructor(bucket: Bucket, index: number, client: NodeClient) {
    super(`binary writer ${bucket}/${index}`, bucket, `bin-${bucket}${index}`);
    this.client = client;
  }

  private async call(what: string, op: () => Promise<BinResponse>): Promise<BinResponse | null> {
    try {
      return await op();
    } catch (err) {
      fail(this, `${what}: ${(err as Error).message}`);
      return null;
    }
  }

  private async checkGet(key: string): Promise<void> {
    const r = await this.call(`get ${key}`, () => this.client.get(key, 0));
    if (r === null) return;
    const want = this.state.get(key) ?? null;
    if (want === null) {
      if (r.status !== BinStatus.keyEnoent) fail(this, `get ${key}: status ${r.status}, expected a miss`);
      return;
    }
    const flags = r.extras.length === 4 ? r.extras.readUInt32BE(0) : -1;
    if (r.status !== BinStatus.success || r.value.toString() !== want.value || flags !== want.flags) {
      fail(
        this,
        `get ${key}: status ${r.status} value ${r.value.toString()} flags ${flags}, expected ${want.value} flags ${want.flags}`,
      );
    }
  }

  async run(): Promise<void> {
    for (let i = 0; !shouldStop(this); i++) {
      const step = i % 4;
      if (step <= 1) {
        // a burst of sets on distinct keys, all in flight at once
        const keys = [...new Set(sample(this.keys, 4))];
        await Promise.all(
          keys.map(async (key, j) => {
            const value = `${this.label}-${i}.${j}-${Math.random().toString(36).slice(2, 8)}`;
            const flags = randomFlags();
            const r = await this.call(`set ${key}`, () => this.client.set(key, value, 0, flags));
            if (r === null) return;
            if (r.status === BinStatus.success) this.state.set(key, { value, flags });
            else fail(this, `set ${key}: status ${r.status} ${r.value.toString()}`);
          }),
        );
      } else if (step === 2) {
        await Promise.all([...new Set(sample(this.keys, 4))].map((k) => this.checkGet(k)));
      } else {
        const key = this.keys[Math.floor(Math.random() * this.keys.length)];
        const present = (this.state.get(key) ?? null) !== null;
        const r = await this.call(`delete ${key}`, () => this.client.delete(key, 0));
        if (r !== null) {
          if (r.status === BinStatus.success) this.state.set(key, null);
          const want = present ? BinStatus.success : BinStatus.keyEnoent;
          if (r.status !== want) fail(this, `delete ${key}: status ${r.status} ${r.value.toString()}`);
        }
      }
      counted(this);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// memjs (binary, SASL PLAIN from the server string for the secure bucket)

class MemjsWriter extends Writer {
  readonly client: MemjsClient;

  constructor(bucket: Bucket, index: number, client: MemjsClient) {
    super(`memjs ${bucket}/${index}`, bucket, `mj-${bucket}${index}`);
    this.client = client;
  }

  async run(): Promise<void> {
    for (let i = 0; !shouldStop(this); i++) {
      const key = this.keys[Math.floor(Math.random() * this.keys.length)];
      const step = i % 5;
      try {
        if (step <= 2) {
          const value = `${this.label}-${i}-${Math.random().toString(36).slice(2, 8)}`;
          // memjs writes no flags of its own choosing on set: they are 0
          if (await this.client.set(key, value)) this.state.set(key, { value, flags: 0 });
          else fail(this, `set ${key} answered false`);
        } else if (step === 3) {
          const want = this.state.get(key) ?? null;
          const r = await this.client.get(key);
          const got = r.value === null ? null : r.value.toString();
          if (got !== (want === null ? null : want.value))
            fail(this, `get ${key}: ${got}, expected ${want === null ? 'a miss' : want.value}`);
        } else {
          const present = (this.state.get(key) ?? null) !== null;
          const deleted = await this.client.delete(key);
          if (deleted) this.state.set(key, null);
          if (deleted !== present) fail(this, `delete ${key} answered ${deleted}, key present: ${present}`);
        }
      } catch (err) {
        fail(this, `op ${step} on ${key}: ${String(err)}`);
      }
      counted(this);
    }
  }
}

// ---------------------------------------------------------------------------------------------

async function statsProxy(c: RawClient): Promise<Map<string, string>> {
  const r = await timedRequest(c, 'stats proxy\r\n', statsDone, 5000);
  assert.ok(r.complete, `stats proxy: ${printable(r.raw, 500)}`);
  return parseStats(r.text);
}

function serverListOf(stats: Map<string, string>, port: number, bucket: string): string[] {
  const text = stats.get(`${port}:${bucket}:info:config`) ?? '';
  const config = JSON.parse(text) as BucketJson;
  return config.vBucketServerMap?.serverList ?? [];
}

/** Waits (bounded) until moxi.ts routes `bucket` over exactly `servers`. */
async function waitForServerList(
  c: RawClient,
  port: number,
  bucket: string,
  servers: readonly string[],
): Promise<void> {
  const deadline = Date.now() + 10_000;
  let last: string[] = [];
  while (Date.now() < deadline) {
    last = serverListOf(await statsProxy(c), port, bucket);
    if (JSON.stringify(last) === JSON.stringify(servers)) return;
    await sleep(50);
  }
  assert.fail(`moxi.ts never routed ${bucket} over ${servers.join(',')}; last: ${last.join(',')}`);
}

describe(
  'cluster mode: clients hammer moxi.ts while the cluster rebalances 2 -> 4 -> 2',
  SUITE_TIMEOUT,
  () => {
    let cluster: ClusterHandle;
    let moxi: MultiPortHandle;
    let observer: RawClient;
    const textClients: RawClient[] = [];
    const binaryClients: NodeClient[] = [];
    const memjsClients: MemjsClient[] = [];
    const writers: Writer[] = [];
    const memjsLog: string[] = [];
    let statsBefore: Map<string, string>;
    let statsAfter: Map<string, string>;
    let serversAt4: string[] = [];
    let serversAt2: string[] = [];
    const rebalanceMs: number[] = [];

    before(async () => {
      cluster = await startCluster({
        nodes: 2,
        maxNodes: 4,
        buckets: `default,${SECURE.name}:${SECURE.password}`,
        moveDelayMs: 12,
      });
      moxi = await startClusterProxy((port) => [
        '-z',
        `url=${cluster.saslStreamingUrl()}`,
        '-Z',
        `port_listen=${port},downstream_conn_max=${CONN_MAX}`,
      ]);
      observer = await RawClient.connect(moxi.port);
      for (let i = 0; i < TEXT_WRITERS; i++) {
        const c = await RawClient.connect(moxi.port);
        textClients.push(c);
        writers.push(new TextWriter(i, c));
      }
      for (const bucket of ['default', 'secure'] as const) {
        for (let i = 0; i < BINARY_WRITERS_PER_BUCKET; i++) {
          const c = await NodeClient.connect(moxi.port);
          if (bucket === 'secure') {
            const status = await c.saslAuth(SECURE.name, SECURE.password);
            assert.equal(status, BinStatus.success, 'SASL PLAIN into the secure bucket through moxi.ts');
          }
          binaryClients.push(c);
          writers.push(new BinaryWriter(bucket, i, c));
        }
      }
      const logger = {
        log: (...args: unknown[]) => {
          memjsLog.push(args.map(String).join(' '));
        },
      };
      const memjsOptions = { retries: 0, timeout: 8, logger };
      for (let i = 0; i < MEMJS_DEFAULT + MEMJS_SECURE; i++) {
        const secure = i >= MEMJS_DEFAULT;
        const client = memjs.Client.create(
          secure ? `${SECURE.name}:${SECURE.password}@127.0.0.1:${moxi.port}` : `127.0.0.1:${moxi.port}`,
          memjsOptions,
        );
        memjsClients.push(client);
        writers.push(new MemjsWriter(secure ? 'secure' : 'default', i, client));
      }

      stopAt = Date.now() + MAX_RUN_MS;
      const running = Promise.all(writers.map((w) => w.run()));
      try {
        // warm up: every writer has done some work (and every connection is open) before the moves
        const warm = Date.now() + 10_000;
        while (writers.some((w) => w.ops < 20) && Date.now() < warm) await sleep(20);
        statsBefore = await statsProxy(observer);

        rebalancing = true;
        const up = await cluster.rebalance(4);
        rebalancing = false;
        rebalanceMs.push(up.ms);
        assert.equal(up.serverList.length, 4, `rebalance to 4: ${JSON.stringify(up)}`);
        await waitForServerList(observer, moxi.port, 'default', up.serverList);
        await waitForServerList(observer, moxi.port, SECURE.name, up.serverList);
        serversAt4 = [...up.serverList];
        await sleep(300);

        rebalancing = true;
        const down = await cluster.rebalance(2);
        rebalancing = false;
        rebalanceMs.push(down.ms);
        assert.equal(down.serverList.length, 2, `rebalance to 2: ${JSON.stringify(down)}`);
        await waitForServerList(observer, moxi.port, 'default', down.serverList);
        await waitForServerList(observer, moxi.port, SECURE.name, down.serverList);
        serversAt2 = [...down.serverList];
        await sleep(300);
      } finally {
        rebalancing = false;
        stopping = true;
        await running;
      }
      statsAfter = await statsProxy(observer);
    });

    after(async () => {
      for (const c of memjsClients) c.close();
      for (const c of binaryClients) c.close();
      for (const c of textClients) c.destroy();
      observer.destroy();
      await moxi.stop();
      await cluster.stop();
    });

    const nmvb = (bucket: string): string =>
      statsAfter.get(`${moxi.port}:${bucket}:pstd_stats:tot_retry_vbucket`) ?? '?';

    it('no request failed, and requests ran while vBuckets moved', (t) => {
      t.diagnostic(
        `rebalances took ${rebalanceMs.join(' and ')} ms; operations (during rebalances): ` +
          writers.map((w) => `${w.label} ${w.ops} (${w.opsDuringRebalance})`).join(', ') +
          `; NOT_MY_VBUCKET answers moxi.ts handled: default ${nmvb('default')}, secure ${nmvb(SECURE.name)}`,
      );
      assert.deepEqual(
        errors,
        [],
        `failed requests:\n${errors.join('\n')}\nmemjs log:\n${memjsLog.join('\n')}`,
      );
      for (const w of writers) {
        assert.ok(w.ops > 20, `${w.label} did only ${w.ops} operations`);
        assert.ok(w.opsDuringRebalance > 0, `${w.label} did nothing while the cluster rebalanced`);
      }
      assert.ok(!moxi.exited(), `moxi.ts exited:\n${moxi.output()}`);
    });

    it('moxi.ts followed the cluster: 4 servers, then the original 2', () => {
      assert.equal(serversAt4.length, 4);
      assert.deepEqual(serversAt2, serversAt4.slice(0, 2));
    });

    it('every acknowledged write is read back directly from the node that owns its vBucket now', async () => {
      const maps = new Map<Bucket, BucketJson>([
        ['default', await cluster.bucketConfig('default')],
        ['secure', await cluster.bucketConfig(SECURE.name)],
      ]);
      const conns = new Map<string, NodeClient>();
      const direct = async (bucket: Bucket, port: number): Promise<NodeClient> => {
        const id = `${bucket}@${port}`;
        let c = conns.get(id);
        if (c === undefined) {
          c = await NodeClient.connect(port);
          if (bucket === 'secure') {
            assert.equal(await c.saslAuth(SECURE.name, SECURE.password), BinStatus.success);
          }
          conns.set(id, c);
        }
        return c;
      };
      const problems: string[] = [];
      let checked = 0;
      try {
        for (const w of writers) {
          const map = maps.get(w.bucket)!;
          for (const [key, want] of w.state) {
            const owner = ownerOf(map, key);
            const c = await direct(w.bucket, owner.port);
            const r = await c.get(key, owner.vbucket);
            checked++;
            if (want === null) {
              if (r.status !== BinStatus.keyEnoent)
                problems.push(`${w.bucket} ${key} (deleted) on ${owner.port}: status ${r.status}`);
              continue;
            }
            const flags = r.extras.length === 4 ? r.extras.readUInt32BE(0) : -1;
            if (r.status !== BinStatus.success || r.value.toString() !== want.value || flags !== want.flags) {
              problems.push(
                `${w.bucket} ${key} on node ${owner.port} vb ${owner.vbucket}: status ${r.status} ` +
                  `value ${r.value.toString()} flags ${flags}; expected ${want.value} flags ${want.flags}`,
              );
            }
          }
        }
      } finally {
        for (const c of conns.values()) c.close();
      }
      assert.ok(checked > 100, `only ${checked} keys were written`);
      assert.deepEqual(problems, []);
    });

    it('every acknowledged write is read back through moxi.ts', async () => {
      const problems: string[] = [];
      // default bucket keys: one multi-get over all of them, on a text connection
      const textKeys = new Map<string, Expect | null>();
      for (const w of writers) if (w.bucket === 'default') for (const [k, v] of w.state) textKeys.set(k, v);
      const keys = [...textKeys.keys()];
      for (let i = 0; i < keys.length; i += 50) {
        const batch = keys.slice(i, i + 50);
        const r = await timedRequest(observer, `get ${batch.join(' ')}\r\n`, retrievalDone, 10_000);
        assert.ok(r.complete, `multi-get through moxi.ts: ${printable(r.raw, 500)}`);
        const got = new Map(parseValues(r.raw).map((v) => [v.key, v]));
        for (const key of batch) {
          const want = textKeys.get(key) ?? null;
          const v = got.get(key);
          if (want === null ? v !== undefined : v?.data.toString() !== want.value || v.flags !== want.flags)
            problems.push(`default ${key}: got ${v === undefined ? 'a miss' : v.data.toString()}`);
        }
      }
      // secure bucket keys: a binary connection logged in to it
      const c = await NodeClient.connect(moxi.port);
      try {
        assert.equal(await c.saslAuth(SECURE.name, SECURE.password), BinStatus.success);
        for (const w of writers) {
          if (w.bucket !== 'secure') continue;
          for (const [key, want] of w.state) {
            const r = await c.get(key, 0);
            if (want === null ? r.status !== BinStatus.keyEnoent : r.value.toString() !== want.value)
              problems.push(`secure ${key}: status ${r.status} value ${r.value.toString()}`);
          }
        }
      } finally {
        c.close();
      }
      assert.deepEqual(problems, []);
    });

    it('no client connection was closed; connections to the surviving nodes were kept', async () => {
      for (const c of textClients) assert.ok(!c.closed, 'a text client connection was closed');
      for (const c of binaryClients) assert.ok(!c.closed, 'a binary client connection was closed');
      const now = await statsProxy(observer);
      const p = moxi.port;
      // every connection starts in the default bucket; none was accepted during the hammering (so
      // memjs never reconnected), and the one opened since to read back is the only new one
      const totBefore = Number(statsBefore.get(`${p}:default:pstd_stats:tot_upstream`));
      assert.equal(Number(statsAfter.get(`${p}:default:pstd_stats:tot_upstream`)), totBefore);
      assert.equal(Number(now.get(`${p}:default:pstd_stats:tot_upstream`)), totBefore + 1);
      // counted in the bucket they started in: the observer, the text writers, every raw binary
      // writer and every memjs socket, all still open when the hammering ended
      assert.equal(
        statsAfter.get(`${p}:default:pstd_stats:num_upstream`),
        String(1 + TEXT_WRITERS + 2 * BINARY_WRITERS_PER_BUCKET + MEMJS_DEFAULT + MEMJS_SECURE),
      );
      for (const bucket of ['default', SECURE.name]) {
        for (const i of [0, 1]) {
          const prefix = `${p}:${bucket}:server-${i}:`;
          const ident = serversAt2[i];
          assert.equal(statsAfter.get(`${prefix}ident`), ident);
          assert.equal(statsBefore.get(`${prefix}ident`), ident);
          const connects = Number(statsAfter.get(`${prefix}tot_downstream_connect`));
          assert.ok(
            connects >= 1 && connects <= CONN_MAX,
            `${bucket} ${ident}: ${connects} downstream connects (at most ${CONN_MAX} if kept)`,
          );
          assert.equal(statsAfter.get(`${prefix}tot_downstream_closed_error`), '0', `${bucket} ${ident}`);
          assert.equal(statsAfter.get(`${prefix}tot_downstream_connect_failed`), '0', `${bucket} ${ident}`);
        }
      }
    });
  },
);
