/**
 * moxi's four test topologies (t/moxi.pl), each with an ASCII downstream (a2a) and a binary one (a2b):
 *
 *   simple    client -> moxi.ts -> memcached
 *   chain     client -> moxi.ts -> moxi.ts -> moxi.ts -> memcached   (one process, three `;` pools)
 *   fanout    client -> moxi.ts -> 4 memcacheds                        (one pool)
 *   fanoutin  client -> moxi.ts -> 4 moxi.ts processes -> 1 memcached
 *
 * Through each, libmemcached's `memccapable -a` must pass every test it passes against memcached
 * directly (the baseline is measured first, on this machine's memcached). A short smoke exchange runs
 * before memccapable so that a broken path fails with the bytes that went wrong.
 *
 * In a2b chain and fanoutin the inner proxies receive the binary protocol from the outer one.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { memccapableVerdicts, runMemccapable } from '../helpers/memccapable.ts';
import { startMemcached } from '../helpers/processes.ts';
import { RawClient, printable } from '../helpers/raw-client.ts';
import {
  DownstreamProtocols,
  TopologyKinds,
  describeExchange,
  pathName,
  requestOnce,
  retrievalDone,
  startTopology,
  timedRequest,
  type DownstreamProtocol,
  type Topology,
} from '../helpers/proxy.ts';

const IO_TIMEOUT_S = 3;
const RUN_DEADLINE_MS = 40_000;

/** A few exchanges whose exact replies are known, so a broken path fails with a readable diff. */
async function smoke(topo: Topology): Promise<void> {
  const c = await RawClient.connect(topo.entry.port);
  try {
    const steps: [string, string][] = [
      ['set smoke:a 7 0 5\r\nhello\r\n', 'STORED\r\n'],
      ['get smoke:a\r\n', 'VALUE smoke:a 7 5\r\nhello\r\nEND\r\n'],
      ['set smoke:b 0 0 1\r\nB\r\n', 'STORED\r\n'],
      ['get smoke:a smoke:zz smoke:b\r\n', 'VALUE smoke:a 7 5\r\nhello\r\nVALUE smoke:b 0 1\r\nB\r\nEND\r\n'],
      ['delete smoke:a\r\n', 'DELETED\r\n'],
      ['get smoke:a\r\n', 'END\r\n'],
    ];
    for (const [send, expected] of steps) {
      const complete = send.startsWith('get ')
        ? retrievalDone
        : (b: Buffer): boolean => b.indexOf('\r\n') >= 0;
      const r = await timedRequest(c, send, complete, 5000);
      assert.equal(
        r.text,
        expected,
        `smoke exchange through ${topo.describe()}\nsent: ${printable(Buffer.from(send))}\ngot: ${printable(r.raw)}` +
          (r.timedOut ? ' (read timed out)' : '') +
          (r.closed ? ' (connection closed)' : ''),
      );
    }
  } finally {
    c.destroy();
  }
}

describe('proxy topologies: memccapable -a through moxi.ts', { concurrency: 2 }, () => {
  let baseline: string[] = [];

  before(async () => {
    const mc = await startMemcached({ memoryMb: 64 });
    try {
      const run = await runMemccapable({
        host: '127.0.0.1',
        port: mc.port,
        mode: '-a',
        verbose: true,
        ioTimeoutS: IO_TIMEOUT_S,
        deadlineMs: RUN_DEADLINE_MS,
      });
      baseline = [...memccapableVerdicts(run.output)].filter(([, v]) => v === 'pass').map(([t]) => t);
      assert.ok(
        baseline.length >= 20,
        `memccapable -a against memcached passed only ${baseline.length} tests:\n${run.output}`,
      );
    } finally {
      await mc.stop();
    }
  });

  it('baseline: memccapable -a passes against memcached directly', () => {
    assert.ok(baseline.includes('ascii set') && baseline.includes('ascii mget'), baseline.join(', '));
  });

  for (const kind of TopologyKinds) {
    for (const protocol of [DownstreamProtocols.ascii, DownstreamProtocols.binary] as DownstreamProtocol[]) {
      it(`${kind} (${pathName(protocol)}): every baseline memccapable test passes`, async () => {
        const topo = await startTopology(kind, protocol);
        try {
          await smoke(topo);
          // smoke wrote keys; memccapable flushes first anyway, but start from empty servers
          const flushed = await requestOnce(topo.entry, 'flush_all\r\n');
          assert.equal(
            flushed.text,
            'OK\r\n',
            `flush_all through ${topo.describe()}\n${describeExchange('flush_all\r\n', flushed)}`,
          );

          const run = await runMemccapable({
            host: '127.0.0.1',
            port: topo.entry.port,
            mode: '-a',
            verbose: true,
            ioTimeoutS: IO_TIMEOUT_S,
            deadlineMs: RUN_DEADLINE_MS,
          });
          const report =
            `${topo.describe()}\nmemccapable -a exited with ${run.signal ?? `code ${run.code}`}; output:\n` +
            `${run.output}\n--- proxy output:\n${topo.proxies.map((p) => p.output()).join('\n---\n')}`;
          assert.equal(
            run.signal,
            null,
            `memccapable was killed (deadline ${RUN_DEADLINE_MS} ms)\n${report}`,
          );
          const v = memccapableVerdicts(run.output);
          const failed = baseline.filter((t) => v.get(t) !== 'pass');
          assert.deepEqual(
            failed,
            [],
            `tests passing against memcached but not here: ${failed
              .map((t) => `${t} [${v.get(t) ?? 'missing'}]`)
              .join(', ')}\n${report}`,
          );
          for (const p of [...topo.proxies, ...topo.memcacheds]) {
            assert.ok(!p.exited(), `${p.kind} pid ${p.pid} exited during memccapable:\n${p.output()}`);
          }
        } finally {
          await topo.stop();
        }
      });
    }
  }
});
