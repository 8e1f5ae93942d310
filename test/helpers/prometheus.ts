/** Reading a Prometheus text exposition in tests. */
import assert from 'node:assert/strict';

/** name{labels} -> value of every sample line; fails on a line that is not a comment or a sample. */
export function promSamples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?) (\S+)$/.exec(line);
    assert.ok(m !== null, `not a sample line: ${JSON.stringify(line)}`);
    out.set(m[1], Number(m[2]));
  }
  return out;
}
