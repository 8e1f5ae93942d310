/**
 * What the primary and its -t N worker processes say to each other over node:cluster's IPC channel
 * (JSON). Every type starts with "moxi:" so that nothing is confused with Node's own cluster messages.
 *
 *   worker                                 primary
 *   hello ───────────────────────────────> (the worker listens for messages now)
 *         <─────────────────────────────── init: argv, -z/-Z file contents, slot, N, latest REST config
 *   ready ───────────────────────────────> (proxy ports bound; `fatal` instead if they cannot be)
 *         <─────────────────────────────── config (each REST configuration, to every worker)
 *   stats {id, arg} ─────────────────────> a client asked for `stats proxy <arg>`
 *         <─────────────────────────────── snapshot / reset {gather}   (to every ready worker)
 *   snapshot / reset-done {gather} ──────> (each, or a timeout)
 *         <─────────────────────────────── stats {id, snapshots}   (requester's own snapshot first)
 *         <─────────────────────────────── profile {id, seconds}   (the admin endpoint's /debug/cpu-profile)
 *   profile {id, profile | error} ───────> (after the window, or at once when it cannot be taken)
 *   forget {port, bucket, key} ──────────> a front cache dropped a key (null: all of them)
 *         <─────────────────────────────── forget (the same, to every other ready worker)
 *   leaving ─────────────────────────────> (SIGTERM or a crash: listeners closed, about to exit)
 *         <─────────────────────────────── bye
 */
import type { StatsProxySnapshot } from '../proxy/stats-proxy.ts';

/** What a new worker needs to build the same proxy as the primary would. */
export interface WorkerInit {
  /** The primary's command line, parsed again by the worker with the same code. */
  readonly argv: readonly string[];
  /** The files the command line named (-z ./file, -Z ./file), as the primary read them (base64). */
  readonly files: Readonly<Record<string, string>>;
  /** 1..N, kept by a restarted worker; names the worker in its log lines. */
  readonly slot: number;
  /** N, the number of workers (-t), for basic:nthreads. */
  readonly threads: number;
  /** The latest REST configuration, so that a worker started late serves at once. */
  readonly config: RestConfigMessage | null;
}

/** A REST configuration as the stream parsed it (JSON crosses IPC unchanged), and where it came from. */
export interface RestConfigMessage {
  readonly document: unknown;
  readonly url: string;
}

export type WorkerMessage =
  | { readonly type: 'moxi:hello' }
  | { readonly type: 'moxi:ready' }
  /** The worker cannot go on (a port it cannot bind): the primary prints `message` and exits 1. */
  | { readonly type: 'moxi:fatal'; readonly message: string }
  /** A client of this worker asked for `stats proxy <arg>`; `id` is the worker's own. */
  | { readonly type: 'moxi:stats'; readonly id: number; readonly arg: string }
  | { readonly type: 'moxi:snapshot'; readonly gather: number; readonly snapshot: StatsProxySnapshot }
  | { readonly type: 'moxi:reset-done'; readonly gather: number }
  /** The worker closed its listeners and is about to exit; it waits for `moxi:bye`. */
  | { readonly type: 'moxi:leaving' }
  /** The answer to `moxi:profile`: the profile's JSON, or why there is none (and its HTTP status). */
  | {
      readonly type: 'moxi:profile';
      readonly id: number;
      readonly profile?: string;
      readonly error?: { readonly status: number; readonly message: string };
    }
  | ForgetMessage;

/**
 * A mutation or flush_all passed through one worker's pool (port, bucket): every worker's front cache
 * drops the key (null: every key), as moxi's one cache shared by its threads would.
 */
export interface ForgetMessage {
  readonly type: 'moxi:forget';
  readonly port: number;
  readonly bucket: string;
  readonly key: string | null;
}

export type PrimaryMessage =
  | { readonly type: 'moxi:init'; readonly init: WorkerInit }
  | ({ readonly type: 'moxi:config' } & RestConfigMessage)
  | { readonly type: 'moxi:snapshot'; readonly gather: number }
  | { readonly type: 'moxi:reset'; readonly gather: number }
  /** The answer to a worker's `moxi:stats`: every snapshot gathered (none after a reset). */
  | { readonly type: 'moxi:stats'; readonly id: number; readonly snapshots: readonly StatsProxySnapshot[] }
  /** After `moxi:leaving`: every connection handed to the worker before it closed has reached it. */
  | { readonly type: 'moxi:bye' }
  /** Take a CPU profile of `seconds` and answer with `moxi:profile` {id}. */
  | { readonly type: 'moxi:profile'; readonly id: number; readonly seconds: number }
  | ForgetMessage;

/** Whether `m` is one of ours (Node's cluster sends its own messages on the same channel). */
export function isMoxiMessage(m: unknown): m is { type: string } {
  return (
    typeof m === 'object' &&
    m !== null &&
    typeof (m as { type?: unknown }).type === 'string' &&
    (m as { type: string }).type.startsWith('moxi:')
  );
}
