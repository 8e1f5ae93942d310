import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseHostList } from '../../../src/config/cluster-config.ts';
import { PoolConfig, type Route } from '../../../src/proxy/pool.ts';
import { Distribution, KetamaRouter } from '../../../src/routing/ketama.ts';
import { keyList } from '../../helpers/keys.ts';

/** Host-list pools of one server or several, ketama or modula. */
const CONFIGS = (
  [
    ['127.0.0.1:11211', Distribution.KETAMA_WEIGHTED],
    ['127.0.0.1:11211,127.0.0.1:11212,127.0.0.1:11213', Distribution.KETAMA_WEIGHTED],
    ['127.0.0.1:11211,127.0.0.1:11212', Distribution.MODULA],
  ] as const
).map(([list, distribution]) => new PoolConfig(new KetamaRouter(parseHostList(list), distribution), []));

describe('PoolConfig.routeAll (the routes of a multi-get)', () => {
  it('routes every key as route() does, for one server or several, ketama or modula', () => {
    for (const config of CONFIGS) {
      fc.assert(
        fc.property(
          fc.array(fc.uint8Array({ minLength: 1, maxLength: 250 }), { minLength: 1, maxLength: 300 }),
          (keys) => {
            const buffers = keys.map((k) => Buffer.from(k));
            const routes = new Array<Route>(buffers.length);
            config.routeAll(keyList(buffers), routes);
            buffers.forEach((key, i) => {
              assert.equal(routes[i], config.route(key), `key ${i}`);
            });
          },
        ),
        { numRuns: 100 },
      );
    }
  });
});

describe('PoolConfig.routeIn (the route of a one-key get, from its command line)', () => {
  it('routes the key start..end of a line as route() routes a view of it', () => {
    for (const config of CONFIGS) {
      fc.assert(
        fc.property(fc.uint8Array({ minLength: 1, maxLength: 250 }), fc.nat(20), (key, before) => {
          const line = Buffer.concat([Buffer.from('get '.padEnd(before + 4, ' ')), key, Buffer.from('\r\n')]);
          const start = before + 4;
          assert.equal(config.routeIn(line, start, start + key.length), config.route(Buffer.from(key)));
        }),
        { numRuns: 200 },
      );
    }
  });
});
