/**
 * The clients Python applications use, from Debian: pymemcache (text protocol) and pylibmc
 * (libmemcached, text and binary protocol). test/e2e/python/transcript.py prints one line per
 * operation (the result, or the class of the exception an application would catch); through moxi.ts
 * every line must be what memcached gave, embedded or as a proxy over two memcacheds.
 *
 * With a binary downstream, moxi's own error texts (`SERVER_ERROR a2b arith error`, `... a2b e2big`)
 * change what these clients raise (ServerError instead of ClientError or TooBig); `--memcached-errors`
 * makes them memcached's, and the default is checked to differ in exactly those steps.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { repoRoot, startMemcached, startMoxi, type ServerHandle } from '../helpers/processes.ts';
import { DownstreamProtocols, behaviorsFor, hostList, startProxy, vbucketJson } from '../helpers/proxy.ts';

/** Debian's python3, where python3-pymemcache and python3-pylibmc install (not a pyenv one on PATH). */
const PYTHON = '/usr/bin/python3';
const SCRIPT = join(repoRoot(), 'test', 'e2e', 'python', 'transcript.py');
const CLIENTS = ['pymemcache', 'pylibmc-text', 'pylibmc-binary'] as const;
/** The steps whose outcome moxi's a2b error texts change. */
const MOXI_TEXT_STEPS = [
  'incr of a non-numeric value',
  'decr of a non-numeric value',
  'set a value too large (1048577 bytes)',
];

function transcript(port: number, client: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(PYTHON, [SCRIPT, String(port), client], { timeout: 60_000 }, (err, stdout, stderr) => {
      if (err !== null) reject(new Error(`${client} on port ${port}: ${err.message}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

/** The step names of the lines where `got` differs from `want`. */
function differingSteps(want: string, got: string): string[] {
  const a = want.split('\n');
  const b = got.split('\n');
  assert.equal(b.length, a.length, `same number of steps\nmemcached:\n${want}\nmoxi.ts:\n${got}`);
  return a.flatMap((line, i) => (line === b[i] ? [] : [line.split(' -> ')[0]]));
}

describe('Python clients (pymemcache, pylibmc) through moxi.ts print what memcached prints', () => {
  const started: { stop(): Promise<void> }[] = [];
  let reference: ServerHandle;
  let backends: ServerHandle[] = [];
  const want = new Map<string, string>();

  before(async () => {
    await new Promise<void>((resolve, reject) => {
      execFile(PYTHON, ['-c', 'import pymemcache, pylibmc'], (err) => {
        if (err === null) resolve();
        else
          reject(
            new Error(`${PYTHON} lacks the clients: apt-get install -y python3-pymemcache python3-pylibmc`),
          );
      });
    });
    [reference, ...backends] = await Promise.all([startMemcached(), startMemcached(), startMemcached()]);
    started.push(reference, ...backends);
    for (const client of CLIENTS) want.set(client, await transcript(reference.port, client));
  });
  after(async () => {
    await Promise.all(started.map((s) => s.stop()));
  });

  const targets: { name: string; start: () => Promise<{ port: number; stop(): Promise<void> }> }[] = [
    { name: 'embedded server', start: () => startMoxi() },
    {
      name: 'proxy, binary downstream, --memcached-errors',
      start: () =>
        startProxy((p) => `${p[0]}=${hostList(backends)}`, {
          behaviors: behaviorsFor(DownstreamProtocols.binary),
          extraArgs: ['--memcached-errors'],
        }),
    },
    {
      name: 'proxy, text downstream',
      start: () =>
        startProxy((p) => `${p[0]}=${hostList(backends)}`, {
          behaviors: behaviorsFor(DownstreamProtocols.ascii),
        }),
    },
    {
      name: 'proxy, vBucket map, --memcached-errors',
      start: () =>
        startProxy(
          (p) =>
            `${p[0]}=${vbucketJson(
              backends,
              Array.from({ length: 64 }, (_, i) => i % 2),
            )}`,
          { behaviors: behaviorsFor(DownstreamProtocols.binary), extraArgs: ['--memcached-errors'] },
        ),
    },
  ];

  for (const target of targets) {
    it(target.name, async () => {
      const moxi = await target.start();
      started.push(moxi);
      for (const client of CLIENTS) {
        const got = await transcript(moxi.port, client);
        assert.deepEqual(differingSteps(want.get(client)!, got), [], `${client}\n${got}`);
      }
    });
  }

  it("proxy, binary downstream, moxi's texts: differs from memcached in those steps only", async () => {
    const moxi = await startProxy((p) => `${p[0]}=${hostList(backends)}`, {
      behaviors: behaviorsFor(DownstreamProtocols.binary),
    });
    started.push(moxi);
    for (const client of ['pymemcache', 'pylibmc-text']) {
      const got = await transcript(moxi.port, client);
      const steps = differingSteps(want.get(client)!, got);
      assert.ok(steps.length > 0, `${client}: moxi's texts should show`);
      assert.deepEqual(
        steps.filter((s) => !MOXI_TEXT_STEPS.includes(s)),
        [],
        `${client}\n${got}`,
      );
    }
  });
});
