/**
 * Failures behind moxi.ts and moxi's exact error strings (spec §3, §6.5, §7.3, §7.4), with an ASCII
 * (a2a) and a binary (a2b) downstream:
 *
 *  - a killed server (SIGKILL), also while a multi-get is in flight: the other server's values still
 *    come back, its own keys fail or miss, and moxi.ts reconnects once it is restarted;
 *  - a hung server (SIGSTOP): keyed commands get `SERVER_ERROR proxy downstream timeout <host>`,
 *    broadcasts the same without host, gets `END`, all within downstream_timeout; the other server's
 *    keys are not delayed; after SIGCONT every reply is the right one (no stale reply is handed out);
 *  - downstream_max + wait_queue_timeout: `SERVER_ERROR proxy wait queue timeout\r\n` (moxi forgot the
 *    CRLF; moxi.ts sends it);
 *  - downstream_conn_max + downstream_conn_queue_timeout: requests that cannot be written to the hung
 *    server's connection get `SERVER_ERROR proxy downstream timeout` (no host) after the queue timeout;
 *  - connect_timeout (a server whose listen backlog is full): `SERVER_ERROR proxy write to downstream
 *    <host>`;
 *  - a refused server: `... write to downstream <host>`, then `... write to downstream` at once while
 *    blacklisted (connect_max_errors, connect_retry_interval), then recovery once it is back;
 *  - a server that closes connections: downstream_retry, `SERVER_ERROR proxy downstream closed
 *    <host>`, gets answered `END`, and an idle pooled connection closed by the server is replaced
 *    transparently.
 *
 * Timing assertions allow generous slack above each configured timeout and 50 ms below it.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { Status } from '../../src/protocol/binary/opcodes.ts';
import { KetamaRouter } from '../../src/routing/ketama.ts';
import { LOOPBACK, freePort } from '../helpers/ports.ts';
import {
  killServer,
  pauseServer,
  resumeServer,
  startMemcached,
  startMemcachedAt,
  type ServerHandle,
} from '../helpers/processes.ts';
import {
  BinOp,
  RawClient,
  binRequest,
  binaryExchange,
  parseBinFrames,
  printable,
} from '../helpers/raw-client.ts';
import {
  BinStatus,
  MockServer,
  binReply,
  takeBinRequests,
  takeTextCommands,
  type MockConn,
} from '../helpers/mock-memcached.ts';
import {
  DownstreamProtocols,
  behaviorsFor,
  describeExchange,
  hostList,
  oneLine,
  pathName,
  pollUntil,
  requestOnce,
  retrievalDone,
  sleep,
  startProxy,
  statsDone,
  timedRequest,
  type DownstreamProtocol,
  type ProxyHandle,
  type TimedReply,
} from '../helpers/proxy.ts';

const HOST = '127.0.0.1';
const TIMEOUT_HOST = `SERVER_ERROR proxy downstream timeout ${HOST}\r\n`;
const TIMEOUT = 'SERVER_ERROR proxy downstream timeout\r\n';
const WRITE_HOST = `SERVER_ERROR proxy write to downstream ${HOST}\r\n`;
const WRITE = 'SERVER_ERROR proxy write to downstream\r\n';
const CLOSED_HOST = `SERVER_ERROR proxy downstream closed ${HOST}\r\n`;
const WAIT_QUEUE = 'SERVER_ERROR proxy wait queue timeout\r\n';
/** Extra time allowed past a configured timeout (moxi's coarse clock ticks every 200 ms; CI noise). */
const SLACK_MS = 1000;
const EARLY_MS = 50;

/** `n` keys that the ketama model puts on server `index` of `servers`. */
function keysOn(servers: readonly { port: number }[], index: number, prefix: string, n = 1): string[] {
  const model = new KetamaRouter(servers.map((s) => ({ host: HOST, port: s.port })));
  const out: string[] = [];
  for (let i = 0; out.length < n && i < 100_000; i++) {
    const k = `${prefix}${i}`;
    if (model.serverIndex(Buffer.from(k)) === index) out.push(k);
  }
  return out;
}

function assertTimed(
  what: string,
  sent: string,
  r: TimedReply,
  expected: string,
  minMs: number,
  maxMs: number,
): void {
  assert.equal(r.text, expected, `${what}\n${describeExchange(sent, r)}`);
  assert.ok(
    r.ms >= minMs - EARLY_MS && r.ms <= maxMs,
    `${what}: the reply came after ${Math.round(r.ms)} ms, expected between ${minMs} and ${maxMs} ms\n${describeExchange(sent, r)}`,
  );
}

/** Fills a stopped server's listen backlog so that further connects hang (their SYNs are dropped). */
async function fillBacklog(port: number): Promise<Socket[]> {
  const socks: Socket[] = [];
  for (let i = 0; i < 16; i++) {
    const s = connect({ host: LOOPBACK, port });
    s.on('error', () => {});
    socks.push(s);
    const ok = await new Promise<boolean>((r) => {
      const t = setTimeout(() => {
        r(false);
      }, 300);
      s.once('connect', () => {
        clearTimeout(t);
        r(true);
      });
    });
    if (!ok) return socks; // this one hangs: the backlog is full
  }
  for (const s of socks) s.destroy();
  throw new Error(`could not fill the listen backlog of ${port}`);
}

// ---------------------------------------------------------------------------------------------
// Mock servers for closes and retries

interface Script {
  /** What to do with connection `index`'s request: answer it, close at once, or close mid-reply. */
  readonly onRequest: (conn: MockConn) => 'answer' | 'close' | 'close-mid-reply' | 'answer-then-close';
}

/** A mock that speaks both protocols (by the first byte it receives) as `script` says. */
function scriptedHandler(script: Script): (conn: MockConn) => void {
  return (conn) => {
    const binary = conn.received[0] === 0x80;
    const answers: Buffer[] = [];
    let requests = 0;
    if (binary) {
      for (const r of takeBinRequests(conn)) {
        requests++;
        if (r.opcode === BinOp.noop) answers.push(binReply({ opcode: r.opcode, opaque: r.opaque }));
        else if ([BinOp.get, BinOp.getk, BinOp.getq, BinOp.getkq].includes(r.opcode as 0)) {
          answers.push(
            binReply({
              opcode: r.opcode,
              opaque: r.opaque,
              status: BinStatus.keyNotFound,
              key: r.opcode === BinOp.getk ? r.key : undefined,
            }),
          );
        } else answers.push(binReply({ opcode: r.opcode, opaque: r.opaque, cas: 1n }));
      }
    } else {
      for (const c of takeTextCommands(conn)) {
        requests++;
        answers.push(Buffer.from(c.line.startsWith('get') ? 'END\r\n' : 'STORED\r\n'));
      }
    }
    if (requests === 0) return;
    const what = script.onRequest(conn);
    if (what === 'close') conn.destroy();
    else if (what === 'close-mid-reply') {
      conn.write(
        binary
          ? binReply({ opcode: BinOp.getk, key: 'k', value: 'hello', extras: Buffer.alloc(4) }).subarray(
              0,
              30,
            )
          : 'VALUE k 0 5\r\nhe',
      );
      setTimeout(() => {
        conn.destroy();
      }, 20);
    } else {
      conn.write(Buffer.concat(answers));
      if (what === 'answer-then-close') {
        setTimeout(() => {
          conn.destroy();
        }, 20);
      }
    }
  };
}

/** `stats proxy` row `pstd_stats:<name>` of the pool on the proxy's first port. */
async function pstd(proxy: ProxyHandle, name: string): Promise<number> {
  const r = await requestOnce(proxy, 'stats proxy\r\n', statsDone, 3000);
  const row = new RegExp(`^STAT ${proxy.poolPorts[0]}:[^ ]*:pstd_stats:${name} (\\d+)\\r$`, 'm').exec(r.text);
  assert.ok(row, `no pstd_stats:${name} in stats proxy:\n${r.text}`);
  return Number(row[1]);
}

/** Connections of `mock` that received at least one request byte. */
function attempts(mock: MockServer): number {
  return mock.connections.filter((c) => c.received.length > 0).length;
}

// ---------------------------------------------------------------------------------------------

for (const protocol of [DownstreamProtocols.binary, DownstreamProtocols.ascii] as DownstreamProtocol[]) {
  const path = pathName(protocol);

  describe(`failures behind moxi.ts (${path})`, () => {
    let a: ServerHandle;
    let b: ServerHandle;
    before(async () => {
      [a, b] = await Promise.all([startMemcached({ memoryMb: 16 }), startMemcached({ memoryMb: 16 })]);
    });
    after(async () => {
      resumeServer(b);
      await Promise.all([a.stop(), b.stop()]);
    });

    it('hung server: timeout strings within downstream_timeout, other keys unaffected, no stale replies after SIGCONT', async () => {
      const T = 400;
      const proxy = await startProxy((p) => `${p[0]}=${hostList([a, b])}`, {
        behaviors: behaviorsFor(protocol, `downstream_timeout=${T},connect_timeout=400`),
      });
      const [kA, kA2] = keysOn([a, b], 0, 'hungA:', 2);
      const [kB, kBn, kB2] = keysOn([a, b], 1, 'hungB:', 3);
      try {
        for (const k of [kA, kA2, kB, kB2]) {
          const r = await requestOnce(proxy, `set ${k} 0 0 2\r\nv1\r\n`);
          assert.equal(r.text, 'STORED\r\n', describeExchange(`set ${k} 0 0 2\r\nv1\r\n`, r));
        }
        const n0 = await requestOnce(proxy, `set ${kBn} 0 0 2\r\n10\r\n`);
        assert.equal(n0.text, 'STORED\r\n');

        pauseServer(b);
        try {
          const hung: [string, string, (buf: Buffer) => boolean][] = [
            [`set ${kB} 0 0 2\r\nv2\r\n`, TIMEOUT_HOST, oneLine],
            [`incr ${kBn} 5\r\n`, TIMEOUT_HOST, oneLine],
            [`delete ${kB2}\r\n`, TIMEOUT_HOST, oneLine],
            [`touch ${kB} 100\r\n`, TIMEOUT_HOST, oneLine],
            [`get ${kB}\r\n`, 'END\r\n', retrievalDone],
            [`gets ${kB}\r\n`, 'END\r\n', retrievalDone],
            [
              `get ${kA} ${kB} ${kA2}\r\n`,
              `VALUE ${kA} 0 2\r\nv1\r\nVALUE ${kA2} 0 2\r\nv1\r\nEND\r\n`,
              retrievalDone,
            ],
          ];
          const healthy = (async () => {
            await sleep(50);
            const t0 = performance.now();
            const s = await requestOnce(proxy, `set ${kA} 0 0 2\r\nv1\r\n`);
            const g = await requestOnce(proxy, `get ${kA}\r\n`, retrievalDone);
            return { s, g, ms: performance.now() - t0 };
          })();
          const results = await Promise.all(
            hung.map(([send, , done]) => requestOnce(proxy, send, done, T + 3000)),
          );
          const h = await healthy;
          results.forEach((r, i) => {
            assertTimed(
              `${hung[i][0].split('\r\n')[0]} with its server stopped`,
              hung[i][0],
              r,
              hung[i][1],
              T,
              T + SLACK_MS,
            );
          });
          assert.equal(
            h.s.text,
            'STORED\r\n',
            `a key of the running server, meanwhile\n${describeExchange('set', h.s)}`,
          );
          assert.equal(h.g.text, `VALUE ${kA} 0 2\r\nv1\r\nEND\r\n`, describeExchange('get', h.g));
          assert.ok(
            h.ms < T,
            `the running server's keys must not wait for the stopped one (${Math.round(h.ms)} ms)`,
          );

          const fl = await requestOnce(proxy, 'flush_all\r\n', oneLine, T + 3000);
          assertTimed(
            'flush_all (broadcast) with one server stopped',
            'flush_all\r\n',
            fl,
            TIMEOUT,
            T,
            T + SLACK_MS,
          );
        } finally {
          resumeServer(b);
        }
        await sleep(300); // memcached works off what was queued while it was stopped

        // Every reply from now on must belong to its own request.
        const c = await RawClient.connect(proxy.port);
        try {
          const steps: [string, string][] = [
            [`set ${kB} 0 0 2\r\nv3\r\n`, 'STORED\r\n'],
            [`get ${kB}\r\n`, `VALUE ${kB} 0 2\r\nv3\r\nEND\r\n`],
            [`set ${kBn} 0 0 3\r\n100\r\n`, 'STORED\r\n'],
            [`incr ${kBn} 5\r\n`, '105\r\n'],
            [`decr ${kBn} 1\r\n`, '104\r\n'],
            [`delete ${kB}\r\n`, 'DELETED\r\n'],
            [`get ${kB}\r\n`, 'END\r\n'],
            [`set ${kB2} 7 0 1\r\nz\r\n`, 'STORED\r\n'],
            [`get ${kB2} ${kBn}\r\n`, `VALUE ${kB2} 7 1\r\nz\r\nVALUE ${kBn} 0 3\r\n104\r\nEND\r\n`],
          ];
          for (const [send, expected] of steps) {
            const r = await timedRequest(c, send, send.startsWith('get') ? retrievalDone : oneLine, 3000);
            assert.equal(r.text, expected, `after SIGCONT\n${describeExchange(send, r)}`);
          }
        } finally {
          c.destroy();
        }
      } finally {
        await proxy.stop();
      }
    });

    it("killed server (SIGKILL): a multi-get keeps the other server's values, keyed commands fail, recovery after restart", async () => {
      const victim = await startMemcached({ memoryMb: 16 });
      const victimPort = victim.port;
      const proxy = await startProxy((p) => `${p[0]}=${hostList([a, victim])}`, {
        behaviors: behaviorsFor(protocol, 'downstream_timeout=2000,connect_max_errors=1000'),
      });
      let back: ServerHandle | undefined;
      try {
        const [kA] = keysOn([a, victim], 0, 'killA:');
        const [kV] = keysOn([a, victim], 1, 'killV:');
        const c = await RawClient.connect(proxy.port);
        try {
          for (const k of [kA, kV]) {
            const r = await timedRequest(c, `set ${k} 0 0 2\r\nv1\r\n`, oneLine, 3000);
            assert.equal(r.text, 'STORED\r\n', describeExchange(`set ${k}`, r));
          }
          const expectA = `VALUE ${kA} 0 2\r\nv1\r\nEND\r\n`;
          // the server dies while the multi-get is in flight (stopped, then SIGKILLed)
          pauseServer(victim);
          const inFlight = `get ${kA} ${kV}\r\n`;
          const pending = timedRequest(c, inFlight, retrievalDone, 3000);
          await sleep(100);
          await killServer(victim);
          const gf = await pending;
          assert.equal(
            gf.text,
            expectA,
            `a multi-get in flight when one of its servers dies: the other server's value must still come back\n${describeExchange(inFlight, gf)}`,
          );
          for (const what of [
            'first get after the kill (pooled connection reset)',
            'second get (connection refused)',
          ]) {
            const send = `get ${kA} ${kV}\r\n`;
            const g = await timedRequest(c, send, retrievalDone, 3000);
            assert.equal(
              g.text,
              expectA,
              `${what}: the running server's value must still come back\n${describeExchange(send, g)}`,
            );
          }
          const s = await timedRequest(c, `set ${kV} 0 0 2\r\nv2\r\n`, oneLine, 3000);
          assert.match(
            s.text,
            /^SERVER_ERROR proxy (write to downstream|downstream closed)( 127\.0\.0\.1)?\r\n$/,
            describeExchange('set', s),
          );
          const g1 = await timedRequest(c, `get ${kV}\r\n`, retrievalDone, 3000);
          assert.equal(g1.text, 'END\r\n', describeExchange(`get ${kV}`, g1));
          const sa = await timedRequest(c, `set ${kA} 0 0 2\r\nv3\r\n`, oneLine, 3000);
          assert.equal(sa.text, 'STORED\r\n', `the running server meanwhile\n${describeExchange('set', sa)}`);
        } finally {
          c.destroy();
        }
        back = await startMemcachedAt(victimPort, { memoryMb: 16 });
        const ok = await pollUntil(
          async () =>
            (await requestOnce(proxy, `set ${kV} 0 0 2\r\nv4\r\n`)).text === 'STORED\r\n' ? true : undefined,
          3000,
          100,
        );
        assert.equal(ok, true, 'moxi.ts reconnects to the restarted server');
        const g = await requestOnce(proxy, `get ${kA} ${kV}\r\n`, retrievalDone);
        assert.equal(
          g.text,
          `VALUE ${kA} 0 2\r\nv3\r\nVALUE ${kV} 0 2\r\nv4\r\nEND\r\n`,
          describeExchange('get', g),
        );
      } finally {
        await proxy.stop();
        await victim.stop();
        await back?.stop();
      }
    });

    /**
     * downstream_max=1, its one request in flight a set to the stopped server b (answered with the
     * timeout after T): `whileBusy` sends to a key of server a meanwhile. Then the proxy goes on.
     */
    async function withTheOnlyDownstreamBusy(
      name: string,
      W: number,
      T: number,
      whileBusy: (proxy: ProxyHandle, kA: string) => Promise<void>,
    ): Promise<{ proxy: ProxyHandle; kA: string }> {
      const proxy = await startProxy((p) => `${p[0]}=${hostList([a, b])}`, {
        behaviors: behaviorsFor(protocol, `downstream_max=1,wait_queue_timeout=${W},downstream_timeout=${T}`),
      });
      const [kA] = keysOn([a, b], 0, `${name}A:`);
      const [kB] = keysOn([a, b], 1, `${name}B:`);
      try {
        const warm = await requestOnce(proxy, `set ${kA} 0 0 1\r\nx\r\n`);
        assert.equal(warm.text, 'STORED\r\n', describeExchange('set', warm));
        pauseServer(b);
        try {
          const first = requestOnce(proxy, `set ${kB} 0 0 1\r\nx\r\n`, oneLine, T + 3000);
          await sleep(100);
          await whileBusy(proxy, kA);
          assertTimed(
            'the first request, on the stopped server',
            `set ${kB} 0 0 1\r\nx\r\n`,
            await first,
            TIMEOUT_HOST,
            T,
            T + SLACK_MS,
          );
        } finally {
          resumeServer(b);
        }
      } catch (err) {
        await proxy.stop();
        throw err;
      }
      return { proxy, kA };
    }

    it('downstream_max=1: a request waiting longer than wait_queue_timeout gets the wait queue error (with CRLF)', async () => {
      const W = 200;
      const { proxy, kA } = await withTheOnlyDownstreamBusy('wq', W, 1500, async (busy, key) => {
        const second = await requestOnce(busy, `set ${key} 0 0 1\r\ny\r\n`, oneLine, 4500);
        assertTimed(
          'the second request, waiting for the only downstream',
          `set ${key} 0 0 1\r\ny\r\n`,
          second,
          WAIT_QUEUE,
          W,
          W + 200 + SLACK_MS,
        );
      });
      try {
        const again = await requestOnce(proxy, `set ${kA} 0 0 1\r\nz\r\n`);
        assert.equal(
          again.text,
          'STORED\r\n',
          `once the downstream is free again\n${describeExchange('set', again)}`,
        );
      } finally {
        await proxy.stop();
      }
    });

    it('downstream_max=1: a client pipelining behind a busy downstream waits one request at a time, as in moxi', async () => {
      const W = 300;
      const { proxy } = await withTheOnlyDownstreamBusy('wq1', W, 3000, async (busy, key) => {
        // moxi reads a connection's next request once the one before is answered: the second set
        // starts waiting when the first timed out, the third when the second did
        const sets = `set ${key} 0 0 1\r\n1\r\nset ${key} 0 0 1\r\n2\r\nset ${key} 0 0 1\r\n3\r\n`;
        const three = (reply: Buffer): boolean => reply.toString('latin1').split('\r\n').length > 3;
        const piped = await requestOnce(busy, sets, three, 6000);
        assertTimed('three pipelined sets', sets, piped, WAIT_QUEUE.repeat(3), 3 * W, 3 * W + 200 + SLACK_MS);
      });
      await proxy.stop();
    });

    it('downstream_conn_max=1: requests that cannot be written within downstream_conn_queue_timeout get the timeout without host', async () => {
      const Q = 150;
      const T = 2500;
      const proxy = await startProxy((p) => `${p[0]}=${hostList([b])}`, {
        behaviors: behaviorsFor(
          protocol,
          `downstream_conn_max=1,downstream_conn_queue_timeout=${Q},downstream_timeout=${T},downstream_max=0`,
        ),
      });
      try {
        const warm = await requestOnce(proxy, 'set cq:warm 0 0 1\r\nx\r\n');
        assert.equal(warm.text, 'STORED\r\n', describeExchange('set', warm));
        pauseServer(b);
        const value = 'q'.repeat(900_000);
        let results: TimedReply[];
        try {
          // 16 x 900 KB: more than the kernel buffers between the proxy and a stopped server hold
          results = await Promise.all(
            Array.from({ length: 16 }, async (_, i) => {
              await sleep(i * 20);
              return requestOnce(proxy, `set cq:${i} 0 0 ${value.length}\r\n${value}\r\n`, oneLine, T + 3000);
            }),
          );
        } finally {
          resumeServer(b);
        }
        const shown = results
          .map((r, i) => `  set cq:${i}: ${JSON.stringify(r.text)} after ${Math.round(r.ms)} ms`)
          .join('\n');
        results.forEach((r, i) => {
          assert.ok(
            r.text === TIMEOUT || r.text === TIMEOUT_HOST,
            `every set times out, one way or the other:\n${shown}`,
          );
          // A pipelined connection that times out may fail everything written on it at once: the
          // bound is the first request's downstream_timeout (sent 20 ms apart).
          if (r.text === TIMEOUT_HOST)
            assert.ok(
              r.ms + i * 20 >= T - EARLY_MS,
              `downstream timeout before downstream_timeout:\n${shown}`,
            );
        });
        const queued = results.filter((r) => r.text === TIMEOUT);
        assert.ok(queued.length > 0, `some sets must wait for the connection and time out there:\n${shown}`);
        // each failure counted once, under its own row
        assert.equal(await pstd(proxy, 'tot_downstream_conn_queue_timeout'), queued.length, shown);
        assert.equal(await pstd(proxy, 'tot_downstream_timeout'), results.length - queued.length, shown);
        assert.equal(await pstd(proxy, 'tot_downstream_closed'), 0);
        assert.ok(
          queued.some((r) => r.ms <= Q + SLACK_MS),
          `a queued set must be answered within downstream_conn_queue_timeout (${Q} ms) + slack:\n${shown}`,
        );
        await sleep(300);
        const after = await requestOnce(proxy, 'set cq:after 0 0 1\r\nx\r\n', oneLine, 5000);
        assert.equal(
          after.text,
          'STORED\r\n',
          `the server works again after SIGCONT\n${describeExchange('set', after)}`,
        );
      } finally {
        await proxy.stop();
      }
    });

    it('connect_timeout: a server that accepts no connection gets the write-to-downstream error with host', async () => {
      const C = 300;
      const slow = await startMemcached({ memoryMb: 16, extraArgs: ['-b', '1'] });
      const fillers: Socket[] = [];
      try {
        pauseServer(slow);
        fillers.push(...(await fillBacklog(slow.port)));
        const proxy = await startProxy((p) => `${p[0]}=${hostList([a, slow])}`, {
          behaviors: behaviorsFor(
            protocol,
            `connect_timeout=${C},downstream_timeout=3000,downstream_conn_queue_timeout=0`,
          ),
        });
        try {
          const [kS] = keysOn([a, slow], 1, 'ctS:');
          const [kA] = keysOn([a, slow], 0, 'ctA:');
          const send = `set ${kS} 0 0 1\r\nx\r\n`;
          const [r, g, h] = await Promise.all([
            requestOnce(proxy, send, oneLine, 5000),
            requestOnce(proxy, `get ${kS}\r\n`, retrievalDone, 5000),
            (async () => {
              await sleep(50);
              return requestOnce(proxy, `set ${kA} 0 0 1\r\nx\r\n`, oneLine, 5000);
            })(),
          ]);
          assertTimed('set to a server whose connect hangs', send, r, WRITE_HOST, C, C + SLACK_MS);
          assertTimed(
            'get from a server whose connect hangs',
            `get ${kS}\r\n`,
            g,
            'END\r\n',
            C,
            C + SLACK_MS,
          );
          assert.equal(h.text, 'STORED\r\n', `the other server meanwhile\n${describeExchange('set', h)}`);
          assert.ok(h.ms < C, `the other server's key must not wait (${Math.round(h.ms)} ms)`);
        } finally {
          await proxy.stop();
        }
      } finally {
        for (const s of fillers) s.destroy();
        resumeServer(slow);
        await slow.stop();
      }
    });

    it('refused server: write-to-downstream with host, then without while blacklisted, then recovery', async () => {
      const MAX_ERRORS = 2;
      const INTERVAL = 1500;
      const refusedPort = await freePort();
      const refusedPort2 = await freePort();
      const gone = { port: refusedPort };
      const proxy = await startProxy(
        (p) => `${p[0]}=${hostList([a, gone])};${p[1]}=${hostList([{ port: refusedPort2 }])}`,
        {
          behaviors: behaviorsFor(
            protocol,
            `connect_max_errors=${MAX_ERRORS},connect_retry_interval=${INTERVAL},connect_timeout=400`,
          ),
          portCount: 2,
        },
      );
      let back: ServerHandle | undefined;
      try {
        const [kR] = keysOn([a, gone], 1, 'refR:');
        const [kA] = keysOn([a, gone], 0, 'refA:');
        const sa = await requestOnce(proxy, `set ${kA} 0 0 1\r\na\r\n`);
        assert.equal(sa.text, 'STORED\r\n', describeExchange('set', sa));

        const c = await RawClient.connect(proxy.port);
        const log: string[] = [];
        let lastHostError = 0;
        let firstBlacklisted = -1;
        try {
          for (let i = 0; i < 10; i++) {
            const send = `set ${kR} 0 0 1\r\nx\r\n`;
            const r = await timedRequest(c, send, oneLine, 3000);
            log.push(`  #${i + 1}: ${JSON.stringify(r.text)} after ${Math.round(r.ms)} ms`);
            if (r.text === WRITE_HOST) {
              assert.equal(
                firstBlacklisted,
                -1,
                `a real connect attempt after blacklisting:\n${log.join('\n')}`,
              );
              lastHostError = Date.now();
            } else if (r.text === WRITE) {
              if (firstBlacklisted < 0) firstBlacklisted = i;
              assert.ok(r.ms < 250, `a blacklisted server fails at once:\n${log.join('\n')}`);
            } else {
              assert.fail(
                `unexpected reply for a refused server:\n${log.join('\n')}\n${describeExchange(send, r)}`,
              );
            }
          }
          assert.ok(
            log[0].includes('write to downstream 127.0.0.1'),
            `the first failures name the host:\n${log.join('\n')}`,
          );
          assert.ok(
            firstBlacklisted >= 1 && firstBlacklisted <= MAX_ERRORS + 1,
            `blacklisted after more than connect_max_errors (${MAX_ERRORS}) errors:\n${log.join('\n')}`,
          );
          const g = await timedRequest(c, `get ${kA} ${kR}\r\n`, retrievalDone, 3000);
          assert.equal(
            g.text,
            `VALUE ${kA} 0 1\r\na\r\nEND\r\n`,
            `a multi-get keeps the running server's values\n${describeExchange('get', g)}`,
          );
          const g1 = await timedRequest(c, `get ${kR}\r\n`, retrievalDone, 3000);
          assert.equal(g1.text, 'END\r\n', describeExchange(`get ${kR}`, g1));
          const st = await timedRequest(c, 'stats\r\n', statsDone, 3000);
          assert.ok(
            st.text.startsWith('STAT ') && st.text.endsWith('END\r\n'),
            `stats with one server up\n${describeExchange('stats', st)}`,
          );
        } finally {
          c.destroy();
        }
        // refused and blacklisted alike are connect failures: 10 sets, the two gets and the stats
        // broadcast's part; no connection ever closed
        const textFailures = await pstd(proxy, 'tot_requests_connect_failed');
        assert.ok(textFailures >= 13, `tot_requests_connect_failed ${textFailures}:\n${log.join('\n')}`);
        assert.equal(await pstd(proxy, 'tot_downstream_closed'), 0);
        // Binary gets of the blacklisted server's key, over and over: each is answered (an identical get
        // once joined one that had already failed, and neither it nor any later one was ever answered;
        // the NOOP after each one shows a quiet one is over).
        const bc = await RawClient.connect(proxy.port);
        try {
          for (let round = 0; round < 3; round++) {
            for (const opcode of [BinOp.get, BinOp.getk, BinOp.getq, BinOp.getkq]) {
              const ex = await binaryExchange(bc, binRequest({ opcode, key: kR, opaque: round }), {
                timeoutMs: 2000,
              });
              const frames = parseBinFrames(ex.data).frames;
              assert.ok(
                ex.sentinelSeen,
                `binary ${opcode.toString(16)} #${round} answered: ${printable(ex.data)}`,
              );
              // a quiet get misses, as a text get answers END; GET and GETK get moxi's EINTERNAL
              const quiet = opcode === BinOp.getq || opcode === BinOp.getkq;
              assert.deepEqual(
                frames.map((f) => [f.opcode, f.status, f.opaque]),
                quiet ? [] : [[opcode, Status.EINTERNAL, round]],
                `binary ${opcode.toString(16)} of a blacklisted server's key #${round}`,
              );
            }
          }
          // a binary multi-get across both servers keeps the running one's value, in order
          const mget = Buffer.concat(
            [kA, kR, kA, kR].map((key, i) => binRequest({ opcode: BinOp.getkq, key, opaque: 100 + i })),
          );
          const ex = await binaryExchange(bc, mget, { timeoutMs: 2000 });
          assert.deepEqual(
            parseBinFrames(ex.data).frames.map((f) => [
              f.status,
              f.opaque,
              f.key.toString(),
              f.value.toString(),
            ]),
            [
              [Status.SUCCESS, 100, kA, 'a'],
              [Status.SUCCESS, 102, kA, 'a'],
            ],
            `GETKQ ${kA} ${kR} ${kA} ${kR} + NOOP: ${printable(ex.data)}`,
          );
        } finally {
          bc.destroy();
        }
        // binary requests are counted as text ones are: the 12 gets, quiet ones too
        const binaryFailures = (await pstd(proxy, 'tot_requests_connect_failed')) - textFailures;
        assert.ok(binaryFailures >= 13, `binary connect failures counted: ${binaryFailures}`);
        assert.equal(await pstd(proxy, 'tot_downstream_closed'), 0);

        const none = await requestOnce({ port: proxy.poolPorts[1] }, 'stats\r\n', statsDone, 3000);
        assert.equal(
          none.text,
          WRITE,
          `stats with no reachable server\n${describeExchange('stats\r\n', none)}`,
        );
        const noneGet = await requestOnce({ port: proxy.poolPorts[1] }, 'get x\r\n', retrievalDone, 3000);
        assert.equal(noneGet.text, 'END\r\n', describeExchange('get x\r\n', noneGet));

        back = await startMemcachedAt(refusedPort, { memoryMb: 16 });
        if (Date.now() < lastHostError + INTERVAL - 400) {
          const r = await requestOnce(proxy, `set ${kR} 0 0 1\r\nx\r\n`);
          assert.equal(
            r.text,
            WRITE,
            `still blacklisted within connect_retry_interval, although the server is back\n${describeExchange('set', r)}`,
          );
        }
        const recovered = await pollUntil(
          async () => {
            const r = await requestOnce(proxy, `set ${kR} 0 0 2\r\nok\r\n`);
            if (r.text === 'STORED\r\n') return Date.now();
            assert.ok(r.text === WRITE || r.text === WRITE_HOST, describeExchange('set', r));
            return undefined;
          },
          INTERVAL + 3000,
          100,
        );
        assert.ok(
          recovered !== undefined,
          `moxi.ts must reconnect once connect_retry_interval (${INTERVAL} ms) has passed`,
        );
        assert.ok(
          recovered >= lastHostError + INTERVAL - 400,
          `recovered ${recovered - lastHostError} ms after the last connect error: before connect_retry_interval`,
        );
        const g = await requestOnce(proxy, `get ${kR}\r\n`, retrievalDone);
        assert.equal(g.text, `VALUE ${kR} 0 2\r\nok\r\nEND\r\n`, describeExchange('get', g));
        const rc = await RawClient.connect(proxy.port);
        try {
          const ex = await binaryExchange(rc, binRequest({ opcode: BinOp.getk, key: kR }), {
            timeoutMs: 2000,
          });
          const frames = parseBinFrames(ex.data).frames;
          assert.deepEqual(
            frames.map((f) => [f.status, f.value.toString()]),
            [[Status.SUCCESS, 'ok']],
            `binary GETK after recovery: ${printable(ex.data)}`,
          );
        } finally {
          rc.destroy();
        }
      } finally {
        await proxy.stop();
        await back?.stop();
      }
    });

    it('server closing connections: downstream_retry, "downstream closed" with host, END for gets, idle close replaced', async () => {
      // 1. every connection closes on its first request: one retry (default), then the error
      const alwaysClose = await MockServer.start(scriptedHandler({ onRequest: () => 'close' }));
      // 2. the first connection closes, the next one answers: the retry hides it
      const closeOnce = await MockServer.start(
        scriptedHandler({ onRequest: (c) => (c.index === 0 ? 'close' : 'answer') }),
      );
      // 3. answers, then closes the (now idle) connection
      const idleClose = await MockServer.start(scriptedHandler({ onRequest: () => 'answer-then-close' }));
      // 4. closes in the middle of a value
      const midValue = await MockServer.start(scriptedHandler({ onRequest: () => 'close-mid-reply' }));
      const mocks = [alwaysClose, closeOnce, idleClose, midValue];
      const proxies: ProxyHandle[] = [];
      try {
        const [p1, p2, p3, p4] = await Promise.all(
          mocks.map((m) =>
            startProxy((p) => `${p[0]}=${hostList([m])}`, {
              behaviors: behaviorsFor(protocol, 'downstream_timeout=2000,connect_max_errors=100'),
            }),
          ),
        );
        proxies.push(p1, p2, p3, p4);
        const retry0 = await startProxy((p) => `${p[0]}=${hostList([alwaysClose])}`, {
          behaviors: behaviorsFor(
            protocol,
            'downstream_timeout=2000,connect_max_errors=100,downstream_retry=0',
          ),
        });
        proxies.push(retry0);

        const set = 'set k 0 0 1\r\nx\r\n';
        let r = await requestOnce(p1, set, oneLine, 4000);
        assert.equal(
          r.text,
          CLOSED_HOST,
          `the server closes on every request (downstream_retry=1)\n${describeExchange(set, r)}`,
        );
        assert.equal(attempts(alwaysClose), 2, 'the request is sent once and retried once');

        const before0 = attempts(alwaysClose);
        r = await requestOnce(retry0, set, oneLine, 4000);
        assert.equal(r.text, CLOSED_HOST, `downstream_retry=0\n${describeExchange(set, r)}`);
        assert.equal(attempts(alwaysClose) - before0, 1, 'downstream_retry=0: no retry');

        const g = await requestOnce(p1, 'get k\r\n', retrievalDone, 4000);
        assert.equal(
          g.text,
          'END\r\n',
          `a get whose server closes is a miss\n${describeExchange('get k\r\n', g)}`,
        );

        r = await requestOnce(p2, set, oneLine, 4000);
        assert.equal(
          r.text,
          'STORED\r\n',
          `a retry on a new connection hides one close\n${describeExchange(set, r)}`,
        );
        assert.equal(attempts(closeOnce), 2, 'the request reached the second connection');

        for (let i = 0; i < 3; i++) {
          r = await requestOnce(p3, set, oneLine, 4000);
          assert.equal(
            r.text,
            'STORED\r\n',
            `request ${i + 1}: a pooled connection the server closed while idle is replaced\n${describeExchange(set, r)}`,
          );
          await sleep(100);
        }

        const m = await requestOnce(p4, 'get k\r\n', retrievalDone, 4000);
        assert.equal(
          m.text,
          'END\r\n',
          `the server closes in the middle of a value\n${describeExchange('get k\r\n', m)}`,
        );
        const m2 = await requestOnce(p4, 'get k j\r\n', retrievalDone, 4000);
        assert.equal(
          m2.text,
          'END\r\n',
          `multi-get, the server closes in the middle of a value\n${describeExchange('get k j\r\n', m2)}`,
        );
        for (const p of proxies) assert.ok(!p.exited(), `the proxy exited:\n${p.output()}`);
      } finally {
        await Promise.all(proxies.map((p) => p.stop()));
        await Promise.all(mocks.map((m) => m.close()));
      }
    });
  });
}
