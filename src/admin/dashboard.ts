/**
 * The live dashboard served at `/` by the admin endpoint: one self-contained page (no external assets,
 * so it works on a host without internet access) that polls /api/stats every second and shows rates
 * computed from the counters' deltas: per pool, client connections, requests/s, multi-get keys/s and
 * errors/s, each downstream server's state, requests/s, mean response time and connections; each
 * worker's CPU and memory (and a link to a 10 s CPU profile of it); the embedded server's items, memory
 * and hit ratio. Names and values are inserted as text, never as HTML.
 */
export const DASHBOARD_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>moxi.ts</title>
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; background: #fafafa; }
  h1 { font-size: 1.3em; margin: 0 0 .2em; }
  h2 { font-size: 1.05em; margin: 1.4em 0 .4em; }
  #meta { color: #666; }
  table { border-collapse: collapse; background: #fff; min-width: 40em; }
  th, td { padding: .3em .8em; border-bottom: 1px solid #e4e4e4; text-align: right; white-space: nowrap; }
  th:first-child, td:first-child { text-align: left; }
  th { font-weight: 600; background: #f0f0f0; }
  .ok { color: #1a7f37; font-weight: 600; } .degraded { color: #b35900; font-weight: 600; }
  .down { color: #c62828; font-weight: 600; }
  #error { color: #c62828; }
</style>
</head>
<body>
<h1>moxi.ts <span id="health"></span></h1>
<div id="meta"></div>
<div id="error"></div>
<div id="pools"></div>
<div id="workers"></div>
<div id="embedded"></div>
<script>
"use strict";
let last = null;
const el = (tag, text, cls) => {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
};
const num = (n, digits = 0) =>
  Number.isFinite(n) ? n.toLocaleString(undefined, { maximumFractionDigits: digits, minimumFractionDigits: digits }) : '-';
const bytes = (n) => {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return num(n, i === 0 ? 0 : 1) + ' ' + units[i];
};
function table(title, head, rows) {
  const box = el('div');
  box.append(el('h2', title));
  const t = el('table');
  const tr = el('tr');
  for (const h of head) tr.append(el('th', h));
  t.append(tr);
  for (const row of rows) {
    const r = el('tr');
    for (const cell of row) r.append(cell instanceof Node ? wrap(cell) : el('td', cell));
    t.append(r);
  }
  box.append(t);
  return box;
}
function wrap(node) { const td = el('td'); td.append(node); return td; }
// a counter's rate since the previous poll (0 after a reset: stats proxy reset zeroes the counters)
function rate(now, before, seconds) {
  if (before === undefined || seconds <= 0 || now < before) return 0;
  return (now - before) / seconds;
}
// the REST configuration stream, in cluster mode: open or not, and how old its last configuration is
function configSourceText(c) {
  if (!c) return '';
  const age = c.lastConfigAt === null ? 'no configuration yet' : 'last configuration ' + num((Date.now() - c.lastConfigAt) / 1000, 0) + ' s ago';
  return ' \\u00b7 config stream ' + (c.connected ? 'open' : 'closed' + (c.lastError ? ' (' + c.lastError + ')' : '')) + ', ' + age;
}
function render(s, prev, seconds) {
  const h = document.getElementById('health');
  h.textContent = s.health;
  h.className = s.health;
  document.getElementById('meta').textContent =
    'version ' + s.version + ' \\u00b7 ' + (s.mode === 'proxy' ? 'proxy, ' + s.threads + (s.threads === 1 ? ' event loop' : ' workers') : 'embedded memcached server') +
    ' \\u00b7 up ' + num(s.uptimeSeconds / 3600, 2) + ' h' + configSourceText(s.configSource);
  const pools = document.getElementById('pools');
  pools.replaceChildren();
  const prevPool = (p) => prev && prev.pools.find((q) => q.port === p.port && q.bucket === p.bucket);
  for (const p of s.pools) {
    const q = prevPool(p);
    const c = p.counters, qc = q ? q.counters : {};
    const errors = (x) => (x.totDownstreamTimeouts || 0) + (x.totWaitQueueTimeouts || 0) + (x.totDownstreamConnectFailures || 0) + (x.totDownstreamClosed || 0) + (x.totDownstreamConnQueueTimeouts || 0);
    const rows = [[
      p.port + ' / ' + p.bucket,
      el('span', p.available ? 'yes' : 'no', p.available ? 'ok' : 'down'),
      num(c.numUpstream),
      num(rate(c.totRequests, qc.totRequests, seconds)),
      num(rate(c.totMultigetKeys, qc.totMultigetKeys, seconds)),
      num(rate(errors(c), q ? errors(qc) : undefined, seconds), 1),
      num(c.totRequests),
    ]];
    pools.append(table('Pool ' + p.port + ' (' + p.bucket + ')',
      ['pool', 'map', 'clients', 'requests/s', 'get keys/s', 'errors/s', 'requests'], rows));
    const srows = p.servers.map((sv) => {
      const before = q && q.servers.find((x) => x.ident === sv.ident);
      // mean response time over the last interval: the latency sums' and counts' differences
      const answered = before ? sv.latency.count - before.latency.count : 0;
      const avg = answered > 0 ? (sv.latency.sum - before.latency.sum) / answered : NaN;
      return [
        sv.ident,
        el('span', sv.blacklisted ? 'ejected' : 'up', sv.blacklisted ? 'down' : 'ok'),
        num(rate(sv.latency.count, before ? before.latency.count : undefined, seconds)),
        num(avg, 2),
        num(sv.numDownstreamConn),
        num(sv.totDownstreamConnect),
        num(sv.totDownstreamConnectFailed),
        num(sv.totDownstreamClosedError),
      ];
    });
    pools.append(table('Servers', ['server', 'state', 'requests/s', 'avg response ms', 'connections', 'connects', 'connect failures', 'closed with error'], srows));
    if (p.frontCache.on) {
      const f = p.frontCache.counters, qf = q ? q.frontCache.counters : {};
      pools.append(table('Front cache', ['items', 'max', 'hits/s', 'misses/s', 'adds/s'], [[
        num(p.frontCache.size), num(p.frontCache.max),
        num(rate(f.totGetHits, qf.totGetHits, seconds)), num(rate(f.totGetMisses, qf.totGetMisses, seconds)),
        num(rate(f.totAdds, qf.totAdds, seconds)),
      ]]));
    }
  }
  const workers = document.getElementById('workers');
  workers.replaceChildren();
  if (s.workers.length > 0) {
    const rows = s.workers.map((w) => {
      const v = prev && prev.workers.find((x) => x.worker === w.worker && x.pid === w.pid);
      const cpu = v ? rate(w.cpuUserSeconds + w.cpuSystemSeconds, v.cpuUserSeconds + v.cpuSystemSeconds, seconds) : NaN;
      // a 10 s CPU profile of this process, downloaded as a .cpuprofile (admin/cpu-profile.ts)
      const profile = el('a', '10 s');
      profile.href = '/debug/cpu-profile?seconds=10&worker=' + w.worker;
      return [String(w.worker), String(w.pid), num(cpu * 100, 1) + ' %', bytes(w.rssBytes), bytes(w.heapUsedBytes), bytes(w.heldReplyBytes), profile];
    });
    workers.append(table(s.workers.length === 1 ? 'Process' : 'Workers', ['worker', 'pid', 'cpu', 'rss', 'heap', 'held replies', 'CPU profile'], rows));
  }
  const embedded = document.getElementById('embedded');
  embedded.replaceChildren();
  if (s.embedded) {
    const e = s.embedded, pe = prev && prev.embedded;
    const hits = rate(e.counters.getHits, pe ? pe.counters.getHits : undefined, seconds);
    const misses = rate(e.counters.getMisses, pe ? pe.counters.getMisses : undefined, seconds);
    embedded.append(table('Embedded memcached server (port ' + e.port + ')',
      ['connections', 'gets/s', 'sets/s', 'hit ratio'], [[
        num(e.counters.currConnections) + ' / ' + num(e.maxConnections),
        num(rate(e.counters.cmdGet, pe ? pe.counters.cmdGet : undefined, seconds)),
        num(rate(e.counters.cmdSet, pe ? pe.counters.cmdSet : undefined, seconds)),
        hits + misses > 0 ? num((100 * hits) / (hits + misses), 1) + ' %' : '-',
      ]]));
    embedded.append(table('Buckets', ['bucket', 'items', 'memory', 'limit', 'evictions'],
      e.buckets.map((b) => [b.name, num(b.stats.currItems), bytes(b.stats.bytes), bytes(b.limitBytes), num(b.stats.evictions)])));
  }
}
async function poll() {
  try {
    const res = await fetch('api/stats', { cache: 'no-store' });
    if (!res.ok) throw new Error('HTTP ' + res.status);
    const s = await res.json();
    const now = performance.now();
    render(s, last && last.s, last ? (now - last.at) / 1000 : 0);
    last = { s, at: now };
    document.getElementById('error').textContent = '';
  } catch (err) {
    document.getElementById('error').textContent = 'moxi.ts does not answer: ' + err.message;
  }
  setTimeout(poll, 1000);
}
poll();
</script>
</body>
</html>
`;
