import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { TextRequestParser, isParseError } from '../../../src/protocol/ascii/request-parser.ts';
import { classify, type ProxyCommand } from '../../../src/proxy/classify.ts';

function of(input: string): ProxyCommand {
  const parser = new TextRequestParser({ maxDataLength: 1024 });
  parser.push(Buffer.from(input, 'latin1'));
  const req = parser.next();
  assert.ok(req !== null && !isParseError(req), input);
  return classify(req);
}

describe('proxy classification of text requests', () => {
  it('answers malformed commands as memcached does, without forwarding them', () => {
    assert.deepEqual(of('get\r\n'), { kind: 'local', reply: 'ERROR' });
    assert.deepEqual(of('bogus\r\n'), { kind: 'local', reply: 'ERROR' });
    assert.deepEqual(of(`get ${'k'.repeat(251)}\r\n`), {
      kind: 'local',
      reply: 'CLIENT_ERROR bad command line format',
    });
    assert.deepEqual(of('set k 0 0 abc\r\n'), {
      kind: 'local',
      reply: 'CLIENT_ERROR bad command line format',
    });
    assert.deepEqual(of('set k 0 0 abc noreply\r\n'), { kind: 'local', reply: null });
    assert.deepEqual(of('incr k x\r\n'), {
      kind: 'local',
      reply: 'CLIENT_ERROR invalid numeric delta argument',
    });
    assert.deepEqual(of('delete k 5\r\n'), {
      kind: 'local',
      reply: 'CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]',
    });
    assert.deepEqual(of('touch k x\r\n'), { kind: 'local', reply: 'CLIENT_ERROR invalid exptime argument' });
    assert.deepEqual(of('set k 0 0 2\r\nabc\r\n'), { kind: 'local', reply: 'CLIENT_ERROR bad data chunk' });
    assert.deepEqual(of('stats items\r\n'), { kind: 'local', reply: 'ERROR' });
  });

  it('answers version, verbosity and mn locally', () => {
    assert.deepEqual(of('version\r\n'), { kind: 'version' });
    assert.deepEqual(of('verbosity 1\r\n'), { kind: 'local', reply: 'OK' });
    assert.deepEqual(of('verbosity 1 noreply\r\n'), { kind: 'local', reply: null });
    assert.deepEqual(of('mn\r\n'), { kind: 'local', reply: 'MN' });
  });

  it('forwards what servers answer', () => {
    assert.deepEqual(of('gets a b\r\n'), {
      kind: 'get',
      withCas: true,
      touch: false,
      exptime: 0,
      firstKey: 1,
    });
    assert.deepEqual(of('gat 10 a\r\n'), {
      kind: 'get',
      withCas: false,
      touch: true,
      exptime: 10,
      firstKey: 2,
    });
    assert.deepEqual(of('set k 1 2 1 noreply\r\nx\r\n'), { kind: 'store', verb: 'set', noreply: true });
    assert.deepEqual(of('decr k 5\r\n'), { kind: 'arith', incr: false, delta: 5n, noreply: false });
    assert.deepEqual(of('delete k 0 noreply\r\n'), { kind: 'delete', noreply: true });
    assert.deepEqual(of('flush_all 10\r\n'), { kind: 'flush', delay: 10, noreply: false });
    assert.deepEqual(of('stats\r\n'), { kind: 'stats', sub: 'all', arg: '' });
    assert.deepEqual(of('stats proxy info\r\n'), { kind: 'stats', sub: 'proxy', arg: 'info' });
  });

  it('routes meta commands by their (decoded) key and notes q', () => {
    const mg = of('mg Zm9v b v q\r\n');
    assert.equal(mg.kind, 'meta');
    assert.equal(mg.key.toString(), 'foo');
    assert.equal(mg.quiet, true);
    assert.deepEqual(of('mg foo v\r\n'), { kind: 'meta', key: Buffer.from('foo'), quiet: false });
    assert.deepEqual(of('ma Zm9v b0 q1\r\n'), { kind: 'meta', key: Buffer.from('foo'), quiet: true });
    assert.deepEqual(of('mg\r\n'), { kind: 'local', reply: 'ERROR' });
    assert.deepEqual(of('me\r\n'), { kind: 'local', reply: 'CLIENT_ERROR bad command line format' });
  });
});
