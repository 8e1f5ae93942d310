/**
 * Merges the `stats` of several servers into one listing, by moxi's rules (moxi-spec §6.7) with its
 * "smallest" rule doing what it says: per stat name (the part after its last ':' picks the rule), the
 * first value seen, the smallest, or the sum (as floats with six decimals when either has a '.',
 * non-numbers keep the first). Lines in first-seen order.
 */
const FIRST = new Set([
  'pid',
  'version',
  'libevent',
  'ep_dbname',
  'ep_storage_type',
  'ep_flusher_state',
  'ep_warmup_thread',
]);
const SMALLEST = new Set([
  'uptime',
  'time',
  'pointer_size',
  'limit_maxbytes',
  'accepting_conns',
  'chunk_size',
  'chunk_per_page',
  'age',
]);

const INTEGER = /^\d+$/;
const DECIMAL = /^-?\d+(\.\d+)?$/;

export class StatsMerger {
  private readonly values = new Map<string, string>();

  /** Adds one server's `STAT name value`. */
  add(name: string, value: string): void {
    const current = this.values.get(name);
    if (current === undefined) {
      this.values.set(name, value);
      return;
    }
    const suffix = name.slice(name.lastIndexOf(':') + 1);
    if (FIRST.has(suffix)) return;
    if (SMALLEST.has(suffix)) {
      if (DECIMAL.test(value) && DECIMAL.test(current) && Number(value) < Number(current)) {
        this.values.set(name, value);
      }
      return;
    }
    this.values.set(name, sum(current, value));
  }

  get size(): number {
    return this.values.size;
  }

  /** The merged values in first-seen order. */
  entries(): IterableIterator<[string, string]> {
    return this.values.entries();
  }

  /** The merged listing as text lines ending with END. */
  render(): string {
    let out = '';
    for (const [name, value] of this.values)
      out += value === '' ? `STAT ${name}\r\n` : `STAT ${name} ${value}\r\n`;
    return out + 'END\r\n';
  }
}

function sum(a: string, b: string): string {
  if (INTEGER.test(a) && INTEGER.test(b)) return BigInt.asUintN(64, BigInt(a) + BigInt(b)).toString();
  if (DECIMAL.test(a) && DECIMAL.test(b)) return (Number(a) + Number(b)).toFixed(6);
  return a;
}
