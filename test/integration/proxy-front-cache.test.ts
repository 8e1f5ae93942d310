/**
 * The front cache (moxi-spec §8) against real memcached: `get` of a front_cache_spec key is answered
 * from the proxy for front_cache_lifespan ms, even when memcached's copy changed behind the proxy's back
 * (moxi's t/issue-MB-2980 scenario); other keys, gets, and every mutation or flush_all that passes
 * through the proxy see memcached. Both downstream protocols.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { encodeRequest, encodeSetExtras } from '../../src/protocol/binary/encoder.ts';
import { Opcode } from '../../src/protocol/binary/opcodes.ts';
import type { ServerHandle } from '../helpers/processes.ts';
import { startMemcached } from '../helpers/processes.ts';
import {
  DownstreamProtocols,
  behaviorsFor,
  directCommand,
  hostList,
  parseStats,
  pathName,
  retrievalDone,
  startProxy,
  statsDone,
  timedRequest,
  withClient,
  type ProxyHandle,
} from '../helpers/proxy.ts';
import type { RawClient } from '../helpers/raw-client.ts';

const STALE_FOR_THE_TEST = 'front_cache_lifespan=600000,front_cache_spec=yes|hot:,front_cache_unspec=yesno';

/** One request's whole reply: a retrieval reply or one line, or (a stats listing) everything up to END. */
async function ask(c: RawClient, line: string): Promise<string> {
  const listing = line.startsWith('stats') && line !== 'stats proxy reset\r\n';
  const r = await timedRequest(c, line, listing ? statsDone : retrievalDone, 5000);
  assert.ok(r.complete, `no complete reply to ${JSON.stringify(line)}: ${JSON.stringify(r.text)}`);
  return r.text;
}

/** Sets `key` on whichever of `servers` holds it, behind the proxy's back (on each: only one is asked). */
async function setBehind(
  servers: readonly ServerHandle[],
  key: string,
  value: string,
  flags = 0,
): Promise<void> {
  for (const s of servers) {
    assert.equal(
      await directCommand(s, `set ${key} ${flags} 0 ${value.length}\r\n${value}\r\n`),
      'STORED\r\n',
    );
  }
}

const binaryDone = (b: Buffer): boolean => b.length >= 24 && b.length >= 24 + b.readUInt32BE(8);

function frontStats(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const [name, value] of parseStats(text)) {
    const at = name.indexOf(':frontcache:');
    if (at >= 0) out.set(name.slice(at + ':frontcache:'.length), value);
  }
  return out;
}

for (const protocol of [DownstreamProtocols.binary, DownstreamProtocols.ascii]) {
  describe(`front cache (${pathName(protocol)})`, () => {
    let servers: ServerHandle[] = [];
    let proxy: ProxyHandle | undefined;
    let port = 0;

    before(async () => {
      servers = await Promise.all([startMemcached(), startMemcached()]);
      proxy = await startProxy((ports) => `${ports[0]}=${hostList(servers)}`, {
        behaviors: behaviorsFor(protocol, STALE_FOR_THE_TEST),
      });
      port = proxy.poolPorts[0];
    });

    after(async () => {
      await proxy?.stop();
      await Promise.all(servers.map((s) => s.stop()));
    });

    it('answers a spec key from the proxy within its lifespan; other keys and gets from memcached', async () => {
      await withClient({ port }, async (c) => {
        for (const key of ['yes-0', 'yesno-0', 'no-0']) {
          assert.equal(await ask(c, `set ${key} 3 0 3\r\nold\r\n`), 'STORED\r\n');
        }
        assert.equal(
          await ask(c, 'get yes-0 yesno-0 no-0\r\n'),
          'VALUE yes-0 3 3\r\nold\r\nVALUE yesno-0 3 3\r\nold\r\nVALUE no-0 3 3\r\nold\r\nEND\r\n',
        );
        for (const key of ['yes-0', 'yesno-0', 'no-0']) await setBehind(servers, key, 'new!', 9);
        assert.equal(await ask(c, 'get yes-0\r\n'), 'VALUE yes-0 3 3\r\nold\r\nEND\r\n', 'cached');
        assert.equal(await ask(c, 'get yesno-0\r\n'), 'VALUE yesno-0 9 4\r\nnew!\r\nEND\r\n', 'unspec');
        assert.equal(await ask(c, 'get no-0\r\n'), 'VALUE no-0 9 4\r\nnew!\r\nEND\r\n', 'not in spec');
        assert.match(await ask(c, 'gets yes-0\r\n'), /^VALUE yes-0 9 4 \d+\r\nnew!\r\nEND\r\n$/, 'gets asks');
        // hits and fetched keys in the client's order, repeats included
        assert.equal(
          await ask(c, 'get no-0 yes-0 missing-0 yes-0 no-0\r\n'),
          'VALUE no-0 9 4\r\nnew!\r\nVALUE yes-0 3 3\r\nold\r\nVALUE yes-0 3 3\r\nold\r\nVALUE no-0 9 4\r\nnew!\r\nEND\r\n',
        );
      });
    });

    it('forgets a key that any client mutates through the proxy: text, noreply, meta, binary', async () => {
      await withClient({ port }, async (c) => {
        const mutations: ReadonlyArray<readonly [string, (key: string) => Promise<void>, string]> = [
          [
            'set',
            async (k) => {
              assert.equal(await ask(c, `set ${k} 1 0 2\r\nv2\r\n`), 'STORED\r\n');
            },
            'VALUE K 1 2\r\nv2\r\n',
          ],
          [
            'append',
            async (k) => {
              assert.equal(await ask(c, `append ${k} 0 0 1\r\n+\r\n`), 'STORED\r\n');
            },
            'VALUE K 0 3\r\nv1+\r\n',
          ],
          [
            'delete',
            async (k) => {
              assert.equal(await ask(c, `delete ${k}\r\n`), 'DELETED\r\n');
            },
            '',
          ],
          [
            'set noreply',
            async (k) => {
              await c.send(`set ${k} 1 0 2 noreply\r\nv2\r\n`);
            },
            'VALUE K 1 2\r\nv2\r\n',
          ],
          [
            'ms',
            async (k) => {
              assert.equal(await ask(c, `ms ${k} 2 F4\r\nv2\r\n`), 'HD\r\n');
            },
            'VALUE K 4 2\r\nv2\r\n',
          ],
          [
            'binary set',
            async (k) => {
              await withClient({ port }, async (b) => {
                const set = encodeRequest({
                  opcode: Opcode.SET,
                  key: k,
                  extras: encodeSetExtras(5, 0),
                  value: 'v2',
                });
                const r = await timedRequest(b, set, binaryDone, 5000);
                assert.ok(r.complete && r.raw.readUInt16BE(6) === 0, 'binary SET succeeded');
              });
            },
            'VALUE K 5 2\r\nv2\r\n',
          ],
        ];
        for (const [name, mutate, expected] of mutations) {
          const key = `hot:${name.replace(' ', '-')}`;
          assert.equal(await ask(c, `set ${key} 0 0 3\r\nold\r\n`), 'STORED\r\n');
          assert.equal(await ask(c, `get ${key}\r\n`), `VALUE ${key} 0 3\r\nold\r\nEND\r\n`, name);
          await setBehind(servers, key, 'v1');
          assert.equal(
            await ask(c, `get ${key}\r\n`),
            `VALUE ${key} 0 3\r\nold\r\nEND\r\n`,
            `${name}: cached`,
          );
          await mutate(key);
          assert.equal(
            await ask(c, `get ${key}\r\n`),
            expected.replace('K', key) + 'END\r\n',
            `${name}: forgotten`,
          );
        }
      });
    });

    it('a client reads its own write back while other clients fill the cache with the same keys', async () => {
      const WRITERS = 6;
      const ROUNDS = 150;
      const keys = Array.from({ length: WRITERS }, (_, i) => `yes-own-${i}`);
      let writing = WRITERS;
      const readers = Array.from({ length: 4 }, () =>
        withClient({ port }, async (c) => {
          // bounded: stops with the writers, or after 2,000 multi-gets
          for (let n = 0; writing > 0 && n < 2000; n++) await ask(c, `get ${keys.join(' ')}\r\n`);
        }),
      );
      const writers = keys.map((key, i) =>
        withClient({ port }, async (c) => {
          try {
            for (let n = 0; n < ROUNDS; n++) {
              const v = `${i}-${n}`;
              assert.equal(await ask(c, `set ${key} 0 0 ${v.length}\r\n${v}\r\n`), 'STORED\r\n');
              assert.equal(await ask(c, `get ${key}\r\n`), `VALUE ${key} 0 ${v.length}\r\n${v}\r\nEND\r\n`);
            }
          } finally {
            writing--;
          }
        }),
      );
      await Promise.all([...writers, ...readers]);
    });

    it('empties on flush_all and lists its counters in stats proxy frontcache; reset zeroes them', async () => {
      await withClient({ port }, async (c) => {
        assert.equal(await ask(c, 'set yes-f 0 0 3\r\nold\r\n'), 'STORED\r\n');
        assert.equal(await ask(c, 'get yes-f\r\n'), 'VALUE yes-f 0 3\r\nold\r\nEND\r\n');
        let stats = frontStats(await ask(c, 'stats proxy frontcache\r\n'));
        assert.ok(Number(stats.get('size')) >= 1, JSON.stringify([...stats]));
        assert.equal(stats.get('max'), '200');
        assert.ok(Number(stats.get('tot_get_hits')) > 0);
        assert.equal(await ask(c, 'flush_all\r\n'), 'OK\r\n');
        stats = frontStats(await ask(c, 'stats proxy frontcache\r\n'));
        assert.equal(stats.get('size'), '0');
        await setBehind(servers, 'yes-f', 'after');
        assert.equal(await ask(c, 'get yes-f\r\n'), 'VALUE yes-f 0 5\r\nafter\r\nEND\r\n');
        assert.equal(await ask(c, 'stats proxy reset\r\n'), 'OK\r\n');
        stats = frontStats(await ask(c, 'stats proxy\r\n'));
        assert.equal(stats.get('tot_get_hits'), '0');
        assert.equal(stats.get('tot_adds'), '0');
        assert.equal(stats.get('size'), '1', 'reset keeps the items');
      });
    });
  });
}

describe('front cache lifespan and default', () => {
  let server: ServerHandle | undefined;
  const proxies: ProxyHandle[] = [];

  before(async () => {
    server = await startMemcached();
  });

  after(async () => {
    await Promise.all(proxies.map((p) => p.stop()));
    await server?.stop();
  });

  it('serves memcached again once the lifespan has passed', async () => {
    const proxy = await startProxy((ports) => `${ports[0]}=${hostList([server!])}`, {
      behaviors: 'front_cache_lifespan=300,front_cache_spec=yes',
    });
    proxies.push(proxy);
    await withClient({ port: proxy.poolPorts[0] }, async (c) => {
      assert.equal(await ask(c, 'set yes-l 0 0 3\r\nold\r\n'), 'STORED\r\n');
      assert.equal(await ask(c, 'get yes-l\r\n'), 'VALUE yes-l 0 3\r\nold\r\nEND\r\n');
      await setBehind([server!], 'yes-l', 'new');
      const started = performance.now();
      assert.equal(await ask(c, 'get yes-l\r\n'), 'VALUE yes-l 0 3\r\nold\r\nEND\r\n');
      await new Promise((resolve) => setTimeout(resolve, 300 - (performance.now() - started) + 100));
      assert.equal(await ask(c, 'get yes-l\r\n'), 'VALUE yes-l 0 3\r\nnew\r\nEND\r\n');
      const stats = frontStats(await ask(c, 'stats proxy frontcache\r\n'));
      assert.equal(stats.get('tot_get_expires'), '1');
    });
  });

  it('is off by default: every get reaches memcached, and stats shows max 0 and no size', async () => {
    const proxy = await startProxy((ports) => `${ports[0]}=${hostList([server!])}`, {
      behaviors: 'front_cache_spec=yes',
    });
    proxies.push(proxy);
    await withClient({ port: proxy.poolPorts[0] }, async (c) => {
      assert.equal(await ask(c, 'set yes-d 0 0 3\r\nold\r\n'), 'STORED\r\n');
      assert.equal(await ask(c, 'get yes-d\r\n'), 'VALUE yes-d 0 3\r\nold\r\nEND\r\n');
      await setBehind([server!], 'yes-d', 'new');
      assert.equal(await ask(c, 'get yes-d\r\n'), 'VALUE yes-d 0 3\r\nnew\r\nEND\r\n');
      const stats = frontStats(await ask(c, 'stats proxy\r\n'));
      assert.equal(stats.get('max'), '0');
      assert.equal(stats.has('size'), false);
      assert.equal(stats.get('tot_adds'), '0');
    });
  });
});
