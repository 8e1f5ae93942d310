/**
 * Which memcached server owns a key, for the `direct` target: the load generator talks to the servers
 * itself and must put every key where a ketama proxy over the same servers would. Uses moxi.ts's own
 * KetamaRouter (src/routing/ketama.ts) when the build has it, else a stand-in hash.
 */
import { createHash } from 'node:crypto';

export interface KeyRouter {
  /** Shown in the report: which hashing decided the key split. */
  readonly name: string;
  /** Index into the server list of the server that owns `key`. */
  serverIndex(key: Buffer): number;
}

export interface RoutedServer {
  readonly host: string;
  readonly port: number;
}

/** The part of src/routing/ketama.ts this file relies on (imported at run time: it may not exist yet). */
interface KetamaModule {
  KetamaRouter?: new (
    servers: readonly { host: string; port: number; weight: number }[],
    distribution: string,
  ) => { serverIndex(key: Buffer): number };
}

const SELF_EXT = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
const KETAMA_MODULE = new URL(`../src/routing/ketama${SELF_EXT}`, import.meta.url);

/**
 * moxi.ts's ketama-weighted router over `servers` (weight 1 each), which is what `moxi -z` and
 * nutcracker (`distribution: ketama`, `hash: md5`) use; the fallback when it cannot be loaded.
 */
export async function ketamaRouter(servers: readonly RoutedServer[]): Promise<KeyRouter> {
  let why: string;
  try {
    const mod = (await import(KETAMA_MODULE.href)) as KetamaModule;
    if (typeof mod.KetamaRouter === 'function') {
      const router = new mod.KetamaRouter(
        servers.map((s) => ({ host: s.host, port: s.port, weight: 1 })),
        'ketama-weighted',
      );
      return checked(
        {
          name: 'ketama-weighted (src/routing/ketama.ts KetamaRouter)',
          serverIndex: (key) => router.serverIndex(key),
        },
        servers.length,
      );
    }
    why = 'src/routing/ketama.ts has no KetamaRouter export';
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    why =
      code === 'ERR_MODULE_NOT_FOUND'
        ? 'src/routing/ketama.ts not in this build'
        : `KetamaRouter failed: ${err instanceof Error ? err.message : String(err)}`;
  }
  return checked(md5ModuloRouter(servers.length, why), servers.length);
}

/**
 * TODO: a stand-in until src/routing/ketama.ts lands: first 4 bytes of md5(key) modulo the server count.
 * It splits the keys about evenly but not along ketama's lines, so `direct` then owns different keys per
 * server than the proxies do (the load per server stays about equal: half the connections go to each).
 */
function md5ModuloRouter(count: number, why: string): KeyRouter {
  return {
    name: `md5 modulo ${count}, a stand-in for ketama (${why})`,
    serverIndex: (key) => createHash('md5').update(key).digest().readUInt32BE(0) % count,
  };
}

/** Wraps `router` so that an index outside the server list is an error rather than a silent misroute. */
function checked(router: KeyRouter, count: number): KeyRouter {
  return {
    name: router.name,
    serverIndex: (key) => {
      const i = router.serverIndex(key);
      if (!Number.isInteger(i) || i < 0 || i >= count) {
        throw new Error(`${router.name}: server index ${i} for key "${key.toString('latin1')}"`);
      }
      return i;
    },
  };
}
