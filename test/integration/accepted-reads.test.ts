/**
 * Accepted sockets re-wrapped to read into our own buffers (util/read-buffer.ts adoptAccepted), on
 * real loopback sockets: every byte arrives in order, including bytes sent before the wrap; the
 * server's connection count and close() still work; pause() stops the reads and resume() restarts them.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { adoptAccepted } from '../../src/util/read-buffer.ts';
import { LOOPBACK, freePort } from '../helpers/ports.ts';

interface Accepted {
  socket: net.Socket;
  chunks: Buffer[];
}

async function startServer(
  delayMs: number,
): Promise<{ server: net.Server; port: number; accepted: Accepted[] }> {
  const accepted: Accepted[] = [];
  const server = net.createServer({ pauseOnConnect: true }, (raw) => {
    setTimeout(() => {
      const chunks: Buffer[] = [];
      const { socket } = adoptAccepted(raw, 64 * 1024, (adopted) => ({
        socket: adopted,
        receive: (chunk: Buffer) => chunks.push(chunk),
      }));
      socket.on('error', () => socket.destroy());
      socket.on('end', () => socket.end());
      accepted.push({ socket, chunks });
      sockets.push(socket);
    }, delayMs);
  });
  const port = await freePort();
  server.listen(port, LOOPBACK);
  await once(server, 'listening');
  return { server, port, accepted };
}

function connections(server: net.Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.getConnections((err, n) => {
      if (err) reject(err);
      else resolve(n);
    });
  });
}

/** Everything a test opened, closed after the tests even when an assertion failed midway. */
const servers: net.Server[] = [];
const sockets: net.Socket[] = [];

function connect(port: number): net.Socket {
  const socket = net.connect(port, LOOPBACK);
  sockets.push(socket);
  return socket;
}

describe('adoptAccepted', { timeout: 30_000 }, () => {
  after(() => {
    for (const s of sockets) s.destroy();
    for (const s of servers) s.close();
  });

  it('delivers every byte in order, those sent before the wrap included, and they stay intact', async () => {
    const { server, port, accepted } = await startServer(30);
    servers.push(server);
    const payload = randomBytes(3 * 1024 * 1024);
    const client = connect(port);
    await once(client, 'connect');
    // a small write before the server wraps the socket, then bulk data in uneven pieces
    client.write(payload.subarray(0, 100));
    await sleep(60);
    for (let at = 100; at < payload.length;) {
      const n = Math.min(payload.length - at, 1 + ((at * 7919) % 50_000));
      client.write(payload.subarray(at, at + n));
      at += n;
    }
    client.end();
    await once(client, 'close');
    assert.equal(accepted.length, 1);
    const got = accepted[0];
    if (!got.socket.destroyed) await once(got.socket, 'close');
    assert.ok(got.chunks.length > 1);
    assert.ok(Buffer.concat(got.chunks).equals(payload), 'the bytes kept from every read are the bytes sent');
  });

  it('keeps the bytes of many sockets apart while they share one buffer for small reads', async () => {
    const { server, port, accepted } = await startServer(0);
    servers.push(server);
    const count = 24;
    // each client alternates small writes (read into the shared buffer) with bulk ones (read into a
    // buffer of its own), at its own pace, all of them at once
    const payloads = Array.from({ length: count }, () => randomBytes(400 * 1024));
    const clients = await Promise.all(
      payloads.map(async (payload, c) => {
        const client = connect(port);
        await once(client, 'connect');
        for (let at = 0, i = 0; at < payload.length; i++) {
          const n = Math.min(
            payload.length - at,
            i % 3 === 2 ? 20_000 + ((c * 7919 + i) % 60_000) : 1 + ((i * 31 + c) % 300),
          );
          client.write(payload.subarray(at, at + n));
          at += n;
          if (i % 8 === 7) await sleep(1);
        }
        client.end();
        return client;
      }),
    );
    await Promise.all(clients.filter((client) => !client.destroyed).map((client) => once(client, 'close')));
    assert.equal(accepted.length, count);
    for (const got of accepted) if (!got.socket.destroyed) await once(got.socket, 'close');
    const received = accepted.map((got) => Buffer.concat(got.chunks));
    // accepted in any order: match each payload to the socket whose first bytes it begins with
    for (const [c, payload] of payloads.entries()) {
      const match = received.filter((bytes) => bytes.subarray(0, 16).equals(payload.subarray(0, 16)));
      assert.equal(match.length, 1, `client ${c}'s bytes arrived on exactly one socket`);
      assert.ok(match[0].equals(payload), `client ${c}: the bytes kept from every read are the bytes sent`);
    }
  });

  it('keeps the server connection count true and lets close() finish', async () => {
    const { server, port, accepted } = await startServer(0);
    servers.push(server);
    const clients = await Promise.all(
      Array.from({ length: 5 }, async () => {
        const c = connect(port);
        await once(c, 'connect');
        return c;
      }),
    );
    while (accepted.length < 5) await sleep(5);
    assert.equal(await connections(server), 5);
    for (const c of clients) c.end();
    await Promise.all(clients.map((c) => once(c, 'close')));
    for (let i = 0; i < 100 && (await connections(server)) > 0; i++) await sleep(10);
    assert.equal(await connections(server), 0);
    const closed = once(server, 'close');
    server.close();
    await closed;
  });

  it('stops reading while paused and reads the rest after resume', async () => {
    const { server, port, accepted } = await startServer(0);
    servers.push(server);
    const client = connect(port);
    await once(client, 'connect');
    while (accepted.length < 1) await sleep(5);
    const got = accepted[0];
    client.write('first');
    while (got.chunks.length === 0) await sleep(5);
    got.socket.pause();
    client.write('second');
    await sleep(50);
    assert.equal(Buffer.concat(got.chunks).toString(), 'first');
    got.socket.resume();
    for (let i = 0; i < 100 && Buffer.concat(got.chunks).length < 11; i++) await sleep(5);
    assert.equal(Buffer.concat(got.chunks).toString(), 'firstsecond');
    client.destroy();
  });
});
