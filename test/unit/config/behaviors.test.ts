import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import fc from 'fast-check';
import {
  BEHAVIORS,
  DOWNSTREAM_PROTOCOL_CODE,
  FIRST_BUCKET,
  applySaslEnv,
  behaviorList,
  cAtoi,
  cStrto,
  cTrim,
  defaultBehaviors,
  findBehavior,
  formatBehaviorsForUsage,
  parseBehaviors,
  proxyDefaults,
  safeStrtol,
  safeStrtoul,
  wordeq,
  type Behaviors,
} from '../../../src/config/behaviors.ts';

/** Finds test/fixtures/config/<name> from the source tree whether tests run from src or a build dir. */
function fixture(name: string): string {
  const rel = join('test', 'fixtures', 'config', name);
  for (let dir = import.meta.dirname; ; dir = dirname(dir)) {
    if (existsSync(join(dir, rel))) return join(dir, rel);
    if (dirname(dir) === dir) break;
  }
  return join(process.cwd(), rel);
}

/** The keys and defaults listed in moxi-spec.md §3 (default_bucket_name: the FIRST_BUCKET marker). */
const SPEC_DEFAULTS: Record<string, number | string> = {
  port_listen: 11211,
  downstream_max: 1024,
  downstream_conn_max: 4,
  downstream_conn_queue_timeout: 200,
  downstream_timeout: 5000,
  wait_queue_timeout: 200,
  connect_timeout: 400,
  auth_timeout: 100,
  connect_max_errors: 5,
  connect_retry_interval: 30000,
  downstream_retry: 1,
  downstream_protocol: 'ascii',
  downstream_weight: 0,
  cycle: 200,
  time_stats: 0,
  mcs_opts: '',
  front_cache_max: 200,
  front_cache_lifespan: 0,
  front_cache_spec: '',
  front_cache_unspec: '',
  key_stats_max: 4000,
  key_stats_lifespan: 0,
  key_stats_spec: '',
  key_stats_unspec: '',
  optimize_set: '',
  usr: '',
  pwd: '',
  host: '',
  port: 0,
  bucket: '',
  default_bucket_name: FIRST_BUCKET,
};

function parse(text: string, base?: Behaviors): { b: Behaviors; errors: string[] } {
  const r = parseBehaviors(text, base);
  return { b: r.behaviors, errors: r.errors };
}

describe('BEHAVIORS table', () => {
  it('has one row per spec §3 key with the spec default', () => {
    assert.deepEqual(BEHAVIORS.map((r) => r.name).sort(), Object.keys(SPEC_DEFAULTS).sort());
    for (const row of BEHAVIORS) assert.equal(row.default, SPEC_DEFAULTS[row.name], row.name);
    assert.deepEqual(defaultBehaviors(), SPEC_DEFAULTS);
  });

  it('lists the aliases moxi accepts, each spelling once', () => {
    const aliases = Object.fromEntries(BEHAVIORS.map((r) => [r.name, [...r.aliases]]));
    assert.deepEqual(aliases['downstream_max'], ['concurrency']);
    assert.deepEqual(aliases['downstream_weight'], ['weight']);
    assert.deepEqual(aliases['downstream_retry'], ['retry']);
    assert.deepEqual(aliases['downstream_protocol'], ['protocol']);
    assert.deepEqual(aliases['downstream_timeout'], ['timeout', 'downstream_conn_timeout']);
    const all = BEHAVIORS.flatMap((r) => [r.name, ...r.aliases]);
    assert.equal(new Set(all).size, all.length);
  });

  it('gives every row a level, a type and a one-line help', () => {
    for (const row of BEHAVIORS) {
      assert.ok(['IL', 'ML', 'PL', 'SL'].includes(row.level), row.name);
      assert.ok(['int', 'int-ms', 'string', 'protocol', 'list'].includes(row.type), row.name);
      assert.ok(row.help.length > 10 && !row.help.includes('\n'), row.name);
    }
    const types = Object.fromEntries(BEHAVIORS.map((r) => [r.name, r.type]));
    assert.equal(types['downstream_timeout'], 'int-ms');
    assert.equal(types['front_cache_spec'], 'list');
    assert.equal(types['mcs_opts'], 'string');
    assert.equal(types['downstream_protocol'], 'protocol');
  });

  it('switches downstream_protocol to binary for proxies and hands out fresh objects', () => {
    assert.equal(defaultBehaviors().downstream_protocol, 'ascii');
    assert.equal(proxyDefaults().downstream_protocol, 'binary');
    assert.deepEqual({ ...proxyDefaults(), downstream_protocol: 'ascii' }, defaultBehaviors());
    const a = defaultBehaviors();
    a.cycle = 1;
    assert.equal(defaultBehaviors().cycle, 200);
    assert.equal(DOWNSTREAM_PROTOCOL_CODE.ascii, 7);
    assert.equal(DOWNSTREAM_PROTOCOL_CODE.binary, 8);
  });
});

describe('parseBehaviors', () => {
  it('sets keys, trimming the list, the items, the keys and the values', () => {
    const { b, errors } = parse('  cycle = 100 ,downstream_max= 7,\tconnect_timeout =1000  ');
    assert.deepEqual(errors, []);
    assert.equal(b.cycle, 100);
    assert.equal(b.downstream_max, 7);
    assert.equal(b.connect_timeout, 1000);
    assert.equal(b.wait_queue_timeout, 200);
  });

  it('accepts every alias', () => {
    const { b, errors } = parse('concurrency=3,weight=4,retry=5,protocol=binary,timeout=6');
    assert.deepEqual(errors, []);
    assert.equal(b.downstream_max, 3);
    assert.equal(b.downstream_weight, 4);
    assert.equal(b.downstream_retry, 5);
    assert.equal(b.downstream_protocol, 'binary');
    assert.equal(b.downstream_timeout, 6);
    assert.equal(parse('downstream_conn_timeout=9').b.downstream_timeout, 9);
  });

  it('matches keys like moxi: by first word and by prefix, first row wins', () => {
    assert.equal(parse('cycle extra words=9').b.cycle, 9);
    assert.equal(parse('concur=3').b.downstream_max, 3);
    assert.equal(parse('downstream=9').b.downstream_max, 9);
    assert.equal(parse('time=5').b.downstream_timeout, 5); // "timeout" is checked before time_stats
    assert.equal(parse('=5').b.cycle, 5); // the empty key is a prefix of the first row
    assert.equal(findBehavior('port')?.name, 'port');
    assert.equal(findBehavior('port_listen')?.name, 'port_listen');
    assert.equal(findBehavior('p')?.name, 'downstream_protocol');
    assert.equal(findBehavior('cycles'), undefined);
    assert.deepEqual(parse('cycles=1').errors, ['ERROR: config error in key: cycles value: 1']);
  });

  it('splits each item on its first = only', () => {
    const { b, errors } = parse('usr=a=b,pwd==x=');
    assert.deepEqual(errors, []);
    assert.equal(b.usr, 'a=b');
    assert.equal(b.pwd, '=x=');
  });

  it('skips # comments that have a value, and reports everything else it cannot use', () => {
    assert.deepEqual(parse('#note=whatever, # spaced = 1').errors, []);
    assert.deepEqual(parse('#note').errors, ['ERROR: config error in key: #note value: (null)']);
    assert.deepEqual(parse('bogus=1,cycle=2').errors, ['ERROR: config error in key: bogus value: 1']);
    assert.deepEqual(parse('novalue').errors, ['ERROR: config error in key: novalue value: (null)']);
    assert.deepEqual(parse('cycle=1,').errors, ['ERROR: config error in key:  value: (null)']);
    assert.deepEqual(parse('a,,b').errors, [
      'ERROR: config error in key: a value: (null)',
      'ERROR: config error in key:  value: (null)',
      'ERROR: config error in key: b value: (null)',
    ]);
  });

  it('treats only the empty string as "nothing to parse"', () => {
    assert.deepEqual(parse(''), { b: defaultBehaviors(), errors: [] });
    assert.deepEqual(parse('  \t').errors, ['ERROR: config error in key:  value: (null)']);
  });

  it('adds the -vv lines before the error line', () => {
    const r = parseBehaviors('bogus=1,protocol=carrier-pigeon', undefined, { verbose: 2 });
    assert.deepEqual(r.errors, [
      'ERROR: unknown behavior key: bogus',
      'ERROR: config error in key: bogus value: 1',
      'unknown behavior prot: carrier-pigeon',
      'ERROR: config error in key: protocol value: carrier-pigeon',
    ]);
    assert.equal(parseBehaviors('bogus=1', undefined, { verbose: 1 }).errors.length, 1);
  });

  it('zeroes a number it cannot parse, as moxi does, and says so', () => {
    const { b, errors } = parse('downstream_timeout=soon,cycle=-1,port_listen=x');
    assert.equal(b.downstream_timeout, 0);
    assert.equal(b.cycle, 0);
    assert.equal(b.port_listen, 0);
    assert.deepEqual(errors, [
      'ERROR: config error in key: downstream_timeout value: soon',
      'ERROR: config error in key: cycle value: -1',
      'ERROR: config error in key: port_listen value: x',
    ]);
  });

  it('parses unsigned values like safe_strtoul into a uint32_t', () => {
    const cases: [string, number, boolean][] = [
      ['0', 0, true],
      ['+5', 5, true],
      ['-0', 0, true],
      ['12 trailing words', 12, true],
      ['4294967295', 4294967295, true],
      ['4294967296', 0, true],
      ['4294967297', 1, true],
      ['18446744073709551615', 4294967295, true],
      ['18446744073709551616', 0, false],
      ['-18446744073709551615', 1, true],
      ['-1', 0, false],
      ['12x', 0, false],
      ['0x10', 0, false],
      ['', 0, false],
      ['abc', 0, false],
    ];
    for (const [text, value, ok] of cases) {
      assert.deepEqual(safeStrtoul(text), { ok, value }, text);
      const { b, errors } = parse(`front_cache_max=${text}`);
      assert.equal(b.front_cache_max, value, text);
      assert.equal(errors.length, ok ? 0 : 1, text);
    }
  });

  it('parses port and port_listen as signed (safe_strtol into an int32_t)', () => {
    assert.equal(parse('port_listen=-5').b.port_listen, -5);
    assert.equal(parse('port=2147483648').b.port, -2147483648);
    assert.deepEqual(safeStrtol('9223372036854775808'), { ok: false, value: 0 });
    assert.deepEqual(safeStrtol('-9223372036854775808'), { ok: true, value: 0 });
    assert.deepEqual(safeStrtol('-42 x'), { ok: true, value: -42 });
  });

  it('turns any non-zero time_stats into 1', () => {
    assert.equal(parse('time_stats=5').b.time_stats, 1);
    assert.equal(parse('time_stats=0').b.time_stats, 0);
    assert.equal(parse('time_stats=4294967296').b.time_stats, 0);
  });

  it('accepts the six downstream_protocol spellings (and their prefixes, like moxi)', () => {
    for (const v of ['ascii', 'memcached-ascii', 'membase-ascii']) {
      assert.equal(parse(`downstream_protocol=${v}`, proxyDefaults()).b.downstream_protocol, 'ascii', v);
    }
    for (const v of ['binary', 'memcached-binary', 'membase-binary']) {
      assert.equal(parse(`downstream_protocol=${v}`).b.downstream_protocol, 'binary', v);
    }
    assert.equal(parse('protocol=bin').b.downstream_protocol, 'binary');
    assert.equal(parse('protocol=membase', proxyDefaults()).b.downstream_protocol, 'ascii');
    assert.equal(parse('protocol=', proxyDefaults()).b.downstream_protocol, 'ascii');
    const bad = parse('protocol=binaryx', proxyDefaults());
    assert.equal(bad.b.downstream_protocol, 'binary'); // unchanged
    assert.deepEqual(bad.errors, ['ERROR: config error in key: protocol value: binaryx']);
  });

  it('limits strings to moxi buffer sizes in bytes, keeping the old value when too long', () => {
    assert.equal(parse(`mcs_opts=${'x'.repeat(79)}`).b.mcs_opts.length, 79);
    const long = parse(`mcs_opts=${'x'.repeat(80)}`);
    assert.equal(long.b.mcs_opts, '');
    assert.deepEqual(long.errors, [`ERROR: config error in key: mcs_opts value: ${'x'.repeat(80)}`]);
    assert.equal(parse(`mcs_opts=${'é'.repeat(40)}`).errors.length, 1); // 80 bytes
    assert.equal(parse(`mcs_opts=${'é'.repeat(39)}`).b.mcs_opts, 'é'.repeat(39));
    const limits: Record<string, number> = {
      front_cache_spec: 299,
      front_cache_unspec: 99,
      key_stats_spec: 299,
      key_stats_unspec: 99,
      optimize_set: 399,
      usr: 249,
      pwd: 899,
      host: 249,
      bucket: 249,
      default_bucket_name: 249,
    };
    for (const [key, max] of Object.entries(limits)) {
      assert.deepEqual(parse(`${key}=${'a'.repeat(max)}`).errors, [], key);
      assert.equal(parse(`${key}=${'a'.repeat(max + 1)}`).errors.length, 1, key);
    }
  });

  it('keeps | lists raw; behaviorList splits them and drops empty items', () => {
    const { b } = parse('front_cache_spec=|||pre1:|||pre2:|||,optimize_set=a|b');
    assert.equal(b.front_cache_spec, '|||pre1:|||pre2:|||');
    assert.deepEqual(behaviorList(b.front_cache_spec), ['pre1:', 'pre2:']);
    assert.deepEqual(behaviorList(b.optimize_set), ['a', 'b']);
    assert.deepEqual(behaviorList(''), []);
  });

  it('starts from base without modifying it', () => {
    const base = proxyDefaults();
    base.usr = 'env-user';
    const { b } = parse('pwd=secret', base);
    assert.equal(b.usr, 'env-user');
    assert.equal(b.pwd, 'secret');
    assert.equal(b.downstream_protocol, 'binary');
    assert.equal(base.pwd, '');
  });

  it('reads the items of a behavior file exactly like the command line', () => {
    const { b, errors } = parse(readFileSync(fixture('behaviors.cfg'), 'utf8'), proxyDefaults());
    assert.deepEqual(errors, []);
    assert.equal(b.downstream_max, 1);
    assert.equal(b.downstream_conn_max, 0);
    assert.equal(b.downstream_protocol, 'ascii');
    assert.equal(b.wait_queue_timeout, 0);
  });

  it('does not split on newlines (moxi reads "1\\nb=2" as the number 1)', () => {
    const { b, errors } = parse('cycle=1\ndownstream_max=2');
    assert.deepEqual(errors, []);
    assert.equal(b.cycle, 1);
    assert.equal(b.downstream_max, 1024);
  });

  it('never throws and always returns a complete Behaviors object', () => {
    const keys = Object.keys(defaultBehaviors()).sort();
    fc.assert(
      fc.property(
        fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.string({ unit: 'grapheme' })),
        (s) => {
          const r = parseBehaviors(s, undefined, { verbose: 3 });
          assert.deepEqual(Object.keys(r.behaviors).sort(), keys);
          for (const e of r.errors) assert.ok(!e.includes('undefined'));
        },
      ),
      { numRuns: 500 },
    );
  });

  it('round-trips any set of valid values written as k=v pairs', () => {
    const safeText = fc.stringMatching(/^[a-z0-9:|._-]{0,40}$/);
    const assignment = fc.record({
      cycle: fc.nat({ max: 0xffffffff }),
      downstream_max: fc.nat({ max: 0xffffffff }),
      downstream_timeout: fc.nat({ max: 0xffffffff }),
      port_listen: fc.integer({ min: -0x80000000, max: 0x7fffffff }),
      downstream_protocol: fc.constantFrom('ascii', 'binary'),
      front_cache_spec: safeText,
      usr: safeText,
      default_bucket_name: safeText,
    });
    fc.assert(
      fc.property(assignment, fc.boolean(), (values, spaced) => {
        const sep = spaced ? ' , ' : ',';
        const text = Object.entries(values)
          .map(([k, v]) => (spaced ? `${k} = ${String(v)}` : `${k}=${String(v)}`))
          .join(sep);
        const r = parseBehaviors(text);
        assert.deepEqual(r.errors, []);
        assert.deepEqual(r.behaviors, { ...defaultBehaviors(), ...values });
      }),
      { numRuns: 300 },
    );
  });
});

describe('C number and string helpers', () => {
  it('cStrto matches strtoul/strtol on decimal input', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), fc.constantFrom('', '+', '-'), (n, sign) => {
        const r = cStrto(`${sign}${n}`, true);
        assert.equal(r.erange, false);
        assert.equal(r.value, sign === '-' ? BigInt.asUintN(64, -n) : n);
        const s = cStrto(`${sign}${n}`, false);
        const signed = sign === '-' ? -n : n;
        const inRange = signed >= -(1n << 63n) && signed < 1n << 63n;
        assert.equal(s.erange, !inRange);
        if (inRange) assert.equal(s.value, signed);
      }),
    );
    assert.deepEqual(cStrto('  \t42abc', true), { value: 42n, end: 5, erange: false });
    assert.deepEqual(cStrto('abc', true), { value: 0n, end: 0, erange: false });
    assert.deepEqual(cStrto('-', false), { value: 0n, end: 0, erange: false });
  });

  it('cAtoi wraps like glibc atoi', () => {
    assert.equal(cAtoi(' 11211abc'), 11211);
    assert.equal(cAtoi('4294978507'), 11211);
    assert.equal(cAtoi('99999999999999999999'), -1);
    assert.equal(cAtoi('x'), 0);
  });

  it('cTrim trims only C whitespace; wordeq is a first-word prefix test', () => {
    assert.equal(cTrim(' \t\n\v\f\rx y\r\n'), 'x y');
    assert.equal(cTrim('\u00a0x\u00a0'), '\u00a0x\u00a0');
    assert.equal(wordeq('cycle', 'cycle'), true);
    assert.equal(wordeq('cyc more', 'cycle'), true);
    assert.equal(wordeq('cycles', 'cycle'), false);
    assert.equal(wordeq('', 'cycle'), true);
  });
});

describe('applySaslEnv', () => {
  it('overrides usr/pwd from the environment and reports their lengths', () => {
    const r = applySaslEnv(proxyDefaults(), {
      MOXI_SASL_PLAIN_USR: 'bucket',
      MOXI_SASL_PLAIN_PWD: 'pässword',
    });
    assert.equal(r.behaviors.usr, 'bucket');
    assert.equal(r.behaviors.pwd, 'pässword');
    assert.deepEqual(r.messages, ['env: MOXI_SASL_PLAIN_USR (6)', 'env: MOXI_SASL_PLAIN_PWD (9)']);
  });

  it('leaves other settings alone, ignores unset variables, and loses to -Z', () => {
    const r = applySaslEnv(proxyDefaults(), { MOXI_SASL_PLAIN_USR: 'u', OTHER: 'x' });
    assert.deepEqual(r.messages, ['env: MOXI_SASL_PLAIN_USR (1)']);
    assert.deepEqual(r.behaviors, { ...proxyDefaults(), usr: 'u' });
    assert.equal(parseBehaviors('usr=cli', r.behaviors).behaviors.usr, 'cli');
    assert.deepEqual(applySaslEnv(defaultBehaviors(), {}).behaviors, defaultBehaviors());
  });

  it('cuts values to the buffer sizes moxi copies them into', () => {
    const r = applySaslEnv(defaultBehaviors(), {
      MOXI_SASL_PLAIN_USR: 'u'.repeat(300),
      MOXI_SASL_PLAIN_PWD: 'é'.repeat(500),
    });
    assert.equal(r.behaviors.usr.length, 249);
    assert.equal(Buffer.byteLength(r.behaviors.pwd), 898);
    assert.deepEqual(r.messages, ['env: MOXI_SASL_PLAIN_USR (249)', 'env: MOXI_SASL_PLAIN_PWD (898)']);
  });
});

describe('formatBehaviorsForUsage', () => {
  it('prints every key with its default, then an indented help line', () => {
    const text = formatBehaviorsForUsage();
    const lines = text.split('\n');
    assert.equal(lines.at(-1), '');
    assert.equal(lines.length - 1, BEHAVIORS.length * 2);
    for (const [i, row] of BEHAVIORS.entries()) {
      assert.ok(lines[i * 2].startsWith(`  ${row.name}=`), row.name);
      assert.ok(lines[i * 2 + 1].startsWith(`      ${row.help}`), row.name);
    }
    assert.ok(text.includes('  port_listen=11211\n'));
    assert.ok(text.includes('  downstream_max=1024\n'));
    assert.ok(text.includes('  downstream_protocol=binary\n'));
    assert.ok(text.includes('  wait_queue_timeout=200\n'));
    assert.ok(text.includes('  usr=<none>\n'));
    assert.ok(text.includes('  default_bucket_name=<the first bucket>\n'));
    assert.ok(text.includes('Also spelled: concurrency.'));
  });

  it('can show a given set of behaviors instead of the defaults', () => {
    const b = parseBehaviors('port_listen=11311,default_bucket_name=default').behaviors;
    const text = formatBehaviorsForUsage(b);
    assert.ok(text.includes('  port_listen=11311\n'));
    assert.ok(text.includes('  default_bucket_name=default\n'));
    assert.ok(text.includes('  downstream_protocol=ascii\n'));
  });
});
