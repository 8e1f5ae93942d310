/**
 * The text protocol's command vocabulary: one id per command word memcached 1.6 knows, and the lookup
 * from the command token's bytes to that id without converting it to a string.
 */

export const Command = {
  Unknown: 0,
  Get: 1,
  Gets: 2,
  Gat: 3,
  Gats: 4,
  Bget: 5,
  Set: 6,
  Add: 7,
  Replace: 8,
  Append: 9,
  Prepend: 10,
  Cas: 11,
  Incr: 12,
  Decr: 13,
  Delete: 14,
  Touch: 15,
  FlushAll: 16,
  Stats: 17,
  Version: 18,
  Verbosity: 19,
  Quit: 20,
  Shutdown: 21,
  CacheMemlimit: 22,
  Slabs: 23,
  LruCrawler: 24,
  Lru: 25,
  Watch: 26,
  MetaGet: 27,
  MetaSet: 28,
  MetaDelete: 29,
  MetaArithmetic: 30,
  MetaNoop: 31,
  MetaDebug: 32,
  /** A two-letter word starting with 'm' that is no meta command: memcached answers ERROR. */
  MetaUnknown: 33,
} as const;
export type Command = (typeof Command)[keyof typeof Command];

/** Commands followed by a data block, and the storage mode they name. */
export function isStorageCommand(cmd: Command): boolean {
  return cmd >= Command.Set && cmd <= Command.Cas;
}

export function isRetrievalCommand(cmd: Command): boolean {
  return cmd >= Command.Get && cmd <= Command.Bget;
}

export function isMetaCommand(cmd: Command): boolean {
  return cmd >= Command.MetaGet && cmd <= Command.MetaUnknown;
}

const WORDS: ReadonlyArray<readonly [string, Command]> = [
  ['get', Command.Get],
  ['gets', Command.Gets],
  ['gat', Command.Gat],
  ['gats', Command.Gats],
  ['bget', Command.Bget],
  ['set', Command.Set],
  ['add', Command.Add],
  ['replace', Command.Replace],
  ['append', Command.Append],
  ['prepend', Command.Prepend],
  ['cas', Command.Cas],
  ['incr', Command.Incr],
  ['decr', Command.Decr],
  ['delete', Command.Delete],
  ['touch', Command.Touch],
  ['flush_all', Command.FlushAll],
  ['stats', Command.Stats],
  ['version', Command.Version],
  ['verbosity', Command.Verbosity],
  ['quit', Command.Quit],
  ['shutdown', Command.Shutdown],
  ['cache_memlimit', Command.CacheMemlimit],
  ['slabs', Command.Slabs],
  ['lru_crawler', Command.LruCrawler],
  ['lru', Command.Lru],
  ['watch', Command.Watch],
];

export const COMMAND_NAMES: Readonly<Record<number, string>> = Object.fromEntries([
  ...WORDS.map(([w, c]): [number, string] => [c, w]),
  [Command.MetaGet, 'mg'],
  [Command.MetaSet, 'ms'],
  [Command.MetaDelete, 'md'],
  [Command.MetaArithmetic, 'ma'],
  [Command.MetaNoop, 'mn'],
  [Command.MetaDebug, 'me'],
  [Command.MetaUnknown, 'm?'],
  [Command.Unknown, 'unknown'],
]);

// Words bucketed by length so a lookup compares at most a handful of candidates byte by byte.
const BY_LENGTH: Array<Array<readonly [Buffer, Command]> | undefined> = [];
for (const [word, cmd] of WORDS) {
  (BY_LENGTH[word.length] ??= []).push([Buffer.from(word, 'latin1'), cmd]);
}

/** The command named by buf[start, end). */
export function lookupCommand(buf: Buffer, start: number, end: number): Command {
  const len = end - start;
  if (len === 2 && buf[start] === 0x6d /* m */) {
    switch (buf[start + 1]) {
      case 0x67 /* g */:
        return Command.MetaGet;
      case 0x73 /* s */:
        return Command.MetaSet;
      case 0x64 /* d */:
        return Command.MetaDelete;
      case 0x61 /* a */:
        return Command.MetaArithmetic;
      case 0x6e /* n */:
        return Command.MetaNoop;
      case 0x65 /* e */:
        return Command.MetaDebug;
      default:
        return Command.MetaUnknown;
    }
  }
  const candidates = BY_LENGTH[len];
  if (candidates === undefined) return Command.Unknown;
  outer: for (const [word, cmd] of candidates) {
    for (let i = 0; i < len; i++) {
      if (word[i] !== buf[start + i]) continue outer;
    }
    return cmd;
  }
  return Command.Unknown;
}
