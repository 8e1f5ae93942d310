/**
 * A binary client's request reaches the server as memcached reads it, so one client's odd framing never
 * desynchronises a server connection that other clients' requests share.
 *
 * memcached reads no value after the key of a touch or a gat, whatever the header's body length says,
 * and takes the bytes past the key as the next request. A proxy that forwarded them inside the request
 * had memcached read a request it never answered in order, or garbage it closed the shared connection
 * over, failing every other client's request in flight on it (found by fuzzing: "SERVER_ERROR proxy
 * downstream closed" to a bystander's set). Here the bytes past the key are a whole request, which the
 * client must see answered after the touch or gat, as memcached answers it; the bystanders' pipelined
 * requests must all be answered right, and no server connection may be lost.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ServerHandle } from '../helpers/processes.ts';
import {
  BINARY_SENTINEL,
  BinOp,
  RawClient,
  binRequest,
  endsWithBinarySentinel,
  parseBinFrames,
  storeExtras,
  u32Extras,
} from '../helpers/raw-client.ts';
import {
  DownstreamProtocols,
  parseStats,
  pathName,
  requestOnce,
  retrievalDone,
  startProxyOverMemcacheds,
  statsDone,
  timedRequest,
  type DownstreamProtocol,
  type ProxyHandle,
} from '../helpers/proxy.ts';

const KEYS = 16;
const BYSTANDER_ROUNDS = 40;
/** The requests sent with another request packed past their key, in turn. */
const ODD_OPCODES = [BinOp.gat, BinOp.touch, BinOp.gatk];

/** The proxy's count of server connections closed on an error (a server closing one counts), all servers. */
async function closedOnError(port: number): Promise<number> {
  const r = await requestOnce({ port }, 'stats proxy\r\n', statsDone);
  let n = 0;
  for (const [name, value] of parseStats(r.text))
    if (name.endsWith(':tot_downstream_closed_error')) n += Number(value);
  return n;
}

for (const protocol of [DownstreamProtocols.binary, DownstreamProtocols.ascii] as DownstreamProtocol[]) {
  describe(`binary requests reach the server as memcached reads them (${pathName(protocol)})`, () => {
    let servers: ServerHandle[] = [];
    let proxy: ProxyHandle | undefined;
    before(async () => {
      const started = await startProxyOverMemcacheds(protocol);
      servers = started.servers;
      proxy = started.proxy;
    });
    after(async () => {
      await proxy?.stop();
      await Promise.all(servers.map((s) => s.stop()));
    });

    it('touch and gat with a request past their key: both answered, bystanders unharmed, no server connection lost', async () => {
      const port = proxy!.port;
      const setup = await RawClient.connect(port);
      const keys = Array.from({ length: KEYS }, (_, i) => `frame:${i}`);
      const sets = keys.map((key, i) =>
        binRequest({ opcode: BinOp.set, key, value: `v${i}`, extras: storeExtras(i, 0), opaque: i }),
      );
      const stored = await timedRequest(
        setup,
        Buffer.concat([...sets, BINARY_SENTINEL]),
        endsWithBinarySentinel,
      );
      assert.ok(stored.complete, 'the sets were answered');

      const bystanders = await Promise.all([RawClient.connect(port), RawClient.connect(port)]);
      const odd = await RawClient.connect(port);
      const oddRequests: Buffer[] = [];
      for (const [i, key] of keys.entries()) {
        const inner =
          i % 2 === 0
            ? binRequest({ opcode: BinOp.noop, opaque: 1000 + i })
            : binRequest({ opcode: BinOp.getk, key, opaque: 1000 + i });
        const opcode = ODD_OPCODES[i % ODD_OPCODES.length];
        oddRequests.push(binRequest({ opcode, key, extras: u32Extras(0), value: inner, opaque: i }));
      }

      const bystanderWork = bystanders.map(async (c, b) => {
        for (let round = 0; round < BYSTANDER_ROUNDS; round++) {
          const key = `bystander:${b}:${round % 5}`;
          const value = `b${b}r${round}`;
          const r = await timedRequest(
            c,
            `set ${key} ${round} 0 ${value.length}\r\n${value}\r\nget ${key}\r\n`,
            retrievalDone,
          );
          assert.equal(
            r.text,
            `STORED\r\nVALUE ${key} ${round} ${value.length}\r\n${value}\r\nEND\r\n`,
            `bystander ${b}, round ${round}`,
          );
        }
      });
      const oddReply = timedRequest(
        odd,
        Buffer.concat([...oddRequests, BINARY_SENTINEL]),
        endsWithBinarySentinel,
      );
      const [reply] = await Promise.all([oddReply, ...bystanderWork]);

      assert.ok(reply.complete, `the odd client's replies ended with the sentinel (closed: ${reply.closed})`);
      const frames = parseBinFrames(reply.raw).frames.slice(0, -1);
      const got = frames.map(
        (f) =>
          `${f.opcode}/${f.opaque}/${f.status}/${f.key.toString('latin1')}/${f.value.toString('latin1')}`,
      );
      const want: string[] = [];
      for (const [i, key] of keys.entries()) {
        const opcode = ODD_OPCODES[i % ODD_OPCODES.length];
        const value = opcode === BinOp.touch ? '' : `v${i}`;
        want.push(`${opcode}/${i}/0/${opcode === BinOp.gatk ? key : ''}/${value}`);
        want.push(i % 2 === 0 ? `${BinOp.noop}/${1000 + i}/0//` : `${BinOp.getk}/${1000 + i}/0/${key}/v${i}`);
      }
      assert.deepEqual(got, want, 'each touch or gat answered, then the request past its key');

      assert.equal(await closedOnError(port), 0, 'no server connection was closed on an error');
      for (const c of [setup, odd, ...bystanders]) c.destroy();
    });
  });
}
