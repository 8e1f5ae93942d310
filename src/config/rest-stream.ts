/**
 * The REST configuration client of one agent: moxi's libconflate loop (`conflate/rest.c`
 * run_rest_conflate) plus the checks of its callback (`src/agent_config.c` on_conflate_new_config),
 * spec §4.3 "REST client loop".
 *
 * A round tries the agent's URLs in order with an HTTP GET (basic auth when a user is known). The body
 * is a stream of JSON documents each followed by `\n\n\n\n` (bucketsStreaming / saslBucketsStreaming);
 * every complete document is handed over as it arrives, and what is left when the response ends is
 * handed over too (plain, non-streaming endpoints). Then:
 *
 *   - the response ends normally          -> wait, then start a new round from the FIRST URL
 *   - HTTP 401                            -> 'auth-failure' (moxi: `ERROR: Authentication failure`, exit 1)
 *   - a document that is not JSON         -> `ERROR: parse JSON failed, ...`, try the NEXT URL
 *   - connection error / stream cut       -> `WARNING: curl error: ...`, try the NEXT URL
 *   - the round ran out of URLs           -> `could not contact REST server(s)` (see below), wait, new round
 *
 * Configs already handed over stay in service whatever happens to the stream: this class only reports
 * documents, it never withdraws one. Nothing times out the body: a stream can be quiet for hours
 * (TCP keepalive is on, as moxi's curl socket option set it).
 */

import { EventEmitter } from 'node:events';
import { type ClientRequest, type IncomingMessage, request } from 'node:http';
import type { Socket } from 'node:net';

/** The line the CLI prints before exiting 1 on 'auth-failure' (moxi's text). */
export const AUTH_FAILURE_MESSAGE = 'ERROR: Authentication failure';

/** The framing of streaming config endpoints: a document ends with four newlines. */
export const END_OF_CONFIG = '\n\n\n\n';

/** What a RestConfigStream needs from a RestAgentConfig (after restCredentials for the user). */
export interface RestStreamAgent {
  /** Tried in order; `http://` only (moxi's curl had no TLS). A URL without a scheme is taken as http. */
  readonly urls: readonly string[];
  /** The `|`-joined URL list as configured, printed in `could not contact` lines; default urls.join('|'). */
  readonly host?: string;
  /** Basic auth is sent when this is a non-empty string. */
  readonly user?: string;
  readonly password?: string;
}

/** The part of a pino logger used here; each call gets one finished line (moxi's text). */
export interface RestStreamLogger {
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
}

/** Runs `fn` once after `ms` milliseconds (never before returning); the returned function cancels it. */
export type ScheduleFn = (fn: () => void, ms: number) => () => void;

export interface RestConfigStreamOptions {
  readonly logger?: RestStreamLogger;
  /** Pause between rounds (moxi: sleep(1)); default 1000 ms. */
  readonly retryDelayMs?: number;
  /** Failed rounds back off by doubling the pause up to this; default 5000 ms. */
  readonly maxRetryDelayMs?: number;
  /** Gives up on a TCP connect after this long (curl's default connect timeout); default 300000 ms. */
  readonly connectTimeoutMs?: number;
  /** A document larger than this (not yet terminated) is treated as a bad source; default 64 MiB. */
  readonly maxConfigBytes?: number;
  /** Timer source (tests); default setTimeout/clearTimeout. */
  readonly schedule?: ScheduleFn;
}

export interface RestConfigStreamEvents {
  /** A document that parsed as JSON, and the URL it came from. */
  config: [config: unknown, url: string];
  /** A response ended with an empty (or blank) body: logged, buckets are kept (moxi's stat_config_fails). */
  empty: [url: string];
  /** HTTP 401 from `url`: fatal in moxi. The stream has closed itself when this is emitted. */
  'auth-failure': [url: string];
}

/** Where a RestConfigStream stands, for operators (the admin endpoint): moxi only logged it. */
export interface RestStreamStatus {
  /** The URL asked last (without user and password), null before the first request. */
  readonly url: string | null;
  /** A configuration stream is open now (a 2xx response whose body is being read). */
  readonly connected: boolean;
  /** Configurations handed over (documents that parsed as JSON). */
  readonly configs: number;
  /** When the last of them arrived (ms since the epoch), null before the first. */
  readonly lastConfigAt: number | null;
  /** Requests that failed (no connection, a cut stream, a bad document, an HTTP error). */
  readonly errors: number;
  /** What the last failure said (curl's words, as logged), null before the first. */
  readonly lastError: string | null;
}

/** `url` as shown to operators: any user and password left out. */
function displayUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/)?[^/@]*@/i, '$1');
}

const DEFAULT_RETRY_DELAY_MS = 1000;
const DEFAULT_MAX_RETRY_DELAY_MS = 5000;
const DEFAULT_CONNECT_TIMEOUT_MS = 300_000;
const DEFAULT_MAX_CONFIG_BYTES = 64 * 1024 * 1024;
const TERMINATOR = Buffer.from(END_OF_CONFIG, 'latin1');

const defaultSchedule: ScheduleFn = (fn, ms) => {
  const timer = setTimeout(fn, ms);
  return () => {
    clearTimeout(timer);
  };
};

const noop = (): void => undefined;
const silent: RestStreamLogger = { info: noop, warn: noop, error: noop };

/** How one request to one URL ended. */
type Outcome =
  /** moxi's CONFLATE_SUCCESS / CONFLATE_ERROR: the round is over, the next starts at the first URL. */
  | 'restart'
  /** CONFLATE_ERROR_BAD_SOURCE or a curl error: go on with the next URL. */
  | 'next'
  /** 401, or close() was called. */
  | 'stop';

/** moxi's trimstr: C isspace at both ends. */
function isBlank(text: string): boolean {
  return /^[ \t\n\v\f\r]*$/.test(text);
}

/** Node's error, in the words curl would have used where they are well known. */
function curlMessage(err: NodeJS.ErrnoException, host: string, port: number): string {
  switch (err.code) {
    case 'ECONNREFUSED':
      return `Failed to connect to ${host} port ${port}: Connection refused`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `Could not resolve host: ${host}`;
    case 'ECONNRESET':
      return err.message === 'socket hang up'
        ? 'Empty reply from server'
        : 'Recv failure: Connection reset by peer';
    default:
      return err.message;
  }
}

interface Target {
  readonly hostname: string;
  readonly port: number;
  readonly path: string;
  readonly auth?: string;
}

/** The request target, or curl's complaint about the URL. */
function parseTarget(url: string): Target | string {
  let parsed: URL;
  try {
    parsed = new URL(url.includes('://') ? url : `http://${url}`);
  } catch {
    return 'URL using bad/illegal format or missing URL';
  }
  if (parsed.protocol !== 'http:') {
    return `Protocol "${parsed.protocol.slice(0, -1)}" not supported or disabled in libcurl`;
  }
  const hostname = parsed.hostname.replace(/^\[(.*)\]$/, '$1');
  if (hostname === '') return 'URL using bad/illegal format or missing URL';
  const port = parsed.port === '' ? 80 : Number(parsed.port);
  const path = `${parsed.pathname}${parsed.search}`;
  const auth =
    parsed.username !== ''
      ? `${decodeURIComponent(parsed.username)}:${decodeURIComponent(parsed.password)}`
      : undefined;
  return { hostname, port, path, ...(auth !== undefined ? { auth } : {}) };
}

/**
 * One agent's REST config client. Create it, attach listeners, call start(); close() when done (it
 * leaves no timer or socket behind). Retries forever until closed or told 401.
 */
export class RestConfigStream extends EventEmitter<RestConfigStreamEvents> {
  readonly #urls: readonly string[];
  readonly #hostList: string;
  readonly #authorization: string | undefined;
  readonly #log: RestStreamLogger;
  readonly #retryDelayMs: number;
  readonly #maxRetryDelayMs: number;
  readonly #connectTimeoutMs: number;
  readonly #maxConfigBytes: number;
  readonly #schedule: ScheduleFn;

  #started = false;
  #closed = false;
  /** Cancels the pending round timer, or the current request (and its connect timer). */
  #cancel: (() => void) | undefined;
  #urlIndex = 0;
  /** Documents handed over so far, good or bad (libconflate's g_tot_process_new_configs). */
  #handedOver = 0;
  /** #handedOver when the current run of rounds began (start_tot_process_new_configs). */
  #runStart = 0;
  /** Failed rounds in a row, for the backoff. */
  #failedRounds = 0;
  /** #handedOver when the current round began: a round that handed documents over was no failure. */
  #roundStart = 0;
  #status: RestStreamStatus = {
    url: null,
    connected: false,
    configs: 0,
    lastConfigAt: null,
    errors: 0,
    lastError: null,
  };

  constructor(agent: RestStreamAgent, options: RestConfigStreamOptions = {}) {
    super();
    if (agent.urls.length === 0) throw new RangeError('RestConfigStream: no URL');
    this.#urls = [...agent.urls];
    this.#hostList = agent.host ?? agent.urls.join('|');
    this.#authorization =
      agent.user !== undefined && agent.user !== ''
        ? `Basic ${Buffer.from(`${agent.user}:${agent.password ?? ''}`, 'utf8').toString('base64')}`
        : undefined;
    this.#log = options.logger ?? silent;
    this.#retryDelayMs = Math.max(0, options.retryDelayMs ?? DEFAULT_RETRY_DELAY_MS);
    this.#maxRetryDelayMs = Math.max(
      this.#retryDelayMs,
      options.maxRetryDelayMs ?? DEFAULT_MAX_RETRY_DELAY_MS,
    );
    this.#connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    this.#maxConfigBytes = options.maxConfigBytes ?? DEFAULT_MAX_CONFIG_BYTES;
    this.#schedule = options.schedule ?? defaultSchedule;
  }

  /** Where the stream stands now. */
  get status(): RestStreamStatus {
    return this.#status;
  }

  #update(change: Partial<RestStreamStatus>): void {
    this.#status = { ...this.#status, ...change };
  }

  /** A request failed: counted, and its message kept for the status. */
  #failed(message: string): void {
    this.#update({ connected: false, errors: this.#status.errors + 1, lastError: message });
  }

  /** True once close() was called (or a 401 closed the stream). */
  get closed(): boolean {
    return this.#closed;
  }

  /** Starts the first round at once. Calling it again does nothing. */
  start(): this {
    if (this.#started || this.#closed) return this;
    this.#started = true;
    this.#startRound();
    return this;
  }

  /** Stops for good: aborts the current request, cancels the pending retry. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const cancel = this.#cancel;
    this.#cancel = undefined;
    cancel?.();
  }

  #startRound(): void {
    this.#urlIndex = 0;
    this.#roundStart = this.#handedOver;
    this.#tryUrl();
  }

  #tryUrl(): void {
    if (this.#closed) return;
    if (this.#urlIndex >= this.#urls.length) {
      this.#endRound(false);
      return;
    }
    const url = this.#urls[this.#urlIndex];
    this.#fetch(url, (outcome) => {
      this.#cancel = undefined;
      if (this.#closed || outcome === 'stop') return;
      if (outcome === 'restart') {
        this.#endRound(true);
      } else {
        this.#urlIndex++;
        this.#tryUrl();
      }
    });
  }

  #endRound(succeeded: boolean): void {
    if (succeeded) {
      this.#failedRounds = 0;
    } else {
      if (this.#handedOver === this.#runStart) {
        if (this.#runStart === 0) {
          this.#log.warn(
            `WARNING: could not contact REST server(s): ${this.#hostList};` +
              ' perhaps they are unavailable or still initializing',
          );
        } else {
          this.#log.error(`ERROR: could not contact REST server(s): ${this.#hostList}`);
        }
      }
      this.#runStart = this.#handedOver;
      // a stream that worked and was then cut (a REST server restarting) starts a new outage
      if (this.#handedOver > this.#roundStart) this.#failedRounds = 0;
      this.#failedRounds++;
    }
    const delay = succeeded
      ? this.#retryDelayMs
      : Math.min(this.#maxRetryDelayMs, this.#retryDelayMs * 2 ** Math.min(this.#failedRounds - 1, 30));
    this.#cancel = this.#schedule(() => {
      this.#cancel = undefined;
      if (!this.#closed) this.#startRound();
    }, delay);
  }

  /**
   * Hands one document over (on_conflate_new_config): false when it is not JSON (a bad source).
   * `raw` is the text as received (logged as-is), without the terminator.
   */
  #handOver(raw: string, url: string): boolean {
    this.#handedOver++;
    this.#log.info('configuration received');
    let config: unknown;
    try {
      config = JSON.parse(raw);
    } catch {
      this.#log.error(`ERROR: parse JSON failed, from REST server: ${url}, ${raw}`);
      this.#failed('parse JSON failed');
      return false;
    }
    this.#update({ configs: this.#status.configs + 1, lastConfigAt: Date.now() });
    this.emit('config', config, url);
    return true;
  }

  /** What is left when a response ends: a blank rest is moxi's "invalid, empty config". */
  #handOverRest(raw: string, url: string): Outcome {
    if (isBlank(raw)) {
      this.#handedOver++;
      this.#log.info('configuration received');
      this.#log.error(`ERROR: invalid, empty config from REST server ${url}`);
      this.#failed('invalid, empty config');
      this.emit('empty', url);
      return this.#closed ? 'stop' : 'restart';
    }
    const ok = this.#handOver(raw, url);
    if (this.#closed) return 'stop';
    return ok ? 'restart' : 'next';
  }

  #fetch(url: string, done: (outcome: Outcome) => void): void {
    this.#update({ url: displayUrl(url), connected: false });
    const target = parseTarget(url);
    if (typeof target === 'string') {
      // Reported asynchronously, like any other failure, so a round never recurses.
      this.#cancel = this.#schedule(() => {
        this.#log.warn(`WARNING: curl error: ${target} from: ${url}`);
        this.#failed(target);
        done('next');
      }, 0);
      return;
    }

    const headers: Record<string, string> = { accept: '*/*' };
    if (this.#authorization !== undefined) {
      headers.authorization = this.#authorization;
    } else if (target.auth !== undefined) {
      headers.authorization = `Basic ${Buffer.from(target.auth, 'utf8').toString('base64')}`;
    }
    const req: ClientRequest = request({
      hostname: target.hostname,
      port: target.port,
      path: target.path,
      method: 'GET',
      headers,
      agent: false,
    });

    let settled = false;
    let cancelConnectTimer: (() => void) | undefined;
    const stopConnectTimer = (): void => {
      const cancel = cancelConnectTimer;
      cancelConnectTimer = undefined;
      cancel?.();
    };
    const finish = (outcome: Outcome): void => {
      if (settled) return;
      settled = true;
      stopConnectTimer();
      req.destroy();
      if (this.#status.connected) this.#update({ connected: false });
      done(outcome);
    };
    const curlError = (message: string): void => {
      if (settled) return;
      this.#log.warn(`WARNING: curl error: ${message} from: ${url}`);
      this.#failed(message);
      finish('next');
    };
    this.#cancel = () => {
      settled = true;
      stopConnectTimer();
      req.destroy();
      this.#update({ connected: false });
    };

    req.on('socket', (socket: Socket) => {
      socket.setKeepAlive(true);
      if (!socket.connecting || settled) return;
      cancelConnectTimer = this.#schedule(() => {
        cancelConnectTimer = undefined;
        curlError(`Connection timed out after ${this.#connectTimeoutMs} milliseconds`);
      }, this.#connectTimeoutMs);
      socket.once('connect', stopConnectTimer);
    });
    req.on('error', (err: NodeJS.ErrnoException) => {
      curlError(curlMessage(err, target.hostname, target.port));
    });
    req.on('response', (res) => {
      this.#onResponse(res, url, finish, curlError);
    });
    req.end();
  }

  #onResponse(
    res: IncomingMessage,
    url: string,
    finish: (outcome: Outcome) => void,
    curlError: (message: string) => void,
  ): void {
    const status = res.statusCode ?? 0;
    if (status === 401) {
      this.#failed('HTTP 401');
      finish('stop');
      this.close();
      this.emit('auth-failure', url);
      return;
    }
    // Only a 2xx body is a config stream; any other status is read whole and judged at its end.
    const streaming = status >= 200 && status < 300;
    if (streaming) this.#update({ connected: true });

    /** Received bytes not yet handed over; never contains a whole terminator. */
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    let done = false;

    const stop = (outcome: Outcome): void => {
      done = true;
      pending = [];
      finish(outcome);
    };

    res.on('data', (chunk: Buffer) => {
      if (done) return;
      // A terminator may straddle the previous chunk: search from up to 3 bytes back.
      const back = Math.min(TERMINATOR.length - 1, pendingBytes);
      const found = streaming && containsTerminator(pending, back, chunk);
      pending.push(chunk);
      pendingBytes += chunk.length;
      if (found) {
        const all = Buffer.concat(pending, pendingBytes);
        let from = 0;
        for (let at = all.indexOf(TERMINATOR, from); at >= 0; at = all.indexOf(TERMINATOR, from)) {
          const raw = all.toString('utf8', from, at);
          from = at + TERMINATOR.length;
          // Blank frames (extra newlines between documents) carry nothing.
          if (isBlank(raw)) continue;
          const ok = this.#handOver(raw, url);
          if (this.#closed) {
            stop('stop');
            return;
          }
          if (!ok) {
            stop('next');
            return;
          }
        }
        const rest = all.subarray(from);
        pending = rest.length > 0 ? [rest] : [];
        pendingBytes = rest.length;
      }
      if (pendingBytes > this.#maxConfigBytes) {
        this.#log.error(
          `ERROR: config from REST server ${url} exceeds ${this.#maxConfigBytes} bytes without an end`,
        );
        this.#failed(`config exceeds ${this.#maxConfigBytes} bytes without an end`);
        stop('next');
      }
    });
    res.on('error', noop);
    res.on('close', () => {
      if (done) return;
      if (!res.complete) {
        done = true;
        curlError('transfer closed with outstanding read data remaining');
        return;
      }
      const raw = Buffer.concat(pending, pendingBytes).toString('utf8');
      done = true;
      pending = [];
      if (!streaming && !isBlank(raw)) {
        // moxi hands any body over; a JSON error document must not become a config, though.
        let json = true;
        try {
          JSON.parse(raw);
        } catch {
          json = false;
        }
        if (json) {
          this.#log.error(`ERROR: HTTP ${status} from REST server: ${url}, ${raw}`);
          this.#failed(`HTTP ${status}`);
          finish('next');
          return;
        }
      }
      finish(this.#handOverRest(raw, url));
    });
  }
}

/** Whether the last `back` bytes of `pending` followed by `chunk` contain the terminator. */
function containsTerminator(pending: readonly Buffer[], back: number, chunk: Buffer): boolean {
  if (chunk.indexOf(TERMINATOR) >= 0) return true;
  if (back === 0) return false;
  const tail: Buffer[] = [];
  let need = back;
  for (let i = pending.length - 1; i >= 0 && need > 0; i--) {
    const b = pending[i];
    const take = Math.min(need, b.length);
    tail.unshift(b.subarray(b.length - take));
    need -= take;
  }
  tail.push(chunk.subarray(0, TERMINATOR.length - 1));
  return Buffer.concat(tail).indexOf(TERMINATOR) >= 0;
}
