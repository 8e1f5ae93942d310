/**
 * moxi's per-command counters (its `stats_cmd`, listed by `stats proxy` as
 * `<port>:<bucket>:pstd_stats_cmd:<regular|quiet>_<cmd>:<field>`): for each of two types and 20
 * commands, seen / hits / misses / read_bytes / write_bytes / cas.
 *
 * What moxi counts, and so what these count for text clients:
 *   - every command once under its name (`seen`), the request line's length (without "\r\n") as
 *     `read_bytes`, plus the data block and its "\r\n" for storage commands; `cas` for gets and cas;
 *   - `quiet` for a forwarded command with noreply, `regular` otherwise (a command answered with an
 *     error here is regular, as moxi's reply clears its noreply);
 *   - a storage command refused here (bad data chunk, too large, malformed) as a `miss` of its row;
 *   - an unknown command under `ERROR`;
 *   - `get_key`: each key a get asks (duplicates too) `seen`, then a `hit` with the value's bytes and
 *     "\r\n" as `write_bytes`, or a `miss`.
 * Where moxi.ts differs, on purpose: moxi counted misses of one-key gets never and those of a key asked
 * twice once too often, and re-counted keys it sent again; here every key asked is one hit or one miss.
 * moxi counted binary clients not at all; here they count like text ones (quiet opcodes as `quiet`, a
 * SET with a cas as `cas`, the whole packet as `read_bytes`, a value too large refused as a miss). gat
 * and gats count as get and gets (moxi had no gat); meta commands and touch have no row in moxi's
 * table and are not counted. Replies of mutations count nothing, as in moxi.
 */
import { HEADER_LENGTH } from '../protocol/binary/header.ts';
import { Opcode, isQuiet, loudOf } from '../protocol/binary/opcodes.ts';
import type { BinaryPacket } from '../protocol/binary/parser.ts';
import { Command, isStorageCommand } from '../protocol/ascii/commands.ts';
import type { TextRequest } from '../protocol/ascii/request-parser.ts';
import { TextErrors, type ProxyCommand } from './classify.ts';

/** moxi's enum_stats_cmd, in order, as its rows name them. */
export const STATS_CMD_NAMES = [
  'get',
  'get_key',
  'set',
  'add',
  'replace',
  'delete',
  'append',
  'prepend',
  'incr',
  'decr',
  'flush_all',
  'cas',
  'stats',
  'stats_reset',
  'version',
  'verbosity',
  'quit',
  'getl',
  'unl',
  'ERROR',
] as const;

export const StatsCmd = {
  Get: 0,
  GetKey: 1,
  Set: 2,
  Add: 3,
  Replace: 4,
  Delete: 5,
  Append: 6,
  Prepend: 7,
  Incr: 8,
  Decr: 9,
  FlushAll: 10,
  Cas: 11,
  Stats: 12,
  StatsReset: 13,
  Version: 14,
  Verbosity: 15,
  Quit: 16,
  Getl: 17,
  Unl: 18,
  Error: 19,
} as const;
export type StatsCmd = (typeof StatsCmd)[keyof typeof StatsCmd];

export const STATS_CMD_TYPE_NAMES = ['regular', 'quiet'] as const;
export const STATS_CMD_FIELD_NAMES = ['seen', 'hits', 'misses', 'read_bytes', 'write_bytes', 'cas'] as const;

const FIELDS = STATS_CMD_FIELD_NAMES.length;
const COMMANDS = STATS_CMD_NAMES.length;
/** Slots of a table: types x commands x fields. */
export const STATS_CMD_SLOTS = STATS_CMD_TYPE_NAMES.length * COMMANDS * FIELDS;

const HITS = 1;
const MISSES = 2;
const READ_BYTES = 3;
const WRITE_BYTES = 4;
const CAS = 5;

function base(quiet: boolean, cmd: StatsCmd): number {
  return ((quiet ? COMMANDS : 0) + cmd) * FIELDS;
}

/** One pool's table (per process; -t N workers' tables are summed for the listing). */
export class CommandStats {
  /** Counts by slot ((type * 20 + command) * 6 + field), moxi's layout. */
  readonly counts = new Float64Array(STATS_CMD_SLOTS);

  /** A command arrived: `readBytes` of request, `cas` for gets, gats and cas commands. */
  seen(cmd: StatsCmd, quiet: boolean, readBytes: number, cas = false): void {
    const at = base(quiet, cmd);
    const counts = this.counts;
    counts[at]++;
    counts[at + READ_BYTES] += readBytes;
    if (cas) counts[at + CAS]++;
  }

  /** A storage command was refused before reaching a server. */
  refused(cmd: StatsCmd, quiet: boolean): void {
    this.counts[base(quiet, cmd) + MISSES]++;
  }

  /** The keys of a get (regular, as in moxi): `seen` asked, `hits` found with `writeBytes` of values. */
  getKeys(seen: number, hits: number, writeBytes: number): void {
    const at = base(false, StatsCmd.GetKey);
    const counts = this.counts;
    counts[at] += seen;
    counts[at + HITS] += hits;
    counts[at + MISSES] += seen - hits;
    counts[at + WRITE_BYTES] += writeBytes;
  }

  reset(): void {
    this.counts.fill(0);
  }

  snapshot(): number[] {
    return Array.from(this.counts);
  }
}

/** The listing's rows for a table (from snapshot()), type-major as moxi prints them, zeros included. */
export function commandStatRows(prefix: string, counts: readonly number[]): Array<readonly [string, number]> {
  const rows: Array<readonly [string, number]> = [];
  let at = 0;
  for (const type of STATS_CMD_TYPE_NAMES) {
    for (const cmd of STATS_CMD_NAMES) {
      for (const field of STATS_CMD_FIELD_NAMES) {
        rows.push([`${prefix}pstd_stats_cmd:${type}_${cmd}:${field}`, counts[at] ?? 0]);
        at++;
      }
    }
  }
  return rows;
}

/** The commands of a table (from snapshot()) seen at least once: type, name, count. */
export function commandsSeen(counts: readonly number[]): Array<readonly [string, string, number]> {
  const seen: Array<readonly [string, string, number]> = [];
  STATS_CMD_TYPE_NAMES.forEach((type, t) => {
    STATS_CMD_NAMES.forEach((cmd, c) => {
      const n = counts[base(t === 1, c as StatsCmd)] ?? 0;
      if (n > 0) seen.push([type, cmd, n]);
    });
  });
  return seen;
}

/** get_key hits and misses of a table (from snapshot()). */
export function getKeyResults(counts: readonly number[]): { hits: number; misses: number } {
  const at = base(false, StatsCmd.GetKey);
  return { hits: counts[at + HITS] ?? 0, misses: counts[at + MISSES] ?? 0 };
}

/** Sums `from` into `into`, slot by slot (tables of two workers). */
export function addCommandStats(into: number[], from: readonly number[]): void {
  for (let i = 0; i < from.length; i++) into[i] = (into[i] ?? 0) + from[i];
}

/** Text commands by the row that counts them (none: meta commands, touch, mn). */
const TEXT_ROWS: Partial<Record<Command, StatsCmd>> = {
  [Command.Get]: StatsCmd.Get,
  [Command.Gets]: StatsCmd.Get,
  [Command.Gat]: StatsCmd.Get,
  [Command.Gats]: StatsCmd.Get,
  [Command.Bget]: StatsCmd.Get,
  [Command.Set]: StatsCmd.Set,
  [Command.Add]: StatsCmd.Add,
  [Command.Replace]: StatsCmd.Replace,
  [Command.Append]: StatsCmd.Append,
  [Command.Prepend]: StatsCmd.Prepend,
  [Command.Cas]: StatsCmd.Cas,
  [Command.Incr]: StatsCmd.Incr,
  [Command.Decr]: StatsCmd.Decr,
  [Command.Delete]: StatsCmd.Delete,
  [Command.FlushAll]: StatsCmd.FlushAll,
  [Command.Stats]: StatsCmd.Stats,
  [Command.Version]: StatsCmd.Version,
  [Command.Verbosity]: StatsCmd.Verbosity,
  [Command.Quit]: StatsCmd.Quit,
};

/** Counts a text client's command as moxi's cproxy_process_upstream_ascii does (see the top). */
export function countTextCommand(stats: CommandStats, req: TextRequest, cmd: ProxyCommand): void {
  const lineBytes = req.lineEnd - req.lineStart;
  if (cmd.kind === 'local' && cmd.reply === TextErrors.error) {
    // a line of the wrong shape for its command, or no command moxi knows
    stats.seen(StatsCmd.Error, false, lineBytes);
    return;
  }
  let row = TEXT_ROWS[req.command];
  if (row === undefined) {
    if (cmd.kind === 'meta' || req.command === Command.Touch || req.command === Command.MetaNoop) return;
    row = StatsCmd.Error;
  }
  const withCas = req.command === Command.Gets || req.command === Command.Gats || row === StatsCmd.Cas;
  switch (cmd.kind) {
    case 'store':
      stats.seen(row, cmd.noreply, lineBytes + req.dataLength + 2, withCas);
      return;
    case 'arith':
    case 'delete':
    case 'flush':
      stats.seen(row, cmd.noreply, lineBytes);
      return;
    case 'stats':
      stats.seen(cmd.sub === 'reset' ? StatsCmd.StatsReset : StatsCmd.Stats, false, lineBytes);
      return;
    case 'local':
      stats.seen(row, false, lineBytes, withCas);
      // a storage command refused here never reaches a server: moxi counts it a miss
      if (isStorageCommand(req.command)) stats.refused(row, false);
      return;
    default:
      stats.seen(row, false, lineBytes, withCas);
  }
}

/** Binary opcodes (loud forms: a quiet one counts under its loud one's row, as `quiet`) by their row. */
const BINARY_ROWS: ReadonlyMap<number, StatsCmd> = new Map([
  [Opcode.GET, StatsCmd.Get],
  [Opcode.GETK, StatsCmd.Get],
  [Opcode.GAT, StatsCmd.Get],
  [Opcode.GATK, StatsCmd.Get],
  [Opcode.SET, StatsCmd.Set],
  [Opcode.ADD, StatsCmd.Add],
  [Opcode.REPLACE, StatsCmd.Replace],
  [Opcode.APPEND, StatsCmd.Append],
  [Opcode.PREPEND, StatsCmd.Prepend],
  [Opcode.DELETE, StatsCmd.Delete],
  [Opcode.INCREMENT, StatsCmd.Incr],
  [Opcode.DECREMENT, StatsCmd.Decr],
  [Opcode.FLUSH, StatsCmd.FlushAll],
  [Opcode.STAT, StatsCmd.Stats],
  [Opcode.VERSION, StatsCmd.Version],
  [Opcode.QUIT, StatsCmd.Quit],
]);

/** Storage opcodes: a non-zero cas makes a SET moxi's `cas` command, and counts as cas on the others. */
const STORAGE_ROWS: ReadonlySet<StatsCmd> = new Set([
  StatsCmd.Set,
  StatsCmd.Add,
  StatsCmd.Replace,
  StatsCmd.Append,
  StatsCmd.Prepend,
]);

/** Counts a binary client's request (moxi counted none: see the top). */
export function countBinaryCommand(stats: CommandStats, p: BinaryPacket): void {
  let row = BINARY_ROWS.get(loudOf(p.opcode));
  if (row === undefined) return;
  const quiet = isQuiet(p.opcode);
  const readBytes = HEADER_LENGTH + p.extrasLength + p.keyLength + p.valueLength;
  const storage = STORAGE_ROWS.has(row);
  let cas = false;
  if (storage && p.cas !== 0n) {
    cas = true;
    if (row === StatsCmd.Set) row = StatsCmd.Cas;
  } else if (row === StatsCmd.Stats && p.keyLength === 5 && p.key.toString('latin1') === 'reset') {
    row = StatsCmd.StatsReset;
  }
  stats.seen(row, quiet, readBytes, cas);
  // a value too large for the server, refused here (E2BIG)
  if (p.valueTruncated && storage) stats.refused(row, quiet);
}
