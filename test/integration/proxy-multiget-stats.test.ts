/**
 * `stats proxy` counts the keys of multi-gets and the duplicates among them that were fetched once
 * (moxi's tot_multiget_keys and tot_multiget_keys_dedupe), one-key gets included.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ServerHandle } from '../helpers/processes.ts';
import {
  DownstreamProtocols,
  parseStats,
  retrievalDone,
  startProxyOverMemcacheds,
  statsDone,
  timedRequest,
  withClient,
  type ProxyHandle,
} from '../helpers/proxy.ts';

describe('multi-get key counters', () => {
  let servers: ServerHandle[] = [];
  let proxy: ProxyHandle | undefined;

  before(async () => {
    ({ servers, proxy } = await startProxyOverMemcacheds(DownstreamProtocols.binary));
  });

  after(async () => {
    await proxy?.stop();
    await Promise.all(servers.map((s) => s.stop()));
  });

  it('counts every key asked for, and the repeated ones fetched once', async () => {
    const port = proxy!.poolPorts[0];
    await withClient({ port }, async (c) => {
      for (const get of ['get a a a', 'get b c b', 'get d']) {
        const r = await timedRequest(c, `${get}\r\n`, retrievalDone);
        assert.equal(r.text, 'END\r\n', get);
      }
      const r = await timedRequest(c, 'stats proxy\r\n', statsDone);
      const stats = parseStats(r.text);
      const find = (suffix: string): string | undefined =>
        [...stats].find(([name]) => name.endsWith(`:pstd_stats:${suffix}`))?.[1];
      assert.equal(find('tot_multiget_keys'), '7', r.text);
      assert.equal(find('tot_multiget_keys_dedupe'), '3', r.text);
    });
  });
});
