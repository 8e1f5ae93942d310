import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { EX_USAGE, atoi, parseCommandLine } from '../../../src/cli/args.ts';
import { usageText } from '../../../src/cli/usage.ts';

const run = (...argv: string[]) => {
  const r = parseCommandLine(argv, () => {
    throw new Error('no file');
  });
  if (r.kind !== 'run') assert.fail(`expected run, got ${JSON.stringify(r)}`);
  return r.options;
};
const exitOf = (...argv: string[]) => {
  const r = parseCommandLine(argv, () => {
    throw new Error('no file');
  });
  if (r.kind !== 'exit') assert.fail(`expected exit, got ${r.kind}`);
  return r;
};

describe('command line', () => {
  it('defaults to the embedded server on 11211', () => {
    const o = run();
    assert.equal(o.port, 11211);
    assert.equal(o.cluster, null);
    assert.equal(o.maxBytes, 64 * 1024 * 1024);
    assert.equal(o.itemSizeMax, 1024 * 1024);
    assert.equal(o.maxConns, 1024);
  });

  it('reads memcached flags, attached or separate, and counts -v', () => {
    const o = run(
      '-p11311',
      '-l',
      '127.0.0.1',
      '-m',
      '16',
      '-I',
      '512k',
      '-c',
      '10',
      '-vvv',
      '-M',
      '-B',
      'binary',
    );
    assert.equal(o.port, 11311);
    assert.equal(o.bindAddress, '127.0.0.1');
    assert.equal(o.maxBytes, 16 * 1024 * 1024);
    assert.equal(o.itemSizeMax, 512 * 1024);
    assert.equal(o.maxConns, 10);
    assert.equal(o.verbosity, 3);
    assert.equal(o.evictions, false);
    assert.equal(o.bindingProtocol, 'binary');
  });

  it("answers an unknown flag with moxi's message", () => {
    assert.deepEqual(exitOf('-x'), { kind: 'exit', code: 1, message: 'Illegal argument "x"' });
    assert.equal(exitOf('-p').message, 'option requires an argument -- \'p\'\nIllegal argument "?"');
  });

  it("rejects bad values with memcached's messages", () => {
    assert.equal(exitOf('-c', '0').message, 'Maximum connections must be greater than 0');
    assert.equal(exitOf('-t', '0').message, 'Number of threads must be greater than 0');
    assert.equal(exitOf('-I', '100').message, 'Item max size cannot be less than 1024 bytes.');
    assert.equal(
      exitOf('-m', '1', '-I', '1m').message,
      'Cannot set item size limit higher than 1/2 of memory max.',
    );
    assert.equal(exitOf('-B', 'udp').code, EX_USAGE);
  });

  it('parses -z and -Z and takes a trailing URL as -z', () => {
    const o = run(
      '-z',
      '11211=127.0.0.1:11311,127.0.0.1:11312',
      '-Z',
      'downstream_max=4,connect_timeout=100',
    );
    assert.equal(o.cluster?.kind, 'static');
    assert.equal(o.port, null);
    assert.equal(o.behaviors.downstream_max, 4);
    assert.equal(o.behaviors.connect_timeout, 100);
    assert.equal(o.behaviors.downstream_protocol, 'binary');
    const rest = run('http://127.0.0.1:8091/pools/default/bucketsStreamingConfig/default');
    assert.equal(rest.cluster?.kind, 'rest');
    assert.equal(o.memcachedErrors, false);
    assert.equal(run('-z', '11211=127.0.0.1:11311', '--memcached-errors').memcachedErrors, true);
  });

  it('--max-unread takes bytes with k, m or g; 0 turns the cap off; anything else exits 1 with the reason', () => {
    const z = ['-z', '11211=127.0.0.1:11311'];
    assert.equal(run(...z).maxUnreadReplies, 512 * 1024 * 1024);
    assert.equal(run(...z, '--max-unread', '1g').maxUnreadReplies, 1024 ** 3);
    assert.equal(run(...z, '--max-unread=64M').maxUnreadReplies, 64 * 1024 ** 2);
    assert.equal(run(...z, '--max-unread', '300k').maxUnreadReplies, 300 * 1024);
    assert.equal(run(...z, '--max-unread', '1000000').maxUnreadReplies, 1_000_000);
    assert.equal(run(...z, '--max-unread', '0').maxUnreadReplies, 0);
    for (const bad of ['-1', '1t', 'lots', '', '1.5m', '99999999999999999g']) {
      const r = exitOf(...z, `--max-unread=${bad}`);
      assert.equal(r.code, 1, bad);
      assert.match(r.message, /^Illegal --max-unread ".*": expected bytes/, bad);
    }
  });

  it('reports a bad -z with moxi text and exit 1', () => {
    assert.deepEqual(exitOf('-z', '11211'), { kind: 'exit', code: 1, message: 'bad moxi config, missing =' });
  });

  it('documents every flag in -h', () => {
    const text = usageText();
    const flags = ['-p', '-U', '-l', '-t', '-c', '-m', '-M', '-I', '-B', '-z', '-Z', '-v', '-h'];
    for (const flag of [...flags, '--admin', '--memcached-errors', '--max-unread']) {
      assert.ok(text.includes(`  ${flag}`), flag);
    }
    assert.ok(text.includes('downstream_timeout=5000'));
  });

  it('atoi behaves like C', () => {
    assert.equal(atoi('12abc'), 12);
    assert.equal(atoi(' -3'), -3);
    assert.equal(atoi('abc'), 0);
  });
});
