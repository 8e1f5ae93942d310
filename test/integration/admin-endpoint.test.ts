/**
 * `--admin`: the HTTP admin endpoint of a real bin/moxi over real memcacheds.
 *
 *  - proxy (-t 1) plus the embedded server (-p): /metrics counts exactly the requests, multi-get keys
 *    and connections the clients made, per server too, in Prometheus's text format; /healthz is ok;
 *    /api/stats is JSON without config text or passwords; / is the dashboard; 404, 405, HEAD;
 *  - a server that refuses connections: /healthz degraded (200) with that server down, its
 *    moxi_server_up 0 and the connect failures counted; with every server down: 503;
 *  - /debug/cpu-profile: a V8 CPU profile of the window asked for, taken while clients are served, one
 *    at a time; bad arguments 400, a worker that does not exist 404;
 *  - -t 2: the counters are the two workers' sums and each worker has its CPU and memory series; a
 *    profile is of the worker asked for, and a worker that dies while profiled answers 503 at once;
 *  - cluster mode: the REST configuration stream's series and /api/stats entry (open, configurations
 *    received, errors once it is cut; the URL without its password);
 *  - an admin port in use: a clear message and exit 71, as for -p.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { StubRestServer, httpRequest } from '../helpers/cluster.ts';
import { LOOPBACK, freePort } from '../helpers/ports.ts';
import { pauseServer, resumeServer, startMemcached, type ServerHandle } from '../helpers/processes.ts';
import {
  hostList,
  pollUntil,
  repliesDone,
  retrievalDone,
  runMoxi,
  sleep,
  startProxy,
  timedRequest,
  withClient,
  type ProxyHandle,
} from '../helpers/proxy.ts';
import { RawClient } from '../helpers/raw-client.ts';
import { promSamples } from '../helpers/prometheus.ts';

const SUITE = { timeout: 60_000 };

async function scrape(adminPort: number): Promise<Map<string, number>> {
  const r = await httpRequest(`http://${LOOPBACK}:${adminPort}/metrics`);
  assert.equal(r.status, 200, r.body);
  assert.equal(r.headers['content-type'], 'text/plain; version=0.0.4; charset=utf-8');
  return promSamples(r.body);
}

/** A port nothing listens on (picked free, never bound). */
async function deadPort(): Promise<number> {
  return freePort();
}

async function startWithAdmin(
  config: (ports: readonly number[]) => string,
  extra: { threads?: number; behaviors?: string; embedded?: boolean } = {},
): Promise<{ proxy: ProxyHandle; admin: number; embedded: number | null }> {
  const admin = await freePort();
  const embedded = extra.embedded === true ? await freePort() : null;
  const args = ['--admin', `${LOOPBACK}:${admin}`, ...(embedded !== null ? ['-p', String(embedded)] : [])];
  const proxy = await startProxy(config, {
    threads: extra.threads ?? 1,
    ...(extra.behaviors !== undefined ? { behaviors: extra.behaviors } : {}),
    extraArgs: args,
    alsoListens: [admin, ...(embedded !== null ? [embedded] : [])],
  });
  return { proxy, admin, embedded };
}

describe('admin endpoint: proxy and embedded server', SUITE, () => {
  let servers: ServerHandle[] = [];
  let proxy: ProxyHandle | undefined;
  let admin = 0;
  let embedded = 0;

  before(async () => {
    servers = await Promise.all([startMemcached(), startMemcached()]);
    const started = await startWithAdmin((ports) => `${ports[0]}=${hostList(servers)}`, { embedded: true });
    proxy = started.proxy;
    admin = started.admin;
    embedded = started.embedded!;
  });

  after(async () => {
    await proxy?.stop();
    await Promise.all(servers.map((s) => s.stop()));
  });

  it('/metrics counts the requests, multi-get keys, connections and servers the clients used', async () => {
    const port = proxy!.poolPorts[0];
    const pl = `{port="${port}",bucket="default"}`;
    // the harness's readiness probe connected once already
    const accepted = (await scrape(admin)).get(`moxi_upstream_connections_total${pl}`) ?? NaN;
    const client = await RawClient.connect(port);
    try {
      let sets = '';
      for (let i = 0; i < 20; i++) sets += `set admin-key-${i} 0 0 1\r\n${i % 10}\r\n`;
      const stored = await timedRequest(client, sets, repliesDone(20));
      assert.equal(stored.text, 'STORED\r\n'.repeat(20));
      for (let i = 0; i < 10; i++) {
        const r = await timedRequest(
          client,
          `get admin-key-${i} admin-key-${i + 10} nokey-${i}\r\n`,
          retrievalDone,
        );
        assert.match(r.text, /END\r\n$/);
      }
      const m = await scrape(admin);
      assert.equal(m.get(`moxi_requests_total${pl}`), 30);
      assert.equal(m.get(`moxi_multiget_keys_total${pl}`), 30);
      assert.equal(m.get(`moxi_upstream_connections${pl}`), 1);
      assert.equal(m.get(`moxi_upstream_connections_total${pl}`), accepted + 1);
      assert.equal(m.get(`moxi_pool_available${pl}`), 1);
      assert.equal(m.get(`moxi_downstream_timeouts_total${pl}`), 0);
      for (const s of servers) {
        const sl = `{port="${port}",bucket="default",server="${LOOPBACK}:${s.port}"}`;
        assert.equal(m.get(`moxi_server_up${sl}`), 1, sl);
        assert.ok((m.get(`moxi_server_connections${sl}`) ?? 0) >= 1, sl);
        assert.ok((m.get(`moxi_server_connects_total${sl}`) ?? 0) >= 1, sl);
      }
      // every request sent to a server is timed: 20 sets, and each multi-get's batch per server
      let timed = 0;
      for (const s of servers) {
        const sl = `{port="${port}",bucket="default",server="${LOOPBACK}:${s.port}"`;
        const count = m.get(`moxi_server_response_seconds_count${sl}}`) ?? NaN;
        assert.equal(m.get(`moxi_server_response_seconds_bucket${sl},le="+Inf"}`), count);
        assert.ok((m.get(`moxi_server_response_seconds_sum${sl}}`) ?? 0) > 0);
        timed += count;
      }
      assert.ok(timed >= 30 && timed <= 40, `${timed} responses timed`);
      assert.equal(m.get('moxi_threads'), 1);
      assert.equal(m.get('moxi_workers_answering'), 1);
      assert.ok((m.get('moxi_worker_resident_memory_bytes{worker="1"}') ?? 0) > 10e6);
      assert.ok(m.has('process_cpu_user_seconds_total'));
    } finally {
      client.destroy();
    }
    // the client left: its connection is no longer counted
    const gone = await pollUntil(async () => {
      const m = await scrape(admin);
      return m.get(`moxi_upstream_connections${pl}`) === 0 ? true : undefined;
    }, 3000);
    assert.equal(gone, true);
  });

  it("/metrics has the embedded server's commands, items and connections", async () => {
    await withClient({ port: embedded }, async (c) => {
      const r = await timedRequest(c, 'set e1 0 0 2\r\nab\r\nset e2 0 0 3\r\nabc\r\n', repliesDone(2));
      assert.equal(r.text, 'STORED\r\nSTORED\r\n');
      const g = await timedRequest(c, 'get e1 e2 e3\r\n', retrievalDone);
      assert.match(g.text, /^VALUE e1 0 2\r\nab\r\nVALUE e2 0 3\r\nabc\r\nEND\r\n$/);
      const m = await scrape(admin);
      assert.equal(m.get('moxi_embedded_connections'), 1);
      assert.equal(m.get('moxi_embedded_commands_total{command="set"}'), 2);
      assert.equal(m.get('moxi_embedded_get_hits_total'), 2);
      assert.equal(m.get('moxi_embedded_get_misses_total'), 1);
      assert.equal(m.get('moxi_embedded_items{bucket="default"}'), 2);
      assert.ok((m.get('moxi_embedded_bytes{bucket="default"}') ?? 0) > 0);
      assert.equal(m.get('moxi_embedded_limit_bytes{bucket="default"}'), 64 * 1024 * 1024);
    });
  });

  it('/healthz is ok; /api/stats is JSON without config text; / is the dashboard', async () => {
    const base = `http://${LOOPBACK}:${admin}`;
    const h = await httpRequest(`${base}/healthz`);
    assert.equal(h.status, 200);
    const health = JSON.parse(h.body) as { status: string; pools: Array<{ servers: unknown[] }> };
    assert.equal(health.status, 'ok');
    assert.equal(health.pools.length, 1);
    assert.equal(health.pools[0].servers.length, 2);

    const a = await httpRequest(`${base}/api/stats`);
    assert.equal(a.status, 200);
    assert.match(String(a.headers['content-type']), /^application\/json/);
    const stats = JSON.parse(a.body) as {
      mode: string;
      health: string;
      workers: Array<{ worker: number; pid: number }>;
      pools: Array<{ port: number; counters: Record<string, number> }>;
      embedded: { port: number } | null;
    };
    assert.equal(stats.mode, 'proxy');
    assert.equal(stats.health, 'ok');
    assert.equal(stats.workers.length, 1);
    assert.equal(stats.workers[0].pid, proxy!.pid);
    assert.equal(stats.pools[0].port, proxy!.poolPorts[0]);
    assert.equal(stats.embedded?.port, embedded);
    assert.ok(!a.body.includes('configText') && !a.body.includes('behaviors'), a.body.slice(0, 300));

    const d = await httpRequest(`${base}/`);
    assert.equal(d.status, 200);
    assert.match(String(d.headers['content-type']), /^text\/html/);
    assert.match(d.body, /<title>moxi\.ts<\/title>/);
    assert.match(d.body, /api\/stats/);
  });

  it('/debug/cpu-profile samples the proxy serving clients for the seconds asked, one profile at a time', async () => {
    const load = keepBusy(proxy!.poolPorts[0]);
    try {
      const [first, second] = await Promise.all([
        cpuProfile(admin, 'seconds=1'),
        sleep(200).then(() => cpuProfile(admin, 'seconds=1')),
      ]);
      assert.equal(first.status, 200, first.body.slice(0, 200));
      assert.equal(first.pid, proxy!.pid);
      assert.match(
        first.disposition,
        new RegExp(`^attachment; filename="moxi-${proxy!.pid}-[0-9TZ-]+\\.cpuprofile"$`),
      );
      const p = first.profile!;
      const windowUs = p.endTime - p.startTime;
      assert.ok(windowUs >= 950_000 && windowUs < 3_000_000, `profile window ${windowUs} us`);
      assert.ok(p.samples.length > 100, `${p.samples.length} samples`);
      // the clients' requests went through the proxy's code while it was sampled
      const sampled = sampledFunctions(p);
      assert.ok(sampled.size > 0, 'no sample in moxi.ts code');
      assert.equal(second.status, 409);
      assert.match(second.body, /being taken already/);
    } finally {
      await load.stop();
    }
    // once the first is done, the next one is taken
    assert.equal((await cpuProfile(admin, 'seconds=0.2')).status, 200);
  });

  it('/debug/cpu-profile refuses a bad window or worker with a reason', async () => {
    for (const [query, status, reason] of [
      ['seconds=0', 400, /seconds must be a number above 0 and at most 120/],
      ['seconds=121', 400, /at most 120, not "121"/],
      ['seconds=ten', 400, /not "ten"/],
      ['worker=0', 400, /worker must be a worker number/],
      ['seconds=1&worker=2', 404, /there is no worker 2: moxi\.ts runs in one process/],
    ] as const) {
      const r = await cpuProfile(admin, query);
      assert.equal(r.status, status, query);
      assert.match(r.body, reason, query);
    }
  });

  it('unknown paths 404, other methods 405, HEAD has no body', async () => {
    const base = `http://${LOOPBACK}:${admin}`;
    assert.equal((await httpRequest(`${base}/nope`)).status, 404);
    const post = await httpRequest(`${base}/metrics`, { method: 'POST' });
    assert.equal(post.status, 405);
    assert.equal(post.headers['allow'], 'GET, HEAD');
    const head = await httpRequest(`${base}/metrics`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.body, '');
  });
});

interface CpuProfileJson {
  nodes: Array<{ id: number; callFrame: { functionName: string; url: string } }>;
  startTime: number;
  endTime: number;
  samples: number[];
}

/** GET /debug/cpu-profile?<query>: the status, the pid it names, and the profile when there is one. */
async function cpuProfile(
  adminPort: number,
  query: string,
): Promise<{
  status: number;
  pid: number;
  profile: CpuProfileJson | null;
  body: string;
  disposition: string;
}> {
  const r = await httpRequest(`http://${LOOPBACK}:${adminPort}/debug/cpu-profile?${query}`, {
    timeoutMs: 30_000,
  });
  return {
    status: r.status,
    pid: Number(r.headers['x-moxi-pid'] ?? NaN),
    profile: r.status === 200 ? (JSON.parse(r.body) as CpuProfileJson) : null,
    body: r.body,
    disposition: r.headers['content-disposition'] ?? '',
  };
}

/** Names of the functions a profile sampled (those its samples landed in). */
function sampledFunctions(profile: CpuProfileJson): Set<string> {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const names = new Set<string>();
  for (const id of profile.samples) {
    const frame = byId.get(id)?.callFrame;
    if (frame !== undefined && frame.url.includes('/dist/src/')) names.add(frame.functionName);
  }
  return names;
}

/** Sets and gets on `port` until `stop()` (so that a profile has the proxy's code to sample). */
function keepBusy(port: number): { stop(): Promise<void> } {
  const state = { running: true };
  const done = (async () => {
    const client = await RawClient.connect(port);
    try {
      for (let i = 0; state.running && i < 100_000; i++) {
        await timedRequest(client, `set busy-${i % 50} 0 0 2\r\nok\r\nget busy-${i % 50}\r\n`, retrievalDone);
      }
    } finally {
      client.destroy();
    }
  })();
  return {
    stop: async () => {
      state.running = false;
      await done;
    },
  };
}

describe('admin endpoint: a slow server', SUITE, () => {
  let mc: ServerHandle | undefined;
  let proxy: ProxyHandle | undefined;
  let admin = 0;

  before(async () => {
    mc = await startMemcached();
    const started = await startWithAdmin((ports) => `${ports[0]}=${LOOPBACK}:${mc!.port}`);
    proxy = started.proxy;
    admin = started.admin;
  });

  after(async () => {
    if (mc !== undefined) resumeServer(mc);
    await proxy?.stop();
    await mc?.stop();
  });

  it('a reply that took 300 ms is in the histogram past the 250 ms bucket', async () => {
    const port = proxy!.poolPorts[0];
    await withClient({ port }, async (c) => {
      assert.equal((await timedRequest(c, 'set slow 0 0 1\r\nx\r\n')).text, 'STORED\r\n');
      pauseServer(mc!);
      const reply = timedRequest(c, 'get slow\r\n', retrievalDone);
      await sleep(300);
      resumeServer(mc!);
      assert.equal((await reply).text, 'VALUE slow 0 1\r\nx\r\nEND\r\n');
    });
    const m = await scrape(admin);
    const sl = `{port="${port}",bucket="default",server="${LOOPBACK}:${mc!.port}"`;
    assert.equal(m.get(`moxi_server_response_seconds_count${sl}}`), 2);
    assert.equal(m.get(`moxi_server_response_seconds_bucket${sl},le="0.25"}`), 1);
    assert.equal(m.get(`moxi_server_response_seconds_bucket${sl},le="0.5"}`), 2);
    assert.ok((m.get(`moxi_server_response_seconds_sum${sl}}`) ?? 0) >= 0.29);
  });
});

describe('admin endpoint: a server down', SUITE, () => {
  let live: ServerHandle | undefined;
  let proxy: ProxyHandle | undefined;
  let admin = 0;
  let dead = 0;

  before(async () => {
    live = await startMemcached();
    dead = await deadPort();
    const started = await startWithAdmin(
      (ports) => `${ports[0]}=${LOOPBACK}:${live!.port},${LOOPBACK}:${dead}`,
      { behaviors: 'connect_max_errors=2,connect_retry_interval=60000' },
    );
    proxy = started.proxy;
    admin = started.admin;
  });

  after(async () => {
    await proxy?.stop();
    await live?.stop();
  });

  it('/healthz says degraded and names the server; its series say it is down', async () => {
    const port = proxy!.poolPorts[0];
    const keys = Array.from({ length: 40 }, (_, i) => `down-${i}`).join(' ');
    // gets of keys on both servers until the dead one is ejected
    const degraded = await pollUntil(async () => {
      await withClient({ port }, (c) => timedRequest(c, `get ${keys}\r\n`, retrievalDone));
      const h = await httpRequest(`http://${LOOPBACK}:${admin}/healthz`);
      return h.status === 200 && h.body.includes('"degraded"') ? h.body : undefined;
    }, 10_000);
    assert.ok(degraded !== undefined, 'never degraded');
    const health = JSON.parse(degraded) as {
      pools: Array<{ servers: Array<{ server: string; up: boolean }> }>;
    };
    assert.deepEqual(health.pools[0].servers, [
      { server: `${LOOPBACK}:${live!.port}`, up: true },
      { server: `${LOOPBACK}:${dead}`, up: false },
    ]);
    const m = await scrape(admin);
    const sl = (p: number) => `{port="${port}",bucket="default",server="${LOOPBACK}:${p}"}`;
    assert.equal(m.get(`moxi_server_up${sl(dead)}`), 0);
    assert.equal(m.get(`moxi_server_up${sl(live!.port)}`), 1);
    assert.ok((m.get(`moxi_server_connect_failures_total${sl(dead)}`) ?? 0) >= 2);
  });
});

describe('admin endpoint: every server down', SUITE, () => {
  let proxy: ProxyHandle | undefined;
  let admin = 0;

  before(async () => {
    const dead = await deadPort();
    const started = await startWithAdmin((ports) => `${ports[0]}=${LOOPBACK}:${dead}`, {
      behaviors: 'connect_max_errors=1,connect_retry_interval=60000',
    });
    proxy = started.proxy;
    admin = started.admin;
  });

  after(async () => {
    await proxy?.stop();
  });

  it('/healthz answers 503 down', async () => {
    const port = proxy!.poolPorts[0];
    const down = await pollUntil(async () => {
      await withClient({ port }, (c) => timedRequest(c, 'get a b c\r\n', retrievalDone));
      const h = await httpRequest(`http://${LOOPBACK}:${admin}/healthz`);
      return h.status === 503 ? h.body : undefined;
    }, 10_000);
    assert.ok(down !== undefined, 'never 503');
    assert.equal((JSON.parse(down) as { status: string }).status, 'down');
  });
});

describe('admin endpoint: -t 2', SUITE, () => {
  let servers: ServerHandle[] = [];
  let proxy: ProxyHandle | undefined;
  let admin = 0;

  before(async () => {
    servers = await Promise.all([startMemcached(), startMemcached()]);
    const started = await startWithAdmin((ports) => `${ports[0]}=${hostList(servers)}`, { threads: 2 });
    proxy = started.proxy;
    admin = started.admin;
  });

  after(async () => {
    await proxy?.stop();
    await Promise.all(servers.map((s) => s.stop()));
  });

  it("counts both workers' requests and connections, and shows each worker's CPU and memory", async () => {
    const port = proxy!.poolPorts[0];
    const clients = await Promise.all(Array.from({ length: 8 }, () => RawClient.connect(port)));
    try {
      await Promise.all(
        clients.map(async (c, i) => {
          for (let j = 0; j < 5; j++) {
            const r = await timedRequest(c, `set t2-${i}-${j} 0 0 1\r\nx\r\n`);
            assert.equal(r.text, 'STORED\r\n');
          }
        }),
      );
      const m = await scrape(admin);
      const pl = `{port="${port}",bucket="default"}`;
      assert.equal(m.get(`moxi_requests_total${pl}`), 40);
      assert.equal(m.get(`moxi_upstream_connections${pl}`), 8);
      assert.equal(m.get('moxi_threads'), 2);
      assert.equal(m.get('moxi_workers_answering'), 2);
      for (const w of ['1', '2']) {
        assert.ok(m.has(`moxi_worker_cpu_seconds_total{worker="${w}",mode="user"}`), w);
        assert.ok((m.get(`moxi_worker_resident_memory_bytes{worker="${w}"}`) ?? 0) > 10e6, w);
      }
    } finally {
      for (const c of clients) c.destroy();
    }
  });

  it('profiles the worker asked for (the first by default), never the primary', async () => {
    const [first, second, byDefault] = await Promise.all([
      cpuProfile(admin, 'seconds=0.5&worker=1'),
      cpuProfile(admin, 'seconds=0.5&worker=2'),
      sleep(800).then(() => cpuProfile(admin, 'seconds=0.5')),
    ]);
    for (const r of [first, second, byDefault]) {
      assert.equal(r.status, 200, r.body.slice(0, 200));
      assert.ok(r.profile!.samples.length > 0);
      assert.notEqual(r.pid, proxy!.pid);
    }
    assert.notEqual(first.pid, second.pid);
    assert.equal(byDefault.pid, first.pid);
    const third = await cpuProfile(admin, 'seconds=0.5&worker=3');
    assert.equal(third.status, 404);
    assert.match(third.body, /there is no worker 3: moxi\.ts runs 2 workers \(-t 2\)/);
  });

  it('a worker that dies while it is profiled: 503 at once, not at the end of the window', async () => {
    const { pid } = await cpuProfile(admin, 'seconds=0.1&worker=2');
    const t0 = performance.now();
    const [r] = await Promise.all([
      cpuProfile(admin, 'seconds=20&worker=2'),
      sleep(300).then(() => {
        process.kill(pid, 'SIGKILL');
      }),
    ]);
    assert.equal(r.status, 503);
    assert.match(r.body, /worker 2 exited while it was being profiled/);
    assert.ok(performance.now() - t0 < 5000);
    // the primary starts another worker 2, which can be profiled
    const again = await pollUntil(async () => {
      const p = await cpuProfile(admin, 'seconds=0.1&worker=2');
      return p.status === 200 ? p : undefined;
    }, 10_000);
    assert.ok(again !== undefined && again.pid !== pid);
  });
});

describe('admin endpoint: cluster mode', SUITE, () => {
  it('shows the REST configuration stream: open with its configurations, then cut', async () => {
    const stub = await StubRestServer.start({ document: { buckets: [] } });
    const port = await freePort();
    const admin = await freePort();
    const url = stub.at().replace('http://', 'http://ops:secret@');
    // runs until killed at its time limit; the test is done well before
    const running = runMoxi(
      ['-l', LOOPBACK, '-t', '1', '-Z', `port_listen=${port}`, '--admin', `${LOOPBACK}:${admin}`, url],
      { timeoutMs: 6000 },
    );
    try {
      const series = async (want: (m: Map<string, number>) => boolean): Promise<Map<string, number>> => {
        const m = await pollUntil(async () => {
          const r = await httpRequest(`http://${LOOPBACK}:${admin}/metrics`).catch(() => null);
          if (r === null || r.status !== 200) return undefined;
          const samples = promSamples(r.body);
          return want(samples) ? samples : undefined;
        }, 4000);
        assert.ok(m, 'the admin endpoint never showed the expected config stream series');
        return m;
      };
      const open = await series((m) => m.get('moxi_config_stream_connected') === 1);
      assert.equal(open.get('moxi_config_stream_configs_total'), 1);
      assert.equal(open.get('moxi_config_stream_errors_total'), 0);
      assert.ok(
        Math.abs((open.get('moxi_config_stream_last_config_timestamp_seconds') ?? 0) - Date.now() / 1000) <
          10,
      );
      const api = JSON.parse((await httpRequest(`http://${LOOPBACK}:${admin}/api/stats`)).body) as {
        configSource: { url: string; connected: boolean; configs: number };
      };
      assert.deepEqual(
        [api.configSource.url, api.configSource.connected, api.configSource.configs],
        [stub.at(), true, 1],
        'the URL without user and password',
      );
      stub.publish({ buckets: [] });
      await series((m) => m.get('moxi_config_stream_configs_total') === 2);
      await stub.close();
      const cut = await series((m) => m.get('moxi_config_stream_connected') === 0);
      assert.ok((cut.get('moxi_config_stream_errors_total') ?? 0) >= 1);
      assert.equal(cut.get('moxi_config_stream_configs_total'), 2);
    } finally {
      await stub.close();
      await running;
    }
  });
});

describe('admin endpoint: its port in use', SUITE, () => {
  let blocker: Server | undefined;

  after(async () => {
    await new Promise<void>((resolve) => {
      if (blocker === undefined) resolve();
      else
        blocker.close(() => {
          resolve();
        });
    });
  });

  it('exits 71 with a message naming the address', async () => {
    blocker = createServer();
    const port = await freePort();
    await new Promise<void>((resolve, reject) => {
      blocker!.once('error', reject);
      blocker!.listen(port, LOOPBACK, resolve);
    });
    const proxyPort = await freePort();
    const r = await runMoxi(
      ['-z', `${proxyPort}=${LOOPBACK}:1`, '-l', LOOPBACK, '-t', '1', '--admin', String(port)],
      {
        timeoutMs: 8000,
      },
    );
    assert.equal(r.code, 71, r.stderr);
    assert.match(
      r.stderr,
      new RegExp(`failed to listen on admin address 127\\.0\\.0\\.1:${port}: .*EADDRINUSE`),
    );
  });
});
