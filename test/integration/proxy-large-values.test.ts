/**
 * Large values through the proxy, byte for byte: a value that arrives from memcached over many reads
 * is passed to the client in the pieces it came in (binary downstream) or as received (text
 * downstream), never re-assembled wrongly. Values hold every byte, "\r\n" included; single gets, gets
 * with cas, and multi-gets mixing large values, small ones and misses, from several clients at once.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ServerHandle } from '../helpers/processes.ts';
import {
  DownstreamProtocols,
  pathName,
  requestOnce,
  retrievalDone,
  startProxyOverMemcacheds,
  withClient,
  timedRequest,
  type DownstreamProtocol,
  type ProxyHandle,
} from '../helpers/proxy.ts';
import { SeededRandom } from '../helpers/random.ts';

const SIZES = [70 * 1024, 200 * 1024, 600 * 1024, 1000 * 1000];
const CLIENTS = 6;
const TIMEOUT_MS = 15_000;

interface Stored {
  readonly key: string;
  readonly flags: number;
  readonly data: Buffer;
  cas: string;
}

function randomValue(random: SeededRandom, size: number): Buffer {
  const b = Buffer.alloc(size);
  for (let i = 0; i < size; i++) b[i] = random.int(0, 255);
  // the terminator inside a value must not end it
  b.write('\r\nEND\r\n', Math.floor(size / 2), 'latin1');
  return b;
}

/** What memcached answers: the stored keys in the order asked, then END. */
function expected(keys: readonly string[], stored: ReadonlyMap<string, Stored>, withCas: boolean): Buffer {
  const out: Buffer[] = [];
  for (const key of keys) {
    const s = stored.get(key);
    if (s === undefined) continue;
    const cas = withCas ? ` ${s.cas}` : '';
    out.push(Buffer.from(`VALUE ${key} ${s.flags} ${s.data.length}${cas}\r\n`, 'latin1'), s.data);
    out.push(Buffer.from('\r\n', 'latin1'));
  }
  out.push(Buffer.from('END\r\n', 'latin1'));
  return Buffer.concat(out);
}

function firstDifference(a: Buffer, b: Buffer): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return n;
}

for (const protocol of [DownstreamProtocols.binary, DownstreamProtocols.ascii] as DownstreamProtocol[]) {
  describe(`large values through the proxy (${pathName(protocol)})`, { timeout: 120_000 }, () => {
    let servers: ServerHandle[] = [];
    let proxy: ProxyHandle | undefined;
    const stored = new Map<string, Stored>();

    before(async () => {
      ({ servers, proxy } = await startProxyOverMemcacheds(protocol));
      const port = proxy.poolPorts[0];
      const random = new SeededRandom(99);
      for (let i = 0; i < SIZES.length * 2; i++) {
        const key = `large:${i}`;
        const data = randomValue(random, SIZES[i % SIZES.length]);
        const flags = random.int(0, 65535);
        const head = Buffer.from(`set ${key} ${flags} 0 ${data.length}\r\n`, 'latin1');
        const r = await requestOnce({ port }, Buffer.concat([head, data, Buffer.from('\r\n')]));
        assert.equal(r.text, 'STORED\r\n', `set ${key}`);
        stored.set(key, { key, flags, data, cas: '' });
      }
      // the cas of each, straight from memcached's reply through the proxy
      for (const s of stored.values()) {
        const r = await requestOnce({ port }, `gets ${s.key}\r\n`, retrievalDone, TIMEOUT_MS);
        const line = r.raw.subarray(0, r.raw.indexOf('\r\n')).toString('latin1');
        s.cas = line.split(' ')[4] ?? '';
      }
    });

    after(async () => {
      await proxy?.stop();
      await Promise.all(servers.map((s) => s.stop()));
    });

    it('answers single gets and gets of large values byte for byte', async () => {
      const port = proxy!.poolPorts[0];
      await withClient({ port }, async (c) => {
        for (const s of stored.values()) {
          for (const verb of ['get', 'gets'] as const) {
            const r = await timedRequest(c, `${verb} ${s.key}\r\n`, retrievalDone, TIMEOUT_MS);
            const want = expected([s.key], stored, verb === 'gets');
            assert.ok(
              r.raw.equals(want),
              `${verb} ${s.key} (${s.data.length} bytes): ${r.raw.length} bytes back, first difference at ${firstDifference(r.raw, want)}`,
            );
          }
        }
      });
    });

    it('answers multi-gets of large values, small ones and misses from several clients at once', async () => {
      const port = proxy!.poolPorts[0];
      await Promise.all(
        Array.from({ length: CLIENTS }, (_, client) =>
          withClient({ port }, async (c) => {
            const random = new SeededRandom(1000 + client);
            const names = [...stored.keys(), 'large:missing', 'large:absent'];
            for (let round = 0; round < 4; round++) {
              const keys = Array.from(
                { length: random.int(2, 6) },
                () => names[random.int(0, names.length - 1)],
              );
              const r = await timedRequest(c, `get ${keys.join(' ')}\r\n`, retrievalDone, TIMEOUT_MS);
              const want = expected(keys, stored, false);
              assert.ok(
                r.raw.equals(want),
                `client ${client} get ${keys.join(' ')}: ${r.raw.length} bytes back of ${want.length}, first difference at ${firstDifference(r.raw, want)}`,
              );
            }
          }),
        ),
      );
    });
  });
}
