import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { UnreadReplies } from '../../../src/upstream/unread-replies.ts';

/** A client as the cap sees it: what its socket holds now, which the test moves by hand. */
class Client {
  unread = 0;
  disconnected = false;
  readonly name: string;
  constructor(name: string) {
    this.name = name;
  }
}

function capOf(limit: number): { cap: UnreadReplies<Client>; gone: Array<[string, number]> } {
  const gone: Array<[string, number]> = [];
  const cap = new UnreadReplies<Client>(limit, (client, unread) => {
    client.disconnected = true;
    client.unread = 0;
    gone.push([client.name, unread]);
  });
  return { cap, gone };
}

/** The client's socket now holds `unread` (what the session counts after a write). */
function wrote(cap: UnreadReplies<Client>, client: Client, unread: number): void {
  client.unread = unread;
  cap.count(client, unread);
}

describe('UnreadReplies', () => {
  it('counts backed-up clients until they drain, and disconnects no one below the cap', () => {
    const { cap, gone } = capOf(1000);
    const a = new Client('a');
    const b = new Client('b');
    wrote(cap, a, 300);
    wrote(cap, b, 400);
    assert.equal(cap.bytes, 700);
    assert.equal(cap.backedUpCount, 2);
    wrote(cap, a, 500);
    assert.equal(cap.bytes, 900);
    wrote(cap, a, 0);
    assert.equal(cap.bytes, 400);
    assert.equal(cap.backedUpCount, 1);
    // a client that was never counted and has nothing unread changes nothing
    cap.count(new Client('c'), 0);
    assert.equal(cap.bytes, 400);
    assert.deepEqual(gone, []);
  });

  it('past the cap, disconnects the client with the most unread, then the next, until the rest fits', () => {
    const { cap, gone } = capOf(1000);
    const small = new Client('small');
    const middle = new Client('middle');
    const large = new Client('large');
    wrote(cap, small, 100);
    wrote(cap, middle, 400);
    wrote(cap, large, 450);
    assert.deepEqual(gone, []);
    wrote(cap, small, 200); // 1,050: the largest goes, the others stay
    assert.deepEqual(gone, [['large', 450]]);
    assert.equal(cap.bytes, 600);
    assert.ok(!small.disconnected && !middle.disconnected);
    const huge = new Client('huge');
    wrote(cap, huge, 900); // 1,500: huge alone is enough
    assert.deepEqual(gone[gone.length - 1], ['huge', 900]);
    assert.equal(cap.bytes, 600);
  });

  it('reads every count again before choosing: a client that drained meanwhile is not chosen for bytes it no longer holds', () => {
    const { cap, gone } = capOf(1000);
    const drained = new Client('drained');
    const stuck = new Client('stuck');
    wrote(cap, drained, 700);
    wrote(cap, stuck, 250);
    drained.unread = 100; // read most of it, no write since
    wrote(cap, stuck, 400); // 1,100 as counted, 500 in truth
    assert.deepEqual(gone, []);
    assert.equal(cap.bytes, 500);
    drained.unread = 0; // drained completely, no event yet: no longer counted at all
    wrote(cap, stuck, 1200);
    assert.deepEqual(gone, [['stuck', 1200]]);
    assert.equal(cap.bytes, 0);
    assert.equal(cap.backedUpCount, 0);
  });

  it('holds multi-get values while they fit, making room by disconnecting backed-up clients, and refuses what cannot fit', () => {
    const { cap, gone } = capOf(1000);
    assert.ok(cap.hold(600));
    const reader = new Client('backed-up');
    wrote(cap, reader, 300);
    assert.ok(cap.hold(300), 'the backed-up client is disconnected to make room');
    assert.deepEqual(gone, [['backed-up', 300]]);
    assert.equal(cap.bytes, 900);
    assert.ok(!cap.hold(200), 'no one left to disconnect: refused');
    assert.equal(cap.bytes, 900);
    cap.release(600);
    assert.ok(cap.hold(200));
    assert.equal(cap.bytes, 500);
  });

  it('0 means no cap', () => {
    const { cap, gone } = capOf(0);
    assert.equal(cap.limit, Infinity);
    const c = new Client('c');
    wrote(cap, c, 2 ** 40);
    assert.ok(cap.hold(2 ** 40));
    assert.deepEqual(gone, []);
  });

  it('property: the count never passes the cap, the clients disconnected held the most, and what drains is let go', () => {
    const step = fc.oneof(
      fc.record({ kind: fc.constant('write' as const), who: fc.nat(5), unread: fc.nat(600) }),
      fc.record({ kind: fc.constant('drain' as const), who: fc.nat(5), left: fc.nat(600) }),
      fc.record({ kind: fc.constant('hold' as const), n: fc.nat(400) }),
      fc.record({ kind: fc.constant('release' as const), n: fc.nat(400) }),
    );
    fc.assert(
      fc.property(fc.array(step, { maxLength: 60 }), (steps) => {
        const { cap, gone } = capOf(1000);
        const clients = Array.from({ length: 6 }, (_, i) => new Client(String(i)));
        let held = 0;
        for (const s of steps) {
          const goneBefore = gone.length;
          if (s.kind === 'write') {
            const c = clients[s.who];
            if (c.disconnected) continue; // a disconnected session writes no more
            wrote(cap, c, s.unread);
          } else if (s.kind === 'drain') {
            // the socket takes some of it with no event: counted again only at a write or a check
            const c = clients[s.who];
            if (!c.disconnected) c.unread = Math.min(c.unread, s.left);
          } else if (s.kind === 'hold') {
            const before = cap.bytes;
            if (cap.hold(s.n)) held += s.n;
            else assert.ok(before + s.n > cap.limit, 'refused only what does not fit');
          } else {
            const n = Math.min(s.n, held);
            cap.release(n);
            held -= n;
          }
          assert.ok(cap.bytes <= cap.limit, `count ${cap.bytes} past the cap`);
          assert.ok(cap.bytes >= held);
          const live = clients.filter((x) => !x.disconnected);
          for (const [, unread] of gone.slice(goneBefore)) {
            for (const x of live) assert.ok(unread >= x.unread, 'a client holding more was kept');
          }
        }
        // every client still connected drains: only the held values are left
        for (const c of clients) if (!c.disconnected) wrote(cap, c, 0);
        assert.equal(cap.bytes, held);
        assert.equal(cap.backedUpCount, 0);
      }),
    );
  });
});
