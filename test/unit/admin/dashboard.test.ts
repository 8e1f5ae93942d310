/**
 * The dashboard page's script, run against a minimal DOM and a fake /api/stats: it draws the pools,
 * servers, workers and embedded server, computes rates from two polls, inserts names as text (a bucket
 * named like markup stays text), and says so when moxi.ts does not answer.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import vm from 'node:vm';
import { DASHBOARD_HTML } from '../../../src/admin/dashboard.ts';

class FakeNode {
  readonly tag: string;
  children: FakeNode[] = [];
  textContent = '';
  className = '';
  constructor(tag: string) {
    this.tag = tag;
  }
  append(...nodes: FakeNode[]): void {
    this.children.push(...nodes);
  }
  replaceChildren(): void {
    this.children = [];
  }
  /** All text below this node, cells separated by '|'. */
  text(): string {
    return [this.textContent, ...this.children.map((c) => c.text())].filter((t) => t !== '').join('|');
  }
}

function stats(requests: number, cpu: number): unknown {
  return {
    version: '0.1.0',
    mode: 'proxy',
    threads: 1,
    uptimeSeconds: 7200,
    health: 'degraded',
    workers: [
      {
        worker: 1,
        pid: 42,
        cpuUserSeconds: cpu,
        cpuSystemSeconds: 0,
        rssBytes: 80 * 1024 * 1024,
        heapUsedBytes: 1024,
        heldReplyBytes: 3 * 1024 * 1024,
        uptimeSeconds: 1,
      },
    ],
    pools: [
      {
        port: 11211,
        bucket: '<b>bold</b>',
        available: true,
        counters: { numUpstream: 3, totRequests: requests, totMultigetKeys: 2 * requests },
        frontCache: { on: false, size: 0, max: 0, counters: {} },
        servers: [
          {
            ident: '127.0.0.1:1',
            blacklisted: false,
            numDownstreamConn: 2,
            totDownstreamConnect: 2,
            latency: { counts: [], sum: 1.5 * requests, count: requests },
          },
          {
            ident: '127.0.0.1:2',
            blacklisted: true,
            numDownstreamConn: 0,
            totDownstreamConnect: 0,
            latency: { counts: [], sum: 0, count: 0 },
          },
        ],
      },
    ],
    embedded: {
      port: 11311,
      maxConnections: 1024,
      counters: {
        currConnections: 1,
        cmdGet: requests,
        cmdSet: 0,
        getHits: (3 * requests) / 4,
        getMisses: requests / 4,
      },
      buckets: [{ name: 'default', limitBytes: 64 << 20, stats: { currItems: 5, bytes: 500, evictions: 0 } }],
    },
  };
}

/** The first node below `node` with tag `tag`. */
function findTag(node: FakeNode, tag: string): FakeNode | undefined {
  for (const child of node.children) {
    if (child.tag === tag) return child;
    const found = findTag(child, tag);
    if (found !== undefined) return found;
  }
  return undefined;
}

async function runDashboard(answers: Array<() => Promise<unknown>>): Promise<Map<string, FakeNode>> {
  const script = DASHBOARD_HTML.slice(
    DASHBOARD_HTML.indexOf('<script>') + '<script>'.length,
    DASHBOARD_HTML.indexOf('</script>'),
  );
  const byId = new Map<string, FakeNode>();
  for (const id of ['health', 'meta', 'error', 'pools', 'workers', 'embedded'])
    byId.set(id, new FakeNode('div'));
  let now = 0;
  const timers: Array<() => void> = [];
  const context = {
    document: {
      createElement: (tag: string) => new FakeNode(tag),
      getElementById: (id: string) => byId.get(id),
    },
    Node: FakeNode,
    performance: { now: () => now },
    setTimeout: (fn: () => void) => {
      timers.push(fn);
    },
    fetch: async () => {
      const answer = answers.shift();
      if (answer === undefined) throw new Error('no more answers');
      const body = await answer();
      return { ok: true, status: 200, json: () => Promise.resolve(body) };
    },
  };
  vm.runInNewContext(script, context);
  const settle = () => new Promise((r) => setImmediate(r));
  await settle();
  while (answers.length > 0) {
    now += 2000; // two seconds between polls
    timers.shift()?.();
    await settle();
  }
  return byId;
}

describe('dashboard', () => {
  it('draws every section, with rates from the difference of two polls', async () => {
    const page = await runDashboard([
      () => Promise.resolve(stats(1000, 1)),
      () => Promise.resolve(stats(3000, 1.5)),
    ]);
    assert.equal(page.get('health')!.textContent, 'degraded');
    assert.equal(page.get('health')!.className, 'degraded');
    assert.match(page.get('meta')!.textContent, /version 0\.1\.0 .*proxy, 1 event loop .*up 2\.00 h/);
    const pools = page.get('pools')!.text();
    // 2,000 requests in 2 s; 4,000 keys in 2 s
    assert.match(pools, /11211 \/ <b>bold<\/b>\|yes\|3\|1,000\|2,000\|0\.0\|3,000/);
    // 2,000 answered in 2 s, 1.5 ms each
    assert.match(pools, /127\.0\.0\.1:1\|up\|1,000\|1\.50\|2/);
    assert.match(pools, /127\.0\.0\.1:2\|ejected\|0\|-\|0/);
    // markup in a name is text, not elements
    assert.ok(
      !JSON.stringify(page.get('pools')!, (k, v: unknown) =>
        k === 'tag' && v === 'b' ? 'FOUND' : v,
      ).includes('FOUND'),
    );
    assert.match(page.get('workers')!.text(), /1\|42\|25\.0 %\|80\.0 MB\|1\.0 KB\|3\.0 MB/);
    // each process's row links to a 10 s CPU profile of it
    const link = findTag(page.get('workers')!, 'a');
    assert.equal(link?.textContent, '10 s');
    assert.equal((link as FakeNode & { href?: string }).href, '/debug/cpu-profile?seconds=10&worker=1');
    assert.match(page.get('embedded')!.text(), /1 \/ 1,024\|1,000\|0\|75\.0 %/);
    assert.match(page.get('embedded')!.text(), /default\|5\|500 B\|64\.0 MB\|0/);
    assert.equal(page.get('error')!.textContent, '');
  });

  it('says when moxi.ts does not answer, and recovers', async () => {
    const page = await runDashboard([
      () => Promise.reject(new Error('connection refused')),
      () => Promise.resolve(stats(10, 0)),
    ]);
    assert.equal(page.get('error')!.textContent, '');
    const failed = await runDashboard([() => Promise.reject(new Error('connection refused'))]);
    assert.equal(failed.get('error')!.textContent, 'moxi.ts does not answer: connection refused');
  });
});
