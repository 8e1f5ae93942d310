import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import fc from 'fast-check';
import { parseVBucketServerMap, VBucketMapError } from '../../../src/config/vbucket-map.ts';

function fixture(name: string): string {
  const rel = join('test', 'fixtures', 'config', name);
  for (let dir = import.meta.dirname; ; dir = dirname(dir)) {
    if (existsSync(join(dir, rel))) return join(dir, rel);
    if (dirname(dir) === dir) break;
  }
  return join(process.cwd(), rel);
}

const README_MAP =
  '{ "hashAlgorithm": "CRC", "numReplicas": 0, "serverList": ["memcached_svr1:11311"], "vBucketMap": [ [0], [0] ] }';

function base(): Record<string, unknown> {
  return {
    hashAlgorithm: 'CRC',
    numReplicas: 0,
    serverList: ['a:1', 'b:2'],
    vBucketMap: [[0], [1], [0], [1]],
  };
}

/** Asserts that parsing `input` throws VBucketMapError with exactly `message`. */
function rejects(
  input: string | object,
  message: string,
  source: 'libvbucket' | 'moxi' = 'libvbucket',
): void {
  assert.throws(
    () => parseVBucketServerMap(input),
    (err: unknown) => {
      assert.ok(err instanceof VBucketMapError);
      assert.equal(err.message, message);
      assert.equal(err.source, source);
      assert.equal(err.code, 'EVBUCKETMAP');
      return true;
    },
  );
}

describe('parseVBucketServerMap', () => {
  it("parses the README's vbucket1.cfg map", () => {
    const m = parseVBucketServerMap(README_MAP);
    assert.equal(m.hashAlgorithm, 'CRC');
    assert.equal(m.numReplicas, 0);
    assert.deepEqual(m.serverList, ['memcached_svr1:11311']);
    assert.deepEqual(m.servers, [{ host: 'memcached_svr1', port: 11311 }]);
    assert.equal(m.numVBuckets, 2);
    assert.deepEqual([...m.vBucketMap], [0, 0]);
    assert.ok(m.vBucketMap instanceof Int32Array);
    assert.equal(m.vBucketMapForward, undefined);
    assert.equal(m.user, undefined);
    assert.equal(m.password, undefined);
  });

  it('reads a REST bucket envelope: credentials, replicas, forward map, $HOST', () => {
    const m = parseVBucketServerMap(readFileSync(fixture('rest-envelope.json'), 'utf8'));
    assert.equal(m.user, 'TheUser');
    assert.equal(m.password, 'ThePassword');
    assert.equal(m.numReplicas, 1);
    assert.deepEqual(m.serverList, ['127.0.0.1:11311', 'localhost:11312']);
    assert.deepEqual(m.servers, [
      { host: '127.0.0.1', port: 11311 },
      { host: 'localhost', port: 11312 },
    ]);
    assert.equal(m.numVBuckets, 4);
    assert.deepEqual([...m.vBucketMap], [0, 1, 1, 0, 0, -1, 1, -1]);
    assert.deepEqual([...(m.vBucketMapForward ?? [])], [1, 0, 0, 1, 1, -1, 0, -1]);
  });

  it('takes an already parsed object, and a custom $HOST replacement', () => {
    const m = parseVBucketServerMap(
      { ...base(), serverList: ['$HOST:11211', 'x$HOSTy$HOST:2'] },
      { localhost: '10.0.0.9' },
    );
    assert.deepEqual(m.serverList, ['10.0.0.9:11211', 'x10.0.0.9y$HOST:2']); // only the first marker
    assert.deepEqual(m.servers[1], { host: 'x10.0.0.9y$HOST', port: 2 });
  });

  it('uses name as the user unless it is "default"; saslPassword may be empty', () => {
    assert.equal(parseVBucketServerMap({ ...base(), name: 'default', saslPassword: '' }).user, undefined);
    assert.equal(parseVBucketServerMap({ ...base(), name: 'default', saslPassword: '' }).password, '');
    assert.equal(parseVBucketServerMap({ ...base(), name: 'b1' }).user, 'b1');
    assert.equal(parseVBucketServerMap({ ...base(), name: 7, saslPassword: 8 }).user, undefined);
    const env = { name: 'b2', saslPassword: 'p', vBucketServerMap: base() };
    assert.deepEqual([parseVBucketServerMap(env).user, parseVBucketServerMap(env).password], ['b2', 'p']);
  });

  it('falls back to the top level when vBucketServerMap is not an object', () => {
    const m = parseVBucketServerMap({ ...base(), vBucketServerMap: [1, 2] });
    assert.equal(m.numVBuckets, 4);
  });

  it('matches member names case-insensitively, like cJSON', () => {
    const m = parseVBucketServerMap('{"NUMREPLICAS":0,"serverlist":["h:1"],"VBucketMap":[[0]]}');
    assert.deepEqual(m.servers, [{ host: 'h', port: 1 }]);
  });

  it('accepts hashAlgorithm CRC in any case, or none; rejects the rest', () => {
    const { hashAlgorithm: _, ...withoutHash } = base();
    assert.equal(parseVBucketServerMap(withoutHash).hashAlgorithm, 'CRC');
    assert.equal(parseVBucketServerMap({ ...base(), hashAlgorithm: 'crc' }).hashAlgorithm, 'CRC');
    rejects({ ...base(), hashAlgorithm: 'MD5' }, 'Bogus hash algorithm specified');
    rejects({ ...base(), hashAlgorithm: 5 }, 'Expected string for hashAlgorithm');
  });

  it('accepts nodeLocator vbucket; refuses others', () => {
    assert.equal(parseVBucketServerMap({ ...base(), nodeLocator: 'vbucket' }).numVBuckets, 4);
    rejects({ ...base(), nodeLocator: 3 }, 'Expected string for nodeLocator');
    rejects({ ...base(), nodeLocator: null }, 'Expected string for nodeLocator');
    rejects({ ...base(), nodeLocator: 'ketama' }, 'Unsupported nodeLocator: ketama');
  });

  it('truncates JSON numbers toward zero, like cJSON valueint', () => {
    const m = parseVBucketServerMap({ ...base(), numReplicas: 0.9, vBucketMap: [[1.7], [-1.5]] });
    assert.equal(m.numReplicas, 0);
    assert.deepEqual([...m.vBucketMap], [1, -1]);
  });

  it('keeps -1 (no server) and reads numReplicas + 1 ids per row', () => {
    const m = parseVBucketServerMap({ ...base(), numReplicas: 4, vBucketMap: [[0, 1, -1, -1, -1]] });
    assert.deepEqual([...m.vBucketMap], [0, 1, -1, -1, -1]);
  });

  it('accepts 65536 vBuckets', () => {
    const rows = Array.from({ length: 65536 }, (_, i) => [i & 1]);
    assert.equal(parseVBucketServerMap({ ...base(), vBucketMap: rows }).vBucketMap.length, 65536);
  });

  it('uses only the first numVBuckets rows of a longer forward map', () => {
    const m = parseVBucketServerMap({ ...base(), vBucketMap: [[0]], vBucketMapForward: [[1], ['junk']] });
    assert.deepEqual([...(m.vBucketMapForward ?? [])], [1]);
  });

  it('validates nodes, when present, but does not need them', () => {
    const node = { hostname: 'h:8091', ports: { direct: 11210 } };
    assert.equal(parseVBucketServerMap({ ...base(), nodes: [node] }).numVBuckets, 4);
    rejects({ ...base(), nodes: {} }, 'Expected array for nodes');
    rejects({ ...base(), nodes: [1] }, 'Expected json object for nodes array item');
    rejects({ ...base(), nodes: [{ ...node, hostname: 1 }] }, "Expected string for node's hostname");
    rejects({ ...base(), nodes: [{ ...node, ports: 1 }] }, "Expected json object for node's ports");
    rejects(
      { ...base(), nodes: [{ ...node, ports: { direct: '1' } }] },
      "Expected number for node's direct port",
    );
  });

  it("reports each of libvbucket's errors with its exact text", () => {
    rejects('{"numReplicas": 0,', 'Failed to parse data. Invalid JSON?');
    rejects('', 'Failed to parse data. Invalid JSON?');
    rejects(`${README_MAP} trailing`, 'Failed to parse data. Invalid JSON?');
    rejects('[1,2]', 'Expected number <= 4 for numReplicas');
    rejects({ ...base(), numReplicas: undefined }, 'Expected number <= 4 for numReplicas');
    rejects({ ...base(), numReplicas: '0' }, 'Expected number <= 4 for numReplicas');
    rejects({ ...base(), numReplicas: 5 }, 'Expected number <= 4 for numReplicas');
    rejects({ ...base(), numReplicas: -1 }, 'Expected number <= 4 for numReplicas');
    rejects({ ...base(), serverList: 'a:1' }, 'Expected array for serverList');
    rejects({ ...base(), serverList: [] }, 'Empty serverList');
    rejects({ ...base(), serverList: ['a:1', 2] }, 'Expected array of strings for serverList');
    rejects({ ...base(), vBucketMap: {} }, 'Expected array for vBucketMap');
    rejects({ ...base(), vBucketMap: [] }, 'No vBuckets available; service maybe still initializing');
    rejects(
      { ...base(), vBucketMap: [[0], [0], [0]] },
      'Number of vBuckets must be a power of two > 0 and <= 65536',
    );
    rejects(
      { ...base(), vBucketMap: Array.from({ length: 131072 }, () => [0]) },
      'Number of vBuckets must be a power of two > 0 and <= 65536',
    );
    const rowError = 'Expected array of arrays each with numReplicas + 1 ints for vBucketMap';
    rejects({ ...base(), vBucketMap: [[0], 0] }, rowError);
    rejects({ ...base(), vBucketMap: [[0], [0, 1]] }, rowError);
    rejects({ ...base(), numReplicas: 1, vBucketMap: [[0], [0]] }, rowError);
    const idError = 'Server ID must be >= -1 and < num_servers';
    rejects({ ...base(), vBucketMap: [[-2], [0]] }, idError);
    rejects({ ...base(), vBucketMap: [[2], [0]] }, idError);
    rejects({ ...base(), vBucketMap: [['0'], [0]] }, idError);
    rejects({ ...base(), vBucketMap: [[true], [0]] }, idError);
    rejects({ ...base(), vBucketMapForward: {} }, 'Expected array for vBucketMapForward');
    rejects({ ...base(), vBucketMapForward: null }, 'Expected array for vBucketMapForward');
    rejects({ ...base(), vBucketMapForward: [[0]] }, rowError);
    rejects({ ...base(), vBucketMapForward: [[0], [1], [0], [5]] }, idError);
  });

  it('checks in libvbucket order (numReplicas, serverList, nodes, vBucketMap, forward map)', () => {
    rejects({ serverList: [], vBucketMap: [] }, 'Expected number <= 4 for numReplicas');
    rejects({ numReplicas: 0, serverList: [], vBucketMap: [] }, 'Empty serverList');
    rejects({ numReplicas: 0, serverList: ['a'], nodes: 1, vBucketMap: [] }, 'Expected array for nodes');
    rejects(
      { numReplicas: 0, serverList: ['a'], vBucketMap: [[3]] },
      'Server ID must be >= -1 and < num_servers',
    );
  });

  it("reports moxi's mcs_create errors for servers that are not host:port", () => {
    const cfg = (server: string): string => JSON.stringify({ ...base(), serverList: [server, 'b:2'] });
    rejects(cfg('nohost'), `mcs_create failed, missing port: ${cfg('nohost')}`, 'moxi');
    rejects(cfg('h:0'), `mcs_create failed, could not parse port: ${cfg('h:0')}`, 'moxi');
    rejects(cfg('h:abc'), `mcs_create failed, could not parse port: ${cfg('h:abc')}`, 'moxi');
    rejects(cfg('h:-5'), `mcs_create failed, could not parse port: ${cfg('h:-5')}`, 'moxi');
    rejects(cfg('h:70000'), `mcs_create failed, could not parse port: ${cfg('h:70000')}`, 'moxi');
    rejects(cfg(''), `mcs_create failed, unknown server: ${cfg('')}`, 'moxi');
    const long = `${'h'.repeat(193)}:11211`; // 199 bytes does not fit moxi's 200-byte hostname field
    rejects(cfg(long), `mcs_create failed, unknown server: ${cfg(long)}`, 'moxi');
    assert.equal(parseVBucketServerMap(cfg(`${'h'.repeat(192)}:11211`)).servers[0].port, 11211);
    const obj = { ...base(), serverList: ['nohost', 'b:2'] };
    rejects(obj, `mcs_create failed, missing port: ${JSON.stringify(obj)}`, 'moxi');
  });

  it('splits host:port at the first colon and reads the port like atoi', () => {
    const m = parseVBucketServerMap({ ...base(), serverList: ['h:11211junk', 'h2:12:34'] });
    assert.deepEqual(m.servers, [
      { host: 'h', port: 11211 },
      { host: 'h2', port: 12 },
    ]);
  });

  it('round-trips any valid map into the flat layout', () => {
    const mapArb = fc
      .record({
        numReplicas: fc.integer({ min: 0, max: 4 }),
        servers: fc.uniqueArray(
          fc.tuple(fc.stringMatching(/^[a-z][a-z0-9.-]{0,20}$/), fc.integer({ min: 1, max: 65535 })),
          {
            minLength: 1,
            maxLength: 6,
          },
        ),
        log2: fc.integer({ min: 0, max: 6 }),
      })
      .chain(({ numReplicas, servers, log2 }) =>
        fc.record({
          numReplicas: fc.constant(numReplicas),
          servers: fc.constant(servers),
          rows: fc.array(
            fc.array(fc.integer({ min: -1, max: servers.length - 1 }), {
              minLength: numReplicas + 1,
              maxLength: numReplicas + 1,
            }),
            {
              minLength: 1 << log2,
              maxLength: 1 << log2,
            },
          ),
        }),
      );
    fc.assert(
      fc.property(mapArb, fc.boolean(), ({ numReplicas, servers, rows }, envelope) => {
        const map = {
          hashAlgorithm: 'CRC',
          numReplicas,
          serverList: servers.map(([h, p]) => `${h}:${p}`),
          vBucketMap: rows,
        };
        const json = JSON.stringify(envelope ? { name: 'b', vBucketServerMap: map } : map);
        const m = parseVBucketServerMap(json);
        assert.equal(m.numReplicas, numReplicas);
        assert.equal(m.numVBuckets, rows.length);
        assert.deepEqual(
          m.servers,
          servers.map(([host, port]) => ({ host, port })),
        );
        assert.deepEqual([...m.vBucketMap], rows.flat());
        assert.equal(m.user, envelope ? 'b' : undefined);
      }),
      { numRuns: 200 },
    );
  });

  it('throws nothing but VBucketMapError on arbitrary JSON or text', () => {
    const check = (input: string | object): void => {
      try {
        parseVBucketServerMap(input);
      } catch (err) {
        assert.ok(err instanceof VBucketMapError, String(err));
      }
    };
    fc.assert(fc.property(fc.oneof(fc.json(), fc.string()), check), { numRuns: 500 });
    fc.assert(
      fc.property(
        fc.record(
          {
            numReplicas: fc.oneof(fc.integer({ min: -2, max: 6 }), fc.jsonValue()),
            serverList: fc.oneof(fc.array(fc.oneof(fc.string(), fc.integer())), fc.jsonValue()),
            vBucketMap: fc.oneof(fc.array(fc.array(fc.integer({ min: -3, max: 3 }))), fc.jsonValue()),
            vBucketMapForward: fc.jsonValue(),
            nodes: fc.jsonValue(),
            hashAlgorithm: fc.jsonValue(),
          },
          { requiredKeys: [] },
        ),
        check,
      ),
      { numRuns: 500 },
    );
  });
});
