/**
 * A downstream server keeps one channel per client that sent it requests (the client's requests stay
 * on one connection while in flight). Channels of clients with nothing in flight stay for reuse, so
 * a busy client costs no map churn per request, and are swept out once there are many: thousands of
 * short-lived clients must not leave thousands of channels behind. Real memcached, in-process server.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DownstreamServer } from '../../src/downstream/server.ts';
import type { DownstreamOp, FailReason } from '../../src/downstream/connection.ts';
import type { BinaryPacket } from '../../src/protocol/binary/parser.ts';
import { Magic, Opcode } from '../../src/protocol/binary/opcodes.ts';
import { CoarseTimer } from '../../src/util/coarse-timer.ts';
import { silentLogger } from '../../src/util/log.ts';
import type { OutputQueue } from '../../src/util/output-queue.ts';
import { startMemcached, type ServerHandle } from '../helpers/processes.ts';
import { LOOPBACK } from '../helpers/ports.ts';

const CLIENTS = 3000;
const AT_ONCE = 100;

/** A binary NOOP: the simplest op that the server answers. */
class Noop implements DownstreamOp {
  readonly quiet = false;
  private readonly done: (ok: boolean) => void;
  constructor(done: (ok: boolean) => void) {
    this.done = done;
  }
  encode(opaque: number, _out: OutputQueue): Buffer {
    const b = Buffer.alloc(24);
    b[0] = Magic.Request;
    b[1] = Opcode.NOOP;
    b.writeUInt32BE(opaque, 12);
    return b;
  }
  onPacket(_p: BinaryPacket): boolean {
    this.done(true);
    return true;
  }
  onFail(_reason: FailReason, _answered: boolean): void {
    this.done(false);
  }
}

describe('downstream channels', { timeout: 60_000 }, () => {
  let memcached: ServerHandle | undefined;
  let server: DownstreamServer | undefined;

  before(async () => {
    memcached = await startMemcached();
    server = new DownstreamServer(
      {
        host: LOOPBACK,
        port: memcached.port,
        connMax: 4,
        connectTimeout: 2000,
        downstreamTimeout: 5000,
        connQueueTimeout: 0,
        connectMaxErrors: 0,
        connectRetryInterval: 0,
        user: '',
        password: '',
        authTimeout: 0,
      },
      silentLogger(),
      new CoarseTimer(50),
    );
  });

  after(async () => {
    server?.close();
    await memcached?.stop();
  });

  it('keeps no more than about a thousand idle channels after thousands of clients', async () => {
    const s = server!;
    let answered = 0;
    for (let first = 0; first < CLIENTS; first += AT_ONCE) {
      await Promise.all(
        Array.from(
          { length: AT_ONCE },
          (_, i) =>
            new Promise<void>((resolve, reject) => {
              s.send(
                new Noop((ok) => {
                  if (ok) {
                    answered++;
                    resolve();
                  } else reject(new Error(`client ${first + i}: NOOP failed`));
                }),
                'binary',
                first + i,
              );
            }),
        ),
      );
    }
    assert.equal(answered, CLIENTS);
    await new Promise((r) => setImmediate(r));
    assert.ok(s.channelCount <= 1024 + AT_ONCE, `${s.channelCount} channels left`);
    assert.ok(s.channelCount > 0, 'idle channels are kept for reuse');
    assert.equal(s.idle, true, 'nothing in flight');
  });

  it('reuses a client’s channel for its next requests', async () => {
    const s = server!;
    const before = s.channelCount;
    for (let i = 0; i < 50; i++) {
      await new Promise<void>((resolve, reject) => {
        const op = new Noop((ok) => {
          if (ok) resolve();
          else reject(new Error('NOOP failed'));
        });
        s.send(op, 'binary', 999_999);
      });
    }
    assert.ok(s.channelCount <= before + 1);
  });
});
