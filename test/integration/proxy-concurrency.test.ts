/**
 * Concurrency and isolation through moxi.ts: 200 clients, each pipelining batches of sets, multi-gets
 * (keys in a random order, one of them twice), single gets, deletes and a local `version`, on its own
 * keys through ONE pool of 3 memcacheds, while one of the servers is SIGKILLed and later restarted on
 * the same port. Checked continuously, for every client:
 *
 *  - every request gets exactly one reply, in the client's request order (replies are parsed
 *    strictly against the commands sent: a missing, extra or misplaced reply breaks the parse);
 *  - no client ever sees a value it did not write for that key (values carry the client, key and a
 *    sequence number), nor a value that cannot be the key's current one;
 *  - the keys of the two servers that stay up keep working throughout: every set STORED, every get
 *    exact, even in multi-gets that also ask for keys of the dead server;
 *  - keys of the killed server only get moxi's SERVER_ERROR lines for writes and misses for reads;
 *  - after the restart, moxi.ts reconnects: every key can be written and read again (bounded wait).
 *
 * Loops are bounded in rounds and time; the schedule is relative to the start of the load.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SeededRandom } from '../helpers/random.ts';
import { BufferedSocket } from '../helpers/buffered-socket.ts';
import { killServer, startMemcached, startMemcachedAt, type ServerHandle } from '../helpers/processes.ts';
import { printable } from '../helpers/raw-client.ts';
import {
  DownstreamProtocols,
  behaviorsFor,
  directGetMany,
  hostList,
  pathName,
  sleep,
  startProxy,
  type DownstreamProtocol,
  type ProxyHandle,
} from '../helpers/proxy.ts';

const CLIENTS = 200;
const KEYS_PER_CLIENT = 5;
const KILL_AT_MS = 1200;
const RESTART_AT_MS = 2400;
const STOP_AT_MS = 4000;
const MAX_ROUNDS = 300;
const ROUND_TIMEOUT_MS = 8000;
const RECOVERY_TIMEOUT_MS = 6000;
const VICTIM = 1;
const SEED = Number(process.env['MOXI_TEST_SEED'] ?? Date.now() % 1_000_000);

// ---------------------------------------------------------------------------------------------
// A pipelining client with a strict reply parser

interface ValueReply {
  readonly key: string;
  readonly flags: number;
  readonly data: string;
  readonly cas?: string;
}

type Reply = { readonly line: string } | { readonly values: readonly ValueReply[] };

type ReplyKind = 'line' | 'values';

class ProtocolViolation extends Error {}

/**
 * Parses `kinds.length` replies from `buf`; undefined when more bytes are needed. A retrieval reply
 * must be VALUE blocks and END; anything else there is a violation (not a miss).
 */
function parseReplies(
  buf: Buffer,
  kinds: readonly ReplyKind[],
): { replies: Reply[]; used: number } | undefined {
  const replies: Reply[] = [];
  let pos = 0;
  for (const kind of kinds) {
    if (kind === 'line') {
      const nl = buf.indexOf('\r\n', pos);
      if (nl < 0) return undefined;
      replies.push({ line: buf.subarray(pos, nl).toString('latin1') });
      pos = nl + 2;
      continue;
    }
    const values: ValueReply[] = [];
    for (;;) {
      const nl = buf.indexOf('\r\n', pos);
      if (nl < 0) return undefined;
      const line = buf.subarray(pos, nl).toString('latin1');
      if (line === 'END') {
        pos = nl + 2;
        break;
      }
      const t = line.split(' ');
      if (t[0] !== 'VALUE' || (t.length !== 4 && t.length !== 5) || !/^\d+$/.test(t[3])) {
        throw new ProtocolViolation(
          `expected VALUE or END in a retrieval reply, got ${JSON.stringify(line)}`,
        );
      }
      const n = Number(t[3]);
      if (buf.length < nl + 2 + n + 2) return undefined;
      if (buf[nl + 2 + n] !== 0x0d || buf[nl + 3 + n] !== 0x0a) {
        throw new ProtocolViolation(`value of ${t[1]} (${n} bytes) not followed by CRLF`);
      }
      values.push({
        key: t[1],
        flags: Number(t[2]),
        data: buf.subarray(nl + 2, nl + 2 + n).toString('latin1'),
        ...(t.length === 5 ? { cas: t[4] } : {}),
      });
      pos = nl + 4 + n;
    }
    replies.push({ values });
  }
  return { replies, used: pos };
}

class PipeClient {
  private readonly conn: BufferedSocket;

  private constructor(conn: BufferedSocket) {
    this.conn = conn;
  }

  static async connect(port: number): Promise<PipeClient> {
    return new PipeClient(await BufferedSocket.connect(port));
  }

  /** Sends `payload` and resolves with exactly `kinds.length` parsed replies (bounded). */
  async exchange(payload: Buffer, kinds: readonly ReplyKind[], timeoutMs: number): Promise<Reply[]> {
    const conn = this.conn;
    if (conn.buf.length > 0) {
      throw new ProtocolViolation(
        `unexpected bytes before the batch was sent (an extra reply?): ${printable(conn.buf, 300)}`,
      );
    }
    conn.sock.write(payload);
    return conn.waitFor(
      () => {
        const parsed = parseReplies(conn.buf, kinds);
        if (parsed === undefined) return undefined;
        conn.buf = conn.buf.subarray(parsed.used);
        return parsed.replies;
      },
      timeoutMs,
      (why) =>
        new ProtocolViolation(
          why === 'closed'
            ? `connection closed with replies missing; got ${printable(conn.buf, 600)}`
            : `replies missing after ${timeoutMs} ms; got ${printable(conn.buf, 600)}`,
        ),
    );
  }

  /** Bytes that arrived after the last complete batch. */
  leftover(): Buffer {
    return this.conn.buf;
  }

  destroy(): void {
    this.conn.close();
  }
}

// ---------------------------------------------------------------------------------------------
// What each key may hold

interface KeyModel {
  readonly key: string;
  /** Backend index holding it (measured before the load). */
  server: number;
  /** States the key may be in: a value, or null for "absent". */
  candidates: Set<string | null>;
}

/** Shared bookkeeping of a run. */
interface Run {
  readonly violations: string[];
  stop: boolean;
  killed: boolean;
  requests: number;
  replies: number;
  victimErrors: number;
  victimMisses: number;
  healthyOps: number;
  /** Date.now() at the start of the load, the kill and the restart (0 = not yet). */
  t0: number;
  killedAt: number;
  restartedAt: number;
}

/** "at 1350 ms (150 ms after the kill)" for violation messages. */
function when(run: Run): string {
  const now = Date.now();
  const rel =
    run.restartedAt > 0
      ? ` (${now - run.restartedAt} ms after the restart)`
      : run.killedAt > 0
        ? ` (${now - run.killedAt} ms after the kill)`
        : '';
  return `at ${now - run.t0} ms of load${rel}`;
}

const PROXY_ERROR = /^SERVER_ERROR proxy (write to downstream|downstream closed|downstream timeout)( \S+)?$/;

function isVictimKey(k: KeyModel, run: Run): boolean {
  return k.server === VICTIM && run.killed;
}

function makeValue(r: SeededRandom, client: number, key: string, seq: number): string {
  const len = r.bool(0.05) ? r.int(3000, 20000) : r.int(0, 120);
  let filler = '';
  for (let i = 0; i < len; i++) filler += String.fromCharCode(97 + ((client + seq + i) % 26));
  return `${client}|${key}|${seq}|${filler}`;
}

interface Cmd {
  readonly text: string;
  readonly kind: ReplyKind;
  readonly check: (reply: Reply) => void;
}

/**
 * One client's load: rounds of pipelined commands, each reply checked against the key models.
 * Returns when `run.stop` is set, the round cap is reached, or a violation stops it.
 */
async function clientLoop(
  id: number,
  port: number,
  keys: KeyModel[],
  run: Run,
  r: SeededRandom,
): Promise<void> {
  const client = await PipeClient.connect(port);
  let seq = 0;
  const fail = (msg: string): never => {
    throw new ProtocolViolation(`client ${id}, ${when(run)}: ${msg}`);
  };
  try {
    for (let round = 0; round < MAX_ROUNDS && !run.stop; round++) {
      const cmds: Cmd[] = [];
      // sets
      for (const k of keys) {
        if (!r.bool(0.5)) continue;
        const v = makeValue(r, id, k.key, seq++);
        cmds.push({
          text: `set ${k.key} ${id} 0 ${v.length}\r\n${v}\r\n`,
          kind: 'line',
          check: (rep) => {
            const line = (rep as { line: string }).line;
            if (line === 'STORED') {
              k.candidates = new Set([v]);
              if (k.server !== VICTIM) run.healthyOps++;
            } else if (PROXY_ERROR.test(line) && isVictimKey(k, run)) {
              k.candidates.add(v);
              run.victimErrors++;
            } else {
              fail(
                `set ${k.key} (server ${k.server}${k.server === VICTIM ? ', the killed one' : ''}) answered ${JSON.stringify(line)}`,
              );
            }
          },
        });
      }
      // a multi-get in a random order with one key twice
      const order = [...keys].sort(() => r.next() - 0.5);
      const dup = r.pick(order);
      order.splice(r.int(0, order.length), 0, dup);
      cmds.push({
        text: `get ${order.map((k) => k.key).join(' ')}\r\n`,
        kind: 'values',
        check: (rep) => {
          checkGet(order, (rep as { values: ValueReply[] }).values);
        },
      });
      // sometimes a delete
      if (r.bool(0.15)) {
        const k = r.pick(keys);
        cmds.push({
          text: `delete ${k.key}\r\n`,
          kind: 'line',
          check: (rep) => {
            const line = (rep as { line: string }).line;
            const mayBeAbsent = k.candidates.has(null) || isVictimKey(k, run);
            const mayBePresent = [...k.candidates].some((c) => c !== null);
            if ((line === 'DELETED' && mayBePresent) || (line === 'NOT_FOUND' && mayBeAbsent)) {
              k.candidates = new Set([null]);
            } else if (PROXY_ERROR.test(line) && isVictimKey(k, run)) {
              k.candidates.add(null);
              run.victimErrors++;
            } else {
              fail(
                `delete ${k.key} (server ${k.server}) answered ${JSON.stringify(line)}; possible states ${describeCandidates(k)}`,
              );
            }
          },
        });
      }
      // a single-key gets
      const one = r.pick(keys);
      cmds.push({
        text: `gets ${one.key}\r\n`,
        kind: 'values',
        check: (rep) => {
          const values = (rep as { values: ValueReply[] }).values;
          if (values.some((v) => v.cas === undefined)) fail(`gets ${one.key} answered a VALUE without cas`);
          checkGet([one], values);
        },
      });
      // a local command in the middle of forwarded ones
      if (r.bool(0.2)) {
        cmds.push({
          text: 'version\r\n',
          kind: 'line',
          check: (rep) => {
            if (!/^VERSION \S+$/.test((rep as { line: string }).line))
              fail(`version answered ${JSON.stringify(rep)}`);
          },
        });
      }

      const payload = Buffer.from(cmds.map((c) => c.text).join(''), 'latin1');
      run.requests += cmds.length;
      let replies: Reply[];
      try {
        replies = await client.exchange(
          payload,
          cmds.map((c) => c.kind),
          ROUND_TIMEOUT_MS,
        );
      } catch (err) {
        throw new ProtocolViolation(
          `client ${id}, round ${round}: ${(err as Error).message}\n  batch sent: ${printable(payload, 800)}`,
        );
      }
      run.replies += replies.length;
      for (const [i, c] of cmds.entries()) {
        try {
          c.check(replies[i]);
        } catch (err) {
          await sleep(100); // show what else arrives (a late part of this reply?)
          throw new ProtocolViolation(
            `${(err as Error).message}\n  round ${round}, command ${i + 1}/${cmds.length}: ${printable(Buffer.from(c.text.split('\r\n')[0], 'latin1'))}` +
              `\n  reply: ${JSON.stringify(replies[i]).slice(0, 600)}` +
              `\n  replies to this batch: ${JSON.stringify(replies).slice(0, 1500)}` +
              `\n  bytes received after them: ${printable(client.leftover(), 600) || '<none>'}`,
          );
        }
      }
    }
    await sleep(50);
    if (client.leftover().length > 0)
      fail(`extra bytes after the last reply: ${printable(client.leftover(), 300)}`);
  } finally {
    client.destroy();
  }

  function checkGet(asked: readonly KeyModel[], values: readonly ValueReply[]): void {
    // the reply must be a subsequence of the asked keys, in order
    let vi = 0;
    const seen = new Map<string, string | null>();
    for (const k of asked) {
      const hit = vi < values.length && values[vi].key === k.key ? values[vi] : undefined;
      if (hit !== undefined) vi++;
      const state = hit === undefined ? null : hit.data;
      if (seen.has(k.key) && seen.get(k.key) !== state) {
        fail(
          `key ${k.key} asked twice in one get was answered differently (${JSON.stringify(seen.get(k.key))} and ${JSON.stringify(state)})`,
        );
      }
      seen.set(k.key, state);
      if (hit !== undefined && hit.flags !== id)
        fail(`VALUE ${k.key} with flags ${hit.flags}: another client's item`);
      if (state !== null && !state.startsWith(`${id}|${k.key}|`)) {
        fail(
          `VALUE ${k.key} holds ${JSON.stringify(state.slice(0, 60))}, which this client never wrote for this key`,
        );
      }
      const allowed = k.candidates.has(state) || (state === null && isVictimKey(k, run));
      if (!allowed) {
        const spans =
          k.server !== VICTIM && state === null && run.killed && asked.some((a) => a.server === VICTIM);
        fail(
          `get ${k.key} (server ${k.server}${k.server === VICTIM ? ', the killed one' : ''}) answered ` +
            `${state === null ? 'a miss' : JSON.stringify(state.slice(0, 60))}; possible states ${describeCandidates(k)}` +
            (spans
              ? ' (this get also asked for keys of the killed server, which must cost only those keys: spec §6.5, MB-3076)'
              : ''),
        );
      }
      if (state === null && isVictimKey(k, run) && !k.candidates.has(null)) run.victimMisses++;
      if (k.server !== VICTIM) run.healthyOps++;
      k.candidates = new Set([state]);
    }
    if (vi !== values.length) {
      fail(
        `get answered keys out of order or not asked: asked [${asked.map((k) => k.key).join(' ')}], ` +
          `answered [${values.map((v) => v.key).join(' ')}]`,
      );
    }
  }
}

function describeCandidates(k: KeyModel): string {
  return `{${[...k.candidates].map((c) => (c === null ? 'absent' : JSON.stringify(c.slice(0, 40)))).join(', ')}}`;
}

// ---------------------------------------------------------------------------------------------

for (const protocol of [DownstreamProtocols.binary, DownstreamProtocols.ascii] as DownstreamProtocol[]) {
  describe(`${CLIENTS} pipelining clients through moxi.ts (${pathName(protocol)}), one server killed and restarted`, () => {
    let servers: ServerHandle[] = [];
    let proxy: ProxyHandle;

    before(async () => {
      servers = await Promise.all([0, 1, 2].map(() => startMemcached({ memoryMb: 64, maxConns: 4096 })));
      proxy = await startProxy((p) => `${p[0]}=${hostList(servers)}`, {
        behaviors: behaviorsFor(
          protocol,
          'downstream_timeout=2000,connect_timeout=500,connect_max_errors=3,connect_retry_interval=500,downstream_max=0,wait_queue_timeout=0',
        ),
      });
    });
    after(async () => {
      const started: (ServerHandle | undefined)[] = [proxy, ...servers];
      await Promise.all(started.map((h) => (h === undefined ? Promise.resolve() : h.stop())));
    });

    it(`no crossed, lost or foreign replies; the other servers keep working (seed ${SEED})`, async () => {
      const victimPort = servers[VICTIM].port;
      const rootRandom = new SeededRandom(SEED);
      const models: KeyModel[][] = Array.from({ length: CLIENTS }, (_, c) =>
        Array.from({ length: KEYS_PER_CLIENT }, (_, j) => ({
          key: `cc${c}:k${j}`,
          server: -1,
          candidates: new Set<string | null>([null]),
        })),
      );
      const run: Run = {
        violations: [],
        stop: false,
        killed: false,
        requests: 0,
        replies: 0,
        victimErrors: 0,
        victimMisses: 0,
        healthyOps: 0,
        t0: 0,
        killedAt: 0,
        restartedAt: 0,
      };

      // Setup: write every key once through the proxy, then find where each one landed.
      const setupClient = await PipeClient.connect(proxy.port);
      try {
        const all = models.flatMap((keys, c) => keys.map((k) => ({ k, c, v: `${c}|${k.key}|init` })));
        for (let i = 0; i < all.length; i += 100) {
          const chunk = all.slice(i, i + 100);
          const payload = chunk.map(({ k, c, v }) => `set ${k.key} ${c} 0 ${v.length}\r\n${v}\r\n`).join('');
          const replies = await setupClient.exchange(
            Buffer.from(payload),
            chunk.map(() => 'line'),
            10_000,
          );
          for (const [j, rep] of replies.entries()) {
            assert.equal((rep as { line: string }).line, 'STORED', `setup set of ${chunk[j].k.key}`);
          }
        }
      } finally {
        setupClient.destroy();
      }
      const where = await Promise.all(
        servers.map((s) =>
          directGetMany(
            s,
            models.flat().map((k) => k.key),
          ),
        ),
      );
      for (const [c, keys] of models.entries()) {
        for (const k of keys) {
          const holders = where.flatMap((m, i) => (m.has(k.key) ? [i] : []));
          assert.equal(holders.length, 1, `key ${k.key} is on servers [${holders.join(', ')}]`);
          k.server = holders[0];
          k.candidates = new Set([`${c}|${k.key}|init`]);
        }
      }
      const perServer = [0, 1, 2].map((i) => models.flat().filter((k) => k.server === i).length);
      assert.ok(
        perServer.every((n) => n > 0),
        `keys per server: ${perServer.join(', ')}`,
      );

      // Load, with the kill and the restart on a schedule.
      const t0 = Date.now();
      run.t0 = t0;
      const loops = models.map((keys, c) =>
        clientLoop(c, proxy.port, keys, run, new SeededRandom(rootRandom.int(1, 2 ** 31))).catch(
          (err: unknown) => {
            run.violations.push((err as Error).message);
          },
        ),
      );
      const schedule = (async () => {
        await sleep(KILL_AT_MS);
        run.killed = true;
        run.killedAt = Date.now();
        await killServer(servers[VICTIM]);
        await sleep(Math.max(0, RESTART_AT_MS - (Date.now() - t0)));
        servers[VICTIM] = await startMemcachedAt(victimPort, { memoryMb: 64, maxConns: 4096 });
        run.restartedAt = Date.now();
        await sleep(Math.max(0, STOP_AT_MS - (Date.now() - t0)));
        run.stop = true;
      })();
      await schedule;
      await Promise.all(loops);
      const elapsed = Date.now() - t0;

      const summary =
        `${run.requests} requests, ${run.replies} replies in ${elapsed} ms; victim errors ${run.victimErrors}, ` +
        `victim misses ${run.victimMisses}, checked ops on the other servers ${run.healthyOps}; proxy -z '${proxy.config}' -Z from ${proxy.args.join(' ')}`;
      const kinds = new Map<string, number>();
      for (const v of run.violations) {
        const kind = v
          .split('\n')[0]
          .replace(/(client |server |cc|:k|round |at |after the \w+\) ?|\()\d+/g, '$1N')
          .replace(/"[^"]*"/g, '"..."')
          .slice(0, 240);
        kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
      }
      assert.deepEqual(
        run.violations.slice(0, 5),
        [],
        `${run.violations.length} client(s) saw a violation (first 5 shown)\n${summary}\n--- kinds:\n` +
          `${[...kinds].map(([k, n]) => `${n} x ${k}`).join('\n')}\n--- proxy output:\n${proxy.output().slice(-3000)}`,
      );
      assert.equal(run.replies, run.requests, `every request gets exactly one reply\n${summary}`);
      assert.ok(
        run.victimErrors + run.victimMisses > 0,
        `the kill must have been seen by some client\n${summary}`,
      );
      assert.ok(!proxy.exited(), `the proxy exited:\n${proxy.output()}`);

      // Recovery: moxi.ts reconnects to the restarted server; every key works again.
      const recovered = await Promise.all(
        models.map(async (keys, c) => {
          const client = await PipeClient.connect(proxy.port);
          try {
            const deadline = Date.now() + RECOVERY_TIMEOUT_MS;
            for (const k of keys) {
              const v = `${c}|${k.key}|final`;
              for (;;) {
                const [rep] = await client.exchange(
                  Buffer.from(`set ${k.key} ${c} 0 ${v.length}\r\n${v}\r\n`),
                  ['line'],
                  5000,
                );
                const line = (rep as { line: string }).line;
                if (line === 'STORED') break;
                if (k.server !== VICTIM || !PROXY_ERROR.test(line) || Date.now() > deadline) {
                  return `client ${c}: set ${k.key} (server ${k.server}) after the restart answered ${JSON.stringify(line)}`;
                }
                await sleep(100);
              }
            }
            const [rep] = await client.exchange(
              Buffer.from(`get ${keys.map((k) => k.key).join(' ')}\r\n`),
              ['values'],
              5000,
            );
            const got = (rep as { values: ValueReply[] }).values.map((v) => `${v.key}=${v.data}`);
            const want = keys.map((k) => `${k.key}=${c}|${k.key}|final`);
            return got.join(' ') === want.join(' ')
              ? undefined
              : `client ${c}: read back [${got.join(' ')}], wanted [${want.join(' ')}]`;
          } catch (err) {
            return `client ${c}: ${(err as Error).message}`;
          } finally {
            client.destroy();
          }
        }),
      );
      const failures = recovered.filter((x) => x !== undefined);
      assert.deepEqual(
        failures.slice(0, 5),
        [],
        `${failures.length} client(s) could not use every key after the restart\n${summary}`,
      );
    });
  });
}
