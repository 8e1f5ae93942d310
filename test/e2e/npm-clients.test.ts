/**
 * Third-party Node clients against the embedded server and through moxi.ts as a proxy over two
 * memcacheds: memjs (binary protocol) and memcache-client (text protocol), each doing what an
 * application would, including pipelined concurrent requests.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import memjs from 'memjs';
import { MemcacheClient } from 'memcache-client';
import { clientTargets, startedForSuite } from '../helpers/proxy.ts';

for (const target of clientTargets({ memoryMb: 64 })) {
  describe(`npm clients against ${target.name}`, () => {
    const server = startedForSuite(target);

    describe('memjs (binary protocol)', () => {
      let client: ReturnType<typeof memjs.Client.create>;
      before(() => {
        client = memjs.Client.create(`${server().host}:${server().port}`, {
          retries: 0,
          logger: { log: () => undefined },
        });
      });
      after(() => {
        client.close();
      });

      it('sets, gets, adds, replaces and deletes', async () => {
        assert.equal(await client.set('memjs:k', 'v1'), true);
        assert.equal((await client.get('memjs:k')).value?.toString(), 'v1');
        assert.equal(await client.add('memjs:k', 'v2').catch(() => false), false);
        assert.equal(await client.replace('memjs:k', 'v3'), true);
        assert.equal((await client.get('memjs:k')).value?.toString(), 'v3');
        assert.equal(await client.delete('memjs:k'), true);
        assert.equal((await client.get('memjs:k')).value, null);
      });

      it('increments with an initial value and decrements', async () => {
        const first = await client.increment('memjs:n', 5, { initial: 10 });
        assert.equal(first.value, 10);
        assert.equal((await client.increment('memjs:n', 5)).value, 15);
        // memjs's decrement needs an options object
        assert.equal((await client.decrement('memjs:n', 20, {})).value, 0);
      });

      it('appends and touches', async () => {
        // (memjs 1.3's prepend sends the APPEND opcode, so it is not exercised here)
        await client.set('memjs:s', 'mid');
        await client.append('memjs:s', '>');
        assert.equal((await client.get('memjs:s')).value?.toString(), 'mid>');
        assert.equal(await client.touch('memjs:s', 100), true);
      });

      it('keeps 500 concurrent requests apart', async () => {
        const keys = Array.from({ length: 500 }, (_, i) => `memjs:many:${i}`);
        await Promise.all(keys.map((k, i) => client.set(k, `value-${i}`)));
        const values = await Promise.all(keys.map((k) => client.get(k)));
        values.forEach((v, i) => {
          assert.equal(v.value?.toString(), `value-${i}`);
        });
      });

      it('reads stats', async () => {
        const stats = await new Promise<Record<string, string>>((resolve, reject) => {
          client.stats((err, _server, s) => {
            if (err) reject(err);
            else resolve(s);
          });
        });
        assert.ok(Number(stats['curr_items']) > 0);
        assert.ok('get_hits' in stats);
      });
    });

    describe('memcache-client (text protocol)', () => {
      let client: MemcacheClient;
      // memcache-client's typings say get() always finds the key; at run time a miss is undefined
      const valueOf = async <T>(key: string): Promise<T | undefined> =>
        ((await client.get<T>(key)) as { value: T } | undefined)?.value;
      before(() => {
        client = new MemcacheClient({ server: `${server().host}:${server().port}` });
      });
      after(() => {
        client.shutdown();
      });

      it('sets and gets strings and buffers, with flags round-tripping', async () => {
        await client.set('mc:str', 'hello');
        assert.equal(await valueOf<string>('mc:str'), 'hello');
        const bytes = Buffer.from([0, 1, 2, 0xff, 0x0d, 0x0a]);
        await client.set('mc:bin', bytes);
        assert.deepEqual(await valueOf<Buffer>('mc:bin'), bytes);
      });

      it('does gets/cas, incr/decr, delete, and a multi-get', async () => {
        await client.set('mc:cas', 'a');
        const got = await client.gets<string>('mc:cas');
        assert.match(String(got.casUniq), /^\d+$/);
        await client.cas('mc:cas', 'b', { casUniq: got.casUniq });
        assert.equal(await valueOf<string>('mc:cas'), 'b');
        await client.set('mc:n', '10');
        assert.equal(await client.incr('mc:n', 5), '15');
        assert.equal(await client.decr('mc:n', 3), '12');
        await client.delete('mc:n');
        assert.equal(await valueOf('mc:n'), undefined);
        const many = (await client.get<string>(['mc:str', 'mc:cas', 'mc:none'])) as unknown as Record<
          string,
          { value: string } | undefined
        >;
        assert.equal(many['mc:str']?.value, 'hello');
        assert.equal(many['mc:cas']?.value, 'b');
        assert.equal(many['mc:none'], undefined);
      });

      it('keeps 500 concurrent requests apart', async () => {
        const keys = Array.from({ length: 500 }, (_, i) => `mc:many:${i}`);
        await Promise.all(keys.map((k, i) => client.set(k, `v${i}`)));
        const values = await Promise.all(keys.map((k) => valueOf<string>(k)));
        values.forEach((v, i) => {
          assert.equal(v, `v${i}`);
        });
      });
    });
  });
}
