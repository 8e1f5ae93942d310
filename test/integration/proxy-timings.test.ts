/**
 * `-Z time_stats=1`: each pool keeps moxi's histograms of connect times and of requests' times at their
 * servers, and `stats proxy timings` draws them as moxi does (src/util/timing-histogram.ts), summed over
 * `-t 2` workers. With time_stats 0 (the default) nothing is kept and the listing is just END.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ServerHandle } from '../helpers/processes.ts';
import { startMemcached } from '../helpers/processes.ts';
import {
  DownstreamProtocols,
  behaviorsFor,
  hostList,
  startProxy,
  statsDone,
  timedRequest,
  withClient,
  type ProxyHandle,
} from '../helpers/proxy.ts';

/** `STAT <port>:default:<kind> <line>` rows, by kind. */
function timingRows(listing: string): Map<string, string[]> {
  const rows = new Map<string, string[]>();
  for (const line of listing.split('\r\n')) {
    const m = /^STAT \d+:default:(connect|reserved) (.*)$/.exec(line);
    if (m === null) continue;
    rows.set(m[1], [...(rows.get(m[1]) ?? []), m[2]]);
  }
  return rows;
}

describe('stats proxy timings (time_stats)', () => {
  let servers: ServerHandle[] = [];
  let timed: ProxyHandle | undefined;
  let untimed: ProxyHandle | undefined;

  before(async () => {
    servers = await Promise.all([startMemcached(), startMemcached()]);
    const config = (ports: readonly number[]): string => `${ports[0]}=${hostList(servers)}`;
    timed = await startProxy(config, {
      behaviors: behaviorsFor(DownstreamProtocols.ascii, 'time_stats=1'),
      threads: 2,
    });
    untimed = await startProxy(config, { behaviors: behaviorsFor(DownstreamProtocols.ascii) });
  });

  after(async () => {
    await timed?.stop();
    await untimed?.stop();
    await Promise.all(servers.map((s) => s.stop()));
  });

  it("draws moxi's histograms of connect and response times, every request counted", async () => {
    const port = timed!.poolPorts[0];
    const requests = 40;
    // two clients, so both workers are likely to serve some (the listing is their sum either way)
    for (const client of [0, 1]) {
      await withClient({ port }, async (c) => {
        for (let i = 0; i < requests / 2; i++) {
          const r = await timedRequest(c, `set t:${client}:${i} 0 0 1\r\nx\r\n`);
          assert.equal(r.text, 'STORED\r\n');
        }
      });
    }
    const listing = await withClient(
      { port },
      async (c) => (await timedRequest(c, 'stats proxy timings\r\n', statsDone)).text,
    );
    const rows = timingRows(listing);
    const line = /^ *(\d+)\+(\d+) *=(\d+) +(\d+\.\d\d)% \**$/;
    for (const kind of ['connect', 'reserved']) {
      const lines = rows.get(kind) ?? [];
      assert.ok(lines.length >= 2, `${kind} histogram drawn\n${listing}`);
      for (const l of lines) assert.match(l, line, `${kind} line`);
      // the bins follow each other and the last line is the whole count
      const parsed = lines.map((l) => line.exec(l)!.slice(1).map(Number));
      for (let i = 1; i < parsed.length; i++) assert.equal(parsed[i][0], parsed[i - 1][0] + parsed[i - 1][1]);
      assert.equal(parsed.at(-1)![3], 100);
      const counted = parsed.reduce((n, p) => n + p[2], 0);
      if (kind === 'reserved') assert.ok(counted >= requests, `${counted} responses timed, ${requests} sent`);
      else assert.ok(counted >= 1 && counted <= 8, `${counted} connects timed`);
    }
    // the listing's names come first in order: connect, then reserved
    assert.ok(listing.indexOf(':default:connect ') < listing.indexOf(':default:reserved '));
  });

  it('lists nothing while time_stats is 0', async () => {
    const port = untimed!.poolPorts[0];
    await withClient({ port }, async (c) => {
      assert.equal((await timedRequest(c, 'set u 0 0 1\r\nx\r\n')).text, 'STORED\r\n');
      assert.equal((await timedRequest(c, 'stats proxy timings\r\n', statsDone)).text, 'END\r\n');
    });
  });
});
