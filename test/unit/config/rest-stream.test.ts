import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import {
  AUTH_FAILURE_MESSAGE,
  END_OF_CONFIG,
  RestConfigStream,
  type RestConfigStreamOptions,
  type RestStreamAgent,
  type RestStreamLogger,
  type ScheduleFn,
} from '../../../src/config/rest-stream.ts';
import { silentLogger } from '../../../src/util/log.ts';
import { freePort, LOOPBACK } from '../../helpers/ports.ts';

/** A pino logger is what the CLI passes in: this must compile. */
export const pinoFits: RestStreamLogger = silentLogger();

const WAIT_MS = 5000;
const TEST_TIMEOUT = { timeout: 20_000 };
const FAST: RestConfigStreamOptions = { retryDelayMs: 20, maxRetryDelayMs: 80 };

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `pred` until it holds; fails after `ms`. */
async function waitUntil(pred: () => boolean, what: string, ms = WAIT_MS): Promise<void> {
  const deadline = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

interface LogLine {
  readonly level: 'info' | 'warn' | 'error';
  readonly msg: string;
}

function recorder(): RestStreamLogger & {
  lines: LogLine[];
  has(level: LogLine['level'], msg: string): boolean;
} {
  const lines: LogLine[] = [];
  return {
    lines,
    info: (msg) => lines.push({ level: 'info', msg }),
    warn: (msg) => lines.push({ level: 'warn', msg }),
    error: (msg) => lines.push({ level: 'error', msg }),
    has: (level, msg) => lines.some((l) => l.level === level && l.msg === msg),
  };
}

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

interface TestServer {
  readonly port: number;
  readonly requests: IncomingMessage[];
  url(path?: string): string;
  close(): Promise<void>;
}

function listenOn(server: Server | NetServer, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => {
      reject(err);
    };
    server.once('error', onError);
    server.listen({ port, host: LOOPBACK, exclusive: true }, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

/** Binds `server` to `port`, or to a free port (retrying on EADDRINUSE). */
async function bind(server: Server | NetServer, port?: number): Promise<number> {
  for (let attempt = 0; ; attempt++) {
    const p = port ?? (await freePort());
    try {
      await listenOn(server, p);
      return p;
    } catch (err) {
      const inUse = (err as NodeJS.ErrnoException).code === 'EADDRINUSE';
      if (!inUse || attempt >= 4) throw err;
      // A fixed port (a server coming back) may still be held for a moment: retry the same one.
      await sleep(50);
    }
  }
}

async function httpServer(t: TestContext, handler: Handler, port?: number): Promise<TestServer> {
  const requests: IncomingMessage[] = [];
  const server = createHttpServer((req, res) => {
    requests.push(req);
    handler(req, res);
  });
  const bound = await bind(server, port);
  let closed = false;
  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    server.closeAllConnections();
    await new Promise<void>((resolve) =>
      server.close(() => {
        resolve();
      }),
    );
  };
  t.after(close);
  return {
    port: bound,
    requests,
    url: (path = '/pools/default/bucketsStreaming/default') => `http://${LOOPBACK}:${bound}${path}`,
    close,
  };
}

/** A raw TCP server answering every connection with `reply` and closing (like `nc -l`). */
async function rawServer(t: TestContext, reply: string | Buffer): Promise<TestServer> {
  const sockets = new Set<Socket>();
  const server = createNetServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    socket.once('data', () => {
      socket.end(reply);
    });
  });
  const bound = await bind(server);
  const close = async (): Promise<void> => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) =>
      server.close(() => {
        resolve();
      }),
    );
  };
  t.after(close);
  return { port: bound, requests: [], url: (path = '/bad') => `http://${LOOPBACK}:${bound}${path}`, close };
}

interface Received {
  readonly config: unknown;
  readonly url: string;
}

function open(
  t: TestContext,
  agent: RestStreamAgent,
  options: RestConfigStreamOptions = {},
): { stream: RestConfigStream; configs: Received[]; log: ReturnType<typeof recorder> } {
  const log = recorder();
  const stream = new RestConfigStream(agent, { ...FAST, logger: log, ...options });
  const configs: Received[] = [];
  stream.on('config', (config, url) => {
    configs.push({ config, url });
  });
  t.after(() => {
    stream.close();
  });
  stream.start();
  return { stream, configs, log };
}

function streamed(doc: unknown): string {
  return JSON.stringify(doc) + END_OF_CONFIG;
}

/** A handler that streams `first` and keeps the response open. */
function streaming(...docs: unknown[]): Handler {
  return (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' });
    res.write(docs.map(streamed).join(''));
  };
}

describe('RestConfigStream', () => {
  it('hands over several configs from one chunk and one split over chunks', TEST_TIMEOUT, async (t) => {
    const a = { name: 'default', rev: 1 };
    const b = { name: 'default', rev: 2 };
    const c = { buckets: [{ name: 'default', rev: 3, text: 'ünïcödé' }] };
    const server = await httpServer(t, (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' });
      res.write(streamed(a) + streamed(b));
      const text = Buffer.from(JSON.stringify(c) + END_OF_CONFIG, 'utf8');
      // Cut inside a multi-byte character and inside the terminator.
      const cuts = [10, text.indexOf(Buffer.from('ï')) + 1, text.length - 2, text.length];
      let from = 0;
      const writeNext = (i: number): void => {
        if (i >= cuts.length || res.destroyed) return;
        res.write(text.subarray(from, cuts[i]));
        from = cuts[i]!;
        setTimeout(() => {
          writeNext(i + 1);
        }, 15);
      };
      setTimeout(() => {
        writeNext(0);
      }, 15);
    });
    const { configs, log } = open(t, { urls: [server.url()] });
    await waitUntil(() => configs.length >= 3, 'three configs');
    assert.deepEqual(configs, [
      { config: a, url: server.url() },
      { config: b, url: server.url() },
      { config: c, url: server.url() },
    ]);
    await sleep(50);
    assert.equal(configs.length, 3);
    assert.equal(server.requests.length, 1, 'the stream stays open');
    assert.deepEqual(
      log.lines.filter((l) => l.level !== 'info'),
      [],
    );
    assert.equal(log.lines.filter((l) => l.msg === 'configuration received').length, 3);
  });

  it(
    'splits documents arriving one byte per chunk, blank frames and UTF-8 included',
    TEST_TIMEOUT,
    async (t) => {
      const docs = [{ rev: 1, s: 'ä€😀' }, { rev: 2 }, { buckets: [] }];
      // extra newlines between documents, and a document that ends with its own newline
      const body = Buffer.from(
        `${streamed(docs[0])}\n\n${END_OF_CONFIG}${JSON.stringify(docs[1])}\n${END_OF_CONFIG}${streamed(docs[2])}`,
        'utf8',
      );
      let http = 'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n';
      const parts = [Buffer.from(http, 'latin1')];
      for (const byte of body)
        parts.push(Buffer.from('1\r\n', 'latin1'), Buffer.from([byte]), Buffer.from('\r\n', 'latin1'));
      http = '0\r\n\r\n';
      parts.push(Buffer.from(http, 'latin1'));
      const server = await rawServer(t, Buffer.concat(parts));
      const { configs, log } = open(t, { urls: [server.url('/pools/default/saslBucketsStreaming')] });
      await waitUntil(() => configs.length >= 3, 'three configs');
      assert.deepEqual(
        configs.slice(0, 3).map((c) => c.config),
        docs,
      );
      assert.ok(
        log.has(
          'error',
          `ERROR: invalid, empty config from REST server ${server.url('/pools/default/saslBucketsStreaming')}`,
        ),
      );
      assert.ok(!log.lines.some((l) => l.msg.startsWith('ERROR: parse JSON')));
    },
  );

  it('reports HTTP 401 as a fatal auth failure and stops', TEST_TIMEOUT, async (t) => {
    const denied = await httpServer(t, (_req, res) => {
      res.writeHead(401, { 'www-authenticate': 'Basic realm="Couchbase Server Admin / REST"' });
      res.end('Unauthorized');
    });
    const other = await httpServer(t, streaming({ name: 'default' }));
    const log = recorder();
    const stream = new RestConfigStream(
      { urls: [denied.url(), other.url()], user: 'Administrator', password: 'wrong' },
      { ...FAST, logger: log },
    );
    t.after(() => {
      stream.close();
    });
    const failures: string[] = [];
    const configs: unknown[] = [];
    stream.on('auth-failure', (url) => failures.push(url));
    stream.on('config', (config) => configs.push(config));
    stream.start();
    await waitUntil(() => failures.length > 0, 'auth-failure');
    assert.deepEqual(failures, [denied.url()]);
    assert.equal(stream.closed, true);
    await sleep(100);
    assert.equal(denied.requests.length, 1);
    assert.equal(other.requests.length, 0);
    assert.deepEqual(configs, []);
    assert.equal(AUTH_FAILURE_MESSAGE, 'ERROR: Authentication failure');
  });

  it(
    'logs a non-JSON body (nc-style HTTP/1.0 reply) and fails over to the next URL',
    TEST_TIMEOUT,
    async (t) => {
      const bad = await rawServer(
        t,
        'HTTP/1.0 200 OK\r\n\r\nThis is just a bad response that is not JSON.\n',
      );
      const good = await httpServer(t, streaming({ name: 'default', rev: 7 }));
      const { configs, log } = open(t, { urls: [bad.url(), good.url()] });
      await waitUntil(() => configs.length >= 1, 'a config from the second URL');
      assert.deepEqual(configs, [{ config: { name: 'default', rev: 7 }, url: good.url() }]);
      assert.deepEqual(
        log.lines.filter((l) => l.level !== 'info'),
        [
          {
            level: 'error',
            msg: `ERROR: parse JSON failed, from REST server: ${bad.url()}, This is just a bad response that is not JSON.\n`,
          },
        ],
      );
    },
  );

  it(
    'shows where it stands: the URL without credentials, open or not, configs and errors',
    TEST_TIMEOUT,
    async (t) => {
      let response: ServerResponse | undefined;
      const good = await httpServer(t, (_req, res) => {
        response = res;
        streaming({ rev: 1 }, { rev: 2 })(_req, res);
      });
      const refused = `http://${LOOPBACK}:${await freePort()}/pools`;
      const withCredentials = good.url().replace('http://', 'http://admin:secret@');
      const { stream, configs } = open(t, { urls: [refused, withCredentials] });
      assert.equal(stream.status.configs, 0);
      await waitUntil(() => configs.length >= 2, 'two configs');
      const open1 = stream.status;
      assert.equal(open1.url, good.url(), 'no user nor password');
      assert.equal(open1.connected, true);
      assert.equal(open1.configs, 2);
      assert.ok(open1.lastConfigAt !== null && Math.abs(open1.lastConfigAt - Date.now()) < WAIT_MS);
      assert.equal(open1.errors, 1, 'the refused URL');
      assert.match(open1.lastError ?? '', /Connection refused/);
      // the stream is cut: closed, counted, and open again on the next round
      response!.destroy();
      await waitUntil(() => stream.status.errors >= 2, 'the cut to be counted');
      await waitUntil(() => stream.status.connected && good.requests.length >= 2, 'the stream again');
      assert.equal(stream.status.configs, 4);
      stream.close();
      assert.equal(stream.status.connected, false);
    },
  );

  it('fails over when a stream turns bad, and after an HTTP error status', TEST_TIMEOUT, async (t) => {
    const turning = await httpServer(t, (_req, res) => {
      res.writeHead(200);
      res.write(streamed({ rev: 1 }) + 'garbage' + END_OF_CONFIG);
    });
    const missing = await httpServer(t, (_req, res) => {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('Requested resource not found.\r\n');
    });
    const failing = await httpServer(t, (_req, res) => {
      res.writeHead(500, { 'content-type': 'application/json' });
      res.end('{"error":"internal"}');
    });
    const good = await httpServer(t, streaming({ rev: 2 }));
    const urls = [
      turning.url(),
      missing.url('/pools/default/bucketsStreaming/nobucket'),
      failing.url(),
      good.url(),
    ];
    const { configs, log } = open(t, { urls });
    await waitUntil(() => configs.length >= 2, 'two configs');
    assert.deepEqual(configs, [
      { config: { rev: 1 }, url: urls[0] },
      { config: { rev: 2 }, url: urls[3] },
    ]);
    assert.deepEqual(
      log.lines.filter((l) => l.level !== 'info'),
      [
        { level: 'error', msg: `ERROR: parse JSON failed, from REST server: ${urls[0]}, garbage` },
        {
          level: 'error',
          msg: `ERROR: parse JSON failed, from REST server: ${urls[1]}, Requested resource not found.\r\n`,
        },
        { level: 'error', msg: `ERROR: HTTP 500 from REST server: ${urls[2]}, {"error":"internal"}` },
      ],
    );
    // the client hung up on the stream that turned bad
    await waitUntil(() => turning.requests[0]?.socket.destroyed, 'the bad stream to be closed');
  });

  it(
    'moves past a refused connection, an unsupported URL and an empty reply with curl-style warnings',
    TEST_TIMEOUT,
    async (t) => {
      const refusedPort = await freePort();
      const refused = `http://${LOOPBACK}:${refusedPort}/pools/default/bucketsStreaming/default`;
      const tls = `https://${LOOPBACK}:${refusedPort}/pools`;
      const hangup = await rawServer(t, '');
      const good = await httpServer(t, streaming({ rev: 1 }));
      const { configs, log } = open(t, { urls: [refused, tls, hangup.url(), good.url()] });
      await waitUntil(() => configs.length >= 1, 'a config from the last URL');
      assert.deepEqual(configs, [{ config: { rev: 1 }, url: good.url() }]);
      assert.deepEqual(
        log.lines.filter((l) => l.level !== 'info'),
        [
          {
            level: 'warn',
            msg: `WARNING: curl error: Failed to connect to ${LOOPBACK} port ${refusedPort}: Connection refused from: ${refused}`,
          },
          {
            level: 'warn',
            msg: `WARNING: curl error: Protocol "https" not supported or disabled in libcurl from: ${tls}`,
          },
          { level: 'warn', msg: `WARNING: curl error: Empty reply from server from: ${hangup.url()}` },
        ],
      );
    },
  );

  it('restarts from the first URL after a stream ends, and logs the empty rest', TEST_TIMEOUT, async (t) => {
    let n = 0;
    const server = await httpServer(t, (_req, res) => {
      n++;
      res.writeHead(200);
      // bucketsStreaming style for the first, a plain document for the second
      res.end(n === 1 ? streamed({ rev: 1 }) : JSON.stringify({ rev: n }));
    });
    const second = await httpServer(t, streaming({ never: true }));
    const empties: string[] = [];
    const { stream, configs, log } = open(t, { urls: [server.url(), second.url()] });
    stream.on('empty', (url) => empties.push(url));
    await waitUntil(() => configs.length >= 3, 'three configs');
    assert.deepEqual(
      configs.slice(0, 3),
      [1, 2, 3].map((rev) => ({ config: { rev }, url: server.url() })),
    );
    assert.equal(second.requests.length, 0, 'a good round never reaches the second URL');
    assert.deepEqual(empties, [server.url()]);
    assert.ok(log.has('error', `ERROR: invalid, empty config from REST server ${server.url()}`));
    assert.ok(!log.lines.some((l) => l.msg.includes('could not contact')));
  });

  it(
    'keeps going when the server dies and picks up its config when it comes back',
    TEST_TIMEOUT,
    async (t) => {
      const first = await httpServer(t, streaming({ rev: 1 }));
      const url = first.url();
      const { configs, log } = open(t, { urls: [url] });
      await waitUntil(() => configs.length >= 1, 'the first config');
      await first.close();
      await waitUntil(
        () => log.has('error', `ERROR: could not contact REST server(s): ${url}`),
        'could not contact',
      );
      assert.ok(
        log.has(
          'warn',
          `WARNING: curl error: transfer closed with outstanding read data remaining from: ${url}`,
        ),
      );
      assert.ok(
        log.has(
          'warn',
          `WARNING: curl error: Failed to connect to ${LOOPBACK} port ${first.port}: Connection refused from: ${url}`,
        ),
      );
      // a config was received once: the "still initializing" warning is for start-up only
      assert.ok(!log.lines.some((l) => l.level === 'warn' && l.msg.includes('could not contact')));
      assert.equal(configs.length, 1);

      const back = await httpServer(t, streaming({ rev: 2 }), first.port);
      await waitUntil(() => configs.length >= 2, 'the config after the restart');
      assert.deepEqual(configs[1], { config: { rev: 2 }, url });
      assert.equal(back.requests.length, 1);
    },
  );

  it('sends basic auth only when a user is known', TEST_TIMEOUT, async (t) => {
    const seen: (string | undefined)[] = [];
    const server = await httpServer(t, (req, res) => {
      seen.push(req.headers.authorization);
      res.writeHead(200);
      res.write(streamed({ ok: true }));
    });
    const cases: [RestStreamAgent, string | undefined][] = [
      [
        { urls: [server.url()], user: 'Administrator', password: 'pa%ss:wörd' },
        `Basic ${Buffer.from('Administrator:pa%ss:wörd', 'utf8').toString('base64')}`,
      ],
      [{ urls: [server.url()], user: 'bucket' }, `Basic ${Buffer.from('bucket:').toString('base64')}`],
      [{ urls: [server.url()] }, undefined],
      [{ urls: [server.url()], user: '', password: 'ignored' }, undefined],
      [
        { urls: [`http://TheUser:The%20Pass@${LOOPBACK}:${server.port}/pools`] },
        `Basic ${Buffer.from('TheUser:The Pass').toString('base64')}`,
      ],
    ];
    for (const [i, [agent, expected]] of cases.entries()) {
      const { stream, configs } = open(t, agent);
      await waitUntil(() => configs.length >= 1, `config ${i}`);
      stream.close();
      assert.equal(seen[i], expected, `case ${i}`);
    }
    assert.equal(seen.length, cases.length);
  });

  it(
    'treats an empty body as an error that keeps the buckets and retries the first URL',
    TEST_TIMEOUT,
    async (t) => {
      const empty = await httpServer(t, (_req, res) => {
        res.writeHead(200);
        res.end();
      });
      const second = await httpServer(t, streaming({ rev: 1 }));
      const { stream, configs, log } = open(t, { urls: [empty.url(), second.url()] });
      const empties: string[] = [];
      stream.on('empty', (url) => empties.push(url));
      await waitUntil(() => empty.requests.length >= 3, 'three rounds');
      assert.deepEqual(configs, []);
      assert.equal(second.requests.length, 0);
      assert.ok(empties.length >= 2);
      assert.ok(log.has('error', `ERROR: invalid, empty config from REST server ${empty.url()}`));
      assert.ok(!log.lines.some((l) => l.msg.includes('could not contact')));
    },
  );

  it('stops at once when a config listener closes it', TEST_TIMEOUT, async (t) => {
    const server = await httpServer(t, streaming({ rev: 1 }, { rev: 2 }));
    const stream = new RestConfigStream({ urls: [server.url()] }, FAST);
    t.after(() => {
      stream.close();
    });
    const configs: unknown[] = [];
    stream.on('config', (config) => {
      configs.push(config);
      stream.close();
    });
    stream.start();
    await waitUntil(() => configs.length >= 1, 'a config');
    await waitUntil(() => server.requests[0]?.socket.destroyed, 'the request to be closed');
    await sleep(60);
    assert.deepEqual(configs, [{ rev: 1 }]);
    assert.equal(server.requests.length, 1);
  });
});

describe('RestConfigStream rounds (scheduled timers)', () => {
  /** Runs retry timers at once (recording their delays); long timers (connect timeouts) never fire. */
  function fakeSchedule(): { schedule: ScheduleFn; delays: number[]; pending: () => number } {
    const delays: number[] = [];
    let live = 0;
    const schedule: ScheduleFn = (fn, ms) => {
      if (ms >= 60_000) {
        const timer = setTimeout(fn, ms);
        return () => {
          clearTimeout(timer);
        };
      }
      if (ms > 0) delays.push(ms);
      live++;
      let done = false;
      const immediate = setImmediate(() => {
        done = true;
        live--;
        fn();
      });
      return () => {
        if (done) return;
        done = true;
        live--;
        clearImmediate(immediate);
      };
    };
    return { schedule, delays, pending: () => live };
  }

  it('warns while nothing was ever received, backing off up to the maximum', TEST_TIMEOUT, async (t) => {
    const p1 = await freePort();
    const p2 = await freePort();
    const urls = [`http://${LOOPBACK}:${p1}/a`, `http://${LOOPBACK}:${p2}/b`];
    const { schedule, delays, pending } = fakeSchedule();
    const { stream, log } = open(
      t,
      { urls },
      { retryDelayMs: 1000, maxRetryDelayMs: 5000, connectTimeoutMs: 60_000, schedule },
    );
    await waitUntil(() => delays.length >= 6, 'six rounds');
    stream.close();
    assert.equal(pending(), 0, 'close() cancels the pending retry');
    assert.deepEqual(delays.slice(0, 6), [1000, 2000, 4000, 5000, 5000, 5000]);
    const contact = log.lines.filter((l) => l.msg.includes('could not contact'));
    assert.ok(contact.length >= 5);
    for (const line of contact) {
      assert.deepEqual(line, {
        level: 'warn',
        msg: `WARNING: could not contact REST server(s): ${urls.join('|')}; perhaps they are unavailable or still initializing`,
      });
    }
    const curl = log.lines.filter((l) => l.msg.startsWith('WARNING: curl error:'));
    assert.ok(curl.length >= 10);
    assert.equal(
      curl[0]?.msg,
      `WARNING: curl error: Failed to connect to ${LOOPBACK} port ${p1}: Connection refused from: ${urls[0]}`,
    );
    assert.equal(
      curl[1]?.msg,
      `WARNING: curl error: Failed to connect to ${LOOPBACK} port ${p2}: Connection refused from: ${urls[1]}`,
    );
  });

  it('waits the base delay after every good round', TEST_TIMEOUT, async (t) => {
    let n = 0;
    const server = await httpServer(t, (_req, res) => {
      n++;
      res.writeHead(200);
      res.end(JSON.stringify({ rev: n }));
    });
    const { schedule, delays } = fakeSchedule();
    const { stream, configs } = open(
      t,
      { urls: [server.url()], host: server.url() },
      { retryDelayMs: 1000, maxRetryDelayMs: 5000, schedule },
    );
    await waitUntil(() => configs.length >= 3, 'three configs');
    stream.close();
    assert.deepEqual(delays.slice(0, 2), [1000, 1000]);
  });

  it('starts backing off afresh after a stream that delivered configs is cut', TEST_TIMEOUT, async (t) => {
    // a REST server restarting now and then cuts a stream that worked: each outage is new, not the
    // next step of the last one's backoff
    let n = 0;
    const server = await httpServer(t, (_req, res) => {
      n++;
      res.writeHead(200);
      res.write(JSON.stringify({ rev: n }) + END_OF_CONFIG);
      setImmediate(() => res.socket?.destroy());
    });
    const { schedule, delays } = fakeSchedule();
    const { stream, configs } = open(
      t,
      { urls: [server.url()], host: server.url() },
      { retryDelayMs: 1000, maxRetryDelayMs: 5000, schedule },
    );
    await waitUntil(() => configs.length >= 4, 'four configs');
    stream.close();
    assert.deepEqual(delays.slice(0, 3), [1000, 1000, 1000]);
  });

  it('times out a connect that hangs, in curl words', TEST_TIMEOUT, async (t) => {
    // Nothing hangs on loopback, so the timer is made to expire first.
    const server = await httpServer(t, streaming({ rev: 1 }));
    const timers: { fn: () => void; ms: number }[] = [];
    const schedule: ScheduleFn = (fn, ms) => {
      timers.push({ fn, ms });
      // The connect timer "expires" before the loopback connect can complete (I/O runs after microtasks).
      if (ms === 1234) queueMicrotask(fn);
      return () => undefined;
    };
    const log = recorder();
    const stream = new RestConfigStream(
      { urls: [server.url()] },
      { logger: log, schedule, connectTimeoutMs: 1234, retryDelayMs: 10 },
    );
    t.after(() => {
      stream.close();
    });
    stream.start();
    await waitUntil(() => log.lines.length > 0, 'the connect timeout');
    assert.ok(timers.some((x) => x.ms === 1234));
    assert.ok(
      log.has(
        'warn',
        `WARNING: curl error: Connection timed out after 1234 milliseconds from: ${server.url()}`,
      ),
    );
    stream.close();
  });

  it('refuses an agent without URLs', () => {
    assert.throws(() => new RestConfigStream({ urls: [] }), RangeError);
  });
});
