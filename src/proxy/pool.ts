/**
 * One proxy pool (a `-z PORT=...` section): where its keys go (router), its downstream servers, the
 * behaviors that govern them, and admission: at most downstream_max requests in flight; more wait in
 * the wait queue, and one that waits longer than wait_queue_timeout is answered
 * "SERVER_ERROR proxy wait queue timeout".
 */
import type { Behaviors } from '../config/behaviors.ts';
import type { DownstreamProtocol } from '../downstream/connection.ts';
import { DownstreamServer } from '../downstream/server.ts';
import type { PoolRouter } from '../routing/router.ts';
import type { CoarseTimer, DeadlineHolder } from '../util/coarse-timer.ts';
import type { Logger } from '../util/log.ts';
import { RingQueue } from '../util/ring-queue.ts';

export interface Route {
  index: number;
  vbucket: number;
}

/** A request waiting for admission. */
export interface Admission {
  /** Called when the request may run. */
  start(): void;
  /** Called instead when it waited too long. */
  timedOut(): void;
}

interface Waiting {
  admission: Admission;
  since: number;
}

/** Counters for `stats proxy` (moxi's pstd_stats names where they exist). */
export class PoolCounters {
  numUpstream = 0;
  totUpstream = 0;
  totRequests = 0;
  totDownstreamTimeouts = 0;
  totWaitQueueTimeouts = 0;
  totDownstreamConnectFailures = 0;
  totDownstreamClosed = 0;
  totRetries = 0;
  totNotMyVBucket = 0;
  totMultigetKeys = 0;
  totMultigetKeysDeduped = 0;
  totSquashed = 0;
  totLocalErrors = 0;
}

export interface PoolOptions {
  port: number;
  /** The pool's config text after `=`, for stats. */
  config: string;
  behaviors: Behaviors;
  router: PoolRouter | null;
  log: Logger;
  timer: CoarseTimer;
}

export class ProxyPool implements DeadlineHolder {
  readonly port: number;
  readonly config: string;
  readonly behaviors: Behaviors;
  readonly router: PoolRouter | null;
  readonly servers: readonly DownstreamServer[];
  readonly protocol: DownstreamProtocol;
  readonly isVBucket: boolean;
  readonly counters = new PoolCounters();
  readonly log: Logger;
  private readonly timer: CoarseTimer;
  private inflight = 0;
  private readonly waiting = new RingQueue<Waiting>();

  constructor(options: PoolOptions) {
    this.port = options.port;
    this.config = options.config;
    this.behaviors = options.behaviors;
    this.router = options.router;
    this.log = options.log;
    this.timer = options.timer;
    this.protocol = options.behaviors.downstream_protocol === 'ascii' ? 'ascii' : 'binary';
    this.isVBucket = options.router?.kind === 'vbucket';
    const b = options.behaviors;
    this.servers = (options.router?.servers ?? []).map(
      (s) =>
        new DownstreamServer(
          {
            host: s.host,
            port: s.port,
            connMax: b.downstream_conn_max,
            connectTimeout: b.connect_timeout,
            downstreamTimeout: b.downstream_timeout,
            connQueueTimeout: b.downstream_conn_queue_timeout,
            connectMaxErrors: b.connect_max_errors,
            connectRetryInterval: b.connect_retry_interval,
          },
          options.log,
          options.timer,
        ),
    );
    this.timer.add(this);
  }

  /** Where `key` goes: its server's index (-1 when no server owns it) and its vBucket id (0 for ketama). */
  route(key: Buffer): Route {
    const router = this.router;
    if (router === null) return { index: -1, vbucket: 0 };
    if (router.kind === 'vbucket') {
      const vbucket = router.vbucketOf(key);
      return { index: router.masterOf(vbucket), vbucket };
    }
    return { index: router.serverIndex(key), vbucket: 0 };
  }

  /**
   * A server answered NOT_MY_VBUCKET for `vbucket`: the master to try next (learned into the map), or
   * -1 when this pool has no vBucket map or `retries` already reached moxi's limit of 2 x servers.
   */
  nextMaster(vbucket: number, wrongIndex: number, retries: number): number {
    const router = this.router;
    if (router?.kind !== 'vbucket' || retries >= router.maxRetries) return -1;
    this.counters.totNotMyVBucket++;
    return router.foundIncorrectMaster(vbucket, wrongIndex);
  }

  /** Runs `admission` now if fewer than downstream_max requests are in flight, else queues it. */
  admit(admission: Admission): void {
    const max = this.behaviors.downstream_max;
    if (max <= 0 || (this.inflight < max && this.waiting.length === 0)) {
      this.inflight++;
      admission.start();
      return;
    }
    this.waiting.push({ admission, since: performance.now() });
  }

  /** A request admitted earlier is complete: let the next waiter run. */
  release(): void {
    this.inflight--;
    const max = this.behaviors.downstream_max;
    while (this.waiting.length > 0 && (max <= 0 || this.inflight < max)) {
      const next = this.waiting.shift()!;
      this.inflight++;
      next.admission.start();
    }
  }

  checkDeadlines(now: number): void {
    const timeout = this.behaviors.wait_queue_timeout;
    if (timeout <= 0) return;
    for (let head = this.waiting.peek(); head !== undefined; head = this.waiting.peek()) {
      if (now - head.since < timeout) break;
      this.waiting.shift();
      this.counters.totWaitQueueTimeouts++;
      head.admission.timedOut();
    }
  }

  close(): void {
    this.timer.delete(this);
    for (const s of this.servers) s.close();
  }
}
