import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { InputBuffer } from '../../../src/util/input-buffer.ts';

describe('InputBuffer', () => {
  it('adopts a chunk without copying when nothing is pending', () => {
    const input = new InputBuffer();
    const chunk = Buffer.from('hello');
    input.push(chunk);
    assert.equal(input.buffer, chunk);
    assert.equal(input.take(5).toString(), 'hello');
    assert.equal(input.length, 0);
  });

  it('finds a byte across pending chunks and joins only when asked', () => {
    const input = new InputBuffer();
    input.push(Buffer.from('get a'));
    input.push(Buffer.from('bc'));
    input.push(Buffer.from('\r\nnext'));
    assert.equal(input.contiguousLength, 5);
    assert.equal(input.indexOf(0x0a, 0), 8);
    assert.equal(input.indexOf(0x0a, 9), -1);
    assert.equal(input.ensure(9), true);
    assert.equal(input.take(9).toString(), 'get abc\r\n');
    assert.equal(input.length, 4);
  });

  it('hands out held bytes as views of the chunks they arrived in, without joining', () => {
    const input = new InputBuffer();
    const chunks = ['abc', 'defg', 'hij'].map((t) => Buffer.from(t));
    for (const c of chunks) input.push(c);
    input.consume(1);
    const parts = input.takeParts(7);
    assert.deepEqual(
      parts.map((p) => p.toString()),
      ['bc', 'defg', 'h'],
    );
    assert.equal(parts[0].buffer, chunks[0].buffer);
    assert.equal(parts[1], chunks[1]);
    assert.equal(input.length, 2);
    assert.equal(input.take(2).toString(), 'ij');
  });

  it('refuses to join when not enough bytes are held', () => {
    const input = new InputBuffer();
    input.push(Buffer.from('ab'));
    input.push(Buffer.from('cd'));
    assert.equal(input.ensure(5), false);
    assert.equal(input.contiguousLength, 2);
  });

  it('consumes and discards across chunk boundaries', () => {
    const input = new InputBuffer();
    for (const s of ['abc', 'def', 'ghi']) input.push(Buffer.from(s));
    input.consume(4);
    assert.equal(input.length, 5);
    assert.equal(input.byteAt(0), 'e'.charCodeAt(0));
    assert.equal(input.discard(100), 5);
    assert.equal(input.length, 0);
  });

  it('resumes a newline search across pushes and forgets it when bytes are consumed', () => {
    const input = new InputBuffer();
    input.push(Buffer.from('ab'));
    let scanned = 0;
    for (const piece of ['c', 'd', 'e']) {
      input.push(Buffer.from(piece));
      assert.equal(input.indexOf(0x0a, scanned), -1);
      scanned = input.length;
    }
    input.push(Buffer.from('f\ng'));
    assert.equal(input.indexOf(0x0a, scanned), 6);
    input.consume(3);
    assert.equal(input.indexOf(0x0a, 0), 3);
    assert.equal(input.ensure(4), true);
    assert.equal(input.take(4).toString(), 'def\n');
    assert.equal(input.indexOf(0x67, 0), 0);
  });

  it('any chunking of a byte stream reads back the same bytes', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ minLength: 1, maxLength: 40 }), { maxLength: 12 }),
        fc.array(fc.integer({ min: 1, max: 50 }), { minLength: 1, maxLength: 20 }),
        (chunks, takes) => {
          const input = new InputBuffer();
          const all = Buffer.concat(chunks.map((c) => Buffer.from(c)));
          for (const c of chunks) input.push(Buffer.from(c));
          const out: Buffer[] = [];
          for (const n of takes) {
            if (!input.ensure(n)) break;
            out.push(Buffer.from(input.take(n)));
          }
          const read = Buffer.concat(out);
          assert.deepEqual(read, all.subarray(0, read.length));
          assert.equal(input.length, all.length - read.length);
        },
      ),
    );
  });
});
