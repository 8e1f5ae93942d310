/**
 * The proxy's memory stays bounded under the two loads that would otherwise pile data up inside it:
 *
 *  - a client pipelining sets of 512 KB values to a server that stopped answering (SIGSTOP), without
 *    reading its replies: moxi.ts reads at most its request budget (64 MB of values in flight, see
 *    src/util/byte-budget.ts) and then leaves the rest in the client's socket;
 *  - the same client against a healthy server that takes the values as fast as it can: what is in
 *    flight is bounded by the same budget, whatever the client's pace.
 *
 * and that a client asking for large values without reading holds a window of replies, not all of them
 * (at most 256, even after its window grew on small replies),
 * and that many clients asking for one large value at once (a hot key) share one copy of it,
 * and that a client's multi-gets hold at most 256 MiB of values (src/upstream/session.ts,
 * CLIENT_REPLY_LIMIT): past it a multi-get is answered with memcached's out-of-memory line.
 *
 * Each asserts the proxy's peak RSS (VmHWM) stays under its startup peak + 64 MB of budget + 128 MB of
 * slack (socket buffers, V8 collecting dead Buffers only every so often: see memory-bound.test.ts),
 * while the client offers 300 MB. Afterwards the server is resumed and every value sent gets exactly one
 * STORED, in order, and a second client's get still works: nothing was dropped while paused.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { pauseServer, resumeServer, startMemcached, type ServerHandle } from '../helpers/processes.ts';
import { hostList, sleep, startProxy, type ProxyHandle } from '../helpers/proxy.ts';
import { RawClient, asciiExchange } from '../helpers/raw-client.ts';
import { readAll } from '../helpers/stalled-client.ts';

const MB = 1024 * 1024;
const VALUE_BYTES = 512 * 1024;
const OFFERED = 600; // 300 MB
const BUDGET_MB = 64;
const SLACK_MB = 128;

/** Asserts that moxi's peak RSS stayed below `before` + `extraMb` MB. */
function assertPeakBelow(peak: number, before: number, extraMb: number): void {
  const limit = before + extraMb * MB;
  assert.ok(
    peak < limit,
    `peak RSS ${(peak / MB).toFixed(0)} MB >= ${(limit / MB).toFixed(0)} MB (${(before / MB).toFixed(0)} MB before)`,
  );
}

/** moxi's peak RSS (VmHWM) before `act` and once it is done, with what `act` returned. */
async function peakDuring<T>(
  proxy: ProxyHandle,
  act: () => Promise<T>,
): Promise<{ base: number; peak: number; result: T }> {
  const base = proxy.memory();
  assert.ok(base, 'cannot read /proc/<pid>/status of moxi');
  const result = await act();
  const during = proxy.memory();
  assert.ok(during);
  return { base: base.peak, peak: during.peak, result };
}

/** A connected client socket to `port`. */
async function openSocket(port: number): Promise<Socket> {
  const socket = connect(port, '127.0.0.1');
  await new Promise<void>((res, rej) => {
    socket.once('connect', res).once('error', rej);
  });
  return socket;
}

/** Sets each key to its value through the proxy, asserting STORED. */
async function storeValues(
  proxy: ProxyHandle,
  values: ReadonlyArray<readonly [string, Buffer]>,
): Promise<void> {
  const setter = await RawClient.connect(proxy.poolPorts[0], '127.0.0.1');
  try {
    for (const [key, value] of values) {
      const set = Buffer.concat([
        Buffer.from(`set ${key} 0 0 ${value.length}\r\n`),
        value,
        Buffer.from('\r\n'),
      ]);
      assert.equal((await asciiExchange(setter, set)).data.toString('latin1'), 'STORED\r\n', key);
    }
  } finally {
    await setter.close();
  }
}

/** Writes `count` sets of VALUE_BYTES and never reads; resolves when the socket stops taking more or all is written. */
async function floodWithoutReading(
  port: number,
  count: number,
  stallMs: number,
): Promise<{ socket: Socket; written: number }> {
  const socket = await openSocket(port);
  socket.pause(); // never read
  const value = Buffer.alloc(VALUE_BYTES, 0x61);
  let written = 0;
  while (written < count) {
    const ok = socket.write(
      Buffer.concat([Buffer.from(`set big${written} 0 0 ${VALUE_BYTES}\r\n`), value, Buffer.from('\r\n')]),
    );
    written++;
    if (!ok) {
      const drained = await Promise.race([
        new Promise<boolean>((res) => {
          socket.once('drain', () => {
            res(true);
          });
        }),
        sleep(stallMs).then(() => false),
      ]);
      if (!drained) break;
    }
  }
  return { socket, written };
}

async function readReplies(socket: Socket, expected: number, timeoutMs: number): Promise<string> {
  let text = '';
  socket.setEncoding('latin1');
  const done = new Promise<void>((res) => {
    socket.on('data', (d: string) => {
      text += d;
      if (text.split('\r\n').length - 1 >= expected) res();
    });
  });
  socket.resume();
  await Promise.race([done, sleep(timeoutMs)]);
  return text;
}

describe('proxy memory bound: large values in flight', () => {
  let mc: ServerHandle;
  let proxy: ProxyHandle;

  before(async () => {
    mc = await startMemcached({ memoryMb: 64, maxItemSize: '1m' });
    // long timeouts: the values queued while the server is stopped must be stored, not timed out
    proxy = await startProxy((ports) => `${ports[0]}=${hostList([mc])}`, {
      behaviors: 'downstream_timeout=60000,wait_queue_timeout=60000,downstream_conn_queue_timeout=0',
    });
  });
  after(async () => {
    resumeServer(mc);
    await proxy.stop();
    await mc.stop();
  });

  for (const hung of [true, false]) {
    it(`${hung ? 'a server that stopped answering' : 'a healthy server'}: ${OFFERED} pipelined sets of ${VALUE_BYTES / 1024} KB, replies never read`, async () => {
      const { base, peak, result } = await peakDuring(proxy, async () => {
        if (hung) pauseServer(mc);
        const flood = await floodWithoutReading(proxy.poolPorts[0], OFFERED, 2000);
        await sleep(500);
        return flood;
      });
      const { socket, written } = result;
      const limit = base + (BUDGET_MB + SLACK_MB) * MB;
      assert.ok(
        peak < limit,
        `peak RSS ${(peak / MB).toFixed(0)} MB >= ${(limit / MB).toFixed(0)} MB (startup ${(base / MB).toFixed(0)} MB, ${written} sets written)`,
      );
      if (hung) {
        assert.ok(
          written < OFFERED,
          `the proxy read all ${OFFERED} sets (300 MB) from a client while its server was stopped`,
        );
        resumeServer(mc);
      }
      // everything written is answered, in order, once the server answers again
      const replies = await readReplies(socket, written, 60_000);
      socket.destroy();
      // the client may have stopped mid-value; only whole sets are counted
      const stored = replies.split('\r\n').filter((l) => l !== '');
      assert.ok(stored.length >= written - 1, `${stored.length} replies for ${written} sets`);
      assert.ok(
        stored.every((l) => l === 'STORED'),
        `unexpected replies: ${[...new Set(stored)].join(', ')}`,
      );
      const other = await RawClient.connect(proxy.poolPorts[0], '127.0.0.1');
      try {
        assert.equal(
          (await asciiExchange(other, 'set small 0 0 2\r\nok\r\nget small\r\n')).data.toString('latin1'),
          'STORED\r\nVALUE small 0 2\r\nok\r\nEND\r\n',
        );
      } finally {
        await other.close();
      }
    });
  }
});

/** A proxy over one memcached (items up to 1 MB) for the tests of one describe block. */
function proxyOverOneServer(): { readonly proxy: ProxyHandle } {
  const f = {} as { mc: ServerHandle; proxy: ProxyHandle };
  before(async () => {
    f.mc = await startMemcached({ memoryMb: 64, maxItemSize: '1m' });
    f.proxy = await startProxy((ports) => `${ports[0]}=${hostList([f.mc])}`);
  });
  after(async () => {
    await f.proxy.stop();
    await f.mc.stop();
  });
  return f;
}

describe('proxy memory bound: a client that asks for large values and does not read them', () => {
  const GETS = 2000; // 1 GB of replies
  const f = proxyOverOneServer();

  it(`${GETS} pipelined gets of a ${VALUE_BYTES / 1024} KB value: the proxy holds a window of replies, not all of them`, async () => {
    await storeValues(f.proxy, [['big', Buffer.alloc(VALUE_BYTES, 0x62)]]);
    const socket = await openSocket(f.proxy.poolPorts[0]);
    socket.pause(); // not reading, yet
    const { base, peak } = await peakDuring(f.proxy, async () => {
      socket.write('get big\r\n'.repeat(GETS));
      await sleep(1500);
    });
    // 64 replies of 512 KB are 32 MB; all of them would be 1 GB (MAX_PENDING: 256, 128 MB)
    assertPeakBelow(peak, base, 96);
    // then every reply arrives, whole: counted, not kept
    const reply = `VALUE big 0 ${VALUE_BYTES}\r\n`.length + VALUE_BYTES + '\r\nEND\r\n'.length;
    let received = 0;
    let last: Buffer = Buffer.alloc(0);
    const done = new Promise<void>((res) => {
      socket.on('data', (d: Buffer) => {
        received += d.length;
        last = d;
        if (received >= GETS * reply) res();
      });
    });
    socket.resume();
    await Promise.race([done, sleep(60_000)]);
    socket.destroy();
    assert.equal(received, GETS * reply, 'bytes of replies');
    assert.equal(last.subarray(-5).toString('latin1'), 'END\r\n');
  });
  it('a client whose window grew on small replies, then asking for 1,024 large values at once: at most 256 of them are held', async () => {
    const GETS_AFTER = 1024;
    const setter = await RawClient.connect(f.proxy.poolPorts[0], '127.0.0.1');
    try {
      const set = Buffer.concat([
        Buffer.from(`set big2 0 0 ${VALUE_BYTES}\r\n`),
        Buffer.alloc(VALUE_BYTES, 0x63),
        Buffer.from('\r\nset small 0 0 2\r\nhi\r\n'),
      ]);
      assert.equal((await asciiExchange(setter, set)).data.toString('latin1'), 'STORED\r\nSTORED\r\n');
    } finally {
      await setter.close();
    }
    const socket = await openSocket(f.proxy.poolPorts[0]);
    let received = 0;
    let wanted = 0;
    let reached: (() => void) | null = null;
    socket.on('data', (d: Buffer) => {
      received += d.length;
      if (reached !== null && received >= wanted) reached();
    });
    const receive = (bytes: number): Promise<void> => {
      wanted = received + bytes;
      return Promise.race([new Promise<void>((res) => (reached = res)), sleep(10_000)]);
    };
    // small replies read as they come: the window doubles up to its largest
    const SMALL_REPLY = 'VALUE small 0 2\r\nhi\r\nEND\r\n'.length;
    for (let round = 0; round < 8; round++) {
      const got = receive(512 * SMALL_REPLY);
      socket.write('get small\r\n'.repeat(512));
      await got;
    }
    reached = null;
    assert.equal(received, 8 * 512 * SMALL_REPLY, 'bytes of the small replies');
    await sleep(300);
    socket.pause();
    const { base, peak } = await peakDuring(f.proxy, async () => {
      socket.write('get big2\r\n'.repeat(GETS_AFTER));
      await sleep(2000);
    });
    // 256 replies of 512 KB are 128 MB; a window of 1024 held 512 MB (peak RSS +519 MB)
    assertPeakBelow(peak, base, 200);
    const reply = `VALUE big2 0 ${VALUE_BYTES}\r\n`.length + VALUE_BYTES + '\r\nEND\r\n'.length;
    const done = receive(GETS_AFTER * reply);
    socket.resume();
    await Promise.race([done, sleep(60_000)]);
    socket.destroy();
    assert.equal(received - 8 * 512 * SMALL_REPLY, GETS_AFTER * reply, 'bytes of the large replies');
  });
});

describe('proxy memory bound: many clients asking for one large value at once', () => {
  const CLIENTS = 200;
  const HOT_BYTES = 900 * 1024; // 200 copies: 176 MB
  const f = proxyOverOneServer();

  it(`${CLIENTS} clients get a ${HOT_BYTES / 1024} KB value together and read it later: the proxy holds it about once`, async () => {
    const value = Buffer.alloc(HOT_BYTES);
    for (let i = 0; i < HOT_BYTES; i++) value[i] = (i * 131 + (i >> 8)) & 0xff;
    const admin = await RawClient.connect(f.proxy.poolPorts[0], '127.0.0.1');
    const clients: Socket[] = [];
    try {
      const set = Buffer.concat([Buffer.from(`set hot 0 0 ${HOT_BYTES}\r\n`), value, Buffer.from('\r\n')]);
      assert.equal((await asciiExchange(admin, set)).data.toString('latin1'), 'STORED\r\n');
      for (let i = 0; i < CLIENTS; i++) {
        const socket = await openSocket(f.proxy.poolPorts[0]);
        socket.pause(); // not reading, yet
        clients.push(socket);
      }
      await sleep(200);
      const { base, peak } = await peakDuring(f.proxy, async () => {
        for (const socket of clients) socket.write('get hot\r\n');
        await sleep(1500);
      });
      const stats = (await asciiExchange(admin, 'stats proxy\r\n')).data.toString('latin1');
      const squashed = Number(/:pstd_stats:tot_gets_squashed (\d+)/.exec(stats)?.[1]);
      // the gets that met before the fetch was written share its reply: its slabs, not a copy each
      assert.ok(squashed >= CLIENTS / 2, `only ${squashed} of ${CLIENTS} gets were squashed`);
      assertPeakBelow(peak, base, 64);
      const reply = Buffer.concat([
        Buffer.from(`VALUE hot 0 ${HOT_BYTES}\r\n`),
        value,
        Buffer.from('\r\nEND\r\n'),
      ]);
      const intact = await Promise.all(
        clients.map(async (socket) => (await readAll(socket, reply.length, 20_000)).equals(reply)),
      );
      assert.equal(intact.filter(Boolean).length, CLIENTS, 'clients with the whole value, byte for byte');
    } finally {
      for (const socket of clients) socket.destroy();
      await admin.close();
    }
  });
});

describe('proxy memory bound: multi-gets of more values than a client may hold', () => {
  // 300 values of 1,000,000 bytes over two servers: 300 MB in one multi-get, past the client's 256 MiB
  const KEYS = 300;
  const BIG = 1_000_000;
  const f = {} as { mcs: ServerHandle[]; proxy: ProxyHandle };
  before(async () => {
    f.mcs = [
      await startMemcached({ memoryMb: 256, maxItemSize: '2m' }),
      await startMemcached({ memoryMb: 256, maxItemSize: '2m' }),
    ];
    f.proxy = await startProxy((ports) => `${ports[0]}=${hostList(f.mcs)}`);
    const setter = await RawClient.connect(f.proxy.poolPorts[0], '127.0.0.1');
    try {
      for (let i = 0; i < KEYS; i += 20) {
        const sets: Buffer[] = [];
        for (let k = i; k < i + 20; k++) {
          sets.push(
            Buffer.from(`set mg${k} ${k} 0 ${BIG}\r\n`),
            Buffer.alloc(BIG, k & 0xff),
            Buffer.from('\r\n'),
          );
        }
        const replies = await asciiExchange(setter, Buffer.concat(sets));
        assert.equal(replies.data.toString('latin1'), 'STORED\r\n'.repeat(20));
      }
    } finally {
      await setter.close();
    }
  });
  after(async () => {
    await f.proxy.stop();
    for (const mc of f.mcs) await mc.stop();
  });

  const keys = (from: number, to: number): string =>
    Array.from({ length: to - from }, (_, i) => `mg${from + i}`).join(' ');
  const valuesReply = (from: number, to: number): Buffer => {
    const parts: Buffer[] = [];
    for (let k = from; k < to; k++) {
      parts.push(
        Buffer.from(`VALUE mg${k} ${k} ${BIG}\r\n`),
        Buffer.alloc(BIG, k & 0xff),
        Buffer.from('\r\n'),
      );
    }
    parts.push(Buffer.from('END\r\n'));
    return Buffer.concat(parts);
  };

  it('a client that reads: three multi-gets of 100 MB in a row are answered whole', async () => {
    const socket = await openSocket(f.proxy.poolPorts[0]);
    try {
      for (const from of [0, 100, 200]) {
        const expected = valuesReply(from, from + 100);
        const got = readAll(socket, expected.length, 30_000);
        socket.write(`get ${keys(from, from + 100)}\r\n`);
        assert.ok((await got).equals(expected), `multi-get of mg${from}..mg${from + 99}`);
      }
    } finally {
      socket.destroy();
    }
  });

  it(`a client that does not read: two multi-gets of ${KEYS} MB are refused as memcached refuses a get it cannot build, the next ones answered`, async () => {
    const socket = await openSocket(f.proxy.poolPorts[0]);
    try {
      socket.pause(); // not reading, yet
      const { base, peak } = await peakDuring(f.proxy, async () => {
        socket.write(`get ${keys(0, KEYS)}\r\nget ${keys(0, KEYS)}\r\nget ${keys(0, 10)}\r\nget mg7\r\n`);
        await sleep(3000);
      });
      // the client may hold 256 MiB of values (268 MB): peak RSS +269 MB; without that limit both
      // multi-gets were held whole, +563 MB
      assertPeakBelow(peak, base, 268 + SLACK_MB);
      // another client is served meanwhile
      const other = await RawClient.connect(f.proxy.poolPorts[0], '127.0.0.1');
      try {
        const reply = await asciiExchange(other, `get ${keys(5, 8)}\r\n`);
        assert.ok(reply.data.equals(valuesReply(5, 8)), 'the other client gets its values');
      } finally {
        await other.close();
      }
      const refused = 'SERVER_ERROR out of memory writing get response\r\n';
      const expected = Buffer.concat([Buffer.from(refused + refused), valuesReply(0, 10), valuesReply(7, 8)]);
      const got = await readAll(socket, expected.length, 30_000);
      assert.equal(got.subarray(0, refused.length).toString('latin1'), refused);
      assert.ok(got.equals(expected), 'then the 10 values, then mg7, byte for byte');
      const admin = await RawClient.connect(f.proxy.poolPorts[0], '127.0.0.1');
      try {
        const stats = (await asciiExchange(admin, 'stats proxy\r\n')).data.toString('latin1');
        assert.equal(
          /:pstd_stats:err_oom (\d+)/.exec(stats)?.[1],
          '2',
          'err_oom counts the refused multi-gets',
        );
      } finally {
        await admin.close();
      }
    } finally {
      socket.destroy();
    }
  });
});

/** A `stats proxy` pstd_stats row of the proxy's first pool (summed over its workers with -t N). */
async function poolStat(proxy: ProxyHandle, name: string): Promise<number> {
  const admin = await RawClient.connect(proxy.poolPorts[0], '127.0.0.1');
  try {
    const stats = (await asciiExchange(admin, 'stats proxy\r\n')).data.toString('latin1');
    return Number(new RegExp(`:pstd_stats:${name} (\\d+)`).exec(stats)?.[1]);
  } finally {
    await admin.close();
  }
}

describe('proxy memory bound: clients that leave replies unread, across the process (--max-unread)', () => {
  // 16 MB: a client with 64 gets of 512 KB in flight (32 MB) passes it alone; one with 8 (4 MB) does not
  const CAP_MB = 16;
  const KEYS = 40; // 20 MB of values in one multi-get: more than the cap
  const f = {} as { mc: ServerHandle; proxy: ProxyHandle };
  const valueOf = (k: number): Buffer => Buffer.alloc(VALUE_BYTES, 0x30 + (k % 40));
  const getReply = (k: number): Buffer =>
    Buffer.concat([Buffer.from(`VALUE u${k} 0 ${VALUE_BYTES}\r\n`), valueOf(k), Buffer.from('\r\nEND\r\n')]);
  const statOf = (name: string): Promise<number> => poolStat(f.proxy, name);

  before(async () => {
    f.mc = await startMemcached({ memoryMb: 64, maxItemSize: '1m' });
    f.proxy = await startProxy((ports) => `${ports[0]}=${hostList([f.mc])}`, {
      extraArgs: ['--max-unread', `${CAP_MB}m`],
    });
    await storeValues(
      f.proxy,
      Array.from({ length: KEYS }, (_, k) => [`u${k}`, valueOf(k)] as const),
    );
  });
  after(async () => {
    await f.proxy.stop();
    await f.mc.stop();
  });

  it('the client with the most unread replies is disconnected; one with a few keeps them, and a reader is served throughout', async () => {
    const modest = await openSocket(f.proxy.poolPorts[0]);
    const hog = await openSocket(f.proxy.poolPorts[0]);
    const reader = await RawClient.connect(f.proxy.poolPorts[0], '127.0.0.1');
    try {
      modest.pause();
      hog.pause();
      modest.write('get u1\r\n'.repeat(8));
      await sleep(300);
      const { base, peak } = await peakDuring(f.proxy, async () => {
        hog.write('get u2\r\n'.repeat(80));
        // a client that reads is served, byte for byte, while the hog piles up and goes
        for (let i = 0; i < 20; i++) {
          const k = 3 + (i % 10);
          const got = await asciiExchange(reader, `get u${k}\r\n`);
          assert.ok(got.data.equals(getReply(k)), `reader's get of u${k}`);
        }
        for (let i = 0; i < 100 && (await statOf('tot_unread_disconnects')) < 1; i++) await sleep(100);
      });
      assert.equal(await statOf('tot_unread_disconnects'), 1, 'clients disconnected for unread replies');
      // the hog's socket gives what the kernel had taken for it, then ends: fewer than its 80 replies
      let hogBytes = 0;
      const hogEnded = new Promise<void>((res) => {
        hog.on('data', (d: Buffer) => (hogBytes += d.length));
        hog.once('close', () => {
          res();
        });
      });
      hog.resume();
      await Promise.race([hogEnded, sleep(10_000)]);
      assert.ok(hog.destroyed, 'the hog was disconnected');
      assert.ok(hogBytes < 80 * getReply(2).length, `the hog got ${hogBytes} bytes`);
      // the modest client reads its 8 replies, whole
      const expected = Buffer.concat(Array.from({ length: 8 }, () => getReply(1)));
      assert.ok(
        (await readAll(modest, expected.length, 20_000)).equals(expected),
        "the modest client's replies",
      );
      // 32 MB of the hog's replies would have been held; the cap and a few in flight are
      assertPeakBelow(peak, base, CAP_MB + SLACK_MB);
    } finally {
      modest.destroy();
      hog.destroy();
      await reader.close();
    }
  });

  it('a multi-get whose values pass the cap is answered out of memory, one that fits is answered whole', async () => {
    const reader = await RawClient.connect(f.proxy.poolPorts[0], '127.0.0.1');
    try {
      const oomBefore = await statOf('err_oom');
      const keys = (n: number): string => Array.from({ length: n }, (_, k) => `u${k}`).join(' ');
      const refused = await asciiExchange(reader, `get ${keys(KEYS)}\r\n`);
      assert.equal(refused.data.toString('latin1'), 'SERVER_ERROR out of memory writing get response\r\n');
      const whole = Buffer.concat([
        ...Array.from({ length: 20 }, (_, k) => getReply(k).subarray(0, -'END\r\n'.length)),
        Buffer.from('END\r\n'),
      ]);
      const answered = await asciiExchange(reader, `get ${keys(20)}\r\n`);
      assert.ok(answered.data.equals(whole), '20 values of 512 KB (10 MB)');
      assert.equal((await statOf('err_oom')) - oomBefore, 1);
    } finally {
      await reader.close();
    }
  });
});

describe('proxy memory bound: --max-unread with -t 2 (each worker its own cap)', () => {
  const f = {} as { mc: ServerHandle; proxy: ProxyHandle };
  before(async () => {
    f.mc = await startMemcached({ memoryMb: 64, maxItemSize: '1m' });
    f.proxy = await startProxy((ports) => `${ports[0]}=${hostList([f.mc])}`, {
      threads: 2,
      extraArgs: ['--max-unread', '8m'],
    });
  });
  after(async () => {
    await f.proxy.stop();
    await f.mc.stop();
  });

  it('a client leaving 32 MB unread is disconnected by its worker, and stats proxy counts it once', async () => {
    await storeValues(f.proxy, [['t2', Buffer.alloc(VALUE_BYTES, 0x74)]]);
    const hog = await openSocket(f.proxy.poolPorts[0]);
    try {
      hog.pause();
      hog.write('get t2\r\n'.repeat(64));
      let disconnects = 0;
      for (let i = 0; i < 100 && disconnects < 1; i++) {
        await sleep(100);
        disconnects = await poolStat(f.proxy, 'tot_unread_disconnects');
      }
      assert.equal(disconnects, 1, 'tot_unread_disconnects over both workers');
      const ended = new Promise<void>((res) =>
        hog.once('close', () => {
          res();
        }),
      );
      hog.on('data', () => {});
      hog.resume();
      await Promise.race([ended, sleep(10_000)]);
      assert.ok(hog.destroyed, 'the hog was disconnected');
    } finally {
      hog.destroy();
    }
  });
});
