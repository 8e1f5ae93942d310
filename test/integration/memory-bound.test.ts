/**
 * The store honours -m: the target is started with -m 8 and flooded with 600 values of 400 KB
 * (234 MB in total, 29 times the limit). Old items must be evicted, recent ones readable, `stats` must
 * count evictions, and the process's peak RSS (VmHWM) must stay under
 *
 *     peak RSS after startup + 8 MB (the -m store) + 128 MB of slack.
 *
 * The slack covers what a correct Node.js server legitimately holds on top of its store: V8 only
 * collects unreachable Buffers once external memory has grown by some 64 MB since the last full GC,
 * plus the in-flight request (socket chunks and the assembled 400 KB value), socket buffers and heap
 * growth. Measured on this flood: a 40-line Node server keeping the newest 8 MB peaks ~100 MB above
 * its startup peak; memcached 1.6.18 ~9 MB. A store that does not evict grows by the whole 234 MB
 * (plus the same garbage) and fails by a wide margin.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startTarget, targetKind, type MemoryUsage, type ServerHandle } from '../helpers/processes.ts';
import { RawClient, asciiExchange, printable } from '../helpers/raw-client.ts';

const MEMORY_MB = 8;
const VALUE_BYTES = 400 * 1024;
const ITEMS = 600;
const BATCH = 10;
const SLACK_MB = 128;
const FLOOD_DEADLINE_MS = 60_000;
const MB = 1024 * 1024;

function parseStats(text: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of text.split('\r\n')) {
    const t = line.split(' ');
    if (t[0] === 'STAT' && t.length >= 3) m.set(t[1], t.slice(2).join(' '));
  }
  return m;
}

describe(`memory bound: ${targetKind()} with -m ${MEMORY_MB}`, () => {
  let server: ServerHandle;
  let client: RawClient;
  let baseline: MemoryUsage;

  before(async () => {
    server = await startTarget({ memoryMb: MEMORY_MB, maxItemSize: '1m' });
    client = await RawClient.connect(server.port, server.host);
    // Let startup settle (module loading, first GCs) before taking the baseline.
    await asciiExchange(client, 'version\r\n');
    await new Promise((r) => setTimeout(r, 200));
    const m = server.memory();
    assert.ok(m, 'cannot read /proc/<pid>/status of the server');
    baseline = m;
  });
  after(async () => {
    await client.close();
    await server.stop();
  });

  it(`stores ${ITEMS} values of ${VALUE_BYTES / 1024} KB without its peak RSS outgrowing -m`, async (t) => {
    const value = Buffer.alloc(VALUE_BYTES, 0x76);
    const header = (i: number): Buffer => Buffer.from(`set key${i} 0 0 ${VALUE_BYTES}\r\n`);
    const crlf = Buffer.from('\r\n');
    const deadline = Date.now() + FLOOD_DEADLINE_MS;
    for (let b = 0; b < ITEMS / BATCH; b++) {
      assert.ok(Date.now() < deadline, `flood did not finish within ${FLOOD_DEADLINE_MS} ms`);
      const parts: Buffer[] = [];
      for (let i = b * BATCH; i < (b + 1) * BATCH; i++) parts.push(header(i), value, crlf);
      const r = await asciiExchange(client, Buffer.concat(parts), { timeoutMs: 15_000, quietMs: 5000 });
      assert.equal(printable(r.data), printable(Buffer.from('STORED\r\n'.repeat(BATCH))), `batch ${b}`);
    }
    const m = server.memory();
    assert.ok(m, 'server exited during the flood');
    const bound = baseline.peak + (MEMORY_MB + SLACK_MB) * MB;
    const fmt = (n: number): string => `${(n / MB).toFixed(1)} MB`;
    t.diagnostic(`startup peak ${fmt(baseline.peak)}, peak after flood ${fmt(m.peak)}, bound ${fmt(bound)}`);
    assert.ok(
      m.peak <= bound,
      `peak RSS ${fmt(m.peak)} exceeds ${fmt(bound)} = startup peak ${fmt(baseline.peak)} + -m ${MEMORY_MB} MB + ${SLACK_MB} MB slack (current RSS ${fmt(m.rss)})`,
    );
  });

  it('keeps the most recent items readable', async () => {
    const keys = [ITEMS - 1, ITEMS - 2, ITEMS - 3].map((i) => `key${i}`);
    const r = await asciiExchange(client, `get ${keys.join(' ')}\r\n`, { timeoutMs: 10_000 });
    const expected = Buffer.concat([
      ...keys.flatMap((k) => [
        Buffer.from(`VALUE ${k} 0 ${VALUE_BYTES}\r\n`),
        Buffer.alloc(VALUE_BYTES, 0x76),
        Buffer.from('\r\n'),
      ]),
      Buffer.from('END\r\n'),
    ]);
    assert.ok(r.data.equals(expected), `recent items not all readable: ${printable(r.data, 300)}`);
  });

  it('has evicted the oldest items', async () => {
    const keys = Array.from({ length: 100 }, (_, i) => `key${i}`);
    const r = await asciiExchange(client, `get ${keys.join(' ')}\r\n`, { timeoutMs: 10_000 });
    assert.equal(printable(r.data, 300), 'END\\r\\n\n', 'the first 100 of 600 items must be gone with -m 8');
  });

  it('reports evictions in stats', async () => {
    const r = await asciiExchange(client, 'stats\r\n');
    const stats = parseStats(r.data.toString('latin1'));
    const evictions = Number(stats.get('evictions') ?? 'NaN');
    assert.ok(evictions > 0, `STAT evictions should be > 0, got ${stats.get('evictions') ?? '<missing>'}`);
    const bytes = stats.get('bytes');
    const limit = stats.get('limit_maxbytes');
    if (bytes !== undefined && limit !== undefined) {
      assert.ok(Number(bytes) <= Number(limit), `STAT bytes ${bytes} > limit_maxbytes ${limit}`);
    }
    if (limit !== undefined) assert.equal(Number(limit), MEMORY_MB * MB, 'limit_maxbytes reflects -m');
  });
});
