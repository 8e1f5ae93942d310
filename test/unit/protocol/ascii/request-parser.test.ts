import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Command, COMMAND_NAMES } from '../../../../src/protocol/ascii/commands.ts';
import {
  DataStatus,
  TextRequestParser,
  isParseError,
  type TextRequest,
} from '../../../../src/protocol/ascii/request-parser.ts';
import { chunkings } from '../../../helpers/chunking.ts';

/** What a test compares: a plain snapshot of one parsed request. */
interface Parsed {
  command: string;
  tokens: string[];
  data?: string;
  status?: number;
  storage?: { flags: number; exptime: number; length: number; cas: string };
  raw: string;
}

function snapshot(req: TextRequest): Parsed {
  const tokens: string[] = [];
  for (let i = 0; i < req.tokenCount; i++) tokens.push(req.tokenString(i));
  const out: Parsed = { command: COMMAND_NAMES[req.command], tokens, raw: req.rawLine().toString('latin1') };
  if (req.dataStatus !== DataStatus.None) out.status = req.dataStatus;
  if (req.data !== null) out.data = req.data.toString('latin1');
  if (req.storageValid && req.command !== Command.MetaSet) {
    out.storage = {
      flags: req.flags,
      exptime: req.exptime,
      length: req.dataLength,
      cas: String(req.casUnique),
    };
  }
  return out;
}

/** Feeds `chunks` and collects snapshots; a parse error ends the list with 'ERROR:<code>'. */
function parseAll(chunks: Buffer[], maxDataLength = 1024 * 1024): Array<Parsed | string> {
  const parser = new TextRequestParser({ maxDataLength });
  const out: Array<Parsed | string> = [];
  for (const chunk of chunks) {
    parser.push(chunk);
    for (;;) {
      const r = parser.next();
      if (r === null) break;
      if (isParseError(r)) {
        out.push(`ERROR:${r.error}`);
        return out;
      }
      out.push(snapshot(r));
    }
  }
  return out;
}

/** Runs `input` whole, byte by byte and at random splits, and checks every run gives `expected`. */
function check(input: string | Buffer, expected: Array<Parsed | string>, maxDataLength?: number): void {
  const bytes = typeof input === 'string' ? Buffer.from(input, 'latin1') : input;
  for (const { name, chunks } of chunkings(bytes)) {
    assert.deepEqual(parseAll(chunks, maxDataLength), expected, name);
  }
}

describe('TextRequestParser', () => {
  it('splits a line on spaces and names the command', () => {
    check('get a b  c\r\n', [{ command: 'get', tokens: ['get', 'a', 'b', 'c'], raw: 'get a b  c\r\n' }]);
  });

  it('accepts a bare newline and keeps a lone "\\r" as memcached does', () => {
    check('version\n\r\n', [
      { command: 'version', tokens: ['version'], raw: 'version\n' },
      { command: 'unknown', tokens: ['\r'], raw: '\r\n' },
    ]);
  });

  it('stops a line at a NUL byte, as strlen() does', () => {
    check('get a\0b c\r\n', [{ command: 'get', tokens: ['get', 'a'], raw: 'get a\0b c\r\n' }]);
  });

  it('reads the data block of every storage command', () => {
    const input = 'set k 5 10 3\r\nabc\r\nappend k 0 0 2 noreply\r\nde\r\ncas k 1 2 1 77\r\nz\r\n';
    check(input, [
      {
        command: 'set',
        tokens: ['set', 'k', '5', '10', '3'],
        data: 'abc',
        status: DataStatus.Ok,
        storage: { flags: 5, exptime: 10, length: 3, cas: '0' },
        raw: 'set k 5 10 3\r\n',
      },
      {
        command: 'append',
        tokens: ['append', 'k', '0', '0', '2', 'noreply'],
        data: 'de',
        status: DataStatus.Ok,
        storage: { flags: 0, exptime: 0, length: 2, cas: '0' },
        raw: 'append k 0 0 2 noreply\r\n',
      },
      {
        command: 'cas',
        tokens: ['cas', 'k', '1', '2', '1', '77'],
        data: 'z',
        status: DataStatus.Ok,
        storage: { flags: 1, exptime: 2, length: 1, cas: '77' },
        raw: 'cas k 1 2 1 77\r\n',
      },
    ]);
  });

  it('keeps "\\r\\n" inside a value and flags a block not ending in "\\r\\n"', () => {
    check('set k 0 0 4\r\na\r\nb\r\nset k 0 0 2\r\nxyz\r\n', [
      {
        command: 'set',
        tokens: ['set', 'k', '0', '0', '4'],
        data: 'a\r\nb',
        status: DataStatus.Ok,
        storage: { flags: 0, exptime: 0, length: 4, cas: '0' },
        raw: 'set k 0 0 4\r\n',
      },
      {
        command: 'set',
        tokens: ['set', 'k', '0', '0', '2'],
        data: 'xy',
        status: DataStatus.BadChunk,
        storage: { flags: 0, exptime: 0, length: 2, cas: '0' },
        raw: 'set k 0 0 2\r\n',
      },
      // memcached then reads the leftover "\n" as an (empty) command
      { command: 'unknown', tokens: [], raw: '\n' },
    ]);
  });

  it('reads no data block after a line memcached rejects, so the data becomes a command', () => {
    for (const line of [
      'set k 0 0 abc',
      'set k 0 0',
      'set k 0 0 -1',
      `set ${'a'.repeat(251)} 0 0 1`,
      'cas k 0 0 1',
    ]) {
      const out = parseAll([Buffer.from(`${line}\r\nhi\r\n`)]);
      assert.equal(out.length, 2, line);
      assert.deepEqual((out[1] as Parsed).tokens, ['hi'], line);
    }
  });

  it('applies C number rules: 32-bit truncation, leading +, trailing whitespace', () => {
    const out = parseAll([Buffer.from('set k 4294967297 +5 4294967297\r\nx\r\n')]);
    assert.deepEqual((out[0] as Parsed).storage, { flags: 1, exptime: 5, length: 1, cas: '0' });
    assert.equal((out[0] as Parsed).data, 'x');
  });

  it('swallows a data block larger than it buffers, without holding it', () => {
    const big = 'x'.repeat(5000);
    check(
      `set k 0 0 5000\r\n${big}\r\nget k\r\n`,
      [
        {
          command: 'set',
          tokens: ['set', 'k', '0', '0', '5000'],
          status: DataStatus.Swallowed,
          storage: { flags: 0, exptime: 0, length: 5000, cas: '0' },
          raw: 'set k 0 0 5000\r\n',
        },
        { command: 'get', tokens: ['get', 'k'], raw: 'get k\r\n' },
      ],
      1000,
    );
  });

  it('frames ms by its datalen token and only when the line is well formed', () => {
    check('ms k 2 T10 F3\r\nhi\r\nms k\r\nms k abc\r\nmn\r\n', [
      {
        command: 'ms',
        tokens: ['ms', 'k', '2', 'T10', 'F3'],
        data: 'hi',
        status: DataStatus.Ok,
        raw: 'ms k 2 T10 F3\r\n',
      },
      { command: 'ms', tokens: ['ms', 'k'], raw: 'ms k\r\n' },
      { command: 'ms', tokens: ['ms', 'k', 'abc'], raw: 'ms k abc\r\n' },
      { command: 'mn', tokens: ['mn'], raw: 'mn\r\n' },
    ]);
  });

  it('closes on more than 2048 bytes without a newline unless it is a get', () => {
    assert.deepEqual(parseAll([Buffer.from('x'.repeat(3000))]), ['ERROR:line-too-long']);
    assert.deepEqual(parseAll([Buffer.from('get ' + 'k '.repeat(1500))]), []);
    assert.deepEqual(parseAll([Buffer.from('  gets ' + 'k '.repeat(1500))]), []);
  });

  it('closes on a non-get line longer than memcached read buffer even with a newline', () => {
    assert.deepEqual(parseAll([Buffer.from('bogus ' + 'x'.repeat(20000) + '\r\n')]), ['ERROR:line-too-long']);
    const longGet = 'get ' + Array.from({ length: 3000 }, (_, i) => `key${i}`).join(' ') + '\r\n';
    const out = parseAll([Buffer.from(longGet)]);
    assert.equal((out[0] as Parsed).tokens.length, 3001);
  });

  it('serves a request whose data straddles many chunks with one join', () => {
    const value = Buffer.alloc(200_000, 0x61);
    const input = Buffer.concat([Buffer.from('set big 0 0 200000\r\n'), value, Buffer.from('\r\n')]);
    const chunks: Buffer[] = [];
    for (let i = 0; i < input.length; i += 65536) chunks.push(input.subarray(i, i + 65536));
    const out = parseAll(chunks);
    assert.equal((out[0] as Parsed).data?.length, 200_000);
  });

  describe('a large data block in several reads', () => {
    /** Parses `input` fed in `chunks` of the given sizes (the rest in one) and returns the request. */
    function parseIn(input: Buffer, sizes: readonly number[]): { req: TextRequest; chunks: Buffer[] } {
      const chunks: Buffer[] = [];
      let at = 0;
      for (const n of sizes) {
        chunks.push(input.subarray(at, at + n));
        at += n;
      }
      if (at < input.length) chunks.push(input.subarray(at));
      const parser = new TextRequestParser({ maxDataLength: 1024 * 1024 });
      let req: TextRequest | null = null;
      for (const chunk of chunks) {
        parser.push(chunk);
        const r = parser.next();
        if (r !== null && !isParseError(r)) req = r;
      }
      assert.ok(req !== null);
      return { req, chunks };
    }

    const value = Buffer.alloc(150_000);
    for (let i = 0; i < value.length; i++) value[i] = (i * 31) & 0xff;
    const line = Buffer.from(`set big 5 0 ${value.length}\r\n`);

    it('keeps the pieces as they came (views of the reads) and joins them only when asked', () => {
      const input = Buffer.concat([line, value, Buffer.from('\r\n')]);
      const { req, chunks } = parseIn(input, [65536, 65536]);
      const parts = req.dataParts;
      assert.ok(parts !== null && parts.length === 3);
      assert.equal(parts[1].buffer, chunks[1].buffer, 'a view, not a copy');
      assert.ok(Buffer.concat(parts).equals(value));
      assert.equal(req.dataStatus, DataStatus.Ok);
      assert.equal(req.heldDataLength, value.length);
      assert.equal(req.dataOwned, false);
      assert.ok(req.data!.equals(value));
      assert.equal(req.dataOwned, true, "the joined copy is the request's own");
    });

    it('finds the terminator wherever the reads split it, and drops it from the pieces', () => {
      const input = Buffer.concat([line, value, Buffer.from('\r\n')]);
      const end = input.length;
      for (const tail of [1, 2, 3, 70]) {
        const { req } = parseIn(input, [65536, end - tail - 65536]);
        assert.equal(req.dataStatus, DataStatus.Ok, `last read of ${tail} bytes`);
        assert.ok(Buffer.concat(req.dataParts!).equals(value), `last read of ${tail} bytes`);
        assert.ok(req.dataParts!.every((p) => p.length > 0));
      }
      const bad = Buffer.concat([line, value, Buffer.from('\rX')]);
      const { req } = parseIn(bad, [65536, bad.length - 65536 - 1]);
      assert.equal(req.dataStatus, DataStatus.BadChunk);
    });

    it('joins a block below 64 KB, as before', () => {
      const small = Buffer.alloc(60_000, 0x62);
      const input = Buffer.concat([Buffer.from('set s 0 0 60000\r\n'), small, Buffer.from('\r\n')]);
      const { req } = parseIn(input, [30_000]);
      assert.equal(req.dataParts, null);
      assert.ok(req.data!.equals(small));
    });
  });
});
