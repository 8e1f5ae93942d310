/**
 * `stats proxy` lists moxi's per-command counters, `<port>:<bucket>:pstd_stats_cmd:<type>_<cmd>:<field>`,
 * counted for text and binary clients against real memcacheds (src/proxy/command-stats.ts), and
 * Prometheus has the same as moxi_commands_total and moxi_get_keys_total. Each test starts its own proxy,
 * so every count starts at zero.
 */
import { after, afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ServerHandle } from '../helpers/processes.ts';
import { startMemcached } from '../helpers/processes.ts';
import { LOOPBACK, freePort } from '../helpers/ports.ts';
import {
  DownstreamProtocols,
  behaviorsFor,
  hostList,
  parseStats,
  startProxy,
  statsDone,
  timedRequest,
  withClient,
  type ProxyHandle,
} from '../helpers/proxy.ts';
import {
  BinOp,
  RawClient,
  arithExtras,
  asciiExchange,
  binRequest,
  binaryExchange,
  parseBinFrames,
  storeExtras,
  u32Extras,
} from '../helpers/raw-client.ts';
import { PROXY_MAX_ITEM } from '../../src/upstream/session.ts';
import {
  STATS_CMD_FIELD_NAMES,
  STATS_CMD_NAMES,
  STATS_CMD_TYPE_NAMES,
} from '../../src/proxy/command-stats.ts';

describe('stats proxy pstd_stats_cmd', () => {
  let servers: ServerHandle[] = [];
  let proxy: ProxyHandle | undefined;
  let admin = 0;

  beforeEach(async () => {
    if (servers.length === 0) servers = await Promise.all([startMemcached(), startMemcached()]);
    admin = await freePort();
    // two workers: the listing and the metrics are their sums
    proxy = await startProxy((ports) => `${ports[0]}=${hostList(servers)}`, {
      behaviors: behaviorsFor(DownstreamProtocols.binary),
      threads: 2,
      extraArgs: ['--admin', `${LOOPBACK}:${admin}`],
      alsoListens: [admin],
    });
  });

  afterEach(async () => {
    await proxy?.stop();
    proxy = undefined;
  });

  after(async () => {
    await Promise.all(servers.map((s) => s.stop()));
  });

  /** A listing's pstd_stats_cmd rows, by `<type>_<cmd>:<field>`. */
  function commandRows(listing: string): Map<string, number> {
    const rows = new Map<string, number>();
    for (const [name, value] of parseStats(listing)) {
      const at = name.indexOf(':pstd_stats_cmd:');
      if (at >= 0) rows.set(name.slice(at + ':pstd_stats_cmd:'.length), Number(value));
    }
    return rows;
  }

  /** The pool's pstd_stats_cmd rows, from a connection of its own. */
  async function commandStats(): Promise<Map<string, number>> {
    const port = proxy!.poolPorts[0];
    const text = await withClient(
      { port },
      async (c) => (await timedRequest(c, 'stats proxy\r\n', statsDone)).text,
    );
    return commandRows(text);
  }

  /**
   * Sends `payload`, which ends in `stats proxy`, in one write, checks that the replies before the
   * listing are `replies`, and returns the listing's pstd_stats_cmd rows.
   */
  async function pipelined(payload: string, replies: string): Promise<Map<string, number>> {
    const port = proxy!.poolPorts[0];
    const text = await withClient({ port }, async (c) => {
      const r = await timedRequest(
        c,
        payload,
        (b) => b.includes('pstd_stats_cmd') && b.toString('latin1').endsWith('END\r\n'),
      );
      return r.text;
    });
    assert.equal(text.slice(0, text.indexOf('STAT ')), replies);
    return commandRows(text);
  }

  /** The rows that are not zero. */
  function nonZero(rows: Map<string, number>): Record<string, number> {
    return Object.fromEntries([...rows].filter(([, v]) => v !== 0));
  }

  async function text(payload: string): Promise<string> {
    const client = await RawClient.connect(proxy!.poolPorts[0]);
    try {
      return (await asciiExchange(client, payload)).data.toString('latin1');
    } finally {
      await client.close();
    }
  }

  it("lists moxi's 240 rows per pool, type-major, in moxi's command and field order, zeros included", async () => {
    const port = proxy!.poolPorts[0];
    const listing = await withClient(
      { port },
      async (c) => (await timedRequest(c, 'stats proxy\r\n', statsDone)).text,
    );
    const names = listing
      .split('\r\n')
      .filter((l) => l.includes(':pstd_stats_cmd:'))
      .map((l) => l.split(' ')[1]);
    const expected: string[] = [];
    for (const type of STATS_CMD_TYPE_NAMES)
      for (const cmd of STATS_CMD_NAMES)
        for (const field of STATS_CMD_FIELD_NAMES)
          expected.push(`${port}:default:pstd_stats_cmd:${type}_${cmd}:${field}`);
    assert.equal(expected.length, 240);
    assert.deepEqual(names, expected);
    assert.equal(expected[0], `${port}:default:pstd_stats_cmd:regular_get:seen`);
    assert.equal(expected[239], `${port}:default:pstd_stats_cmd:quiet_ERROR:cas`);
    // they follow the pool's pstd_stats rows, as in moxi
    const lines = listing.split('\r\n');
    const lastPstd = lines.findLastIndex((l) => l.includes(':pstd_stats:'));
    assert.ok(lines[lastPstd + 1].includes(':pstd_stats_cmd:regular_get:seen'), lines[lastPstd + 1]);
  });

  it('counts text commands: gets and their keys, hits and misses, storage, noreply as quiet, errors', async () => {
    const replies = await text(
      'set a 0 0 1\r\nx\r\n' +
        'set b 0 0 2 noreply\r\nyy\r\n' +
        'get a b c a\r\n' +
        'get zz\r\n' +
        'gets a\r\n' +
        'cas a 0 0 1 1\r\nz\r\n' +
        'set c 0 0 1\r\nxyz\r\n' +
        'bogus\r\n' +
        'incr n 1\r\n' +
        'delete a noreply\r\n' +
        'version\r\n',
    );
    assert.match(
      replies,
      /^STORED\r\nVALUE a 0 1\r\nx\r\nVALUE b 0 2\r\nyy\r\nVALUE a 0 1\r\nx\r\nEND\r\nEND\r\n/,
    );
    assert.match(replies, /CLIENT_ERROR bad data chunk\r\n/);
    assert.deepEqual(nonZero(await commandStats()), {
      // "get a b c a" 11 bytes, "get zz" 6, "gets a" 6; gets counts as cas
      'regular_get:seen': 3,
      'regular_get:read_bytes': 23,
      'regular_get:cas': 1,
      // a, b, c, a; zz; a: 4 hits; write_bytes = each value's bytes and its "\r\n"
      'regular_get_key:seen': 6,
      'regular_get_key:hits': 4,
      'regular_get_key:misses': 2,
      'regular_get_key:write_bytes': 3 + 4 + 3 + 3,
      // "set a 0 0 1" + "x\r\n"; "set c 0 0 1" refused (bad data chunk): a miss, its line only
      'regular_set:seen': 2,
      'regular_set:misses': 1,
      'regular_set:read_bytes': 11 + 3 + 11,
      'quiet_set:seen': 1,
      'quiet_set:read_bytes': 19 + 4,
      'regular_cas:seen': 1,
      'regular_cas:read_bytes': 13 + 3,
      'regular_cas:cas': 1,
      'regular_incr:seen': 1,
      'regular_incr:read_bytes': 8,
      'quiet_delete:seen': 1,
      'quiet_delete:read_bytes': 16,
      'regular_version:seen': 1,
      'regular_version:read_bytes': 7,
      // "bogus", then what memcached reads as a line after the bad chunk ("z")
      'regular_ERROR:seen': 2,
      'regular_ERROR:read_bytes': 6,
      // the listing counts itself, as the stats command it is
      'regular_stats:seen': 1,
      'regular_stats:read_bytes': 11,
    });
  });

  it('a stats proxy pipelined after requests lists what they did, as moxi answering one at a time would', async () => {
    // one write: the listing is made once the replies before it are written, not when its line is read
    const rows = await pipelined(
      'set p 0 0 1\r\nx\r\nget p q\r\nget q\r\nstats proxy\r\n',
      'STORED\r\nVALUE p 0 1\r\nx\r\nEND\r\nEND\r\n',
    );
    assert.equal(rows.get('regular_set:seen'), 1);
    assert.equal(rows.get('regular_get:seen'), 2);
    assert.equal(rows.get('regular_get_key:hits'), 1);
    assert.equal(rows.get('regular_get_key:misses'), 2);
  });

  it('a stats proxy reset pipelined between requests zeroes those before it and none after', async () => {
    const rows = await pipelined(
      'set r 0 0 1\r\nx\r\nget r s\r\nstats proxy reset\r\nget r\r\nstats proxy\r\n',
      'STORED\r\nVALUE r 0 1\r\nx\r\nEND\r\nOK\r\nVALUE r 0 1\r\nx\r\nEND\r\n',
    );
    assert.deepEqual(nonZero(rows), {
      'regular_get:seen': 1,
      'regular_get:read_bytes': 5,
      'regular_get_key:seen': 1,
      'regular_get_key:hits': 1,
      'regular_get_key:write_bytes': 3,
      'regular_stats:seen': 1,
      'regular_stats:read_bytes': 11,
    });
  });

  it("memcached:stats counts the proxy's clients: connections and the bytes read from and written to them", async () => {
    const port = proxy!.poolPorts[0];
    const payload = 'set b:1 0 0 3\r\nabc\r\nget b:1 b:2\r\n';
    const reply = await withClient(
      { port },
      async (c) => (await timedRequest(c, payload, (b) => b.toString('latin1').endsWith('END\r\n'))).text,
    );
    assert.equal(reply, 'STORED\r\nVALUE b:1 0 3\r\nabc\r\nEND\r\n');
    const ask = 'stats proxy stats\r\n';
    const stats = parseStats(
      await withClient({ port }, async (c) => (await timedRequest(c, ask, statsDone)).text),
    );
    // the listing's own request is read before it is made; its reply is written after
    assert.equal(stats.get('memcached:stats:bytes_read'), String(payload.length + ask.length));
    assert.equal(stats.get('memcached:stats:bytes_written'), String(reply.length));
    // (startProxy's readiness check connected once too, sending nothing)
    assert.equal(stats.get('memcached:stats:total_connections'), '3');
    assert.equal(stats.get('memcached:stats:curr_connections'), '1');
    const metrics = await (await fetch(`http://${LOOPBACK}:${admin}/metrics`)).text();
    const labels = `port="${port}",bucket="default"`;
    assert.match(
      metrics,
      new RegExp(`moxi_client_read_bytes_total\\{${labels}\\} ${payload.length + ask.length}\\n`),
    );
    assert.match(metrics, new RegExp(`moxi_client_written_bytes_total\\{${labels}\\} \\d+\\n`));
  });

  it('counts binary clients by opcode: quiet opcodes as quiet, a SET with a cas as cas, get keys by reply', async () => {
    const client = await RawClient.connect(proxy!.poolPorts[0]);
    try {
      const set = binRequest({
        opcode: BinOp.set,
        key: 'k',
        extras: storeExtras(0, 0),
        value: 'vv',
        opaque: 1,
      });
      const stored = parseBinFrames((await binaryExchange(client, set)).data).frames;
      assert.equal(stored[0].status, 0);
      const cas = stored[0].cas;
      const requests = Buffer.concat([
        binRequest({ opcode: BinOp.get, key: 'k', opaque: 2 }),
        binRequest({ opcode: BinOp.getk, key: 'missing', opaque: 3 }),
        binRequest({ opcode: BinOp.getq, key: 'k', opaque: 4 }),
        binRequest({ opcode: BinOp.getkq, key: 'missing', opaque: 5 }),
        binRequest({ opcode: BinOp.set, key: 'k', extras: storeExtras(0, 0), value: 'w', cas, opaque: 6 }),
        binRequest({ opcode: BinOp.setq, key: 'q', extras: storeExtras(0, 0), value: 'w', opaque: 7 }),
        binRequest({ opcode: BinOp.increment, key: 'n', extras: arithExtras(1n, 0n, 0), opaque: 8 }),
      ]);
      const frames = parseBinFrames((await binaryExchange(client, requests)).data).frames;
      assert.deepEqual(
        frames.map((f) => [f.opaque, f.status]),
        [
          [2, 0],
          [3, 1],
          [4, 0],
          [6, 0],
          [8, 0],
        ],
      );
    } finally {
      await client.close();
    }
    const header = 24;
    assert.deepEqual(nonZero(await commandStats()), {
      'regular_get:seen': 2,
      'regular_get:read_bytes': header + 1 + header + 7,
      'quiet_get:seen': 2,
      'quiet_get:read_bytes': header + 1 + header + 7,
      // GET k, GETK missing, GETQ k, GETKQ missing (its miss never answered): 2 hits of "vv"
      'regular_get_key:seen': 4,
      'regular_get_key:hits': 2,
      'regular_get_key:misses': 2,
      'regular_get_key:write_bytes': 2 * (2 + 2),
      'regular_set:seen': 1,
      'regular_set:read_bytes': header + 8 + 1 + 2,
      'regular_cas:seen': 1,
      'regular_cas:read_bytes': header + 8 + 1 + 1,
      'regular_cas:cas': 1,
      'quiet_set:seen': 1,
      'quiet_set:read_bytes': header + 8 + 1 + 1,
      'regular_incr:seen': 1,
      'regular_incr:read_bytes': header + 20 + 1,
      'regular_stats:seen': 1,
      'regular_stats:read_bytes': 11,
    });
  });

  it('counts binary GAT as a get of its key and a value too large for the proxy as a refused set', async () => {
    const client = await RawClient.connect(proxy!.poolPorts[0]);
    const header = 24;
    try {
      const set = binRequest({
        opcode: BinOp.set,
        key: 'g',
        extras: storeExtras(0, 0),
        value: 'abc',
        opaque: 1,
      });
      assert.equal(parseBinFrames((await binaryExchange(client, set)).data).frames[0].status, 0);
      const requests = Buffer.concat([
        binRequest({ opcode: BinOp.gat, key: 'g', extras: u32Extras(100), opaque: 2 }),
        binRequest({ opcode: BinOp.gatq, key: 'nope', extras: u32Extras(100), opaque: 3 }),
        binRequest({ opcode: BinOp.noop, opaque: 4 }),
      ]);
      const frames = parseBinFrames((await binaryExchange(client, requests)).data).frames;
      assert.deepEqual(
        frames.map((f) => [f.opaque, f.status]),
        [
          [2, 0],
          [4, 0],
        ],
      );
      // a value one byte over what the proxy takes: refused here with E2BIG (a miss), never forwarded
      const tooLarge = binRequest({
        opcode: BinOp.set,
        key: 'big',
        extras: storeExtras(0, 0),
        value: Buffer.alloc(PROXY_MAX_ITEM + 1),
        opaque: 5,
      });
      const refused = parseBinFrames(
        (await binaryExchange(client, tooLarge, { timeoutMs: 20_000 })).data,
      ).frames;
      assert.deepEqual(
        refused.map((f) => [f.opaque, f.status]),
        [[5, 0x03]],
      );
    } finally {
      await client.close();
    }
    const rows = nonZero(await commandStats());
    assert.deepEqual(Object.fromEntries(Object.entries(rows).filter(([name]) => !name.includes('stats'))), {
      'regular_set:seen': 2,
      'regular_set:misses': 1,
      'regular_set:read_bytes': header + 8 + 1 + 3 + (header + 8 + 3 + PROXY_MAX_ITEM + 1),
      // GAT g, GATQ nope: counted as gets (moxi had no gat)
      'regular_get:seen': 1,
      'regular_get:read_bytes': header + 4 + 1,
      'quiet_get:seen': 1,
      'quiet_get:read_bytes': header + 4 + 4,
      'regular_get_key:seen': 2,
      'regular_get_key:hits': 1,
      'regular_get_key:misses': 1,
      'regular_get_key:write_bytes': 3 + 2,
    });
  });

  it('stats proxy reset zeroes them; Prometheus counts commands and get keys by result', async () => {
    await text('get a\r\nset a 0 0 1\r\nx\r\nget a a\r\n');
    const metrics = await (await fetch(`http://${LOOPBACK}:${admin}/metrics`)).text();
    const labels = `port="${proxy!.poolPorts[0]}",bucket="default"`;
    assert.match(metrics, new RegExp(`moxi_commands_total\\{${labels},command="get",type="regular"\\} 2\\n`));
    assert.match(metrics, new RegExp(`moxi_commands_total\\{${labels},command="set",type="regular"\\} 1\\n`));
    assert.match(metrics, new RegExp(`moxi_get_keys_total\\{${labels},result="hit"\\} 2\\n`));
    assert.match(metrics, new RegExp(`moxi_get_keys_total\\{${labels},result="miss"\\} 1\\n`));
    const port = proxy!.poolPorts[0];
    await withClient({ port }, async (c) => {
      assert.equal((await timedRequest(c, 'stats proxy reset\r\n')).text, 'OK\r\n');
    });
    // only the listing itself
    assert.deepEqual(nonZero(await commandStats()), {
      'regular_stats:seen': 1,
      'regular_stats:read_bytes': 11,
    });
  });
});
