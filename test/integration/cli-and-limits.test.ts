/**
 * bin/moxi as a process: startup messages and exit codes moxi and memcached give, the -c connection
 * limit, -M (refuse instead of evict), and that an in-use port fails startup clearly.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { moxiBin, startMoxi, stopAll } from '../helpers/processes.ts';
import { RawClient, asciiExchange } from '../helpers/raw-client.ts';

after(stopAll);

function runMoxi(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [moxiBin(), ...args], { timeout: 10_000 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : null;
      resolve({ code, stdout, stderr });
    });
  });
}

describe('startup', () => {
  it('prints the usage with -h and exits 0', async () => {
    const r = await runMoxi(['-h']);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /-z <cfg>/);
    assert.match(r.stdout, /downstream_max=1024/);
  });

  it("rejects an unknown flag with moxi's message and exit 1", async () => {
    const r = await runMoxi(['-x']);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, 'Illegal argument "x"\n');
  });

  it("rejects a bad -z with moxi's message and exit 1", async () => {
    const r = await runMoxi(['-z', '11211']);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, 'bad moxi config, missing =\n');
  });

  it("rejects bad limits with memcached's messages", async () => {
    assert.equal((await runMoxi(['-c', '0'])).stderr, 'Maximum connections must be greater than 0\n');
    const r = await runMoxi(['-I', '2m', '-m', '2']);
    assert.equal(r.code, 64);
    assert.equal(r.stderr, 'Cannot set item size limit higher than 1/2 of memory max.\n');
  });

  it('fails clearly when the port is taken', async () => {
    const first = await startMoxi();
    const r = await runMoxi(['-p', String(first.port), '-l', '127.0.0.1']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, new RegExp(`failed to listen on TCP port ${first.port}: .*EADDRINUSE`));
    await first.stop();
  });
});

describe('connection limit (-c)', () => {
  it('turns away the connection beyond the limit and accepts again once one closes', async () => {
    const server = await startMoxi([], { maxConns: 3 });
    const clients = await Promise.all([1, 2, 3].map(() => RawClient.connect(server.port)));
    for (const c of clients)
      assert.equal((await asciiExchange(c, 'version\r\n')).data.toString().slice(0, 8), 'VERSION ');
    const extra = await RawClient.connect(server.port);
    const refused = await extra.read({ quietMs: 300 });
    assert.equal(refused.data.toString(), 'ERROR Too many open connections\r\n');
    assert.equal(await extra.waitClosed(), true);
    await clients[0].close();
    await new Promise((r) => setTimeout(r, 100));
    const again = await RawClient.connect(server.port);
    const stats = (await asciiExchange(again, 'stats\r\n')).data.toString();
    assert.match(stats, /STAT rejected_connections 1\r\n/);
    assert.match(stats, /STAT curr_connections 3\r\n/);
    for (const c of [...clients.slice(1), again]) c.destroy();
    await server.stop();
  });
});

describe('-M: refuse instead of evicting', () => {
  it('answers out of memory once the budget is used, and keeps what it has', async () => {
    const server = await startMoxi(['-M'], { memoryMb: 2, maxItemSize: '512k' });
    const client = await RawClient.connect(server.port);
    const value = 'v'.repeat(100_000);
    let refusedAt = -1;
    for (let i = 0; i < 40 && refusedAt < 0; i++) {
      const r = (
        await asciiExchange(client, `set k${i} 0 0 ${value.length}\r\n${value}\r\n`)
      ).data.toString();
      if (r === 'SERVER_ERROR out of memory storing object\r\n') refusedAt = i;
      else assert.equal(r, 'STORED\r\n');
    }
    assert.ok(refusedAt > 10, `refused at ${refusedAt}`);
    const first = (await asciiExchange(client, 'get k0\r\n')).data.toString();
    assert.ok(first.startsWith('VALUE k0 0 100000\r\n'));
    client.destroy();
    await server.stop();
  });
});
