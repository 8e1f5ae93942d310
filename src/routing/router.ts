/**
 * The routing seam the proxy calls: a KeyRouter maps a key to an index into its server list.
 * Two implementations: KetamaRouter (libmemcached host lists, `PORT=host:port,...`) and VBucketRouter
 * (libvbucket maps, `PORT={json}`). createRouter picks one for a parsed -z pool.
 */

import type { StaticPool } from '../config/cluster-config.ts';
import { KetamaRouter, parseDistribution } from './ketama.ts';
import { VBucketRouter } from './vbucket.ts';

export interface RouterServer {
  readonly host: string;
  readonly port: number;
}

export interface KeyRouter {
  /** The servers indexes refer to, in configuration order. */
  readonly servers: readonly RouterServer[];
  /** Index into `servers` for `key`, or -1 when no server owns it (a -1 vBucket map entry). */
  serverIndex(key: Buffer): number;
}

/** What createRouter returns; `kind` tells whether vBucket ids and NOT_MY_VBUCKET retries apply. */
export type PoolRouter = KetamaRouter | VBucketRouter;

/**
 * The router for one static pool: a host list gets a KetamaRouter whose distribution comes from the
 * `mcs_opts` behavior (`distribution:...`, default ketama-weighted); a vBucket pool gets a
 * VBucketRouter over a private copy of its map. Returns null when moxi could not build the pool's
 * servers (`mcs_create failed`): a vBucket pool whose map was rejected, or an empty host list. The pool
 * still listens, but every request to it fails.
 */
export function createRouter(pool: StaticPool, mcsOpts = ''): PoolRouter | null {
  if (pool.kind === 'hosts') {
    return pool.servers.length === 0 ? null : new KetamaRouter(pool.servers, parseDistribution(mcsOpts));
  }
  return pool.vbucketMap === null ? null : new VBucketRouter(pool.vbucketMap);
}
