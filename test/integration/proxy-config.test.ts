/**
 * bin/moxi's proxy configuration and startup, as a process:
 *
 *  - `-z ./vbucket1.cfg` with the README's example file (test/fixtures/proxy/vbucket1.cfg, ports
 *    filled in, written to a temporary directory that is the process's working directory), a file
 *    with two host-list pools, a file mixing a vBucket pool and a weighted host list, `-Z ./file`;
 *  - what goes on the wire: binary by default (a2b request layout, no vBucket id for host lists),
 *    the text command with `-Z downstream_protocol=ascii`;
 *  - `-l 127.0.0.1` binds the proxy ports there, and nothing else listens unless `-p` is given (then
 *    the embedded memcached serves that port, and a pool can proxy to it); `-t N` is accepted;
 *    unknown -Z keys are logged, not fatal;
 *  - startup errors exactly as moxi prints them, with exit code 1.
 *
 * Fixture placeholders are `@NAME@` (see renderFixture).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { LOOPBACK, freePort } from '../helpers/ports.ts';
import { startMemcached, type ServerHandle } from '../helpers/processes.ts';
import { BinOp } from '../helpers/raw-client.ts';
import {
  MockServer,
  binReply,
  binRequestsOf,
  takeBinRequests,
  takeTextCommands,
  type MockConn,
} from '../helpers/mock-memcached.ts';
import {
  behaviorsFor,
  couldNotListenLine,
  describeExchange,
  directGetMany,
  hostList,
  listeningAddressesOf,
  renderFixture,
  requestOnce,
  retrievalDone,
  runMoxi,
  startProxy,
  tempDir,
  writeIn,
  type ProxyHandle,
  type RunResult,
} from '../helpers/proxy.ts';

/** Answers every request successfully, in whichever protocol it arrives. */
function answerAll(conn: MockConn): void {
  if (conn.received[0] === 0x80) {
    for (const r of takeBinRequests(conn)) {
      conn.write(
        r.opcode === BinOp.getk
          ? binReply({ opcode: r.opcode, opaque: r.opaque, status: 1, key: r.key })
          : binReply({ opcode: r.opcode, opaque: r.opaque, cas: r.opcode === BinOp.noop ? 0n : 1n }),
      );
    }
  } else {
    for (const c of takeTextCommands(conn)) conn.write(c.line.startsWith('get') ? 'END\r\n' : 'STORED\r\n');
  }
}

/** set, get and a multi-get through `port`, and the value found directly on `server`. */
async function roundTrip(port: number, server: ServerHandle, key: string): Promise<void> {
  const set = `set ${key} 5 0 3\r\nabc\r\n`;
  const s = await requestOnce({ port }, set);
  assert.equal(s.text, 'STORED\r\n', describeExchange(set, s));
  const get = `get ${key} ${key}:missing ${key}\r\n`;
  const g = await requestOnce({ port }, get, retrievalDone);
  assert.equal(
    g.text,
    `VALUE ${key} 5 3\r\nabc\r\nVALUE ${key} 5 3\r\nabc\r\nEND\r\n`,
    describeExchange(get, g),
  );
  const direct = await directGetMany(server, [key]);
  assert.equal(direct.get(key)?.data.toString(), 'abc', `${key} must be on the server on ${server.port}`);
}

function outputLines(r: RunResult): string[] {
  return `${r.stderr}\n${r.stdout}`.split('\n').map((l) => l.replace(/\r$/, ''));
}

function describeRun(args: readonly string[], r: RunResult): string {
  return (
    `bin/moxi ${args.join(' ')}\n` +
    `exit ${r.killed ? 'none: still running at the deadline, killed' : (r.code ?? r.signal)}\n` +
    `stderr: ${JSON.stringify(r.stderr)}\nstdout: ${JSON.stringify(r.stdout)}`
  );
}

describe('proxy configuration files and behaviors', () => {
  let mcs: ServerHandle[] = [];
  before(async () => {
    mcs = await Promise.all([0, 1, 2].map(() => startMemcached({ memoryMb: 16 })));
  });
  after(async () => {
    await Promise.all(mcs.map((m) => m.stop()));
  });

  it("the README's vbucket1.cfg works with -z ./vbucket1.cfg", async () => {
    const dir = tempDir();
    const proxy = await startProxy(
      (p) => {
        writeIn(
          dir,
          'vbucket1.cfg',
          renderFixture('vbucket1.cfg', { PROXY_PORT: p[0], SERVER_PORT: mcs[0].port }),
        );
        return './vbucket1.cfg';
      },
      { cwd: dir },
    );
    try {
      await roundTrip(proxy.port, mcs[0], 'readme:vb');
      for (const k of ['hello', 'doctor', 'name', 'tomorrow']) await roundTrip(proxy.port, mcs[0], k);
    } finally {
      await proxy.stop();
    }
  });

  it('a file with two host-list pools (`;` and a newline between them)', async () => {
    const dir = tempDir();
    const proxy = await startProxy(
      (p) => {
        writeIn(
          dir,
          'pools.cfg',
          renderFixture('pools.cfg', {
            PORT1: p[0],
            PORT2: p[1],
            MC1: mcs[0].port,
            MC2: mcs[1].port,
            MC3: mcs[2].port,
          }),
        );
        return './pools.cfg';
      },
      { cwd: dir, portCount: 2 },
    );
    try {
      const keys = Array.from({ length: 40 }, (_, i) => `file:${i}`);
      for (const k of keys) {
        const r = await requestOnce({ port: proxy.poolPorts[0] }, `set ${k} 0 0 1\r\nx\r\n`);
        assert.equal(r.text, 'STORED\r\n', describeExchange(`set ${k}`, r));
      }
      const held = await Promise.all(mcs.map((m) => directGetMany(m, keys)));
      assert.equal(held[0].size + held[1].size, keys.length, 'pool 1 keys on its two servers');
      assert.ok(
        held[0].size > 0 && held[1].size > 0,
        `pool 1 spreads over both: ${held[0].size} / ${held[1].size}`,
      );
      assert.equal(held[2].size, 0, 'none of pool 1 on pool 2 server');
      await roundTrip(proxy.poolPorts[1], mcs[2], 'file:pool2');
    } finally {
      await proxy.stop();
    }
  });

  it('a file mixing a vBucket pool and a weighted host list', async () => {
    const dir = tempDir();
    const proxy = await startProxy(
      (p) => {
        writeIn(
          dir,
          'mixed.cfg',
          renderFixture('mixed.cfg', {
            PORT1: p[0],
            PORT2: p[1],
            MC1: mcs[0].port,
            MC2: mcs[1].port,
            MC3: mcs[2].port,
          }),
        );
        return './mixed.cfg';
      },
      { cwd: dir, portCount: 2 },
    );
    try {
      // 4 vBuckets: hello -> 0 (server 0), tomorrow -> 1 (server 1), another key -> 2 (server 1), name -> 3 (server 0)
      await roundTrip(proxy.poolPorts[0], mcs[0], 'hello');
      await roundTrip(proxy.poolPorts[0], mcs[1], 'tomorrow');
      await roundTrip(proxy.poolPorts[0], mcs[0], 'name');
      const set = 'set mixed:w 0 0 1\r\nw\r\n';
      const r = await requestOnce({ port: proxy.poolPorts[1] }, set);
      assert.equal(r.text, 'STORED\r\n', describeExchange(set, r));
      const where = await Promise.all([mcs[2], mcs[0]].map((m) => directGetMany(m, ['mixed:w'])));
      assert.equal(where[0].size + where[1].size, 1, 'the weighted pool stores on one of its servers');
    } finally {
      await proxy.stop();
    }
  });

  it('behaviors from a file (-Z ./behaviors.cfg): ascii downstream on the wire', async () => {
    const mock = await MockServer.start(answerAll);
    const dir = tempDir();
    writeIn(dir, 'behaviors.cfg', renderFixture('behaviors.cfg', {}));
    const proxy = await startProxy((p) => `${p[0]}=${hostList([mock])}`, {
      cwd: dir,
      behaviors: './behaviors.cfg',
    });
    try {
      const r = await requestOnce(proxy, 'set k 0 0 1\r\nx\r\n');
      assert.equal(r.text, 'STORED\r\n', describeExchange('set k 0 0 1\r\nx\r\n', r));
      assert.equal(
        mock.allReceived().toString('latin1'),
        'set k 0 0 1\r\nx\r\n',
        'the text command, as the client sent it',
      );
    } finally {
      await proxy.stop();
      await mock.close();
    }
  });

  it('the downstream protocol is binary by default: a SET with flags and exptime extras, vBucket 0', async () => {
    const mock = await MockServer.start(answerAll);
    const proxy = await startProxy((p) => `${p[0]}=${hostList([mock])}`);
    try {
      const send = 'set key:bin 305419896 100 5\r\nhello\r\n';
      const r = await requestOnce(proxy, send);
      assert.equal(r.text, 'STORED\r\n', describeExchange(send, r));
      const reqs = mock.connections.flatMap((c) => binRequestsOf(c));
      const set = reqs.find((q) => q.key.toString() === 'key:bin');
      assert.ok(
        set !== undefined,
        `a binary request for key:bin; got ${JSON.stringify(mock.allReceived().toString('latin1'))}`,
      );
      assert.equal(set.opcode, BinOp.set, 'opcode SET');
      assert.equal(set.extras.length, 8, 'flags + exptime extras');
      assert.equal(set.extras.readUInt32BE(0), 305419896, 'flags');
      assert.equal(set.extras.readUInt32BE(4), 100, 'exptime');
      assert.equal(set.value.toString(), 'hello');
      assert.equal(set.vbucket, 0, 'host-list pools send no vBucket id');
    } finally {
      await proxy.stop();
      await mock.close();
    }
  });

  it('-l 127.0.0.1 binds every pool port there, and nothing else listens without -p', async () => {
    const proxy = await startProxy(
      (p) => `${p[0]}=${hostList([mcs[0]])};${p[1]}=${hostList([mcs[1]])};${p[2]}=${hostList([mcs[2]])}`,
      { portCount: 3 },
    );
    try {
      const addrs = listeningAddressesOf(proxy.pid);
      if (addrs !== undefined) {
        assert.deepEqual(
          addrs,
          proxy.poolPorts.map((p) => `127.0.0.1:${p}`).sort(),
          'the proxy listens on its pool ports on 127.0.0.1 only (no embedded server without -p)',
        );
      }
      for (const [i, port] of proxy.poolPorts.entries()) await roundTrip(port, mcs[i], `listen:${i}`);
    } finally {
      await proxy.stop();
    }
  });

  it('-p adds the embedded memcached, and a pool can proxy to it (one process, like the Perl tests)', async () => {
    const embedded = await freePort();
    const proxy: ProxyHandle = await startProxy((p) => `${p[0]}=127.0.0.1:${embedded}`, {
      extraArgs: ['-p', String(embedded), '-U', '0'],
      alsoListens: [embedded],
    });
    try {
      const addrs = listeningAddressesOf(proxy.pid);
      if (addrs !== undefined)
        assert.deepEqual(addrs, [`127.0.0.1:${embedded}`, `127.0.0.1:${proxy.port}`].sort());
      const set = 'set self:k 1 0 2\r\nhi\r\n';
      const r = await requestOnce(proxy, set);
      assert.equal(r.text, 'STORED\r\n', describeExchange(set, r));
      const direct = await requestOnce({ port: embedded }, 'get self:k\r\n', retrievalDone);
      assert.equal(
        direct.text,
        'VALUE self:k 1 2\r\nhi\r\nEND\r\n',
        describeExchange('get self:k (embedded server)', direct),
      );
    } finally {
      await proxy.stop();
    }
  });

  it('-t 2 is accepted; unknown -Z keys are logged and not fatal', async () => {
    const proxy = await startProxy((p) => `${p[0]}=${hostList([mcs[0]])}`, {
      threads: 2,
      behaviors: behaviorsFor('binary', 'bogus_key=1,downstream_timeout=abc'),
    });
    try {
      await roundTrip(proxy.port, mcs[0], 'threads:2');
      const out = proxy.output();
      assert.ok(out.includes('ERROR: config error in key: bogus_key value: 1'), `logged:\n${out}`);
      assert.ok(out.includes('ERROR: config error in key: downstream_timeout value: abc'), `logged:\n${out}`);
    } finally {
      await proxy.stop();
    }
  });

  it('a pool with an unusable vBucket map still listens; its requests fail, gets miss', async () => {
    const bad = JSON.stringify({
      numReplicas: 0,
      serverList: [`127.0.0.1:${mcs[0].port}`],
      vBucketMap: [[0], [0], [0]],
    });
    const proxy = await startProxy((p) => `${p[0]}=${bad};${p[1]}=${hostList([mcs[0]])}`, { portCount: 2 });
    try {
      const s = await requestOnce(proxy, 'set k 0 0 1\r\nx\r\n');
      assert.match(s.text, /^SERVER_ERROR [^\r\n]*\r\n$/, describeExchange('set k 0 0 1\r\nx\r\n', s));
      const g = await requestOnce(proxy, 'get k\r\n', retrievalDone);
      assert.equal(g.text, 'END\r\n', describeExchange('get k\r\n', g));
      await roundTrip(proxy.poolPorts[1], mcs[0], 'goodpool:k');
    } finally {
      await proxy.stop();
    }
  });
});

describe('proxy startup errors (exit 1, moxi.ts texts)', () => {
  let holders: Server[] = [];
  after(async () => {
    await Promise.all(holders.map((s) => new Promise((r) => s.close(r))));
    holders = [];
  });

  /** Binds a free loopback port in this process, so that the proxy cannot. */
  async function takenPort(): Promise<number> {
    for (let i = 0; i < 5; i++) {
      const port = await freePort();
      const srv = createServer();
      const ok = await new Promise<boolean>((r) => {
        srv.once('error', () => {
          r(false);
        });
        srv.listen({ port, host: LOOPBACK, exclusive: true }, () => {
          r(true);
        });
      });
      if (ok) {
        holders.push(srv);
        return port;
      }
    }
    throw new Error('could not hold a port');
  }

  it('a pool port in use: "ERROR: could not listen on port N. Please use -Z port_listen=..."', async () => {
    const port = await takenPort();
    const args = ['-z', `${port}=127.0.0.1:1`, '-l', '127.0.0.1', '-t', '1'];
    const r = await runMoxi(args);
    assert.equal(r.code, 1, describeRun(args, r));
    assert.ok(outputLines(r).includes(couldNotListenLine(port)), describeRun(args, r));
  });

  it('the second pool port in use', async () => {
    const free = await freePort();
    const port = await takenPort();
    const args = ['-z', `${free}=127.0.0.1:1;${port}=127.0.0.1:2`, '-l', '127.0.0.1', '-t', '1'];
    const r = await runMoxi(args);
    assert.equal(r.code, 1, describeRun(args, r));
    assert.ok(outputLines(r).includes(couldNotListenLine(port)), describeRun(args, r));
  });

  for (const [name, z, message] of [
    ['a section without =', '21000=127.0.0.1:1;nonsense', 'bad moxi config, missing ='],
    ['a proxy port of 0', '0=127.0.0.1:1', 'missing proxy port'],
    ['a missing -z file', './no-such-file.cfg', 'ERROR: could not read cfg file: ./no-such-file.cfg'],
  ] as const) {
    it(`${name}: "${message}"`, async () => {
      const args = ['-z', z, '-l', '127.0.0.1', '-t', '1'];
      const r = await runMoxi(args, { cwd: tempDir() });
      assert.equal(r.code, 1, describeRun(args, r));
      assert.ok(outputLines(r).includes(message), describeRun(args, r));
    });
  }

  it('a missing -Z file: "ERROR: could not read behavior file: ./no-such.cfg"', async () => {
    const args = [
      '-z',
      `${await freePort()}=127.0.0.1:1`,
      '-Z',
      './no-such.cfg',
      '-l',
      '127.0.0.1',
      '-t',
      '1',
    ];
    const r = await runMoxi(args, { cwd: tempDir() });
    assert.equal(r.code, 1, describeRun(args, r));
    assert.ok(
      outputLines(r).includes('ERROR: could not read behavior file: ./no-such.cfg'),
      describeRun(args, r),
    );
  });
});
