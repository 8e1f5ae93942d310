import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import fc from 'fast-check';
import { defaultBehaviors } from '../../../src/config/behaviors.ts';
import {
  ConfigError,
  isDynamicConfig,
  parseClusterConfig,
  parseHostList,
  positionalConfig,
  resolveConfigArgument,
  restCredentials,
  type ClusterConfig,
  type HostListPool,
  type RestClusterConfig,
  type StaticClusterConfig,
  type VBucketPool,
} from '../../../src/config/cluster-config.ts';

function fixture(name: string): string {
  const rel = join('test', 'fixtures', 'config', name);
  for (let dir = import.meta.dirname; ; dir = dirname(dir)) {
    if (existsSync(join(dir, rel))) return join(dir, rel);
    if (dirname(dir) === dir) break;
  }
  return join(process.cwd(), rel);
}

function staticConfig(text: string): StaticClusterConfig {
  const c = parseClusterConfig(text);
  assert.equal(c.kind, 'static');
  return c;
}

function restConfig(text: string): RestClusterConfig {
  const c = parseClusterConfig(text);
  assert.equal(c.kind, 'rest');
  return c;
}

function hosts(text: string): HostListPool[] {
  return staticConfig(text).pools.map((p) => {
    assert.equal(p.kind, 'hosts');
    return p;
  });
}

/** Asserts that `fn` throws ConfigError with exactly `message`. */
function fatal(fn: () => unknown, message: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof ConfigError, String(err));
    assert.equal(err.message, message);
    assert.equal(err.exitCode, 1);
    assert.equal(err.code, 'ECONFIG');
    return true;
  });
}

describe('parseClusterConfig: static host lists', () => {
  it("parses the spec's two-pool example", () => {
    assert.deepEqual(parseClusterConfig('11211=mc1:11222,mc2:11333;11311=mc3'), {
      kind: 'static',
      pools: [
        {
          kind: 'hosts',
          port: 11211,
          config: 'mc1:11222,mc2:11333',
          servers: [
            { host: 'mc1', port: 11222, weight: 0 },
            { host: 'mc2', port: 11333, weight: 0 },
          ],
        },
        { kind: 'hosts', port: 11311, config: 'mc3', servers: [{ host: 'mc3', port: 11211, weight: 0 }] },
      ],
    });
  });

  it('trims around the whole value, the port and the list', () => {
    const [p] = hosts('  11211 =  mc1:1 \n');
    assert.equal(p.port, 11211);
    assert.equal(p.config, 'mc1:1');
  });

  it('reads weights after a second colon or after a space', () => {
    assert.deepEqual(parseHostList('a:1:5,b:2 7,c:3:x,d:4 5:6'), [
      { host: 'a', port: 1, weight: 5 },
      { host: 'b', port: 2, weight: 7 },
      { host: 'c', port: 3, weight: 0 },
      { host: 'd', port: 4, weight: 5 },
    ]);
  });

  it('follows libmemcached on odd lists', () => {
    assert.deepEqual(parseHostList('a, b,  c'), [
      { host: 'a', port: 11211, weight: 0 },
      { host: 'b', port: 11211, weight: 0 },
      { host: ' c', port: 11211, weight: 0 },
    ]);
    assert.deepEqual(parseHostList('a,'), [{ host: 'a', port: 11211, weight: 0 }]);
    assert.deepEqual(
      parseHostList(',a').map((s) => s.host),
      ['', 'a'],
    );
    assert.deepEqual(parseHostList(''), []);
    assert.deepEqual(
      parseHostList('a:0,b:abc,c:76747,d:-1,e:11211junk').map((s) => s.port),
      [11211, 11211, 11211, 65535, 11211],
    );
    assert.deepEqual(parseHostList('a 5'), [{ host: 'a 5', port: 11211, weight: 0 }]);
  });

  it('keeps an empty pool (moxi starts it but cannot serve it)', () => {
    assert.deepEqual(hosts('11211='), [{ kind: 'hosts', port: 11211, config: '', servers: [] }]);
  });

  it('returns no pools for an empty value', () => {
    assert.deepEqual(parseClusterConfig(''), { kind: 'static', pools: [] });
  });

  it('reads the proxy port like atoi', () => {
    assert.equal(hosts('+11211=a')[0].port, 11211);
    assert.equal(hosts('11211x=a')[0].port, 11211);
    assert.equal(hosts('4294978507=a')[0].port, 11211);
  });

  it("throws moxi's fatal errors", () => {
    fatal(() => parseClusterConfig('mc1:11211'), 'bad moxi config, missing =');
    fatal(() => parseClusterConfig('11211=a;'), 'bad moxi config, missing =');
    fatal(() => parseClusterConfig('11211=a;11311'), 'bad moxi config, missing =');
    fatal(() => parseClusterConfig('   '), 'bad moxi config, missing =');
    fatal(() => parseClusterConfig('=a'), 'missing proxy port');
    fatal(() => parseClusterConfig('0=a'), 'missing proxy port');
    fatal(() => parseClusterConfig('-1=a'), 'missing proxy port');
    fatal(() => parseClusterConfig('port=a'), 'missing proxy port');
    fatal(() => parseClusterConfig('11211=a;x=b'), 'missing proxy port');
  });

  it('round-trips any well-formed host list', () => {
    const host = fc.stringMatching(/^[a-z0-9][a-z0-9.-]{0,30}$/);
    const server = fc.record({
      host,
      port: fc.option(fc.integer({ min: 1, max: 65535 }), { nil: undefined }),
      weight: fc.option(fc.nat({ max: 0xffffffff }), { nil: undefined }),
      spaceWeight: fc.boolean(),
    });
    const pool = fc.record({
      port: fc.integer({ min: 1, max: 65535 }),
      servers: fc.array(server, { minLength: 1, maxLength: 8 }),
      spaced: fc.boolean(),
    });
    fc.assert(
      fc.property(fc.array(pool, { minLength: 1, maxLength: 4 }), (pools) => {
        const text = pools
          .map((p) => {
            const list = p.servers
              .map((s) => {
                if (s.port === undefined) return s.host;
                if (s.weight === undefined) return `${s.host}:${s.port}`;
                return `${s.host}:${s.port}${s.spaceWeight ? ' ' : ':'}${s.weight}`;
              })
              .join(p.spaced ? ', ' : ',');
            return p.spaced ? ` ${p.port} = ${list} ` : `${p.port}=${list}`;
          })
          .join(';');
        const parsed = hosts(text);
        assert.deepEqual(
          parsed.map((p) => ({ port: p.port, servers: p.servers })),
          pools.map((p) => ({
            port: p.port,
            servers: p.servers.map((s) => ({
              host: s.host,
              port: s.port ?? 11211,
              weight: s.port === undefined ? 0 : (s.weight ?? 0),
            })),
          })),
        );
      }),
      { numRuns: 300 },
    );
  });
});

describe('parseClusterConfig: static vBucket maps', () => {
  it("reads the README's vbucket1.cfg", () => {
    const [pool] = staticConfig(readFileSync(fixture('vbucket1.cfg'), 'utf8')).pools as VBucketPool[];
    assert.equal(pool.kind, 'vbucket');
    assert.equal(pool.port, 11211);
    assert.ok(pool.config.startsWith('{') && pool.config.endsWith('}'));
    assert.equal(pool.error, undefined);
    assert.deepEqual(pool.vbucketMap?.servers, [{ host: 'memcached_svr1', port: 11311 }]);
    assert.deepEqual([...pool.vbucketMap.vBucketMap], [0, 0]);
  });

  it('mixes vBucket and host-list pools across ; sections (the chain topology)', () => {
    const pools = staticConfig(readFileSync(fixture('chain.cfg'), 'utf8')).pools;
    assert.deepEqual(
      pools.map((p) => [p.kind, p.port]),
      [
        ['vbucket', 11311],
        ['vbucket', 11312],
        ['hosts', 11313],
      ],
    );
    assert.deepEqual((pools[1] as VBucketPool).vbucketMap?.servers, [{ host: '127.0.0.1', port: 11313 }]);
    assert.deepEqual((pools[2] as HostListPool).servers, [{ host: '127.0.0.1', port: 11211, weight: 0 }]);
  });

  it('keeps a pool with a bad map, with the reason (not fatal in moxi)', () => {
    const [bad, good] = staticConfig('11211={"numReplicas":0,;11311=h:1').pools;
    assert.deepEqual(bad, {
      kind: 'vbucket',
      port: 11211,
      config: '{"numReplicas":0,',
      vbucketMap: null,
      error: 'Failed to parse data. Invalid JSON?',
    });
    assert.equal(good.kind, 'hosts');
    const [noPort] = staticConfig('11211={"numReplicas":0,"serverList":["h"],"vBucketMap":[[0]]}')
      .pools as VBucketPool[];
    assert.equal(noPort.error, `mcs_create failed, missing port: ${noPort.config}`);
  });

  it('treats a map mentioning @ as a REST config, like moxi', () => {
    fatal(
      () =>
        parseClusterConfig('11211={"name":"a@b","numReplicas":0,"serverList":["h:1"],"vBucketMap":[[0]]}'),
      'ERROR: missing -z configuration for url/host',
    );
  });
});

describe('parseClusterConfig: REST agents', () => {
  it('turns a bare URL list into one agent, commas becoming URL separators', () => {
    assert.deepEqual(restConfig('http://h1:8091/pools/default/bucketsStreaming/default,http://h2:8091/p'), {
      kind: 'rest',
      agents: [
        {
          host: 'http://h1:8091/pools/default/bucketsStreaming/default|http://h2:8091/p',
          urls: ['http://h1:8091/pools/default/bucketsStreaming/default', 'http://h2:8091/p'],
        },
      ],
      warnings: [],
    });
  });

  it('reads url=, host=, auth=, apikey=, config= and dbpath=', () => {
    const c = restConfig('auth=Administrator%password,url=http://a:8091/x|http://b:8091/x,config=/tmp/c.cfg');
    assert.deepEqual(c.agents, [
      {
        host: 'http://a:8091/x|http://b:8091/x',
        urls: ['http://a:8091/x', 'http://b:8091/x'],
        user: 'Administrator',
        password: 'password',
        dbpath: '/tmp/c.cfg',
      },
    ]);
    assert.deepEqual(restConfig('apikey=u%p%q,host=http://h/').agents[0], {
      host: 'http://h/',
      urls: ['http://h/'],
      user: 'u',
      password: 'p%q',
    });
    assert.equal(restConfig('url=http://h/,dbpath=/d').agents[0].dbpath, '/d');
  });

  it('splits auth values without % like moxi', () => {
    const auth = (v: string): [string | undefined, string | undefined] => {
      const a = restConfig(`auth=${v},url=http://h/`).agents[0];
      return [a.user, a.password];
    };
    assert.deepEqual(auth('user:secret@example.com'), ['user@example.com', 'secret']);
    assert.deepEqual(auth('justuser'), ['justuser', '']);
    assert.deepEqual(auth(''), ['', '']);
    assert.deepEqual(auth('a@b:c'), ['a@b:c', '']);
  });

  it('needs | between URLs after an explicit url= (a comma starts a new, unknown key)', () => {
    const c = restConfig('url=http://a/x,http://b/x');
    assert.deepEqual(c.agents[0].urls, ['http://a/x']);
    assert.deepEqual(c.warnings, ['unknown configuration key: http://b/x']);
  });

  it('warns about unknown keys, but not about # comments or empty items', () => {
    const c = restConfig('url=http://h/,,bogus=1,#c=2,novalue\r\nauth=u%p');
    assert.deepEqual(c.warnings, ['unknown configuration key: bogus', 'unknown configuration key: novalue']);
    assert.equal(c.agents[0].user, 'u');
  });

  it('matches keys by prefix like moxi (last value wins)', () => {
    const c = restConfig('u=http://one/,url=http://two/,a=x%y');
    assert.deepEqual(c.agents[0].urls, ['http://two/']);
    assert.deepEqual([c.agents[0].user, c.agents[0].password], ['x', 'y']);
  });

  it('builds one agent per ; section, each needing its own URL', () => {
    const c = restConfig('url=http://a/;auth=u%p,url=http://b/');
    assert.deepEqual(
      c.agents.map((a) => [a.urls, a.user]),
      [
        [['http://a/'], undefined],
        [['http://b/'], 'u'],
      ],
    );
    fatal(() => parseClusterConfig('url=http://a/;'), 'ERROR: missing -z configuration for url/host');
    fatal(() => parseClusterConfig('http://a/;http://b/'), 'ERROR: missing -z configuration for url/host');
  });

  it('requires a URL', () => {
    const missing = 'ERROR: missing -z configuration for url/host';
    fatal(() => parseClusterConfig('auth=u%p@host'), missing);
    fatal(() => parseClusterConfig('user@host%password'), missing);
    fatal(() => parseClusterConfig('url=,auth=a@b'), missing);
    fatal(() => parseClusterConfig(' http://h/'), missing); // not a prefix once a space precedes it
  });

  it('drops empty entries from URL lists', () => {
    assert.deepEqual(restConfig('url=http://a/||http://b/|').agents[0].urls, ['http://a/', 'http://b/']);
  });

  it('picks HTTP credentials: auth= first, then -Z usr/pwd, none for an empty user', () => {
    const b = { ...defaultBehaviors(), usr: 'zu', pwd: 'zp' };
    const [withAuth] = restConfig('auth=u%p,url=http://h/').agents;
    const [plain] = restConfig('url=http://h/').agents;
    const [emptyAuth] = restConfig('auth=,url=http://h/').agents;
    assert.deepEqual(restCredentials(withAuth, b), { user: 'u', password: 'p' });
    assert.deepEqual(restCredentials(plain, b), { user: 'zu', password: 'zp' });
    assert.equal(restCredentials(emptyAuth, b), undefined);
    assert.equal(restCredentials(plain, defaultBehaviors()), undefined);
  });

  it('round-trips any comma-separated URL list given bare', () => {
    const url = fc
      .tuple(
        fc.stringMatching(/^[a-z0-9.-]{1,20}$/),
        fc.integer({ min: 1, max: 65535 }),
        fc.stringMatching(/^[a-zA-Z0-9/_.-]{0,30}$/),
      )
      .map(([h, p, path]) => `http://${h}:${p}/${path}`);
    fc.assert(
      fc.property(fc.array(url, { minLength: 1, maxLength: 5 }), (urls) => {
        const c = restConfig(urls.join(','));
        assert.deepEqual(c.agents.length, 1);
        assert.deepEqual(c.agents[0].urls, urls);
        assert.deepEqual(restConfig(`url=${urls.join('|')}`).agents[0].urls, urls);
      }),
      { numRuns: 200 },
    );
  });
});

describe('parseClusterConfig on arbitrary input', () => {
  it('returns a well-formed config or throws ConfigError, nothing else', () => {
    const alphabet = fc.constantFrom(
      '1',
      '2',
      '=',
      ',',
      ';',
      ':',
      ' ',
      '{',
      '}',
      '@',
      '%',
      '|',
      'http://',
      'url=',
      'a',
      '\n',
    );
    const text = fc.oneof(
      fc.string(),
      fc.array(alphabet, { maxLength: 30 }).map((parts) => parts.join('')),
    );
    fc.assert(
      fc.property(text, (s) => {
        let c: ClusterConfig;
        try {
          c = parseClusterConfig(s);
        } catch (err) {
          assert.ok(err instanceof ConfigError, String(err));
          return;
        }
        if (c.kind === 'static') {
          for (const p of c.pools) assert.ok(p.port > 0);
        } else {
          assert.ok(c.agents.length > 0);
          for (const a of c.agents) assert.ok(a.urls.length > 0 && a.host !== '');
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('isDynamicConfig follows the @ / http:// rule', () => {
    assert.equal(isDynamicConfig('11211=a'), false);
    assert.equal(isDynamicConfig('x@y'), true);
    assert.equal(isDynamicConfig('url=http://h/'), true);
    assert.equal(isDynamicConfig('url=https://h/'), false);
  });
});

describe('resolveConfigArgument', () => {
  const files = new Map<string, string | Uint8Array>(
    Object.entries({
      './a.cfg': '11211=mc1',
      '/abs/b.cfg': './a.cfg',
      './empty.cfg': '',
      './nul.cfg': '11211=mc1\0garbage',
      './bytes.cfg': new TextEncoder().encode('cycle=5'),
      './loop.cfg': './loop.cfg',
    }),
  );
  const readFile = (path: string): string | Uint8Array => {
    const f = files.get(path);
    if (f === undefined) throw new Error(`ENOENT: ${path}`);
    return f;
  };

  it('returns values that are not paths unchanged', () => {
    assert.equal(resolveConfigArgument('11211=mc1', readFile), '11211=mc1');
    assert.equal(resolveConfigArgument('', readFile), '');
    assert.equal(resolveConfigArgument('rel/path.cfg', readFile), 'rel/path.cfg');
  });

  it('replaces a path by the file contents, following files that name files', () => {
    assert.equal(resolveConfigArgument('./a.cfg', readFile), '11211=mc1');
    assert.equal(resolveConfigArgument('/abs/b.cfg', readFile), '11211=mc1');
    assert.equal(resolveConfigArgument('./bytes.cfg', readFile, 'behavior'), 'cycle=5');
    assert.equal(resolveConfigArgument('./nul.cfg', readFile), '11211=mc1');
  });

  it("throws moxi's could-not-read errors for missing or empty files", () => {
    fatal(
      () => resolveConfigArgument('./missing.cfg', readFile),
      'ERROR: could not read cfg file: ./missing.cfg',
    );
    fatal(
      () => resolveConfigArgument('/etc/nope', readFile, 'cfg'),
      'ERROR: could not read cfg file: /etc/nope',
    );
    fatal(
      () => resolveConfigArgument('./missing.cfg', readFile, 'behavior'),
      'ERROR: could not read behavior file: ./missing.cfg',
    );
    fatal(
      () => resolveConfigArgument('./empty.cfg', readFile),
      'ERROR: could not read cfg file: ./empty.cfg',
    );
  });

  it('stops at a file that names itself', () => {
    fatal(
      () => resolveConfigArgument('./loop.cfg', readFile),
      'ERROR: config files nested too deeply: ./loop.cfg',
    );
  });

  it('reads the real fixture through fs', () => {
    const text = resolveConfigArgument(fixture('vbucket1.cfg'), (p) => readFileSync(p));
    assert.equal(staticConfig(text).pools[0].kind, 'vbucket');
  });
});

describe('positionalConfig', () => {
  it('takes the last argument when it looks like a cluster config', () => {
    assert.equal(
      positionalConfig(['-v', 'http://h:8091/pools/default/bucketsStreaming/default']),
      'http://h:8091/pools/default/bucketsStreaming/default',
    );
    assert.equal(positionalConfig(['http://a/,http://b/']), 'http://a/,http://b/');
    assert.equal(positionalConfig(['apikey=jid@host%pw']), 'apikey=jid@host%pw');
    assert.equal(positionalConfig(['apikey=nojid']), 'apikey=nojid');
    assert.equal(positionalConfig(['-Z', 'usr=a@b']), 'usr=a@b'); // moxi only looks at the last argv
  });

  it('ignores anything else', () => {
    assert.equal(positionalConfig([]), undefined);
    assert.equal(positionalConfig(['https://h/']), undefined);
    assert.equal(positionalConfig(['11211=mc1']), undefined);
    assert.equal(positionalConfig(['http://h/', '-v']), undefined);
    assert.equal(positionalConfig(['HTTP://h/']), undefined);
  });
});
