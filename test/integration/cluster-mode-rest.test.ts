/**
 * moxi.ts's REST configuration client in cluster mode, against bin/moxi-cluster and small REST
 * servers of our own (moxi-spec §4.3):
 *
 *  - the positional URL form (`moxi ... http://h/pools/default/bucketsStreamingConfig/default`) serves
 *    the bucket; when the REST server dies the last configuration stays in service (clients keep
 *    working, new clients are accepted); when it returns moxi.ts reconnects by itself (with backoff)
 *    and follows a rebalance to 4 nodes made afterwards;
 *  - HTTP 401 (moxi-cluster --admin) without or with wrong credentials, from `-z auth=`, `-Z usr/pwd`
 *    or none at all: moxi's `ERROR: Authentication failure` and exit code 1, nothing listening;
 *    the right credentials from `-z auth=user%pass,url=...` or `-Z usr=...,pwd=...` work and are sent
 *    as HTTP basic auth;
 *  - URL failover: a first URL that refuses connections, or that answers something that is not JSON,
 *    is skipped for the next one, with `-z url=A|B` and with the positional `http://A,http://B`.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  BinStatus,
  NodeClient,
  StubRestServer,
  ownerOf,
  startCluster,
  type BucketJson,
  type ClusterHandle,
} from '../helpers/cluster.ts';
import { freePort } from '../helpers/ports.ts';
import type { MultiPortHandle } from '../helpers/processes.ts';
import {
  parseStats,
  pollUntil,
  retrievalDone,
  runMoxi,
  sleep,
  startClusterProxy,
  statsDone,
  timedRequest,
} from '../helpers/proxy.ts';
import { RawClient, printable } from '../helpers/raw-client.ts';

const SUITE_TIMEOUT = { timeout: 60_000 };
const AUTH_FAILURE_LINE = 'ERROR: Authentication failure';
const ADMIN = { user: 'Administrator', password: 'passw0rd' } as const;

const oneLine = (b: Buffer): boolean => b.indexOf('\r\n') >= 0;

/** set then get through moxi.ts on `c`; asserts the exact replies. */
async function setGet(c: RawClient, key: string, value: string, context = ''): Promise<void> {
  const set = await timedRequest(c, `set ${key} 5 0 ${value.length}\r\n${value}\r\n`, oneLine, 5000);
  assert.equal(set.text, 'STORED\r\n', `set ${key} ${context}: ${printable(set.raw)}`);
  const get = await timedRequest(c, `get ${key}\r\n`, retrievalDone, 5000);
  assert.equal(
    get.text,
    `VALUE ${key} 5 ${value.length}\r\n${value}\r\nEND\r\n`,
    `get ${key} ${context}: ${printable(get.raw)}`,
  );
}

/** One connection, one set + get, closed. */
async function roundTrip(port: number, key: string, value: string, context = ''): Promise<void> {
  const c = await RawClient.connect(port);
  try {
    await setGet(c, key, value, context);
  } finally {
    c.destroy();
  }
}

async function statsProxy(port: number): Promise<Map<string, string>> {
  const c = await RawClient.connect(port);
  try {
    const r = await timedRequest(c, 'stats proxy\r\n', statsDone, 5000);
    assert.ok(r.complete, `stats proxy: ${printable(r.raw, 500)}`);
    return parseStats(r.text);
  } finally {
    c.destroy();
  }
}

function serverList(stats: Map<string, string>, port: number, bucket = 'default'): string[] {
  const text = stats.get(`${port}:${bucket}:info:config`);
  if (text === undefined || text === '') return [];
  return (JSON.parse(text) as BucketJson).vBucketServerMap?.serverList ?? [];
}

/** stderr lines of a run. */
function lines(text: string): string[] {
  return text.split('\n').map((l) => l.replace(/\r$/, ''));
}

describe('cluster mode: the REST server dies and comes back', SUITE_TIMEOUT, () => {
  let cluster: ClusterHandle;
  let moxi: MultiPortHandle;

  before(async () => {
    cluster = await startCluster({ nodes: 2, maxNodes: 4, moveDelayMs: 1 });
    // the positional form, exactly as moxi's documentation writes it (the URL comes last)
    moxi = await startClusterProxy((port) => ['-Z', `port_listen=${port}`, cluster.streamingUrl('default')]);
  });
  after(async () => {
    await moxi.stop();
    await cluster.stop();
  });

  it('keeps serving the last configuration, then follows the cluster again', async () => {
    const client = await RawClient.connect(moxi.port);
    const binary = await NodeClient.connect(moxi.port);
    const stillOpen = (): boolean => !client.closed && !binary.closed;
    try {
      await setGet(client, 'before:rest-stop', 'v0');
      assert.equal((await binary.set('bin:before', 'b0', 0)).status, BinStatus.success);
      await pollUntil(async () => ((await cluster.status()).streams >= 1 ? true : undefined), 5000);

      await cluster.restStop();
      // the stream is gone and reconnects are refused for a while: everything keeps working
      const until = Date.now() + 1300;
      for (let i = 0; Date.now() < until && i < 200; i++) {
        await setGet(client, `down:${i}`, `value-${i}`, '(REST server down)');
        const r = await binary.set(`bin:down:${i}`, `b${i}`, 0);
        assert.equal(r.status, BinStatus.success, `binary set while the REST server is down: ${r.status}`);
        await sleep(20);
      }
      // a new client is still accepted, in the same bucket
      await roundTrip(moxi.port, 'new-client:down', 'accepted', '(new client, REST server down)');
      assert.ok(stillOpen(), 'a client connection was closed');
      assert.ok(
        /curl error|could not contact REST/.test(moxi.output()),
        `moxi.ts did not report the lost REST server:\n${moxi.output()}`,
      );

      await cluster.restStart();
      // moxi.ts comes back by itself (its retry pause backs off: bounded here by 8 s)
      const back = await pollUntil(
        async () => ((await cluster.status()).streams >= 1 ? true : undefined),
        8000,
      );
      assert.ok(back, `moxi.ts did not reconnect to the REST server:\n${moxi.output()}`);

      const summary = await cluster.rebalance(4);
      const followed = await pollUntil(async () => {
        const list = serverList(await statsProxy(moxi.port), moxi.port);
        return JSON.stringify(list) === JSON.stringify(summary.serverList) ? list : undefined;
      }, 5000);
      assert.ok(followed, `moxi.ts did not follow the rebalance to ${summary.serverList.join(',')}`);

      // new writes land on the nodes that own them by the new map, two of which are new
      const config = await cluster.bucketConfig('default');
      const onNewNodes = new Set<number>();
      for (let i = 0; i < 64; i++) {
        const key = `after:${i}`;
        await setGet(client, key, `new-${i}`, '(after the rebalance)');
        const owner = ownerOf(config, key);
        if (owner.index >= 2) onNewNodes.add(owner.port);
        const direct = await NodeClient.connect(owner.port);
        try {
          const r = await direct.get(key, owner.vbucket);
          assert.equal(r.status, BinStatus.success, `${key} is not on its owner ${owner.port}`);
          assert.equal(r.value.toString(), `new-${i}`);
        } finally {
          direct.close();
        }
      }
      assert.equal(onNewNodes.size, 2, 'no key went to the new nodes');
      // and what was written while the REST server was down is still there
      const old = await timedRequest(client, 'get before:rest-stop down:0\r\n', retrievalDone, 5000);
      assert.equal(
        old.text,
        'VALUE before:rest-stop 5 2\r\nv0\r\nVALUE down:0 5 7\r\nvalue-0\r\nEND\r\n',
        printable(old.raw),
      );
      const b = await binary.get('bin:down:0', 0);
      assert.equal(b.value.toString(), 'b0');
      assert.ok(stillOpen(), 'a client connection was closed');
    } finally {
      client.destroy();
      binary.close();
    }
  });
});

describe('cluster mode: HTTP basic auth and 401', SUITE_TIMEOUT, () => {
  let cluster: ClusterHandle;

  before(async () => {
    cluster = await startCluster({ nodes: 1, admin: ADMIN });
  });
  after(async () => {
    await cluster.stop();
  });

  const base = (port: number, extra = ''): string[] => [
    '-l',
    '127.0.0.1',
    '-t',
    '1',
    '-Z',
    `port_listen=${port}${extra}`,
  ];
  const failing: Array<[string, (port: number, url: string) => string[]]> = [
    ['no credentials, positional URL', (port, url) => [...base(port), url]],
    ['no credentials, -z url=', (port, url) => [...base(port), '-z', `url=${url}`]],
    [
      'a wrong password in -z auth=',
      (port, url) => [...base(port), '-z', `auth=${ADMIN.user}%wrong,url=${url}`],
    ],
    [
      'a wrong user in -z auth=',
      (port, url) => [...base(port), '-z', `auth=nobody%${ADMIN.password},url=${url}`],
    ],
    [
      'a wrong password in -Z usr=,pwd=',
      (port, url) => [...base(port, `,usr=${ADMIN.user},pwd=wrong`), '-z', `url=${url}`],
    ],
  ];

  for (const [what, args] of failing) {
    it(`exits 1 with "${AUTH_FAILURE_LINE}" given ${what}`, async () => {
      const port = await freePort();
      const run = await runMoxi(args(port, cluster.streamingUrl('default')), { timeoutMs: 8000 });
      assert.equal(run.killed, false, `moxi.ts did not exit:\n${run.stderr}`);
      assert.equal(run.code, 1, `exit code; stderr:\n${run.stderr}`);
      assert.ok(
        lines(run.stderr).includes(AUTH_FAILURE_LINE),
        `no "${AUTH_FAILURE_LINE}" line in stderr:\n${run.stderr}`,
      );
    });
  }

  it('logs in with -z auth=user%pass,url=...', async () => {
    const moxi = await startClusterProxy((port) => [
      '-z',
      `auth=${ADMIN.user}%${ADMIN.password},url=${cluster.streamingUrl('default')}`,
      '-Z',
      `port_listen=${port}`,
    ]);
    try {
      await roundTrip(moxi.port, 'auth:z', 'via-z-auth');
    } finally {
      await moxi.stop();
    }
  });

  it('logs in with -Z usr=...,pwd=... (and a positional URL)', async () => {
    const moxi = await startClusterProxy((port) => [
      '-Z',
      `port_listen=${port},usr=${ADMIN.user},pwd=${ADMIN.password}`,
      cluster.saslStreamingUrl(),
    ]);
    try {
      await roundTrip(moxi.port, 'auth:Z', 'via-Z-usr-pwd');
    } finally {
      await moxi.stop();
    }
  });

  it('a 401 after a good configuration also ends moxi.ts', async () => {
    const stub = await StubRestServer.start({ document: await cluster.bucketConfig('default') });
    try {
      const moxi = await startClusterProxy((port) => ['-z', `url=${stub.at()}`, '-Z', `port_listen=${port}`]);
      await roundTrip(moxi.port, 'auth:before-401', 'served');
      stub.setHandler((_req, res) => {
        res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="x"' });
        res.end();
      });
      stub.dropStreams();
      const gone = await pollUntil(() => Promise.resolve(moxi.exited() ? true : undefined), 5000);
      assert.ok(gone, `moxi.ts kept running after a 401:\n${moxi.output()}`);
      assert.ok(lines(moxi.output()).includes(AUTH_FAILURE_LINE), moxi.output());
    } finally {
      await stub.close();
    }
  });

  it('sends the credentials as HTTP basic auth', async () => {
    const stub = await StubRestServer.start({ document: await cluster.bucketConfig('default') });
    try {
      const moxi = await startClusterProxy((port) => [
        '-z',
        `auth=alice%se:cr%et,url=${stub.at('/pools/default/bucketsStreamingConfig/default')}`,
        '-Z',
        `port_listen=${port}`,
      ]);
      await moxi.stop();
      assert.equal(
        stub.requests[0]?.authorization,
        `Basic ${Buffer.from('alice:se:cr%et').toString('base64')}`,
      );
    } finally {
      await stub.close();
    }
  });
});

describe('cluster mode: URL failover', SUITE_TIMEOUT, () => {
  let cluster: ClusterHandle;
  let garbage: StubRestServer;
  let refusedUrl: string;

  before(async () => {
    cluster = await startCluster({ nodes: 2, buckets: 'default,other:pw' });
    // answers 200 with a body that is not JSON, terminated like a streamed config
    garbage = await StubRestServer.start({
      handler: (_req, res) => {
        res.writeHead(200, { 'Content-Type': 'text/html' });
        res.write('<html>not a config</html>\n\n\n\n');
      },
    });
    // a port nothing listens on (probed free, never bound)
    refusedUrl = `http://127.0.0.1:${await freePort()}/pools/default/saslBucketsStreaming`;
  });
  after(async () => {
    await garbage.close();
    await cluster.stop();
  });

  async function check(moxi: MultiPortHandle, key: string): Promise<void> {
    try {
      await roundTrip(moxi.port, key, 'served');
      const stats = await statsProxy(moxi.port);
      assert.equal(stats.get(`${moxi.port}:other:info:name`), 'other', 'the second URL’s buckets are served');
    } finally {
      await moxi.stop();
    }
  }

  it('-z url=A|B: A refuses connections, B serves', async () => {
    const moxi = await startClusterProxy((port) => [
      '-z',
      `url=${refusedUrl}|${cluster.saslStreamingUrl()}`,
      '-Z',
      `port_listen=${port}`,
    ]);
    const out = moxi.output();
    await check(moxi, 'failover:refused');
    assert.ok(out.includes('curl error') && out.includes(refusedUrl), `no curl error for A:\n${out}`);
  });

  it('-z url=A|B: A answers something that is not JSON, B serves', async () => {
    const before = garbage.requests.length;
    const bad = garbage.at();
    const moxi = await startClusterProxy((port) => [
      '-z',
      `url=${bad}|${cluster.saslStreamingUrl()}`,
      '-Z',
      `port_listen=${port}`,
    ]);
    const out = moxi.output();
    await check(moxi, 'failover:garbage');
    assert.ok(garbage.requests.length > before, 'A was never asked');
    assert.ok(out.includes(`parse JSON failed, from REST server: ${bad}`), `no parse error for A:\n${out}`);
  });

  it('positional http://A,http://B,...: refused, not JSON, 404, then the good one', async () => {
    const notFound = cluster.streamingUrl('nosuchbucket');
    const moxi = await startClusterProxy((port) => [
      '-Z',
      `port_listen=${port}`,
      `${refusedUrl},${garbage.at()},${notFound},${cluster.saslStreamingUrl()}`,
    ]);
    const out = moxi.output();
    await check(moxi, 'failover:positional');
    for (const url of [refusedUrl, garbage.at(), notFound])
      assert.ok(out.includes(url), `${url} not tried:\n${out}`);
  });

  it('a round in which no URL works is retried after a pause that backs off', async () => {
    const dead = await StubRestServer.start({
      handler: (req) => {
        req.socket.destroy();
      },
    });
    try {
      const port = await freePort();
      const run = await runMoxi(
        ['-l', '127.0.0.1', '-t', '1', '-Z', `port_listen=${port}`, '-z', `url=${dead.at()}`],
        {
          timeoutMs: 4300,
        },
      );
      assert.equal(run.killed, true, `moxi.ts exited:\n${run.stderr}`);
      const at = dead.requests.map((r) => r.at);
      assert.equal(
        at.length,
        3,
        `expected tries at about 0, 1 and 3 s, got ${JSON.stringify(at.map((t) => t - at[0]))}`,
      );
      const first = at[1] - at[0];
      const second = at[2] - at[1];
      assert.ok(first >= 800 && first < 1600, `first pause ${first} ms`);
      assert.ok(second >= 1.6 * first, `second pause ${second} ms after a first of ${first} ms: no backoff`);
    } finally {
      await dead.close();
    }
  });

  it('without any working URL nothing listens, and moxi.ts keeps trying', async () => {
    const port = await freePort();
    const running = runMoxi(['-l', '127.0.0.1', '-t', '1', '-Z', `port_listen=${port}`, refusedUrl], {
      timeoutMs: 1500,
    });
    await sleep(800);
    await assert.rejects(RawClient.connect(port), /ECONNREFUSED/, 'port_listen is open without a config');
    const run = await running;
    assert.equal(run.killed, true, `moxi.ts exited (code ${run.code}):\n${run.stderr}`);
    assert.ok(run.stderr.includes('could not contact REST server(s)'), run.stderr);
  });
});
