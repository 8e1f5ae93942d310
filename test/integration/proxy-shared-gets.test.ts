/**
 * Multi-gets of many clients sharing downstream command lines: moxi.ts writes the text gets queued on
 * one server connection as one "get <keys of client A> <keys of client B> ...", and splits memcached's
 * single reply back by key order. Here 40 clients pipeline gets and gets of overlapping keys (hits,
 * misses, duplicates) at once through two real memcacheds, and every reply must be byte for byte what
 * memcached itself would answer that client: values and cas in the client's key order, once per
 * occurrence, then END.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BufferedSocket } from '../helpers/buffered-socket.ts';
import type { ServerHandle } from '../helpers/processes.ts';
import { printable } from '../helpers/raw-client.ts';
import {
  DownstreamProtocols,
  parseValues,
  pathName,
  requestOnce,
  retrievalDone,
  startProxyOverMemcacheds,
  type DownstreamProtocol,
  type ProxyHandle,
} from '../helpers/proxy.ts';
import { SeededRandom } from '../helpers/random.ts';

const CLIENTS = 40;
const ROUNDS = 25;
const REQUESTS_PER_WRITE = 6;
const STORED_KEYS = 150;
const MISSING_KEYS = 150;
const ROUND_TIMEOUT_MS = 8000;
const SEED = Number(process.env['MOXI_TEST_SEED'] ?? Date.now() % 1_000_000);

interface Stored {
  flags: number;
  data: string;
  cas: string;
}

function keyName(i: number): string {
  return `shared:${i}`;
}

/** What memcached answers `verb keys`: the stored ones in the order asked, once per occurrence. */
function expectedReply(
  verb: 'get' | 'gets',
  keys: readonly string[],
  stored: ReadonlyMap<string, Stored>,
): string {
  let out = '';
  for (const key of keys) {
    const s = stored.get(key);
    if (s === undefined) continue;
    out += `VALUE ${key} ${s.flags} ${s.data.length}${verb === 'gets' ? ` ${s.cas}` : ''}\r\n${s.data}\r\n`;
  }
  return out + 'END\r\n';
}

for (const protocol of [DownstreamProtocols.binary, DownstreamProtocols.ascii] as DownstreamProtocol[]) {
  describe(`${CLIENTS} clients' multi-gets sharing downstream get lines (${pathName(protocol)})`, () => {
    let servers: ServerHandle[] = [];
    let proxy: ProxyHandle | undefined;
    const stored = new Map<string, Stored>();

    before(async () => {
      ({ servers, proxy } = await startProxyOverMemcacheds(protocol));
      const port = proxy.poolPorts[0];
      const random = new SeededRandom(SEED);
      for (let i = 0; i < STORED_KEYS; i++) {
        const key = keyName(i);
        const data = `v${i}-${'x'.repeat(random.int(0, 40))}`;
        const flags = random.int(0, 1000);
        const set = await requestOnce({ port }, `set ${key} ${flags} 0 ${data.length}\r\n${data}\r\n`, (b) =>
          b.includes('\r\n'),
        );
        assert.equal(set.text, 'STORED\r\n');
        const got = await requestOnce({ port }, `gets ${key}\r\n`, retrievalDone);
        const [value] = parseValues(got.raw);
        stored.set(key, { flags, data, cas: value.cas! });
      }
    });

    after(async () => {
      await proxy?.stop();
      await Promise.all(servers.map((s) => s.stop()));
    });

    it('answers every client exactly, in its own key order, whatever it shares a line with', async () => {
      assert.ok(proxy !== undefined);
      const port = proxy.poolPorts[0];
      const clients = await Promise.all(Array.from({ length: CLIENTS }, () => BufferedSocket.connect(port)));
      try {
        await Promise.all(
          clients.map(async (client, c) => {
            const random = new SeededRandom(SEED * 1000 + c);
            for (let round = 0; round < ROUNDS; round++) {
              let sent = '';
              let expected = '';
              for (let r = 0; r < REQUESTS_PER_WRITE; r++) {
                const verb = random.int(0, 2) === 0 ? 'gets' : 'get';
                const keys = Array.from({ length: random.int(1, 30) }, () =>
                  keyName(random.int(0, STORED_KEYS + MISSING_KEYS - 1)),
                );
                if (keys.length > 2 && random.int(0, 3) === 0) keys.push(keys[0]); // a duplicate
                sent += `${verb} ${keys.join(' ')}\r\n`;
                expected += expectedReply(verb, keys, stored);
              }
              client.buf = Buffer.alloc(0);
              client.sock.write(sent);
              const want = Buffer.from(expected, 'latin1');
              await client.waitFor(
                () => (client.buf.length >= want.length ? true : undefined),
                ROUND_TIMEOUT_MS,
                (why) =>
                  new Error(`client ${c} round ${round}: ${why}; sent ${printable(Buffer.from(sent), 300)}`),
              );
              assert.ok(
                client.buf.equals(want),
                `client ${c} round ${round} (seed ${SEED}):\n sent ${printable(Buffer.from(sent), 2000)}\n` +
                  ` got  ${printable(client.buf, 2000)}\n want ${printable(want, 2000)}`,
              );
            }
          }),
        );
      } finally {
        for (const client of clients) client.sock.destroy();
      }
    });
  });
}
